"""Targets that break the node contract in one way each, for
tests/test_hostile_input.py: every one must end as a finding with a report
(NodePanic, or a harness error naming the rule), in every mode."""

import sys

from raftfuzz.raft import RaftNode


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


class NoCommitIndex(RaftNode):
    """Never sets commit_index: reading it is a missing attribute."""

    def __getattribute__(self, name):
        if name == "commit_index":
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
