"""raftfuzz.node.interface.Node lists exactly what the driver, the checkers
and the state feedback use of a node: a run over schedules that exercise
crashes, restarts, campaigns, CheckQuorum and snapshots reads no other
member, and every member is read."""

from dataclasses import replace

from raftfuzz.node.interface import NODE_ATTRIBUTES, NODE_METHODS
from raftfuzz.node.raft import RaftNode
from raftfuzz.schedule.seeds import seed_schedules
from raftfuzz.sim.simulation import Simulation


def recording_target(used: set):
    """A target whose nodes are the reference node behind a proxy that
    records every member read from outside the node."""

    class Recorded:
        def __init__(self, *arguments):
            object.__setattr__(self, "_node", RaftNode(*arguments))

        def __getattr__(self, name):
            used.add(name)
            return getattr(object.__getattribute__(self, "_node"), name)

    return Recorded


def test_the_driver_and_checkers_use_exactly_the_members_of_the_node_protocol():
    used: set = set()
    target = recording_target(used)
    for name, schedule in sorted(seed_schedules().items()):
        result = Simulation(replace(schedule, node_options=schedule.node_options | 2), target, max_steps=3000, feedback=1).run()
        assert result.violation is None, (name, result.violation)
    assert used == set(NODE_METHODS) | set(NODE_ATTRIBUTES)


def test_the_protocol_has_the_eleven_members_docs_targets_md_lists():
    assert NODE_ATTRIBUTES == ("id", "role", "term", "commit_index")
    assert NODE_METHODS == ("tick", "step", "ready", "advance", "last_index", "term_at", "log_start")
