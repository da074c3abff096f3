"""What a checker is: the protocol every checker implements, the points at
which the simulator hands it something, and the phases of a run.

A run goes through these phases, and only the simulator changes its phase
(raftfuzz.sim.simulation, ``Simulation._enter``; a checker asks through
``Run.wait_for_progress`` and ``Run.progress_seen``):

- ``FAULTS_ACTIVE``: the schedule's faults apply.
- ``HEALED``: every fault healed (links up and reliable, crashed nodes
  restarted, paused nodes resumed); the quiet period runs out.
- ``WAITING_FOR_PROGRESS``: healed, and a checker awaits progress
  (``Run.wait_for_progress``): the run goes on past the quiet period until
  that checker sees progress (``Run.progress_seen``, back to ``HEALED``) or
  its deadline passes, and the checker judges when the run finishes.
- ``DONE``: every checker has finished.

A checker is handed only what it subscribes to (``Checker.handlers``), so
an observation point nobody watches costs nothing, and the handlers are
plain bound methods called straight from the simulator's loop. Handlers
raise a ``raftfuzz.checks.violations.Violation`` to end the run with a finding.
Checkers observe; apart from asking for the run to go on while they wait
for progress, they never change what happens: no RNG draws, no events.

Adding a checker is a module with a class that has ``for_run``,
``handlers`` and ``finish``, one line in ``raftfuzz.sim.simulation.CHECKERS``,
and its test (docs/checkers.md).
"""

from collections.abc import Callable, Mapping
from enum import Enum, IntEnum
from typing import Protocol


class Phase(Enum):
    FAULTS_ACTIVE = "faults active"
    HEALED = "healed"
    WAITING_FOR_PROGRESS = "waiting for progress"
    DONE = "done"


class Handoff(IntEnum):
    """The observation points of a run, with what each handler is called with,
    in the order they occur around one node event."""

    # (node, source): the node handled a tick (source -1) or a message from
    # endpoint ``source``, before its ready batches are carried out.
    NODE_EVENT = 0
    # (node, term, role, commit_index, last_index): the node's visible state,
    # read once for every handler and the trace record, before each ready()
    # call (so after the event and after each advance()) and after a restart;
    # handed over only when it differs from the last one handed for this node
    # incarnation (for a leader, so does the term of its last entry: its log
    # may be overwritten under the same last index), so a handler sees every
    # change and never the same state twice.
    NODE_STATE = 1
    # (node, ready): a ready batch, persisted but not yet sent or applied.
    READY = 2
    # (node_id): the node crashed; its volatile state is gone.
    NODE_STOPPED = 3
    # (node_id): the node was rebuilt from its disk (its NODE_STATE follows).
    NODE_STARTED = 4
    # (run): after every handled event, its ready batches included.
    STEP = 5
    # (records): trace-hash records (raftfuzz.sim.simulation._HASH_RECORD, packed
    # back to back) since the last hand-off, handed over at every barrier.
    RECORDS = 6
    # (run, phase): the run entered ``phase`` (never DONE: see finish).
    PHASE = 7


class Run(Protocol):
    """What a checker may read of the run (a raftfuzz.sim.simulation.Simulation)."""

    schedule: object  # raftfuzz.schedule.codec.Schedule
    core: object  # raftfuzz.core.contract.Core
    node_count: int
    nodes: list  # node objects, None while crashed
    history: list  # raftfuzz.sim.clients.Operation
    now: int  # simulated microseconds
    phase: Phase
    ended_by: str | None  # set before the checkers finish: "quiet_end", "max_steps", "idle"
    feedback: int  # the core's FEEDBACK_* features to emit, 0 for none
    fault_kind: int  # the event kind of the schedule's faults in the trace records

    def wait_for_progress(self, deadline_us: int) -> None:
        """Enters WAITING_FOR_PROGRESS: the run may go on until ``deadline_us``."""

    def progress_seen(self, note: str) -> None:
        """Back to HEALED: the run may end with the quiet period; ``note`` is logged."""


class Checker(Protocol):
    """One property watched over a run (or, for the state feedback, one
    observer). ``raftfuzz.sim.simulation.CHECKERS`` lists the factories; their
    order is the order in which checkers are handed the same thing, which
    decides which violation a run reports when two fire at once."""

    name: str  # the key of its verdict in RunResult.verdicts

    @classmethod
    def for_run(cls, run: Run) -> "Checker | None":
        """The checker for this run, or None when it does not apply (e.g.
        the state feedback of a run without feedback)."""

    def handlers(self, phase: Phase) -> Mapping[Handoff, Callable]:
        """What this checker observes while the run is in ``phase``, each
        hand-off with the method that takes it (see Handoff for the
        arguments). Asked again at every phase change."""

    def finish(self, run: Run) -> str | None:
        """The run ended (``run.ended_by`` says how; ``run.phase`` is the
        phase it ended in) without a violation so far: raise the violation
        found only now, or return this checker's verdict ("ok", "unknown")
        for RunResult.verdicts, or None for none."""
