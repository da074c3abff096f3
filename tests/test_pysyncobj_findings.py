"""Regression tests for the PySyncObj 0.3.17 bugs the fuzzer found
(docs/findings/pysyncobj-<n>.md): each committed crash file replays to the
same violation, step and trace hash on both cores, and loses that violation
with that bug's patch (raftfuzz.targets.pysyncobj_fixes) and with no other,
which is what makes the findings distinct."""

import base64
import json

import pytest

from raftfuzz.core import contract as core
from tests.conftest import REPO

pytest.importorskip("pysyncobj")

FINDINGS = REPO / "docs" / "findings"
CORES = ["python"] + (["c"] if core.c_core_available() else [])
BUGS = {1: "StateMachineSafety", 2: "CommitIndexMonotonic", 3: "LeaderCompleteness"}


def load(bug: int) -> tuple[dict, bytes]:
    report = json.loads((FINDINGS / f"pysyncobj-{bug}.crash.json").read_text())
    return report, base64.b64decode(report["input"]["base64"])


def run(node_class, data: bytes, max_steps: int, core_name: str | None = None):
    from raftfuzz.run.harness import Harness

    harness = Harness.from_settings(node_class, target="test", max_steps=max_steps, artifacts="/nonexistent",
                                    core=core_name)
    return harness.execute(data)[1]


@pytest.mark.parametrize("core_name", CORES)
@pytest.mark.parametrize("bug", sorted(BUGS))
def test_the_crash_file_replays_bit_for_bit(bug, core_name, monkeypatch):
    from raftfuzz.targets.pysyncobj import Node

    report, data = load(bug)
    assert report["target"] == "raftfuzz.targets.pysyncobj:Node"
    result = run(Node, data, report["max_steps"], core_name)
    assert result.violation is not None
    assert result.violation.property_name == report["violation"]["property"] == BUGS[bug]
    assert result.steps == report["violation"]["step"]
    assert result.trace_hash == report["run"]["trace_hash"]


@pytest.mark.parametrize("bug", sorted(BUGS))
def test_that_bugs_patch_and_no_other_removes_the_violation(bug):
    """A patch may let the run go on into another bug later; what counts is
    that this violation (property and step) is gone with this patch only."""
    from raftfuzz.targets.pysyncobj_fixes import FixedNode, triage

    report, data = load(bug)
    expected = (report["violation"]["property"], report["violation"]["step"])
    assert triage(data, max_steps=report["max_steps"], expected=expected) == str(bug)
    assert triage(data, max_steps=report["max_steps"]) == str(bug)
    assert run(FixedNode, data, report["max_steps"]).violation is None
