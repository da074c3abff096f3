"""What --feedback=code instruments (raftfuzz.run.instrumentation): comparisons
traced or not, the node interface's read accessors left uninstrumented, the
code instrumented until the run's final heal and not after (PySyncObj too),
runs unchanged by any of it, and a bad RAFTFUZZ_CODE_COVERAGE is one line."""

import json
import subprocess
import sys

import pytest

from raftfuzz.run.instrumentation import coverage_parts
from tests.conftest import REPO, run_cli

# Runs in a fresh interpreter, so that the node's module is imported (and
# instrumented) here and nowhere before: prints what was instrumented.
_PROBE = """
import json, sys
from raftfuzz.run.instrumentation import CodeSwitch, instrumented_imports, uninstrument_accessors
from raftfuzz.run.harness import Harness
from raftfuzz.schedule.seeds import seed_schedules
from raftfuzz.schedule.codec import encode
from raftfuzz.checks.protocol import Handoff
assert "raftfuzz.node.raft" not in sys.modules
with instrumented_imports(["raftfuzz"], comparisons=sys.argv[1] == "1"):
    from raftfuzz.node.raft import RaftNode
marked = lambda f: "__ATHERIS_INSTRUMENTED__" in f.__code__.co_consts
before = {name: marked(getattr(RaftNode, name)) for name in ("last_index", "term_at", "log_start", "tick")}
traces_comparisons = "_trace_cmp" in RaftNode.on_request_vote.__code__.co_names
restored = uninstrument_accessors(RaftNode) if sys.argv[2] == "1" else []
after = {name: marked(getattr(RaftNode, name)) for name in ("last_index", "term_at", "log_start", "tick")}
schedule = seed_schedules()["quiet-5"]
harness = Harness.from_settings(RaftNode, core="python")
switch = CodeSwitch(["raftfuzz.node.raft"])
switched = {}
if sys.argv[3] == "1":  # instrumented until the heal only
    harness.observers = (switch.for_run,)
    # Watches the node's tick code at each phase change, after the switch saw it.
    class Watch:
        name = "watch"
        def handlers(self, phase):
            return {Handoff.PHASE: lambda run, phase: switched.setdefault(phase.name, marked(RaftNode.tick))}
        def finish(self, run):
            switched["end"] = marked(RaftNode.tick)
    def watch(run):
        switched["start"] = marked(RaftNode.tick)
        return Watch()
    harness.observers += (watch,)
    harness.execute(encode(schedule))  # leaves the code uninstrumented after its heal
result = harness.execute(encode(schedule))[1]
print(json.dumps({"before": before, "after": after, "restored": restored, "comparisons": traces_comparisons,
                  "trace": result.trace_hash, "switched": switched, "swaps": len(switch.swaps)}))
"""


def probe(comparisons: bool, uninstrument: bool, until_heal: bool = False) -> dict:
    completed = subprocess.run([sys.executable, "-c", _PROBE, str(int(comparisons)), str(int(uninstrument)),
                                str(int(until_heal))],
                               cwd=REPO, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_the_read_accessors_get_their_uninstrumented_code_back_and_the_run_is_the_same():
    instrumented = probe(comparisons=True, uninstrument=False)
    lean = probe(comparisons=False, uninstrument=True)
    assert all(instrumented["before"].values()) and all(instrumented["after"].values())
    assert instrumented["comparisons"] and not lean["comparisons"]
    assert sorted(lean["restored"]) == ["RaftNode.last_index", "RaftNode.log_start", "RaftNode.term_at"]
    assert lean["after"] == {"last_index": False, "term_at": False, "log_start": False, "tick": True}
    # Instrumentation observes: the same schedule takes the same path either way.
    from raftfuzz.node.raft import RaftNode
    from raftfuzz.run.harness import Harness
    from raftfuzz.schedule.codec import encode
    from raftfuzz.schedule.seeds import seed_schedules

    plain = Harness.from_settings(RaftNode, core="python").execute(encode(seed_schedules()["quiet-5"]))[1]
    assert instrumented["trace"] == lean["trace"] == plain.trace_hash


def test_the_code_is_instrumented_until_the_heal_and_not_after_and_the_run_is_the_same():
    from raftfuzz.node.raft import RaftNode
    from raftfuzz.run.harness import Harness
    from raftfuzz.schedule.codec import encode
    from raftfuzz.schedule.seeds import seed_schedules

    switched = probe(comparisons=False, uninstrument=True, until_heal=True)
    # A run starts instrumented (after one that ended healed); at HEALED the
    # switch swapped the code back, and it stays so to the end.
    assert switched["switched"]["start"] is True
    assert switched["switched"]["HEALED"] is False and switched["switched"]["end"] is False
    assert switched["swaps"] > 20  # every method of the reference node, not only the accessors
    plain = Harness.from_settings(RaftNode, core="python").execute(encode(seed_schedules()["quiet-5"]))[1]
    assert switched["trace"] == plain.trace_hash


@pytest.mark.parametrize("text, parts", [("blocks", {"blocks"}),
                                         ("blocks+comparisons+accessors", {"blocks", "comparisons", "accessors"})])
def test_coverage_parts_are_a_plus_joined_list_that_includes_blocks(text, parts):
    assert coverage_parts(text) == parts


@pytest.mark.parametrize("text", ["comparisons", "blocks+lines"])
def test_a_bad_code_coverage_value_is_one_line_and_exit_2(text, tmp_path):
    completed = run_cli("raftfuzz.atheris_main", "--feedback=code", str(tmp_path), "-runs=1",
                        env={"RAFTFUZZ_CODE_COVERAGE": text})
    assert completed.returncode == 2
    assert completed.stderr.strip().count("\n") == 0 and "RAFTFUZZ_CODE_COVERAGE" in completed.stderr


def test_a_library_target_runs_the_same_with_its_code_swapped_after_the_heal(tmp_path):
    """PySyncObj defines some helpers twice (Python 2 and 3) under one name:
    the swap must pick each function's own code, or the library breaks."""
    (tmp_path / "corpus").mkdir()
    completed = run_cli("raftfuzz.atheris_main", "--target=raftfuzz.targets.pysyncobj:Node", "--feedback=code",
                        str(tmp_path / "corpus"), "-runs=3", "-seed=1", f"-artifact_prefix={tmp_path}/",
                        env={"RAFTFUZZ_CODE_COVERAGE": "blocks"}, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "DONE" in completed.stderr and "NodePanic" not in completed.stderr
