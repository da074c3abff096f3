"""raftfuzz regress: every committed finding is classified right against
the buggy target and the fixed one, and the exit code tells CI which."""

import json
import shutil

import pytest

from raftfuzz.findings.regress import DIFFERENT, FIXED, STILL_FAILING, UNREADABLE, regress_one, report_paths
from raftfuzz.run.outcome import Outcome
from tests.conftest import REPO, run_cli

FINDINGS = REPO / "docs" / "findings"
FIXED_TARGET = "raftfuzz.targets.pysyncobj_fixes:FixedNode"
CANARY = REPO / "tests" / "data" / "canary-leader-completeness.json"

pytest.importorskip("pysyncobj", reason="the PySyncObj findings need pysyncobj (the test extra pins it)")


def _lines(completed) -> list[str]:
    return [line for line in completed.stdout.splitlines() if line.strip()]


def test_the_pysyncobj_findings_still_fail_against_the_buggy_target():
    completed = run_cli("raftfuzz", "regress", str(FINDINGS), "--expect", "failing")
    assert completed.returncode == Outcome.OK, completed.stdout + completed.stderr
    lines = _lines(completed)
    assert len(lines) == 3
    assert all(line.startswith(STILL_FAILING) and "exact replay" in line for line in lines)
    assert "3 still failing, 0 fixed" in completed.stderr


def test_the_pysyncobj_findings_are_fixed_by_the_triage_patches():
    completed = run_cli("raftfuzz", "regress", str(FINDINGS), "--target", FIXED_TARGET)
    assert completed.returncode == Outcome.OK, completed.stdout + completed.stderr
    lines = _lines(completed)
    assert len(lines) == 3 and all(line.startswith(FIXED) for line in lines)


def test_a_finding_that_still_fails_fails_the_regression_job():
    completed = run_cli("raftfuzz", "regress", str(FINDINGS))  # --expect fixed
    assert completed.returncode == Outcome.HARNESS_ERROR
    assert "expected all fixed: no" in completed.stderr


def test_each_patch_removes_its_own_finding_and_no_other():
    """pysyncobj_fixes has one patch per bug (docs/findings/README.md): a
    report is no longer failing under its own patch and still fails under
    each of the others."""
    for number in (1, 2, 3):
        path = FINDINGS / f"pysyncobj-{number}.crash.json"
        for patch in (1, 2, 3):
            verdict = regress_one(path, f"raftfuzz.targets.pysyncobj_fixes:Fix{patch}Node")
            if patch == number:
                assert verdict.outcome != STILL_FAILING, (number, patch, verdict.detail)
            else:
                assert verdict.outcome == STILL_FAILING, (number, patch, verdict.detail)


def test_a_different_finding_and_an_unreadable_report_are_told_apart(tmp_path):
    report = json.loads(CANARY.read_text())
    report["signature"] = "safety.ElectionSafety.VoteWithoutLogCheck"
    (tmp_path / "crash-a.json").write_text(json.dumps(report))
    (tmp_path / "crash-b.json").write_text("{not json")
    shutil.copy(CANARY, tmp_path / "crash-c.json")
    (tmp_path / "signature.json").write_text(json.dumps({"sha1": "0" * 40}))  # a bucket record, skipped
    completed = run_cli("raftfuzz", "regress", str(tmp_path), "--expect", "failing")
    lines = _lines(completed)
    assert [line.split()[0] for line in lines] == [DIFFERENT, UNREADABLE, "still"]
    assert "not valid JSON" in lines[1]
    assert completed.returncode == Outcome.USAGE
    assert "Traceback" not in completed.stderr


def test_usage_errors_are_one_line(tmp_path):
    missing = run_cli("raftfuzz", "regress", str(tmp_path / "nope"))
    assert missing.returncode == Outcome.USAGE and len(missing.stderr.strip().splitlines()) == 1
    empty = run_cli("raftfuzz", "regress", str(tmp_path))
    assert empty.returncode == Outcome.USAGE and "no crash reports" in empty.stderr


SHRUNK_CATALOGUE = REPO / "benchmarks" / "results" / "shrink-reports"


def test_the_shrunk_catalogue_findings_fail_on_their_mutants_and_not_on_the_reference_node():
    """The 17 shrunk reports benchmarks/bench_shrink.py wrote: each still
    fails, on its exact path, against its planted bug; none against the
    reference node."""
    failing = run_cli("raftfuzz", "regress", str(SHRUNK_CATALOGUE), "--expect", "failing")
    assert failing.returncode == Outcome.OK, failing.stdout + failing.stderr
    lines = _lines(failing)
    assert len(lines) == 17 and all("exact replay" in line for line in lines)
    fixed = run_cli("raftfuzz", "regress", str(SHRUNK_CATALOGUE), "--target", "raftfuzz.node.raft:RaftNode")
    assert fixed.returncode == Outcome.OK, fixed.stdout + fixed.stderr
