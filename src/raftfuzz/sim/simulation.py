"""The deterministic simulator: one Raft cluster under one fault schedule.

Fault model. The schedule's events are applied at their simulated times:
symmetric and one-way partitions and their heal, holding a link (messages
queue) and releasing it (they arrive in order), crashes (the node object is
dropped and unsynced disk writes are lost) and restarts (the node is rebuilt
from its disk), pauses and resumes, clock skew (a node's tick interval), and
per-link degradation (extra loss, duplication, delay), and campaigns (the
leader's links are cut and one node's clock runs fast until that node leads
or the campaign times out; raftfuzz.schedule.codec); each verb's handler in
raftfuzz.schedule.verbs calls the fault primitives here. The background network
applies the schedule's loss, duplication and latency range to every message.
One tick after the last fault every link is healed and made reliable (no
loss, duplication or extra delay), every crashed node restarted and every
paused node resumed, and the run goes on for the schedule's quiet period, so
a cluster that broke something while faults were active gets the chance to
show it — and, when the schedule's timing allows, until the cluster has
shown progress or the liveness deadline has passed (raftfuzz.checks.liveness).

Checked: Raft's safety properties after every event (raftfuzz.checks.safety),
liveness (raftfuzz.checks.liveness), and at the end of the run the linearizability
of the client history (raftfuzz.checks.linearizability). Each is a
raftfuzz.checks.protocol.Checker listed in ``CHECKERS``, as is the state feedback
(raftfuzz.checks.state_feedback); the run hands them what they subscribe to and
moves through the phases of raftfuzz.checks.protocol (``_enter``).

Determinism. The core (C or its Python twin) owns the only RNG, the event
queue, the network and the timers; this module decides nothing by itself.
Everything iterated here is a list or a dict with integer keys inserted in a
deterministic order. The trace hash covers every processed event and the
visible state of the node that handled it, so two runs with equal hashes took
the same path.

The node under test is any class with the sans-IO interface of
``raftfuzz.node.raft.RaftNode``; this module never imports it, so the harness can
instrument the node's module alone.
"""

import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from raftfuzz.core import contract as core_module
from raftfuzz.checks.safety import SafetyChecker
from raftfuzz.checks.protocol import Handoff, Phase
from raftfuzz.sim.clients import Client, Operation
from raftfuzz.sim.disk import Disk
from raftfuzz.schedule.verbs import VERBS
from raftfuzz.checks.linearizability import LinearizabilityChecker
from raftfuzz.checks.liveness import LivenessChecker
from raftfuzz.node.interface import NodeConfig, Role
from raftfuzz.schedule.codec import (
    LATENCY_FLOOR_US,
    SKEW_NOMINAL,
    TICK_US,
    FaultEvent,
    Schedule,
    earliest_crashed_selector,
    leader_selector,
    previous_leader_selector,
)
from raftfuzz.run.outcome import HarnessError
from raftfuzz.run.settings import DEFAULT_MAX_STEPS, TRACE_LEVELS
from raftfuzz.checks.state_feedback import StateFeedback
from raftfuzz.checks.violations import Violation, node_panic

# The checkers of every run (raftfuzz.checks.protocol.Checker factories), in the
# order they are handed the same thing: at a node's tick the liveness check
# sees it before safety checks the node's state, as before the protocol.
CHECKERS = (LivenessChecker.for_run, SafetyChecker.for_run, LinearizabilityChecker.for_run,
            StateFeedback.for_run)

# How many recent events a report shows.
TRACE_TAIL = 64
# A node hands out at most this many ready batches per event (apply → reply →
# send is two); more means it never settles, which is a target bug.
MAX_READY_ROUNDS = 8

# Read at every event: a module constant is several times faster to look
# up than an enum member or another module's attribute.
_LEADER = Role.LEADER
_DELIVER = core_module.KIND_DELIVER
_TICK = core_module.KIND_TICK
_BARRIER_MIN = core_module.KIND_BARRIER_MIN

KIND_FAULT = core_module.KIND_BARRIER_MIN
KIND_HEAL_EVERYTHING = core_module.KIND_BARRIER_MIN + 1
KIND_CRASH = core_module.KIND_BARRIER_MIN + 2  # c = node
KIND_RESTART = core_module.KIND_BARRIER_MIN + 3  # c = node
KIND_CAMPAIGN_END = core_module.KIND_BARRIER_MIN + 4  # c = campaign serial

# A campaigning node's clock runs this many times fast, so that its election
# timer (at most twice the timeout) runs out before anybody else's (at least
# once the timeout); the campaign gives up after this many election timeouts.
CAMPAIGN_SPEEDUP = 4
CAMPAIGN_ELECTION_TIMEOUTS = 4

LOG_LEVELS = TRACE_LEVELS

_HASH_RECORD = struct.Struct("<9q")
# Records wait in a buffer until a barrier (or this many bytes) and are then
# hashed and, with feedback on, handed to the core in one crossing.
_RECORD_FLUSH_BYTES = 256 * _HASH_RECORD.size
# The report's trace tail is read back from the last records hashed.
_TAIL_BYTES = TRACE_TAIL * _HASH_RECORD.size


@dataclass
class RunResult:
    steps: int
    time_us: int
    trace_hash: str
    ended_by: str  # "quiet_end", "max_steps", "idle" or "violation"
    violation: Violation | None
    history: list[Operation]
    network: dict = field(default_factory=dict)
    # Checker name → its verdict ("ok", "unknown", "violation"), for the
    # checkers that gave one (raftfuzz.checks.protocol.Checker.finish).
    verdicts: dict = field(default_factory=dict)
    # The last TRACE_TAIL events as the simulation recorded them, and how to
    # describe one: the text is built only when asked for (a report is
    # written), not at the end of every run.
    trace_records: tuple = ()
    describe: Callable | None = field(default=None, repr=False, compare=False)

    @cached_property
    def trace_tail(self) -> list[str]:
        tail = []
        for record in self.trace_records:
            try:
                tail.append(self.describe(record))
            except Exception:  # a message the target built wrongly cannot be described
                tail.append(f"[{record[0]:>6}] (event kind {record[2]} cannot be described)")
        return tail

    @property
    def linearizability(self) -> str:
        """"ok" (or not checked: another violation came first), "unknown"
        (search budget spent) or "violation"."""
        return self.verdicts.get(LinearizabilityChecker.name, "ok")


class Simulation:
    # What the trace records call a schedule's fault (raftfuzz.checks.protocol.Run).
    fault_kind = KIND_FAULT
    # Slots, not a __dict__: an instance dict of more than 30 keys stops
    # sharing them, which takes every method call on the simulation off
    # Python 3.11's fast path (docs/performance.md).
    __slots__ = ("schedule", "node_class", "max_steps", "log_level", "log", "node_count", "endpoint_count",
                 "core", "members", "disks", "nodes", "clients", "session_owner", "history", "messages",
                 "paused", "crash_order", "crash_pending", "held_links", "cut_links", "campaign",
                 "campaign_count", "tick_interval", "leader_of_term", "now", "step", "hasher", "records",
                 "hashed_tail", "hashed_count", "in_flight", "feedback", "heal_at_us", "quiet_end_us", "end_us",
                 "phase", "ended_by", "verdicts", "_entering", "handed_state", "_node_state_handlers",
                 "checkers", "_on_node_event", "_on_node_state", "_on_ready", "_on_node_stopped",
                 "_on_node_started", "_on_step", "_on_records", "_on_phase")

    def __init__(self, schedule: Schedule, node_class, *, max_steps: int = DEFAULT_MAX_STEPS,
                 log_level: str | None = None, log=print, feedback: int = 0, core: str | None = None,
                 checkers=CHECKERS) -> None:
        """feedback: 0, or the core's FEEDBACK_* features to emit
        (raftfuzz.checks.feedback); it observes the run and never changes it.
        core: "c", "python", or None for C when built (raftfuzz.core.contract).
        checkers: the raftfuzz.checks.protocol.Checker factories (tests add theirs)."""
        if max_steps < 1:
            raise ValueError("max_steps must be at least 1")
        if log_level is not None and log_level not in LOG_LEVELS:
            raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}")
        self.schedule = schedule
        self.node_class = node_class
        self.max_steps = max_steps
        self.log_level = LOG_LEVELS.index(log_level) if log_level else -1
        self.log = log

        n = schedule.node_count
        self.node_count = n
        clients, depth = schedule.client_count, schedule.pipeline_depth
        self.endpoint_count = n + clients * depth
        self.core = core_module.make_core(
            schedule.seed, self.endpoint_count, LATENCY_FLOOR_US, core
        )
        self.members = tuple(range(n))
        self.disks = [Disk() for _ in range(n)]
        self.nodes = [self._make_node(i) for i in range(n)]
        # Client i's first session is endpoint n + i (its clock); its other
        # sessions follow all the clients' first ones.
        self.clients = [
            Client((n + i, *(n + clients + i * (depth - 1) + k for k in range(depth - 1))), n,
                   schedule.client_think_ticks, schedule.key_count, schedule.write_per_256, self.core,
                   retry_ticks=schedule.client_retry_ticks)
            for i in range(clients)
        ]
        # Endpoint - n → the client that owns that session.
        self.session_owner = [None] * (clients * depth)
        for client in self.clients:
            for endpoint in client.endpoints:
                self.session_owner[endpoint - n] = client
        self.history: list[Operation] = []
        self.messages: list = []  # message id → message; freed with the run
        self.paused = [False] * n
        self.crash_order: list[int] = []  # crashed nodes, longest down first
        self.crash_pending = [False] * n  # a crash after sync is scheduled
        self.held_links: set[tuple[int, int]] = set()
        self.cut_links: set[tuple[int, int]] = set()
        # The election being steered by a campaign fault, if any.
        self.campaign: _Campaign | None = None
        self.campaign_count = 0
        # Each node's tick interval as the schedule set it (a campaign
        # speeds one node's clock up for a while).
        self.tick_interval = [TICK_US] * n
        # Who led each term, as seen after each node event (previous-leader).
        self.leader_of_term: dict[int, int] = {}
        self.now = 0
        self.step = 0
        self.hasher = hashlib.blake2b(digest_size=16)
        # Trace-hash records not yet hashed (see _flush_records), one per
        # handled event; the last TRACE_TAIL hashed ones, and how many were.
        self.records = bytearray()
        self.hashed_tail = b""
        self.hashed_count = 0
        # The event being handled when the run stopped by an exception, if
        # its record was not written (see trace_records).
        self.in_flight: tuple | None = None
        self.feedback = feedback

        self._configure_network()
        for endpoint in range(self.endpoint_count):
            # A client's extra sessions have no clock of their own.
            ticking = endpoint < n or self.session_owner[endpoint - n].endpoint == endpoint
            self.core.set_tick_interval(endpoint, TICK_US if ticking else 0)
            self.core.set_node_state(0, endpoint, core_module.NODE_UP)
        for position, event in enumerate(schedule.events):
            self.core.push(self._at(event.at_ticks), KIND_FAULT, 0, 0, position)
        self.heal_at_us = self._at(schedule.fault_end_ticks() + 1)
        self.core.push(self.heal_at_us, KIND_HEAL_EVERYTHING, 0, 0, 0)
        self.quiet_end_us = self.heal_at_us + schedule.quiet_ticks * TICK_US
        # Later only if a checker waits for progress (wait_for_progress).
        self.end_us = self.quiet_end_us
        self.phase = Phase.FAULTS_ACTIVE
        self.ended_by: str | None = None
        self.verdicts: dict[str, str] = {}
        self._entering: list[Phase] = []  # see _enter
        # The visible state last handed to NODE_STATE, per node incarnation,
        # and to whom (a new subscriber is handed every state afresh).
        self.handed_state: list[tuple | None] = [None] * n
        self._node_state_handlers: list | None = None
        # Built after the initial node and link states: the state feedback's
        # abstraction starts from them.
        self.checkers = [checker for checker in (factory(self) for factory in checkers) if checker is not None]
        self._subscribe()

    @staticmethod
    def _at(ticks: int) -> int:
        # Faults fire half a tick off the tick grid so that they never tie with
        # node ticks; ties would be resolved deterministically anyway, but this
        # keeps "crash before or after this tick" a choice of the schedule.
        return ticks * TICK_US + TICK_US // 2

    def _make_node(self, node_id: int):
        try:
            return self.node_class(node_id, self.members, node_config(self.schedule), self.core,
                                   self.disks[node_id].load())
        except Exception as error:
            raise node_panic(node_id, error) from error

    def _configure_network(self, *, reliable: bool = False) -> None:
        s = self.schedule
        loss, duplicate = (0, 0) if reliable else (s.loss_per_256, s.duplicate_per_256)
        for src in range(self.endpoint_count):
            for dst in range(self.endpoint_count):
                if src != dst:
                    self.core.set_link_faults(src, dst, loss, duplicate, 256, s.latency_min_us,
                                              s.latency_max_us)

    # ----------------------------------------------------- checkers, phases

    def _subscribe(self) -> None:
        """Collects, per hand-off, the handlers the checkers want in this
        phase, as one callable each (None when nobody watches)."""
        observers = {handoff: [] for handoff in Handoff}
        for checker in self.checkers:
            for handoff, handler in checker.handlers(self.phase).items():
                observers[handoff].append(handler)
        if observers[Handoff.NODE_STATE] != self._node_state_handlers:
            # A checker that subscribes now has been handed nothing yet.
            self._node_state_handlers = observers[Handoff.NODE_STATE]
            self.handed_state = [None] * self.node_count
        self._on_node_event = _fan_out(observers[Handoff.NODE_EVENT])
        self._on_node_state = _fan_out(observers[Handoff.NODE_STATE])
        self._on_ready = _fan_out(observers[Handoff.READY])
        self._on_node_stopped = _fan_out(observers[Handoff.NODE_STOPPED])
        self._on_node_started = _fan_out(observers[Handoff.NODE_STARTED])
        self._on_step = _fan_out(observers[Handoff.STEP])
        self._on_records = _fan_out(observers[Handoff.RECORDS])
        self._on_phase = _fan_out(observers[Handoff.PHASE])

    def _enter(self, phase: Phase) -> None:
        """The one place the run changes phase (raftfuzz.checks.protocol). A phase
        a checker asks for while the checkers are being told of the last one
        is entered once they all have been, so everyone sees the same order."""
        self._entering.append(phase)
        if len(self._entering) > 1:
            return
        try:
            while self._entering:
                self.phase = self._entering[0]
                if self.phase is not Phase.DONE:
                    self._subscribe()
                    if self._on_phase is not None:
                        self._on_phase(self, self.phase)
                del self._entering[0]
        finally:
            self._entering.clear()  # a violation raised on the way ends the run anyway

    def wait_for_progress(self, deadline_us: int) -> None:
        """A checker awaits progress: the run may go on until ``deadline_us``."""
        self.end_us = max(self.end_us, deadline_us)
        self._enter(Phase.WAITING_FOR_PROGRESS)

    def progress_seen(self, note: str) -> None:
        """The awaited progress happened: the run ends with the quiet period."""
        self._log(0, note)
        self._enter(Phase.HEALED)

    def _finish_checkers(self) -> None:
        for checker in self.checkers:
            try:
                verdict = checker.finish(self)
            except Violation:
                self.verdicts[checker.name] = "violation"
                raise
            if verdict is not None:
                self.verdicts[checker.name] = verdict

    # ------------------------------------------------------------------ run

    def run(self) -> RunResult:
        core = self.core
        handle = self._handle
        max_steps = self.max_steps
        ended_by = "quiet_end"
        violation = None
        time_us = kind = a = b = c = 0
        try:
            try:
                while True:
                    batch = core.next_batch(self.end_us)
                    if not batch:
                        if core.pending() == 0:
                            ended_by = "idle"
                        break
                    fields = iter(batch)
                    for time_us, kind, a, b, c in zip(fields, fields, fields, fields, fields):
                        if self.step >= max_steps:
                            ended_by = "max_steps"
                            raise _Stop
                        self.step += 1
                        handle(time_us, kind, a, b, c)
                        if self._on_step is not None:
                            self._on_step(self)
                    # A barrier ends its batch and may change node and link states,
                    # which the feedback must see right after the barrier's record.
                    if batch[-4] >= _BARRIER_MIN or len(self.records) >= _RECORD_FLUSH_BYTES:
                        self._flush_records()
                    if self.now >= self.quiet_end_us and self.phase is not Phase.WAITING_FOR_PROGRESS:
                        break
            except _Stop:
                pass
            except BaseException:
                if self._recorded() < self.step:  # the event being handled wrote no record
                    self.in_flight = (self.step, time_us, kind, a, b, c)
                raise
            self.ended_by = ended_by
            self._finish_checkers()
        except Violation as found:
            found.step = self.step
            found.time_us = self.now
            violation = found
            ended_by = self.ended_by = "violation"
            self._log(0, f"VIOLATION {found}")
        self._flush_records()
        self._enter(Phase.DONE)
        return RunResult(
            verdicts=self.verdicts,
            steps=self.step,
            time_us=self.now,
            trace_hash=self.hasher.hexdigest(),
            ended_by=ended_by,
            violation=violation,
            trace_records=self.trace_records(),
            describe=self._describe,
            history=self.history,
            network=core.stats(),
        )

    def _handle(self, time_us: int, kind: int, a: int, b: int, c: int) -> None:
        self.now = time_us
        log_level = self.log_level
        if log_level >= 0:
            roles_before = [(node.role, node.term) if node else None for node in self.nodes]
        node_id = -1
        if kind == _DELIVER:
            message = self.messages[c]
            if b < self.node_count:
                node_id, source, node = b, a, self.nodes[b]
                if log_level >= 1:
                    self._log(1, f"deliver {self._describe_message(message)}")
                try:
                    node.step(message)
                except Exception as error:
                    raise node_panic(b, error) from error
            else:
                self._send_sessions(self.session_owner[b - self.node_count].receive(message, time_us))
                if log_level >= 1:
                    self._log(1, f"client c{b} <- {self._describe_message(message)}")
        elif kind == _TICK:
            if a < self.node_count:
                node_id, source, node = a, -1, self.nodes[a]
                if log_level >= 2:
                    self._log(2, f"tick n{a}")
                try:
                    node.tick()
                except Exception as error:
                    raise node_panic(a, error) from error
            else:
                self._send_sessions(self.session_owner[a - self.node_count].tick(time_us, self.history))
        elif kind == KIND_FAULT:
            self._apply_fault(self.schedule.events[c])
        elif kind == KIND_HEAL_EVERYTHING:
            self._heal_everything()
        elif kind == KIND_CRASH:
            self.crash_pending[c] = False
            self._log(0, f"crash n{c} after its disk sync")
            self.crash_node(c)
            self.core.push(time_us + self.schedule.restart_after_ticks * TICK_US, KIND_RESTART, 0, 0, c)
        elif kind == KIND_RESTART:
            self._log(0, f"restart n{c}")
            self.restart_node(c)
        elif kind == KIND_CAMPAIGN_END:
            self._end_campaign(c)
        else:
            raise HarnessError(f"unknown event kind {kind}")

        if node_id >= 0:
            if self._on_node_event is not None:
                self._on_node_event(node, source)  # the sender, or -1 for a tick
            term, role, commit_index, last_index = self._drain(node_id, node)
            if log_level >= 0 and roles_before[node_id] != (role, term):
                self._log(0, f"n{node_id} is {node.role.name.lower()} of term {term}")
            if role == _LEADER:
                self.leader_of_term.setdefault(term, node_id)
                campaign = self.campaign
                if campaign and campaign.node == node_id and not campaign.ending:
                    # It won: the campaign ends at the next barrier (link state
                    # changes only between batches; docs/core.md).
                    campaign.ending = True
                    self.core.push(time_us + LATENCY_FLOOR_US, KIND_CAMPAIGN_END, 0, 0, campaign.serial)
            self.records += _HASH_RECORD.pack(time_us, kind, a, b, c, term, role, commit_index, last_index)
        else:
            self.records += _HASH_RECORD.pack(time_us, kind, a, b, c, 0, 0, 0, 0)

    def _flush_records(self) -> None:
        """Hashes the buffered records (one update gives the same digest as one
        per record) and hands them to the feedback in one crossing."""
        records = self.records
        if records:
            self.hasher.update(records)
            if self._on_records is not None:
                self._on_records(records)
            self.hashed_tail = (self.hashed_tail + records)[-_TAIL_BYTES:]
            self.hashed_count += len(records) // _HASH_RECORD.size
            records.clear()

    def _recorded(self) -> int:
        """How many events have written their trace-hash record."""
        return self.hashed_count + len(self.records) // _HASH_RECORD.size

    def trace_records(self) -> tuple:
        """The last TRACE_TAIL handled events as (step, time_us, kind, a, b, c),
        read back from their trace-hash records, and the event an exception
        interrupted, if any: a report's trace tail (RunResult.trace_tail)."""
        recent = (self.hashed_tail + self.records)[-_TAIL_BYTES:]
        first_step = self._recorded() - len(recent) // _HASH_RECORD.size + 1
        events = [(first_step + i, *record[:5]) for i, record in enumerate(_HASH_RECORD.iter_unpack(recent))]
        if self.in_flight is not None:
            events.append(self.in_flight)
        return tuple(events[-TRACE_TAIL:])

    def _drain(self, node_id: int, node) -> tuple:
        """Carries out the node's ready batches in the contract's order:
        persist (and sync), then send, then apply. Returns the node's visible
        state once it has no more work (visible_state), for the trace record."""
        on_node_state, on_ready = self._on_node_state, self._on_ready
        for _ in range(MAX_READY_ROUNDS):
            # Read once and shared by the checkers and the trace record.
            visible = term, role, commit_index, last_index = (node.term, node.role, node.commit_index,
                                                              node.last_index())
            # Checked before each hand-off too, so a node whose broken state
            # keeps it busy is reported as the violation it is; but only
            # when it changed (for a leader, the term of its last entry too:
            # its log may be overwritten under the same last index), see
            # Handoff.NODE_STATE.
            if on_node_state is not None:
                state = (term, role, commit_index, last_index, node.term_at(last_index)) if role == _LEADER else visible
                if self.handed_state[node_id] != state:
                    self.handed_state[node_id] = state
                    on_node_state(node, term, role, commit_index, last_index)
            try:
                ready = node.ready()
            except Exception as error:
                raise node_panic(node_id, error) from error
            if ready is None:
                return visible
            disk = self.disks[node_id]
            if ready.snapshot is not None:
                disk.write_snapshot(ready.snapshot)
            if ready.hard_state is not None:
                disk.write_hard_state(*ready.hard_state)
            if ready.entries_from is not None:
                disk.write_log(ready.entries_from, ready.entries)
            if ready.must_sync:
                disk.sync()
                self._maybe_crash_after_sync(node_id)
            if ready.snapshot is not None:
                # Dropping the covered prefix needs no sync: see raftfuzz.sim.disk.
                disk.compact_log(ready.snapshot.last_index)
            if on_ready is not None:
                on_ready(node, ready)
            self._send_all(node_id, ready.messages)
            try:
                node.advance(ready)
            except Exception as error:
                raise node_panic(node_id, error) from error
        raise HarnessError(f"node {node_id} still has work after {MAX_READY_ROUNDS} ready rounds")

    def _maybe_crash_after_sync(self, node_id: int) -> None:
        """Draws whether this sync is followed by a crash. The crash itself is
        a barrier event one lookahead later, because node state may change
        only between batches (docs/core.md)."""
        crash_ratio = self.schedule.crash_after_sync_per_256
        if (crash_ratio and self.now < self.heal_at_us and not self.crash_pending[node_id]
                and self.core.ratio(crash_ratio, 256)):
            self.crash_pending[node_id] = True
            self.core.push(self.now + LATENCY_FLOOR_US, KIND_CRASH, 0, 0, node_id)

    def _send_sessions(self, requests) -> None:
        """A client's requests, each from the session endpoint it names."""
        for request in requests:
            self._send_all(request.src, (request,))

    def _send_all(self, src: int, messages) -> None:
        sent, send, now, endpoint_count = self.messages, self.core.send, self.now, self.endpoint_count
        for message in messages:
            dst = message.dst
            if not 0 <= dst < endpoint_count or dst == src or message.src != src:
                raise HarnessError(f"endpoint {src} sent a message with src {message.src} to {dst}")
            send(now, src, dst, len(sent))
            sent.append(message)

    # --------------------------------------------------------------- faults

    def _resolve(self, selector: int) -> int | None:
        """The node a selector names now, or None (the fault is skipped)."""
        if selector == leader_selector(self.node_count):
            leaders = [(node.term, -node.id) for node in self.nodes
                       if node is not None and not self.paused[node.id] and node.role == Role.LEADER]
            return -max(leaders)[1] if leaders else None
        if selector == earliest_crashed_selector(self.node_count):
            return self.crash_order[0] if self.crash_order else None
        if selector == previous_leader_selector(self.node_count):
            return self._previous_leader()
        return selector

    def _previous_leader(self) -> int | None:
        """The most recent leader other than the leader of the highest term
        seen (alive or not): the old leader a new one replaced."""
        if not self.leader_of_term:
            return None
        terms = sorted(self.leader_of_term, reverse=True)
        latest = self.leader_of_term[terms[0]]
        for term in terms[1:]:
            if self.leader_of_term[term] != latest:
                return self.leader_of_term[term]
        return None

    def _apply_fault(self, event: FaultEvent) -> None:
        a, b = self._resolve(event.a), self._resolve(event.b)
        if a is None or b is None:
            self._log(0, f"fault {event.describe(self.node_count)} skipped: no such node now")
            return
        if self.log_level >= 0:
            roles = [f"{x}=n{y}" for x, y in (("a", a), ("b", b)) if getattr(event, x) >= self.node_count]
            self._log(0, f"fault {event.describe(self.node_count)} {' '.join(roles)}".rstrip())
        VERBS[event.verb].apply(self, a, b, event.value)

    # The fault primitives the verbs' handlers (raftfuzz.schedule.verbs) call.

    def set_link(self, src: int, dst: int, state: int, *, campaign: bool = False) -> None:
        if src == dst:
            return
        if not campaign and self.campaign is not None:
            # Another fault now owns this link: the campaign must not undo it.
            self.campaign.cut.discard((src, dst))
        if state == core_module.LINK_HELD:
            self.held_links.add((src, dst))
        else:
            self.held_links.discard((src, dst))
        if state == core_module.LINK_CUT:
            self.cut_links.add((src, dst))
        else:
            self.cut_links.discard((src, dst))
        self.core.set_link_state(self.now, src, dst, state)

    def start_campaign(self, node_id: int) -> None:
        """Steers the next election to ``node_id`` through the network and the
        clocks alone: the current leader's links to the other nodes are cut,
        so nobody's log moves on and its heartbeats stop, and the node's clock
        runs ``CAMPAIGN_SPEEDUP`` times fast, so its election timer runs out
        first. The node still needs the votes: a log that is behind loses,
        and PreVote may refuse it. The campaign ends when the node is leader,
        after ``CAMPAIGN_ELECTION_TIMEOUTS`` election timeouts, when the node
        crashes, or at the heal: the cut links reopen and the clock is back."""
        node = self.nodes[node_id]
        if node is None or node.role == Role.LEADER or self.campaign is not None:
            self._log(0, f"campaign n{node_id} skipped: down, leader, or another campaign runs")
            return
        self.campaign_count += 1
        campaign = _Campaign(self.campaign_count, node_id)
        self.campaign = campaign
        leader = self._resolve(leader_selector(self.node_count))
        if leader is not None:
            for dst in self.members:
                link = (leader, dst)
                if dst != leader and link not in self.cut_links and link not in self.held_links:
                    self.set_link(leader, dst, core_module.LINK_CUT, campaign=True)
                    campaign.cut.add(link)
        self.core.set_tick_interval(node_id, max(LATENCY_FLOOR_US, self.tick_interval[node_id] // CAMPAIGN_SPEEDUP))
        deadline = self.now + CAMPAIGN_ELECTION_TIMEOUTS * self.schedule.election_timeout_ticks * TICK_US
        self.core.push(deadline, KIND_CAMPAIGN_END, 0, 0, campaign.serial)

    def _end_campaign(self, serial: int | None = None) -> None:
        """Ends the running campaign (only if it is ``serial``, when given)."""
        campaign = self.campaign
        if campaign is None or (serial is not None and campaign.serial != serial):
            return
        self.campaign = None
        self._log(0, f"campaign of n{campaign.node} ends: the leader's links reopen, its clock is back")
        for src, dst in sorted(campaign.cut):
            self.set_link(src, dst, core_module.LINK_UP, campaign=True)
        self.core.set_tick_interval(campaign.node, self.tick_interval[campaign.node])

    def heal_links(self) -> None:
        for src in self.members:
            for dst in self.members:
                self.set_link(src, dst, core_module.LINK_UP)

    def degrade_link(self, src: int, dst: int, quality: int) -> None:
        """Quality 0 restores the schedule's defaults; otherwise the low three
        bits add loss, the next two duplication, the top three extra delay."""
        if src == dst:
            return
        s = self.schedule
        loss = min(256, s.loss_per_256 + (quality & 0x7) * 16)
        duplicate = min(256, s.duplicate_per_256 + (quality >> 3 & 0x3) * 16)
        latency_max = s.latency_max_us + (quality >> 5) * 4_000
        self.core.set_link_faults(src, dst, loss, duplicate, 256, s.latency_min_us, latency_max)

    def set_tick_rate(self, node_id: int, rate: int) -> None:
        """Clock skew: the node's tick interval becomes rate/SKEW_NOMINAL of a tick."""
        self.tick_interval[node_id] = TICK_US * rate // SKEW_NOMINAL
        self.core.set_tick_interval(node_id, self.tick_interval[node_id])

    def crash_node(self, node_id: int) -> None:
        if self.nodes[node_id] is None:
            return
        if self.campaign is not None and self.campaign.node == node_id:
            self._end_campaign()
        self.nodes[node_id] = None
        self.handed_state[node_id] = None
        self.paused[node_id] = False
        self.crash_order.append(node_id)
        self.disks[node_id].crash()
        if self._on_node_stopped is not None:
            self._on_node_stopped(node_id)
        self.core.set_node_state(self.now, node_id, core_module.NODE_DOWN)

    def restart_node(self, node_id: int) -> None:
        if self.nodes[node_id] is not None:
            return
        node = self._make_node(node_id)
        self.nodes[node_id] = node
        self.crash_order.remove(node_id)
        if self._on_node_started is not None:
            self._on_node_started(node_id)
        self.core.set_node_state(self.now, node_id, core_module.NODE_UP)
        if self._on_node_state is not None:
            state = self.handed_state[node_id] = visible_state(node)
            self._on_node_state(node, *state)

    def pause_node(self, node_id: int) -> None:
        if self.nodes[node_id] is not None and not self.paused[node_id]:
            self.paused[node_id] = True
            self.core.set_node_state(self.now, node_id, core_module.NODE_PAUSED)

    def resume_node(self, node_id: int) -> None:
        if self.paused[node_id]:
            self.paused[node_id] = False
            self.core.set_node_state(self.now, node_id, core_module.NODE_UP)

    def _heal_everything(self) -> None:
        self._log(0, "heal everything: links up, crashed nodes restarted, paused nodes resumed")
        self._end_campaign()
        self.heal_links()
        self._configure_network(reliable=True)
        for node_id in self.members:
            self.restart_node(node_id)
            self.resume_node(node_id)
        self._enter(Phase.HEALED)

    # -------------------------------------------------------------- tracing

    def _log(self, level: int, text: str) -> None:
        if level <= self.log_level:
            self.log(f"[{self.step:>6} t={self.now / 1000:>9.3f}ms] {text}")

    def _describe_message(self, message) -> str:
        fields = ", ".join(
            f"{name}={_short(value)}" for name, value in zip(message._fields[2:], message[2:])
        )
        return f"n{message.src}->n{message.dst} {type(message).__name__}({fields})"

    def _describe(self, record) -> str:
        step, time_us, kind, a, b, c = record
        prefix = f"[{step:>6} t={time_us / 1000:>9.3f}ms]"
        if kind == core_module.KIND_DELIVER:
            return f"{prefix} deliver {self._describe_message(self.messages[c])}"
        if kind == core_module.KIND_TICK:
            return f"{prefix} tick {'n' if a < self.node_count else 'c'}{a}"
        if kind == KIND_FAULT:
            return f"{prefix} fault {self.schedule.events[c].describe(self.node_count)}"
        if kind == KIND_CRASH:
            return f"{prefix} crash n{c} after its disk sync"
        if kind == KIND_RESTART:
            return f"{prefix} restart n{c}"
        if kind == KIND_CAMPAIGN_END:
            return f"{prefix} campaign {c} ends"
        return f"{prefix} heal everything"


def _fan_out(handlers: list):
    """One callable for a hand-off's handlers: None for none, the handler
    itself for one (so the hot hand-offs cost one direct call, as before
    the protocol), else each in turn."""
    if not handlers:
        return None
    if len(handlers) == 1:
        return handlers[0]

    def fan_out(*arguments) -> None:
        for handler in handlers:
            handler(*arguments)
    return fan_out


def visible_state(node) -> tuple:
    """What the NODE_STATE hand-off passes beside the node, read once
    (raftfuzz.checks.protocol): term, role, commit index, last log index."""
    return node.term, node.role, node.commit_index, node.last_index()


def node_config(schedule: Schedule) -> NodeConfig:
    """The configuration every node of a run under ``schedule`` is built with."""
    return NodeConfig(schedule.election_timeout_ticks, schedule.heartbeat_ticks, pre_vote=schedule.pre_vote,
                      check_quorum=schedule.check_quorum, snapshot_threshold=schedule.snapshot_threshold)


@dataclass
class _Campaign:
    serial: int
    node: int
    cut: set = field(default_factory=set)  # links the campaign cut, to reopen
    ending: bool = False  # its end is scheduled


def _short(value) -> str:
    if isinstance(value, tuple) and len(value) > 3 and not hasattr(value, "_fields"):
        return f"[{len(value)} entries {value[0].index}..{value[-1].index}]"
    return repr(value)


class _Stop(Exception):
    """Ends the event loop at the step limit."""
