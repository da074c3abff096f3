"""A full record of one run, for pictures and summaries (raftfuzz.findings.explain).

``RecordingSimulation`` is the simulator with an observer around its event
handler: after every event it notes the messages sent, the deliveries, each
node's role, term, commit index and whether it is up, down or paused, and,
after the barrier events that change them, the cut and held links. It only
reads the simulation's state and draws nothing from the core, so a recorded
run takes exactly the path of an unrecorded one (same trace hash; the
tests check it), and an ordinary run pays nothing for it: recording is a
subclass, used only by ``raftfuzz explain``.

Memory grows with the run (one record per message), which is fine for one
replay of a report but is why fuzzing never records.
"""

from dataclasses import dataclass, field

from raftfuzz.core import contract as core_module
from raftfuzz.sim.simulation import KIND_FAULT, Simulation

# How much of a message a label shows; the rest is elided.
LABEL_CHARACTERS = 160


@dataclass
class SentMessage:
    message_id: int
    sent_us: int
    src: int
    dst: int
    kind: str  # the message's type name
    label: str
    heartbeat: bool  # an empty AppendEntries, a reply to one, or a bare TCP acknowledgement
    delivered_us: list[int] = field(default_factory=list)


@dataclass
class NodeState:
    """A node's visible state from ``since_us`` on."""

    since_us: int
    step: int
    status: str  # "up", "down", "paused"
    role: str  # "follower", "candidate", "pre_candidate", "leader", or "" when down
    term: int
    commit_index: int


@dataclass
class FaultFired:
    at_us: int
    step: int
    text: str  # the schedule's description, with the nodes a role named


@dataclass
class LinkState:
    since_us: int
    cut: tuple[tuple[int, int], ...]
    held: tuple[tuple[int, int], ...]


@dataclass
class RunRecord:
    node_count: int
    endpoint_count: int
    messages: list[SentMessage] = field(default_factory=list)
    node_states: list[list[NodeState]] = field(default_factory=list)
    faults: list[FaultFired] = field(default_factory=list)
    links: list[LinkState] = field(default_factory=list)
    other_events: list[FaultFired] = field(default_factory=list)  # crash after sync, heal, campaign end


class RecordingSimulation(Simulation):
    """A Simulation that records what ``raftfuzz.findings.explain`` draws."""

    def __init__(self, *arguments, **keywords) -> None:
        super().__init__(*arguments, **keywords)
        self.record = RunRecord(self.node_count, self.endpoint_count,
                                node_states=[[] for _ in range(self.node_count)])
        self._observe_nodes(0)
        self.record.links.append(LinkState(0, (), ()))

    def _handle(self, time_us: int, kind: int, a: int, b: int, c: int) -> None:
        resolved = self._fault_text(c) if kind == KIND_FAULT else None
        try:
            super()._handle(time_us, kind, a, b, c)
        finally:
            # Also when the event raised the violation: the picture must show
            # the messages and state changes of the step that broke the rule.
            self._observe(time_us, kind, c, resolved)

    def _fault_text(self, position: int) -> str:
        event = self.schedule.events[position]
        text = event.describe(self.node_count)
        named = []
        try:
            for argument, selector in (("a", event.a), ("b", event.b))[:_arity(event, self.node_count)]:
                if selector >= self.node_count:
                    node = self._resolve(selector)
                    named.append(f"{argument}=n{node}" if node is not None else "(skipped: no such node now)")
        except Exception:  # the resolver reads node state a broken target may not have
            pass
        return " ".join([text, *named])

    def _observe(self, time_us: int, kind: int, c: int, fault_text: str | None) -> None:
        record = self.record
        delivered = None
        if kind == core_module.KIND_DELIVER and c < len(record.messages):
            delivered = record.messages[c]
            delivered.delivered_us.append(time_us)
        # Every message is recorded once, in id order, so record.messages[id] is it.
        for message_id in range(len(record.messages), len(self.messages)):
            message = self.messages[message_id]
            record.messages.append(SentMessage(
                message_id, time_us, message.src, message.dst, type(message).__name__, _label(message, self.node_count),
                _is_heartbeat(message, delivered)))
        if kind >= core_module.KIND_BARRIER_MIN:
            if fault_text is not None:
                record.faults.append(FaultFired(time_us, self.step, fault_text))
            else:
                record.other_events.append(FaultFired(time_us, self.step, self._describe(
                    (self.step, time_us, kind, 0, 0, c)).split("] ", 1)[-1]))
            links = LinkState(time_us, tuple(sorted(self.cut_links)), tuple(sorted(self.held_links)))
            if (links.cut, links.held) != (record.links[-1].cut, record.links[-1].held):
                record.links.append(links)
        self._observe_nodes(time_us)

    def _observe_nodes(self, time_us: int) -> None:
        for node_id, states in enumerate(self.record.node_states):
            node = self.nodes[node_id]
            if node is None:
                state = ("down", "", states[-1].term if states else 0, 0)
            else:
                try:
                    role = node.role.name.lower()
                    state = ("paused" if self.paused[node_id] else "up", role, int(node.term),
                             int(node.commit_index))
                except Exception:  # a target whose state cannot be read: drawn as unknown
                    state = ("up", "unknown", 0, 0)
            if not states or (states[-1].status, states[-1].role, states[-1].term, states[-1].commit_index) != state:
                states.append(NodeState(time_us, self.step, *state))


def _endpoint(endpoint: int, node_count: int) -> str:
    return f"n{endpoint}" if endpoint < node_count else f"c{endpoint}"


def _arity(event, node_count: int) -> int:
    """How many node arguments the fault's verb reads: the words after the
    verb in its description that are not ``name=value``."""
    return sum(1 for word in event.describe(node_count).split()[2:] if "=" not in word)


def _label(message, node_count: int) -> str:
    fields = getattr(message, "_fields", ())[2:]
    parts = []
    for name in fields:
        value = getattr(message, name)
        if isinstance(value, tuple) and value and not hasattr(value, "_fields"):
            first, last = value[0], value[-1]
            if hasattr(first, "index") and hasattr(last, "index"):
                text = f"[{len(value)} entries {first.index}..{last.index}]"
            else:
                text = f"[{len(value)} items]"
        elif isinstance(value, bytes):
            text = f"<{len(value)} bytes>"
        else:
            text = repr(value)
        parts.append(f"{name}={text}")
    label = f"{_endpoint(message.src, node_count)}->{_endpoint(message.dst, node_count)} {type(message).__name__}({', '.join(parts)})"
    return label if len(label) <= LABEL_CHARACTERS else label[:LABEL_CHARACTERS - 1] + "…"


def _is_heartbeat(message, answering) -> bool:
    """Collapsible traffic: an AppendEntries without entries, the reply it
    got in the same step, and a TCP segment without payload."""
    entries = getattr(message, "entries", None)
    if isinstance(entries, tuple) and not entries and "AppendEntries" in type(message).__name__:
        return True
    if getattr(message, "payload", None) == b"":
        return True
    return (answering is not None and answering.heartbeat and answering.src == message.dst
            and "Response" in type(message).__name__)
