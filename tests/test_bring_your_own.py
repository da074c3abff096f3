"""A target from outside raftfuzz, named as package.module:Class, works in
every mode: the worked example of docs/targets.md, run as the guide says."""

import json
import os

import pytest

from raftfuzz.run.outcome import Outcome
from tests.conftest import REPO, run_cli

TARGET = "group_commit_raft:GroupCommitNode"
EXAMPLES = {"PYTHONPATH": os.pathsep.join([str(REPO / "docs" / "examples"), str(REPO)])}


def test_random_mode_finds_the_example_bug_and_replay_reproduces_it(tmp_path):
    found = run_cli("raftfuzz", "random", "--target", TARGET, "--seed", "3", "--runs", "300",
                    "--stop-on-violation", "--quiet", "--artifacts", str(tmp_path), env=EXAMPLES)
    assert found.returncode == Outcome.SAFETY, found.stderr
    [report_path] = tmp_path.glob("crash-*.json")
    report = json.loads(report_path.read_text())
    assert report["target"] == TARGET

    # A report is untrusted: its own target (not shipped with raftfuzz) is
    # imported only when the user names it, here through RAFTFUZZ_TARGET;
    # the raw input needs it on the command line.
    refused = run_cli("raftfuzz", "replay", str(report_path), "--log-level", "none", env=EXAMPLES)
    assert refused.returncode == 2 and f"RAFTFUZZ_TARGET={TARGET}" in refused.stderr, refused.stderr
    from_json = run_cli("raftfuzz", "replay", str(report_path), "--log-level", "none",
                        env={**EXAMPLES, "RAFTFUZZ_TARGET": TARGET})
    from_raw = run_cli("raftfuzz", "replay", str(report_path.with_suffix("")), "--target", TARGET,
                       "--log-level", "none", env=EXAMPLES)
    for replay in (from_json, from_raw):
        assert replay.returncode == Outcome.SAFETY, replay.stdout + replay.stderr
        assert f"trace={report['run']['trace_hash']}" in replay.stdout
        assert report["violation"]["property"] in replay.stdout
    assert "reproduced" in from_json.stdout


@pytest.mark.parametrize("feedback", ["code", "state"])
def test_guided_fuzzing_finds_the_bug_with_code_or_state_feedback(tmp_path, feedback):
    """Code feedback instruments the target's module; state feedback reads the
    cluster through the same interface the checkers use and instruments nothing."""
    (tmp_path / "corpus").mkdir()
    fuzz = run_cli("raftfuzz.atheris_main", f"--target={TARGET}", f"--feedback={feedback}",
                   str(tmp_path / "corpus"), str(REPO / "corpus"), "-seed=1", "-max_total_time=300",
                   f"-artifact_prefix={tmp_path}/", env=EXAMPLES, timeout=420)
    assert ("Instrumenting group_commit_raft" in fuzz.stderr) == (feedback == "code")
    assert f"raftfuzz: feedback={feedback}:" in fuzz.stderr
    assert fuzz.returncode != 0, fuzz.stderr[-2000:]
    [report_path] = tmp_path.glob("crash-*.json")
    assert json.loads(report_path.read_text())["target"] == TARGET


def test_a_target_that_does_not_import_is_a_one_line_error():
    missing = run_cli("raftfuzz", "random", "--target", "no_such_module:Node", "--runs", "1", env=EXAMPLES)
    assert missing.returncode == 2
    assert missing.stderr.strip().count("\n") == 0
    assert "cannot import target module 'no_such_module'" in missing.stderr
