"""Targets that break the node contract in one way each, for
tests/test_hostile_input.py: every one must end as a finding with a report
(NodePanic, or a harness error naming the rule), in every mode."""

import sys

from raftfuzz.node.interface import NODE_ATTRIBUTES, NODE_METHODS
from raftfuzz.node.raft import RaftNode


class ConstructorRaises(RaftNode):
    def __init__(self, *arguments):
        raise RuntimeError("cannot start")


class ConstructorExits(RaftNode):
    def __init__(self, *arguments):
        raise SystemExit(0)


class TickExits(RaftNode):
    def tick(self):
        sys.exit(3)


class ReadyReturnsText(RaftNode):
    def ready(self):
        return "ready"


class ReadyWithNumberOfMessages(RaftNode):
    def ready(self):
        ready = super().ready()
        if ready is not None:
            ready.messages = 5
        return ready


class RoleIsText(RaftNode):
    role = property(lambda self: "leader", lambda self, value: None)


class TermIsText(RaftNode):
    term = property(lambda self: "1", lambda self, value: None)


class RoleRaises(RaftNode):
    @property
    def role(self):
        raise KeyError("no role yet")

    @role.setter
    def role(self, value):
        pass


class LosesCommitIndex(RaftNode):
    """Has commit_index when built (so it loads), then loses it at its first
    tick: reading it is a missing attribute, found on the live node."""

    def tick(self):
        self.lost = True
        super().tick()

    def __getattribute__(self, name):
        if name == "commit_index" and super().__getattribute__("__dict__").get("lost"):
            raise AttributeError(name, name=name, obj=self)
        return super().__getattribute__(name)


class StepRaisesGeneratorExit(RaftNode):
    def step(self, message):
        raise GeneratorExit("not an Exception")


class KillsItself(RaftNode):
    """A deadly input, as libFuzzer saves one after a fatal signal."""

    def tick(self):
        import os
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def _lacking(member: str) -> type:
    """The reference node without one member of the node contract: a method
    that is not callable, or an attribute deleted once the node is built."""
    if member in NODE_METHODS:
        return type(f"Lacks_{member}", (RaftNode,), {member: None})

    def __init__(self, *arguments):
        RaftNode.__init__(self, *arguments)
        delattr(self, member)

    return type(f"Lacks_{member}", (RaftNode,), {"__init__": __init__})


# Lacks_tick, Lacks_log_start, Lacks_commit_index, ...: one per member of
# raftfuzz.node.interface.Node, each refused when it loads.
LACKING = {member: _lacking(member) for member in NODE_METHODS + NODE_ATTRIBUTES}
globals().update({cls.__name__: cls for cls in LACKING.values()})
