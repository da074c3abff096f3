"""The fault verbs: one table row per verb, read by everything that needs one.

A row holds the verb's fixed code (its byte in an event record), the names
of its node arguments, the codec of its value byte, its inverse, the input
format that introduced it, a one-line description, and its handler. The
schedule codec (``raftfuzz.schedule.codec``) decodes and encodes event records and
describes events from it, the structure-aware mutator undoes a fault with
its inverse from it, and the simulator applies an event by calling its
handler; ``docs/input-format.md`` shows the table as ``markdown_table()``
renders it (a test keeps the two equal).

Codes. Each verb keeps its code forever; a new verb takes the next free code.
A verb byte below ``len(VERBS)`` names the verb of that code. A byte at or
above it wraps modulo ``FORMAT_1_VERBS`` (15, the number of verbs format 1
had; it never changes), so every byte means today exactly what it meant
before the codes were fixed, and a verb added later changes the meaning of
one byte value only: its own code, which until then wrapped. Canonical
inputs (what ``encode`` writes, hence every seed) use codes below
``len(VERBS)`` and never change meaning. Two other rules were weighed and
rejected: a fixed modulus of 32 with the unused codes decoded as no-ops
would have made half of all random fault records do nothing and changed
what every fuzzer-found input with a verb byte of 15 or more means; reading
the byte modulo ``len(VERBS)``, as before, changes almost every such byte
whenever a verb is added.

Because that one byte value does change, a new verb names the next input
format in ``since``, and ``raftfuzz.schedule.codec.FORMAT_VERSION`` follows the
newest ``since``. The shared corpus then moves to a new folder
(``corpus/v<format>/<target>/``), and an input of an older format still
decodes as it did: ``raftfuzz.schedule.codec.decode(data, format_version)`` reads
verb bytes with only the verbs that format knew, so a crash report of any
format since the header last changed replays the schedule it was found
with. Adding a verb is this module and its test: a row, a handler, the next
format in ``since`` (plus, as for any feature, a seed that uses it and the
regenerated table in the docs; docs/input-format.md has the steps).

A new verb is reachable from random bytes only through its one code (1/256
of verb bytes, against about 17/256 for each format-1 verb); the mutator's
steering and undo write codes directly, and a format that adds many verbs
should raise the wrap as a header change is made (raftfuzz.schedule.codec.HEADER_FORMAT).

Handlers are turmoil's "one method per fault": a function per verb, given
the simulation and the resolved nodes, that calls the simulation's fault
primitives (``Simulation.crash_node``, ``set_link`` …). Node arguments name a
node by index or by role (``raftfuzz.schedule.codec``); a handler only ever sees
node indexes, because a fault whose role names no node is skipped before it.
"""

from dataclasses import dataclass
from enum import IntEnum
from typing import Callable

from raftfuzz.core.constants import LINK_CUT, LINK_HELD, LINK_UP

# Every byte at or above len(VERBS) wraps modulo this: the verb count of
# input format 1. Never change it within a format version.
FORMAT_1_VERBS = 15
# The core's feedback keeps 7 bits of a verb code (docs/feedback.md).
MAX_CODES = 128
# Skew rates are in 128ths of the nominal tick rate: 64..191 → 0.5x..1.49x.
SKEW_NOMINAL = 128
SKEW_LOWEST = 64


@dataclass(frozen=True)
class ValueCodec:
    """How a verb reads its value byte: ``decode(byte, node_count)`` gives the
    value, ``encode(value)`` its canonical byte; ``describe`` is how ``decode``
    output shows it (None: the verb reads no value, which is stored as 0)."""

    meaning: str
    decode: Callable[[int, int], int]
    encode: Callable[[int], int]
    describe: Callable[[int], str] | None


NO_VALUE = ValueCodec("", lambda byte, node_count: 0, lambda value: value, None)
NODE_MASK = ValueCodec("node bitmask", lambda byte, node_count: byte % (1 << node_count),
                       lambda value: value, lambda value: f"mask={value:#04x}")
SKEW_RATE = ValueCodec(f"tick rate {SKEW_LOWEST}..{SKEW_LOWEST + 127}",
                       lambda byte, node_count: SKEW_LOWEST + byte % 128,
                       lambda value: value - SKEW_LOWEST, lambda value: f"value={value}")
LINK_QUALITY = ValueCodec("quality", lambda byte, node_count: byte, lambda value: value,
                          lambda value: f"value={value}")


@dataclass(frozen=True)
class Undo:
    """The fault that undoes a verb: ``verb`` on the same nodes, with ``value``
    (None: the undone record's value byte)."""

    verb: str
    value: int | None = None


@dataclass(frozen=True)
class VerbSpec:
    code: int
    name: str
    nodes: tuple[str, ...]  # the names of its node arguments, at most two
    value: ValueCodec
    undo: Undo | None  # None: it repairs another verb, or ends by itself
    summary: str
    apply: Callable  # apply(simulation, a, b, value), a and b node indexes
    since: int = 1  # the input format that introduced it
    ends_by_itself: bool = False

    def describe(self, nodes: list[str], value: int) -> str:
        """The event's arguments as ``decode`` shows them: ``n1 leader value=90``."""
        shown = list(nodes[:len(self.nodes)])
        if self.value.describe is not None:
            shown.append(self.value.describe(value))
        return " ".join([self.name, *shown])


# ------------------------------------------------------------------ handlers
# One per verb. ``sim`` is a raftfuzz.sim.simulation.Simulation.

def _crash(sim, a, b, value):
    sim.crash_node(a)


def _restart(sim, a, b, value):
    sim.restart_node(a)


def _partition(sim, a, b, value):
    sim.set_link(a, b, LINK_CUT)
    sim.set_link(b, a, LINK_CUT)


def _heal(sim, a, b, value):
    sim.set_link(a, b, LINK_UP)
    sim.set_link(b, a, LINK_UP)


def _one_way(sim, a, b, value):
    sim.set_link(a, b, LINK_CUT)


def _isolate(sim, a, b, value):
    for other in sim.members:
        sim.set_link(a, other, LINK_CUT)
        sim.set_link(other, a, LINK_CUT)


def _split(sim, a, b, mask):
    for x in sim.members:
        for y in sim.members:
            if (mask >> x & 1) != (mask >> y & 1):
                sim.set_link(x, y, LINK_CUT)


def _heal_all(sim, a, b, value):
    sim.heal_links()


def _hold(sim, a, b, value):
    sim.set_link(a, b, LINK_HELD)


def _release(sim, a, b, value):
    if (a, b) in sim.held_links:
        sim.set_link(a, b, LINK_UP)


def _pause(sim, a, b, value):
    sim.pause_node(a)


def _resume(sim, a, b, value):
    sim.resume_node(a)


def _skew(sim, a, b, rate):
    sim.set_tick_rate(a, rate)


def _link(sim, a, b, quality):
    sim.degrade_link(a, b, quality)


def _campaign(sim, a, b, value):
    sim.start_campaign(a)


# --------------------------------------------------------------------- table

NODE = ("node",)
PAIR = ("a", "b")
DIRECTED = ("src", "dst")

VERBS = (
    VerbSpec(0, "crash", NODE, NO_VALUE, Undo("restart"),
             "the node stops; its unsynced disk writes are lost", _crash),
    VerbSpec(1, "restart", NODE, NO_VALUE, None,
             "a crashed node is rebuilt from its disk", _restart),
    VerbSpec(2, "partition", PAIR, NO_VALUE, Undo("heal"),
             "the links between a and b are cut both ways", _partition),
    VerbSpec(3, "heal", PAIR, NO_VALUE, None,
             "the links between a and b reopen both ways", _heal),
    VerbSpec(4, "one_way", DIRECTED, NO_VALUE, Undo("heal"),
             "the link from src to dst is cut", _one_way),
    VerbSpec(5, "isolate", NODE, NO_VALUE, Undo("heal_all"),
             "every link to and from the node is cut", _isolate),
    VerbSpec(6, "split", (), NODE_MASK, Undo("heal_all"),
             "the links between the nodes in the mask and the others are cut", _split),
    VerbSpec(7, "heal_all", (), NO_VALUE, None,
             "every link reopens", _heal_all),
    VerbSpec(8, "hold", DIRECTED, NO_VALUE, Undo("release"),
             "messages from src to dst queue", _hold),
    VerbSpec(9, "release", DIRECTED, NO_VALUE, None,
             "a held link delivers its queue in order", _release),
    VerbSpec(10, "pause", NODE, NO_VALUE, Undo("resume"),
             "the node stops: its ticks are skipped and messages queue until it resumes", _pause),
    VerbSpec(11, "resume", NODE, NO_VALUE, None,
             "a paused node runs again", _resume),
    VerbSpec(12, "skew", NODE, SKEW_RATE, Undo("skew", SKEW_NOMINAL),
             "the node's tick interval becomes rate/128 of the nominal one", _skew),
    VerbSpec(13, "link", DIRECTED, LINK_QUALITY, Undo("link", 0),
             "the link gets extra loss (bits 0-2), duplication (3-4) and delay (5-7); 0 restores it",
             _link),
    VerbSpec(14, "campaign", NODE, NO_VALUE, None,
             "steers the next election to the node: the leader's links are cut and the node's clock "
             "runs fast until it leads or gives up (raftfuzz.schedule.codec)", _campaign, ends_by_itself=True),
)

Verb = IntEnum("Verb", [(spec.name.upper(), spec.code) for spec in VERBS], module=__name__)
Verb.__doc__ = "A fault verb by its fixed code (raftfuzz.schedule.verbs.VERBS)."

assert [spec.code for spec in VERBS] == list(range(len(VERBS))), "codes are dense, in table order"
assert FORMAT_1_VERBS <= len(VERBS) <= MAX_CODES
assert [spec.since for spec in VERBS] == sorted(spec.since for spec in VERBS), "a new verb, a new format"


def spec_of(verb: int) -> VerbSpec:
    return VERBS[verb]


def verb_of_byte(byte: int, known: int = len(VERBS)) -> Verb:
    """The verb an event record's verb byte names (the rule above), in an
    input format that knows the first ``known`` verbs."""
    return Verb(byte if byte < known else byte % FORMAT_1_VERBS)


def verbs_of_format(format_version: int) -> int:
    """How many verbs (the first ones, by code) input format ``format_version`` knows."""
    return sum(1 for spec in VERBS if spec.since <= format_version)


def undo_of(verb: int) -> tuple[Verb, int | None] | None:
    """The verb that undoes ``verb`` and the value byte it needs (None: keep
    the undone record's), or None when ``verb`` has no undo of its own."""
    undo = VERBS[verb].undo
    if undo is None:
        return None
    inverse = Verb[undo.verb.upper()]
    return inverse, None if undo.value is None else VERBS[inverse].value.encode(undo.value)


def newest_format() -> int:
    return max(spec.since for spec in VERBS)


def _inverse_text(spec: VerbSpec) -> str:
    if spec.undo is not None:
        value = spec.value.describe(spec.undo.value) if spec.undo.value is not None else ""
        return f"{spec.undo.verb} {value}".rstrip()
    if spec.ends_by_itself:
        return "ends by itself, or heal_all"
    repaired = [other.name for other in VERBS if other.undo is not None and other.undo.verb == spec.name]
    return "(undoes " + ", ".join(repaired) + ")"


def markdown_table() -> str:
    """The verb table as docs/input-format.md shows it."""
    lines = ["| code | verb | arguments | inverse | format | what it does |",
             "|---|---|---|---|---|---|"]
    for spec in VERBS:
        arguments = ", ".join([*spec.nodes, *([spec.value.meaning] if spec.value.meaning else [])])
        lines.append(f"| {spec.code} | `{spec.name}` | {arguments or '—'} | {_inverse_text(spec)} "
                     f"| {spec.since} | {spec.summary} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
