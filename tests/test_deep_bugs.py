"""Each deeper planted bug (raftfuzz.node.mutants.DEEP) is reachable: a committed
schedule triggers it, and the same schedule leaves the reference node
silent, so the violation is the planted bug's and not a checker's.

The schedules under tests/data/deep/ are encoded inputs (`raftfuzz decode
FILE` shows them). They come from a small search over hand-written
skeletons that steer elections on purpose — cut the leader off (from all,
or from all but one follower), heal, `campaign previous-leader`, cut it off
again — the moves the `campaign` verb and the `previous-leader` role exist
for, with the simulation seed and client knobs varied. How fast the fuzzer
finds these bugs on its own is measured by benchmarks/bench_bugs.py
(docs/bugs.md), not here.
"""

import pytest

from raftfuzz.node.mutants import CATALOGUE, DEEP
from raftfuzz.node.raft import RaftNode
from raftfuzz.schedule.codec import decode
from raftfuzz.sim.simulation import Simulation
from tests.conftest import REPO

DATA = REPO / "tests" / "data" / "deep"


@pytest.mark.parametrize("name", sorted(DEEP))
def test_the_committed_schedule_triggers_the_deep_bug_and_not_the_reference(name):
    data = (DATA / f"{name}.bin").read_bytes()
    schedule = decode(data)
    result = Simulation(schedule, DEEP[name]).run()
    assert result.violation is not None, f"{name} not triggered by {schedule.describe()['events']}"
    assert result.violation.property_name in DEEP[name].breaks, result.violation
    reference = Simulation(schedule, RaftNode).run()
    assert reference.violation is None, reference.violation


def test_deep_bugs_are_documented_and_kept_out_of_the_catalogue():
    assert len(DEEP) >= 6
    assert not set(DEEP) & set(CATALOGUE)
    for name, node_class in DEEP.items():
        assert issubclass(node_class, RaftNode)
        assert node_class.breaks and node_class.__doc__
        canonical, report = node_class.mirrors
        assert canonical and report.startswith("https://github.com/"), name
