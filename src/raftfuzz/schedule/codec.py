"""Bytes ⇄ fault schedule.

Fault model. A schedule fixes the cluster (3–7 nodes, timeouts), the
background network (latency range, hence reordering; loss and duplication as
integer ratios over 256), the client workload, and up to ``MAX_EVENTS`` timed
fault events. Every fault verb has an inverse that undoes it, or ends by
itself; the verbs with their codes, arguments and inverses are the table in
``raftfuzz.schedule.verbs`` (rendered in docs/input-format.md).

``campaign`` steers the next election to a node through the network and the
clocks alone, so it works for every target: the current leader's links to
the other nodes are cut (those that are up), so its heartbeats stop and no
log moves on, and the node's clock runs 4 times fast, so its election timer
runs out first. Its log decides whether it wins, as in any election. The
campaign ends, and the cut links reopen and the clock is back, when the node
is leader, after 4 election timeouts, when the node crashes, or at the heal;
a fault that sets one of the cut links takes that link over. A campaign is
skipped for a node that is down or already leader, or while another runs.

A node argument names a node by index, or by role at the moment the fault
fires: ``LEADER`` (the live leader of the highest term), ``EARLIEST_CRASHED``
(the node down the longest) or ``PREVIOUS_LEADER`` (the most recent leader
other than the leader of the highest term seen so far: with ``campaign``, "the
old leader returns and wins", the first move of Figure 8). Role-targeted
faults keep their meaning whatever the elections did, as Jepsen's "kill the
primary" nemesis does; a fault whose role names no node is skipped.

Besides timed events, a node may crash right after it syncs its disk (with
probability ``crash_after_sync_per_256`` per sync, drawn from the run's RNG)
and restart ``restart_after_ticks`` later. Crash points at I/O boundaries
are where persistence bugs show, and a timed crash would almost never hit
the few milliseconds between a vote being written and the election ending.

After the last event the simulator heals every link, restarts crashed nodes
and resumes paused ones, then runs ``quiet_ticks`` more.

Node options are knobs too: PreVote, CheckQuorum and the snapshot threshold,
so the fuzzer explores the cluster with and without each.

Clients (``raftfuzz.sim.clients``): 1–8 of them, each with up to
``pipeline_depth`` operations in flight, retrying a silent request after
``client_retry_ticks``. A long retry keeps clients on a leader that has been
cut off from the other nodes, so its uncommitted tail grows; a short one
makes them hop between nodes and retry writes across leader changes.

Byte layout (``FORMAT_VERSION``). A fixed 20-byte header, one byte per knob
(four for the seed), then 5-byte event records (time, verb, a, b, value):
the verb byte is a fixed code (``raftfuzz.schedule.verbs`` says how a byte
beyond the codes reads), a and b are node selectors, and the verb's value
codec reads the value byte; a field the verb does not read is stored as 0,
so that each meaning has one spelling. Each knob or event field is
one fixed-size draw reduced into its valid range, so decoding is *total* (any
byte string is a valid schedule) and *local* (changing one byte changes one
knob or one event). Two header bytes hold a second knob in their high bits,
which format 1 ignored: the client-count byte holds ``pipeline_depth`` and
the think-time byte ``client_retry_ticks``; their zero bits mean what
format 1 meant (one operation in flight, a 20-tick retry). Codes added since
(``campaign``, ``previous-leader``, up to 8 clients) extend ranges past the
old ones, so canonical bytes (what ``encode`` writes, hence every seed) keep
their meaning; only bytes beyond an old range are read differently. Exhaustion policy: a header cut short reads the missing
bytes as zero; events continue while a whole record remains — the remaining
length is the continuation flag — and a trailing partial record is ignored,
as is anything after ``MAX_EVENTS`` records. Events are ordered by time, ties
by their position in the input.

``encode`` writes the canonical bytes of a schedule; ``decode(encode(s)) == s``
for every schedule ``decode`` can return, which is how the seed corpus is
written from code.

``FORMAT_VERSION`` names what bytes mean. It goes into every crash report
and into the shared corpus path (``corpus/v<format>/<target>/``,
raftfuzz.store.corpus), so inputs never meet a decoder that reads them as
another schedule: ``decode(data, format_version)`` reads any format of
``READABLE_FORMATS`` as it was read when current (raftfuzz.run.report replays
older reports so), and other formats are refused. It follows the newest
verb's format (raftfuzz.schedule.verbs) and the header's.
"""

from dataclasses import asdict, dataclass

# Verb and SKEW_NOMINAL are re-exported: callers name verbs through the schedule.
from raftfuzz.schedule.verbs import SKEW_NOMINAL, VERBS, Verb, newest_format, verb_of_byte, verbs_of_format

# Raise when the header's layout or a knob's range changes meaning; a new
# verb raises the format through its ``since`` (raftfuzz.schedule.verbs).
HEADER_FORMAT = 1
FORMAT_VERSION = max(HEADER_FORMAT, newest_format())
# Formats decode() reads: the ones since the header last changed differ in
# which verbs they know, nothing else.
READABLE_FORMATS = range(HEADER_FORMAT, FORMAT_VERSION + 1)
_VERBS_KNOWN = {version: verbs_of_format(version) for version in READABLE_FORMATS}

HEADER_SIZE = 20
EVENT_SIZE = 5
# Positions of an event record's fields.
TIME_FIELD, VERB_FIELD, A_FIELD, B_FIELD, VALUE_FIELD = range(EVENT_SIZE)
# Bounds a run's fault phase and the size of a readable report.
MAX_EVENTS = 64
# Fault times are in ticks within the first MAX_FAULT_TICKS (2.56 s simulated):
# one byte per time keeps timing mutations local, and a default run of
# MAX_STEPS events covers about that much simulated time.
MAX_FAULT_TICKS = 256
TICK_US = 10_000
# The smallest network latency, which is also the simulator's lookahead.
LATENCY_FLOOR_US = 2_000

MIN_NODES = 3
MAX_NODES = 7
# The core's endpoint limit (raftfuzz.core.constants.MAX_ENDPOINTS): nodes
# plus client sessions (one per operation a client may have in flight).
MAX_ENDPOINTS = 16
# Retry timeouts a schedule may choose; index 0 is format 1's fixed value.
CLIENT_RETRY_TICKS = (20, 4, 8, 12, 30, 45, 70, 100)
# Client counts and pipeline depths by field value. The first three counts
# are format 1's; repeats keep the average load (and so the simulated time a
# run's step budget covers) near format 1's while the range grows.
CLIENT_COUNTS = (1, 2, 3, 2, 3, 4, 6, 8)
PIPELINE_DEPTHS = (1, 1, 2, 4)


# Node selectors beyond the node indexes 0..node_count-1; see the docstring.
def leader_selector(node_count: int) -> int:
    return node_count


def earliest_crashed_selector(node_count: int) -> int:
    return node_count + 1


def previous_leader_selector(node_count: int) -> int:
    return node_count + 2


ROLE_SELECTORS = 3  # leader, earliest-crashed, previous-leader


def describe_node(selector: int, node_count: int) -> str:
    if selector == leader_selector(node_count):
        return "leader"
    if selector == earliest_crashed_selector(node_count):
        return "earliest-crashed"
    if selector == previous_leader_selector(node_count):
        return "previous-leader"
    return f"n{selector}"


@dataclass(frozen=True)
class FaultEvent:
    """One fault at ``at_ticks``. ``a``/``b`` are node selectors (an index, or
    ``node_count`` for the leader, ``node_count + 1`` for the earliest crashed
    node, ``node_count + 2`` for the previous leader); ``value`` is what the
    verb's value codec read (raftfuzz.schedule.verbs): the split bitmask, the
    skew rate (64..191) or the link quality byte, else 0."""

    at_ticks: int
    verb: Verb
    a: int = 0
    b: int = 0
    value: int = 0

    def describe(self, node_count: int) -> str:
        nodes = [describe_node(x, node_count) for x in (self.a, self.b)]
        return f"t={self.at_ticks} {VERBS[self.verb].describe(nodes, self.value)}"


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
    pipeline_depth: int = 1
    client_think_ticks: int = 1
    client_retry_ticks: int = CLIENT_RETRY_TICKS[0]
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
        if self.client_count not in CLIENT_COUNTS:
            raise ValueError(f"client_count must be one of {sorted(set(CLIENT_COUNTS))}")
        if self.pipeline_depth != fitting_pipeline_depth(self.node_count, self.client_count, self.pipeline_depth):
            raise ValueError(f"pipeline_depth must be one of {sorted(set(PIPELINE_DEPTHS))} and fit "
                             f"{MAX_ENDPOINTS} endpoints with the nodes and the other client sessions")
        if self.client_retry_ticks not in CLIENT_RETRY_TICKS:
            raise ValueError(f"client_retry_ticks must be one of {CLIENT_RETRY_TICKS}")
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

    def describe(self, legend: bool = False) -> dict:
        """The knobs and events, readable; with ``legend``, also what each
        verb used does (the table's one-line summaries), as ``decode`` prints."""
        knobs = asdict(self)
        knobs["events"] = [event.describe(self.node_count) for event in self.events]
        if legend:
            knobs["verbs"] = {VERBS[verb].name: VERBS[verb].summary
                              for verb in sorted({event.verb for event in self.events})}
        return knobs


def fitting_pipeline_depth(node_count: int, client_count: int, depth: int) -> int:
    """The deepest allowed pipeline up to ``depth`` whose sessions (one per
    operation in flight, each an endpoint) fit beside the nodes."""
    limit = min(depth, (MAX_ENDPOINTS - node_count) // client_count)
    return max([1, *(choice for choice in PIPELINE_DEPTHS if choice <= limit)])


# ---------------------------------------------------------------- knob table

# (name, header byte, lowest bit, bit width, decode(field) -> value,
# encode(value) -> field). The header byte counts from the first byte after
# the 4 seed bytes. Most knobs take a whole byte; a knob of a power-of-two
# range reads only its low bits, and a second knob may use the high bits.
def _ranged(low: int, count: int, step: int = 1):
    return (
        lambda field: low + (field % count) * step,
        lambda value: (value - low) // step,
    )


def _chosen(choices: tuple[int, ...]):
    return (lambda field: choices[field], choices.index)


_KNOBS = (
    ("node_count", 0, 0, 8, *_ranged(MIN_NODES, MAX_NODES - MIN_NODES + 1)),
    ("election_timeout_ticks", 1, 0, 8, *_ranged(4, 13)),
    ("heartbeat_ticks", 2, 0, 8, *_ranged(1, 3)),
    ("latency_min_us", 3, 0, 8, *_ranged(LATENCY_FLOOR_US, 8, 2_000)),
    ("latency_spread_us", 4, 0, 8, *_ranged(0, 32, 1_000)),
    ("loss_per_256", 5, 0, 8, *_ranged(0, 64)),
    ("duplicate_per_256", 6, 0, 8, *_ranged(0, 64)),
    ("client_count", 7, 0, 3, *_chosen(CLIENT_COUNTS)),
    ("pipeline_depth", 7, 3, 2, *_chosen(PIPELINE_DEPTHS)),
    ("client_think_ticks", 8, 0, 3, *_ranged(1, 8)),
    ("client_retry_ticks", 8, 3, 3, *_chosen(CLIENT_RETRY_TICKS)),
    ("key_count", 9, 0, 8, *_ranged(1, 4)),
    ("write_per_256", 10, 0, 8, *_ranged(0, 256)),
    ("quiet_ticks", 11, 0, 8, *_ranged(50, 16, 10)),
    ("crash_after_sync_per_256", 12, 0, 8, *_ranged(0, 32)),
    ("restart_after_ticks", 13, 0, 8, *_ranged(1, 16)),
    ("node_options", 14, 0, 8, *_ranged(0, 4)),
    ("snapshot_threshold", 15, 0, 8, *_ranged(4, 16, 4)),
)
assert 4 + 1 + max(knob[1] for knob in _KNOBS) == HEADER_SIZE
# Header bytes that hold two knobs (what a one-byte change may alter).
SHARED_HEADER_BYTES = {4 + 7: ("client_count", "pipeline_depth"),
                       4 + 8: ("client_think_ticks", "client_retry_ticks")}


class _Reader:
    """Fixed-size draws from the input; bytes past the end read as zero."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def byte(self) -> int:
        position = self.position
        self.position += 1
        return self.data[position] if position < len(self.data) else 0


def decode(data: bytes, format_version: int = FORMAT_VERSION) -> Schedule:
    """Total: every byte string decodes to a valid Schedule. An older format
    (one of ``READABLE_FORMATS``) decodes as it did when it was current."""
    known = _VERBS_KNOWN.get(format_version)
    if known is None:
        raise ValueError(f"input format {format_version!r} is not one of {list(READABLE_FORMATS)}")
    reader = _Reader(data)
    seed = sum(reader.byte() << (8 * shift) for shift in range(4))
    header = [reader.byte() for _ in range(HEADER_SIZE - 4)]
    knobs = {name: decode_field(header[position] >> shift & ((1 << width) - 1))
             for name, position, shift, width, decode_field, _ in _KNOBS}
    spread = knobs.pop("latency_spread_us")
    knobs["latency_max_us"] = knobs["latency_min_us"] + spread
    node_count = knobs["node_count"]
    # Sessions beyond the core's endpoints are not opened.
    knobs["pipeline_depth"] = fitting_pipeline_depth(node_count, knobs["client_count"],
                                                     knobs["pipeline_depth"])
    # heartbeat_ticks (1..3) is always below election_timeout_ticks (4..16).

    records = []
    body = data[HEADER_SIZE:]
    record_count = min(len(body) // EVENT_SIZE, MAX_EVENTS)
    for position in range(record_count):
        record = body[position * EVENT_SIZE : (position + 1) * EVENT_SIZE]
        records.append((_decode_event(record, node_count, known), position))
    records.sort(key=lambda pair: (pair[0].at_ticks, pair[1]))
    return Schedule(seed=seed, events=tuple(event for event, _ in records), **knobs)


def _decode_event(record: bytes, node_count: int, known: int) -> FaultEvent:
    at_ticks, verb_byte, a_byte, b_byte, value_byte = record
    verb = verb_of_byte(verb_byte, known)
    spec = VERBS[verb]
    arity = len(spec.nodes)
    selectors = node_count + ROLE_SELECTORS
    a = a_byte % selectors if arity >= 1 else 0
    b = b_byte % selectors if arity >= 2 else 0
    return FaultEvent(at_ticks, verb, a, b, spec.value.decode(value_byte, node_count))


def event_record(at_ticks: int, verb: Verb, a: int = 0, b: int = 0, value_byte: int = 0) -> bytearray:
    """The raw record of one event; the mutator writes records with it."""
    record = bytearray(EVENT_SIZE)
    record[TIME_FIELD], record[VERB_FIELD], record[A_FIELD] = at_ticks, int(verb), a
    record[B_FIELD], record[VALUE_FIELD] = b, value_byte
    return record


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
    header = bytearray(HEADER_SIZE - 4)
    for name, position, shift, width, decode_field, encode_value in _KNOBS:
        try:
            field = encode_value(values[name])
        except ValueError:
            raise ValueError(f"{name}={values[name]} cannot be encoded") from None
        if not 0 <= field < 1 << width or decode_field(field) != values[name]:
            raise ValueError(f"{name}={values[name]} cannot be encoded")
        header[position] |= field << shift
    out += header
    for event in schedule.events:
        if not 0 <= event.at_ticks < MAX_FAULT_TICKS:
            raise ValueError(f"event time {event.at_ticks} outside 0..{MAX_FAULT_TICKS - 1}")
        value_byte = VERBS[event.verb].value.encode(event.value)
        if not 0 <= value_byte < 256:
            raise ValueError(f"event value {event.value} cannot be encoded for {event.verb.name.lower()}")
        out += event_record(event.at_ticks, event.verb, event.a, event.b, value_byte)
    encoded = bytes(out)
    if decode(encoded) != schedule:
        raise ValueError("schedule is not in canonical form (node index or value out of range)")
    return encoded
