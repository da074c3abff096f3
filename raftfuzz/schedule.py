"""Bytes ⇄ fault schedule.

Fault model. A schedule fixes the cluster (3–7 nodes, timeouts), the
background network (latency range, hence reordering; loss and duplication as
integer ratios over 256), the client workload, and up to ``MAX_EVENTS`` timed
fault events. Every fault verb has an inverse that undoes it:

| verb      | arguments          | inverse              |
|-----------|--------------------|----------------------|
| crash     | node               | restart              |
| partition | node a, node b     | heal (a, b)          |
| one_way   | src → dst          | heal (src, dst)      |
| isolate   | node               | heal_all             |
| split     | node bitmask       | heal_all             |
| hold      | src → dst          | release (src, dst)   |
| pause     | node               | resume               |
| skew      | node, tick rate    | skew with rate 128   |
| link      | src → dst, quality | link with quality 0  |

A node argument names a node by index, or by role at the moment the fault
fires: ``LEADER`` (the live leader of the highest term) or ``EARLIEST_CRASHED``
(the node down the longest). Role-targeted faults keep their meaning whatever
the elections did, as Jepsen's "kill the primary" nemesis does; a fault whose
role names no node is skipped.

Besides timed events, a node may crash right after it syncs its disk (with
probability ``crash_after_sync_per_256`` per sync, drawn from the run's RNG)
and restart ``restart_after_ticks`` later. Crash points at I/O boundaries
are where persistence bugs show, and a timed crash would almost never hit
the few milliseconds between a vote being written and the election ending.

After the last event the simulator heals every link, restarts crashed nodes
and resumes paused ones, then runs ``quiet_ticks`` more.

Node options are knobs too: PreVote, CheckQuorum and the snapshot threshold,
so the fuzzer explores the cluster with and without each.

Byte layout (``FORMAT_VERSION``). A fixed 20-byte header, one byte per knob
(four for the seed), then 5-byte event records (time, verb, a, b, value). Each knob or event field is
one fixed-size draw reduced into its valid range, so decoding is *total* (any
byte string is a valid schedule) and *local* (changing one byte changes one
knob or one event). Exhaustion policy: a header cut short reads the missing
bytes as zero; events continue while a whole record remains — the remaining
length is the continuation flag — and a trailing partial record is ignored,
as is anything after ``MAX_EVENTS`` records. Events are ordered by time, ties
by their position in the input.

``encode`` writes the canonical bytes of a schedule; ``decode(encode(s)) == s``
for every schedule ``decode`` can return, which is how the seed corpus is
written from code.
"""

from dataclasses import asdict, dataclass
from enum import IntEnum

FORMAT_VERSION = 1

HEADER_SIZE = 20
EVENT_SIZE = 5
# Bounds a run's fault phase and the size of a readable report.
MAX_EVENTS = 64
# Fault times are in ticks within the first MAX_FAULT_TICKS (2.56 s simulated):
# one byte per time keeps timing mutations local, and a default run of
# MAX_STEPS events covers about that much simulated time.
MAX_FAULT_TICKS = 256
TICK_US = 10_000
# The smallest network latency, which is also the simulator's lookahead.
LATENCY_FLOOR_US = 2_000
# Skew rates are in 128ths of the nominal tick rate: 64..191 → 0.5x..1.49x.
SKEW_NOMINAL = 128

MIN_NODES = 3
MAX_NODES = 7
MAX_CLIENTS = 3


# Node selectors beyond the node indexes 0..node_count-1; see the docstring.
def leader_selector(node_count: int) -> int:
    return node_count


def earliest_crashed_selector(node_count: int) -> int:
    return node_count + 1


def describe_node(selector: int, node_count: int) -> str:
    if selector == leader_selector(node_count):
        return "leader"
    if selector == earliest_crashed_selector(node_count):
        return "earliest-crashed"
    return f"n{selector}"


class Verb(IntEnum):
    CRASH = 0
    RESTART = 1
    PARTITION = 2
    HEAL = 3
    ONE_WAY = 4
    ISOLATE = 5
    SPLIT = 6
    HEAL_ALL = 7
    HOLD = 8
    RELEASE = 9
    PAUSE = 10
    RESUME = 11
    SKEW = 12
    LINK = 13


# Which arguments each verb reads; the others are stored as 0 so that the
# decoded schedule (and its readable form) has one spelling per meaning.
_NODE_ARGUMENTS = {
    Verb.CRASH: 1, Verb.RESTART: 1, Verb.PARTITION: 2, Verb.HEAL: 2, Verb.ONE_WAY: 2,
    Verb.ISOLATE: 1, Verb.SPLIT: 0, Verb.HEAL_ALL: 0, Verb.HOLD: 2, Verb.RELEASE: 2,
    Verb.PAUSE: 1, Verb.RESUME: 1, Verb.SKEW: 1, Verb.LINK: 2,
}


@dataclass(frozen=True)
class FaultEvent:
    """One fault at ``at_ticks``. ``a``/``b`` are node selectors (an index, or
    ``node_count`` for the leader, ``node_count + 1`` for the earliest crashed
    node); ``value`` is the split bitmask, the skew rate (64..191) or the link
    quality byte."""

    at_ticks: int
    verb: Verb
    a: int = 0
    b: int = 0
    value: int = 0

    def describe(self, node_count: int) -> str:
        name = self.verb.name.lower()
        arity = _NODE_ARGUMENTS[self.verb]
        nodes = " ".join(describe_node(x, node_count) for x in (self.a, self.b)[:arity])
        if self.verb == Verb.SPLIT:
            return f"t={self.at_ticks} {name} mask={self.value:#04x}"
        if self.verb in (Verb.SKEW, Verb.LINK):
            return f"t={self.at_ticks} {name} {nodes} value={self.value}"
        return f"t={self.at_ticks} {name} {nodes}".rstrip()


@dataclass(frozen=True)
class Schedule:
    """One run's knobs and faults; times in ticks, latencies in microseconds."""

    seed: int = 0
    node_count: int = 3
    election_timeout_ticks: int = 4
    heartbeat_ticks: int = 1
    latency_min_us: int = LATENCY_FLOOR_US
    latency_max_us: int = LATENCY_FLOOR_US
    loss_per_256: int = 0
    duplicate_per_256: int = 0
    client_count: int = 1
    client_think_ticks: int = 1
    key_count: int = 1
    write_per_256: int = 0
    quiet_ticks: int = 50
    crash_after_sync_per_256: int = 0
    restart_after_ticks: int = 1
    node_options: int = 0  # bit 0: PreVote, bit 1: CheckQuorum
    snapshot_threshold: int = 64
    events: tuple[FaultEvent, ...] = ()

    def __post_init__(self) -> None:
        if not MIN_NODES <= self.node_count <= MAX_NODES:
            raise ValueError(f"node_count {self.node_count} outside {MIN_NODES}..{MAX_NODES}")
        if self.latency_min_us < LATENCY_FLOOR_US or self.latency_max_us < self.latency_min_us:
            raise ValueError("latency range must satisfy floor <= min <= max")
        if len(self.events) > MAX_EVENTS:
            raise ValueError(f"at most {MAX_EVENTS} events")
        times = [event.at_ticks for event in self.events]
        if times != sorted(times):
            raise ValueError("events must be ordered by time")

    @property
    def pre_vote(self) -> bool:
        return bool(self.node_options & 1)

    @property
    def check_quorum(self) -> bool:
        return bool(self.node_options & 2)

    def fault_end_ticks(self) -> int:
        """When the last fault fires; the heal-everything step comes one tick later."""
        return self.events[-1].at_ticks if self.events else 0

    def describe(self) -> dict:
        knobs = asdict(self)
        knobs["events"] = [event.describe(self.node_count) for event in self.events]
        return knobs


# ---------------------------------------------------------------- knob table

# (name, decode(byte) -> value, encode(value) -> byte). Each entry is one byte
# of the header at its position (after the 4 seed bytes).
def _ranged(low: int, count: int, step: int = 1):
    return (
        lambda byte: low + (byte % count) * step,
        lambda value: (value - low) // step,
    )


_KNOBS = (
    ("node_count", *_ranged(MIN_NODES, MAX_NODES - MIN_NODES + 1)),
    ("election_timeout_ticks", *_ranged(4, 13)),
    ("heartbeat_ticks", *_ranged(1, 3)),
    ("latency_min_us", *_ranged(LATENCY_FLOOR_US, 8, 2_000)),
    ("latency_spread_us", *_ranged(0, 32, 1_000)),
    ("loss_per_256", *_ranged(0, 64)),
    ("duplicate_per_256", *_ranged(0, 64)),
    ("client_count", *_ranged(1, MAX_CLIENTS)),
    ("client_think_ticks", *_ranged(1, 8)),
    ("key_count", *_ranged(1, 4)),
    ("write_per_256", *_ranged(0, 256)),
    ("quiet_ticks", *_ranged(50, 16, 10)),
    ("crash_after_sync_per_256", *_ranged(0, 32)),
    ("restart_after_ticks", *_ranged(1, 16)),
    ("node_options", *_ranged(0, 4)),
    ("snapshot_threshold", *_ranged(4, 16, 4)),
)
assert 4 + len(_KNOBS) == HEADER_SIZE


class _Reader:
    """Fixed-size draws from the input; bytes past the end read as zero."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def byte(self) -> int:
        position = self.position
        self.position += 1
        return self.data[position] if position < len(self.data) else 0


def decode(data: bytes) -> Schedule:
    """Total: every byte string decodes to a valid Schedule."""
    reader = _Reader(data)
    seed = sum(reader.byte() << (8 * shift) for shift in range(4))
    knobs = {name: decode_byte(reader.byte()) for name, decode_byte, _ in _KNOBS}
    spread = knobs.pop("latency_spread_us")
    knobs["latency_max_us"] = knobs["latency_min_us"] + spread
    node_count = knobs["node_count"]
    # heartbeat_ticks (1..3) is always below election_timeout_ticks (4..16).

    records = []
    body = data[HEADER_SIZE:]
    record_count = min(len(body) // EVENT_SIZE, MAX_EVENTS)
    for position in range(record_count):
        record = body[position * EVENT_SIZE : (position + 1) * EVENT_SIZE]
        records.append((_decode_event(record, node_count), position))
    records.sort(key=lambda pair: (pair[0].at_ticks, pair[1]))
    return Schedule(seed=seed, events=tuple(event for event, _ in records), **knobs)


def _decode_event(record: bytes, node_count: int) -> FaultEvent:
    at_ticks, verb_byte, a_byte, b_byte, value_byte = record
    verb = Verb(verb_byte % len(Verb))
    arity = _NODE_ARGUMENTS[verb]
    selectors = node_count + 2
    a = a_byte % selectors if arity >= 1 else 0
    b = b_byte % selectors if arity >= 2 else 0
    if verb == Verb.SPLIT:
        value = value_byte % (1 << node_count)
    elif verb == Verb.SKEW:
        value = 64 + value_byte % 128
    elif verb == Verb.LINK:
        value = value_byte
    else:
        value = 0
    return FaultEvent(at_ticks, verb, a, b, value)


def random_input(generator) -> bytes:
    """Uniformly random knobs and up to MAX_EVENTS / 2 random fault records:
    what random mode runs, and what the schedule mutator sometimes proposes.
    ``generator`` is a ``random.Random``."""
    events = generator.randrange(MAX_EVENTS // 2 + 1)
    return generator.randbytes(HEADER_SIZE + events * EVENT_SIZE)


def encode(schedule: Schedule) -> bytes:
    """Canonical bytes for ``schedule``: ``decode(encode(s)) == s``."""
    out = bytearray(schedule.seed.to_bytes(4, "little"))
    values = asdict(schedule)
    values["latency_spread_us"] = schedule.latency_max_us - schedule.latency_min_us
    for name, decode_byte, encode_value in _KNOBS:
        byte = encode_value(values[name])
        if not 0 <= byte <= 255 or decode_byte(byte) != values[name]:
            raise ValueError(f"{name}={values[name]} cannot be encoded")
        out.append(byte)
    for event in schedule.events:
        if not 0 <= event.at_ticks < MAX_FAULT_TICKS:
            raise ValueError(f"event time {event.at_ticks} outside 0..{MAX_FAULT_TICKS - 1}")
        value = event.value - 64 if event.verb == Verb.SKEW else event.value
        out += bytes([event.at_ticks, int(event.verb), event.a, event.b, value])
    encoded = bytes(out)
    if decode(encoded) != schedule:
        raise ValueError("schedule is not in canonical form (node index or value out of range)")
    return encoded
