"""Liveness: what a Raft cluster must eventually do, checked with bounds.

- ``LeaderStepDown`` (only when CheckQuorum is on): a leader that has heard
  from no quorum of peers for ``3 × election_timeout`` of its own ticks must
  have stepped down. A correct CheckQuorum leader steps down within two
  election timeouts; counting in the node's own ticks makes the bound immune
  to pauses and clock skew. Hearing from a peer means any message from it was
  delivered, which is more lenient than what the node itself counts, so the
  check can miss a bug but never invent one.
- ``ProgressAfterHeal``: once every fault has healed (links up and reliable,
  crashed nodes restarted, paused nodes resumed), within a bounded simulated
  time exactly one leader must exist, every live node must be in its term,
  and every client operation pending at the heal must complete. Raft promises
  this only when the network is fast compared with the election timeout
  (broadcast time ≪ election timeout, Raft §5.6), so schedules that break
  that rule are not judged.
"""

from raftfuzz.checks.protocol import Handoff, Phase, Run
from raftfuzz.sim.clients import RETRY_TIMEOUT_TICKS
from raftfuzz.node.interface import Role
from raftfuzz.schedule.codec import TICK_US, Schedule
from raftfuzz.checks.violations import LivenessViolation

LEADER_STEP_DOWN = "LeaderStepDown"
PROGRESS_AFTER_HEAL = "ProgressAfterHeal"

# Read at every tick and, while waiting for progress, every step: a module
# constant is several times faster to look up than the enum member.
_LEADER = Role.LEADER

# A message round trip must fit this many times in an election timeout for
# the progress check to apply; the factor also covers clocks running up to
# twice as fast as nominal.
TIMING_MARGIN = 8
# Heartbeat periods that must fit in an election timeout (see above).
HEARTBEATS_PER_TIMEOUT = 4
# Election rounds allowed after the heal; split votes are independent
# coin flips, so this bounds the chance of a false alarm far below one in a
# billion runs while keeping a stuck cluster's run short.
ELECTION_ROUNDS = 20


def progress_checkable(schedule: Schedule) -> bool:
    """Raft's timing requirement, with room for skewed clocks: a round trip
    fits many times in an election timeout, and a leader's heartbeats (from
    a clock at up to 1.5x the nominal period) arrive well within the election
    timeout of a follower whose clock runs at up to twice the nominal rate."""
    fast_network = TIMING_MARGIN * schedule.latency_max_us <= schedule.election_timeout_ticks * TICK_US
    frequent_heartbeats = HEARTBEATS_PER_TIMEOUT * schedule.heartbeat_ticks <= schedule.election_timeout_ticks
    return fast_network and frequent_heartbeats


def progress_deadline_ticks(schedule: Schedule) -> int:
    """Ticks after the heal by which progress must be seen."""
    election_round = 2 * schedule.election_timeout_ticks
    # A request lost at the heal is retried only after the client's timeout.
    retry_ticks = max(schedule.client_retry_ticks, RETRY_TIMEOUT_TICKS)
    return ELECTION_ROUNDS * election_round + 3 * retry_ticks


class LivenessChecker:
    """A raftfuzz.checks.protocol.Checker, and the one place that knows how long
    the run must go on for liveness to be judged.

    LeaderStepDown is watched in every phase. ProgressAfterHeal starts when
    the run is healed: if the schedule's timing allows it, the checker puts
    the run into WAITING_FOR_PROGRESS until ``deadline_ticks`` after the
    heal, watches every step for progress and, if the run ends still
    waiting, reports the violation when it finishes."""

    name = "liveness"

    def __init__(self, schedule: Schedule) -> None:
        n = schedule.node_count
        self.node_count = n
        self.quorum = n // 2 + 1
        self.check_quorum = schedule.check_quorum
        self.window_ticks = 3 * schedule.election_timeout_ticks
        # Per node incarnation: ticks handled, and the node's tick count at
        # the last delivery from each peer.
        self.node_ticks = [0] * n
        self.heard = [[0] * n for _ in range(n)]
        self.leader_since: list[tuple[int, int] | None] = [None] * n
        # Ticks after the heal by which progress must be seen, or None when
        # Raft promises none under this schedule's timing.
        self.deadline_ticks = progress_deadline_ticks(schedule) if progress_checkable(schedule) else None
        self.pending_at_heal: list | None = None

    # ------------------------------------------------------------- checker

    @classmethod
    def for_run(cls, run: Run) -> "LivenessChecker":
        return cls(run.schedule)

    def handlers(self, phase: Phase) -> dict:
        # LeaderStepDown is judged only with CheckQuorum on: without it the
        # per-event bookkeeping would watch for nothing.
        handlers = ({Handoff.NODE_EVENT: self.on_node_event, Handoff.NODE_STARTED: self.node_restarted}
                    if self.check_quorum else {})
        if self.deadline_ticks is not None and self.pending_at_heal is None:
            handlers[Handoff.PHASE] = self.on_phase  # to start the progress check at the heal
        if phase is Phase.WAITING_FOR_PROGRESS:
            handlers[Handoff.STEP] = self.on_step
        return handlers

    def finish(self, run: Run) -> None:
        # A run cut short by its step limit never reached the deadline.
        if run.phase is Phase.WAITING_FOR_PROGRESS and run.ended_by != "max_steps":
            raise self.no_progress(run.nodes)
        return None

    # ------------------------------------------------------ LeaderStepDown

    def node_restarted(self, node_id: int) -> None:
        self.node_ticks[node_id] = 0
        self.heard[node_id] = [0] * self.node_count
        self.leader_since[node_id] = None

    def on_node_event(self, node, source: int) -> None:
        node_id = node.id
        if source >= 0:  # a delivery: the node heard from source
            if source < self.node_count:
                self.heard[node_id][source] = self.node_ticks[node_id]
            return
        self.node_ticks[node_id] += 1
        if node.role != _LEADER:
            self.leader_since[node_id] = None
            return
        ticks = self.node_ticks[node_id]
        since = self.leader_since[node_id]
        if since is None or since[0] != node.term:
            self.leader_since[node_id] = (node.term, ticks)
            return
        if ticks - since[1] <= self.window_ticks:
            return
        heard = self.heard[node_id]
        fresh = [peer for peer in range(self.node_count)
                 if peer != node_id and ticks - heard[peer] <= self.window_ticks]
        if len(fresh) + 1 < self.quorum:
            raise LivenessViolation(
                LEADER_STEP_DOWN,
                f"node {node_id} is still leader of term {node.term} after {self.window_ticks} ticks "
                f"without hearing from a quorum (heard from {fresh or 'nobody'}) with CheckQuorum on",
                nodes=(node_id,),
                facts={"term": node.term, "window_ticks": self.window_ticks, "heard_from": fresh},
            )

    # --------------------------------------------------- ProgressAfterHeal

    def on_phase(self, run: Run, phase: Phase) -> None:
        if phase is Phase.HEALED and self.pending_at_heal is None:
            self.pending_at_heal = [op for op in run.history if op.completed_us is None]
            run.wait_for_progress(run.now + self.deadline_ticks * TICK_US)

    def on_step(self, run: Run) -> None:
        if self.progress_made(run.nodes):
            run.progress_seen("progress after the heal: one leader, pending operations done")

    def progress_made(self, nodes) -> bool:
        # Called every step while waiting: the pending operations are the
        # cheapest test, and completed ones are dropped as they are seen.
        pending = self.pending_at_heal
        while pending and pending[-1].completed_us is not None:
            pending.pop()
        if pending:
            return False
        leaders = [node for node in nodes if node is not None and node.role == _LEADER]
        if len(leaders) != 1:
            return False
        term = leaders[0].term
        return not any(node is not None and node.term != term for node in nodes)

    def no_progress(self, nodes) -> LivenessViolation:
        live = [node for node in nodes if node is not None]
        pending = [f"c{op.client}#{op.seq} {op.op} {op.key}" for op in self.pending_at_heal
                   if op.completed_us is None]
        return LivenessViolation(
            PROGRESS_AFTER_HEAL,
            f"{self.deadline_ticks} ticks after every fault healed: leaders "
            f"{[node.id for node in live if node.role == Role.LEADER]}, terms "
            f"{[node.term for node in live]}, {len(pending)} operations still pending",
            nodes=tuple(node.id for node in live),
            facts={"roles": [node.role.name for node in live], "terms": [node.term for node in live],
                   "pending": pending[:20]},
        )
