"""The cluster-state feedback (raftfuzz.checks.feedback) as a run observer.

The core abstracts the cluster from the simulator's trace-hash records and
bumps libFuzzer's counters (docs/feedback.md); this observer only sets the
core up and hands it the records, in the batches the simulator hashes them
in, so a barrier's record reaches the core before the node and link states
the barrier changes. It never reports a violation, draws from the RNG or
changes an event: trace hashes are the same with the feedback on or off.
"""

from raftfuzz.checks.protocol import Handoff, Phase, Run
from raftfuzz.core.constants import FEEDBACK_FAULT_CAPACITY


class StateFeedback:
    """A raftfuzz.checks.protocol.Checker that watches for libFuzzer, not for bugs."""

    name = "state feedback"

    def __init__(self, core) -> None:
        # Bound once: the hand-off goes straight into the core (one crossing per batch).
        self.observe_records = core.feedback_observe

    @classmethod
    def for_run(cls, run: Run) -> "StateFeedback | None":
        if not run.feedback:
            return None
        # Built after the initial node and link states: the abstraction starts from them.
        verbs = bytes(int(event.verb) for event in run.schedule.events[:FEEDBACK_FAULT_CAPACITY])
        run.core.feedback_begin(run.node_count, run.feedback, run.fault_kind, verbs)
        return cls(run.core)

    def handlers(self, phase: Phase) -> dict:
        return {Handoff.RECORDS: self.observe_records}

    def finish(self, run: Run) -> None:
        return None
