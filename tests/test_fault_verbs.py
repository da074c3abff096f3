"""The fault-verb table: total over every verb byte, fixed codes, an inverse
and a working handler per verb, the mutator within the table's ranges, and
the format version where it must be."""

import json
from pathlib import Path
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from raftfuzz.schedule import verbs as fault_verbs

from raftfuzz.schedule import mutator as schedule_mutator
from raftfuzz.schedule.verbs import (
    FORMAT_1_VERBS,
    VERBS,
    Verb,
    markdown_table,
    undo_of,
    verb_of_byte,
    verbs_of_format,
)
from raftfuzz.node.raft import RaftNode
from raftfuzz.run.report import current_format_input
from raftfuzz.schedule.codec import (
    EVENT_SIZE,
    FORMAT_VERSION,
    HEADER_FORMAT,
    HEADER_SIZE,
    MAX_FAULT_TICKS,
    READABLE_FORMATS,
    ROLE_SELECTORS,
    TICK_US,
    VERB_FIELD,
    FaultEvent,
    Schedule,
    decode,
    encode,
    event_record,
)
from raftfuzz.sim.simulation import Simulation
from tests.conftest import REPO, run_cli
from tests.scenarios import run, schedule

# Format 1's codes, by name: fixed forever (a test that fails here means a
# verb was renumbered, which changes what every stored input means).
FORMAT_1_CODES = ("crash", "restart", "partition", "heal", "one_way", "isolate", "split", "heal_all",
                  "hold", "release", "pause", "resume", "skew", "link", "campaign")


def test_codes_are_fixed_dense_and_named_once():
    assert tuple(spec.name for spec in VERBS[:FORMAT_1_VERBS]) == FORMAT_1_CODES
    assert [spec.code for spec in VERBS] == list(range(len(VERBS)))
    assert len({spec.name for spec in VERBS}) == len(VERBS)
    assert [(verb.name.lower(), int(verb)) for verb in Verb] == [(spec.name, spec.code) for spec in VERBS]
    assert FORMAT_1_VERBS == sum(1 for spec in VERBS if spec.since == 1)
    assert all(len(spec.nodes) <= 2 for spec in VERBS)


def test_every_verb_byte_decodes_by_the_documented_rule():
    for byte in range(256):
        expected = byte if byte < len(VERBS) else byte % FORMAT_1_VERBS
        assert verb_of_byte(byte) == expected
    # Format 1 reads a byte as decoding did before the codes were fixed: byte % 15.
    format_1 = verbs_of_format(1)
    assert [verb_of_byte(byte, format_1) for byte in range(256)] == [byte % 15 for byte in range(256)]
    assert verb_of_byte(17) == Verb.PARTITION and verb_of_byte(200) == Verb.ISOLATE


def test_the_format_version_follows_the_newest_verb_and_the_header():
    assert FORMAT_VERSION == max(HEADER_FORMAT, *(spec.since for spec in VERBS))
    assert all(1 <= spec.since <= FORMAT_VERSION for spec in VERBS)


def test_a_format_knows_the_verbs_up_to_its_own():
    assert verbs_of_format(1) == FORMAT_1_VERBS
    assert verbs_of_format(FORMAT_VERSION) == len(VERBS)
    assert list(READABLE_FORMATS) == list(range(HEADER_FORMAT, FORMAT_VERSION + 1))
    for unreadable in (HEADER_FORMAT - 1, FORMAT_VERSION + 1):
        with pytest.raises(ValueError, match=f"input format {unreadable}"):
            decode(b"", unreadable)


@given(st.binary(max_size=HEADER_SIZE + EVENT_SIZE * 20), st.sampled_from(READABLE_FORMATS))
def test_an_input_of_a_readable_format_replays_as_the_schedule_it_was(data, format_version):
    report = {"format_version": format_version}
    assert decode(current_format_input(data, report)) == decode(data, format_version)
    if format_version == FORMAT_VERSION:
        assert current_format_input(data, report) == data  # a current input runs as found


def canonical_events(node_count):
    """Events as encode writes them: each field in its verb's range."""
    selectors = node_count + ROLE_SELECTORS

    def build(at_ticks, verb, a, b, value_byte):
        spec = VERBS[verb]
        return FaultEvent(at_ticks, Verb(verb), a if len(spec.nodes) >= 1 else 0,
                          b if len(spec.nodes) >= 2 else 0, spec.value.decode(value_byte, node_count))

    return st.builds(build, st.integers(0, MAX_FAULT_TICKS - 1), st.integers(0, len(VERBS) - 1),
                     st.integers(0, selectors - 1), st.integers(0, selectors - 1), st.integers(0, 255))


@given(st.integers(3, 7).flatmap(lambda n: st.tuples(st.just(n), st.lists(canonical_events(n), max_size=20))))
def test_canonical_events_round_trip_through_the_table(case):
    node_count, events = case
    schedule_ = Schedule(node_count=node_count, events=tuple(sorted(events, key=lambda e: e.at_ticks)))
    data = encode(schedule_)
    assert decode(data) == schedule_
    assert encode(decode(data)) == data
    # Canonical bytes use codes only, never a byte that wraps.
    assert all(data[start + VERB_FIELD] < len(VERBS) for start in range(HEADER_SIZE, len(data), EVENT_SIZE))


@given(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255), st.integers(0, 255))
def test_a_record_decodes_to_its_verbs_arguments_only(verb_byte, a, b, value_byte):
    event = decode(bytes(HEADER_SIZE) + bytes([9, verb_byte, a, b, value_byte])).events[0]
    spec = VERBS[event.verb]
    assert event.verb == verb_of_byte(verb_byte)
    assert (event.a != 0) <= (len(spec.nodes) >= 1) and (event.b != 0) <= (len(spec.nodes) >= 2)
    assert event.value == spec.value.decode(value_byte, 3)
    assert event.describe(3).startswith(f"t=9 {spec.name}")


def repairs():
    return {spec.undo.verb for spec in VERBS if spec.undo is not None}


def test_every_verb_has_an_inverse():
    names = {spec.name for spec in VERBS}
    for spec in VERBS:
        if spec.undo is not None:
            inverse = VERBS[Verb[spec.undo.verb.upper()]]
            assert inverse.name in names
            # The undo copies the record's node bytes: it may read fewer, never more.
            assert len(inverse.nodes) <= len(spec.nodes), f"{spec.name}'s undo reads nodes it lacks"
            if spec.undo.value is not None:
                assert 0 <= inverse.value.encode(spec.undo.value) < 256
        else:
            assert spec.name in repairs() or spec.ends_by_itself, f"{spec.name} has no inverse"


# What each verb does, seen on the simulation right after it fires on a
# fresh three-node cluster: (faults before it, the fault, a check).
def links(simulation):
    return simulation.cut_links


EFFECTS = {
    "crash": ((), (Verb.CRASH, 1), lambda s: s.nodes[1] is None),
    "restart": (((Verb.CRASH, 1),), (Verb.RESTART, 1), lambda s: s.nodes[1] is not None),
    "partition": ((), (Verb.PARTITION, 0, 1), lambda s: links(s) == {(0, 1), (1, 0)}),
    "heal": (((Verb.PARTITION, 0, 1),), (Verb.HEAL, 1, 0), lambda s: links(s) == set()),
    "one_way": ((), (Verb.ONE_WAY, 0, 1), lambda s: links(s) == {(0, 1)}),
    "isolate": ((), (Verb.ISOLATE, 2), lambda s: links(s) == {(2, 0), (0, 2), (2, 1), (1, 2)}),
    "split": ((), (Verb.SPLIT, 0, 0, 0b001), lambda s: links(s) == {(0, 1), (1, 0), (0, 2), (2, 0)}),
    "heal_all": (((Verb.ISOLATE, 0),), (Verb.HEAL_ALL,), lambda s: links(s) == set()),
    "hold": ((), (Verb.HOLD, 0, 1), lambda s: s.held_links == {(0, 1)}),
    "release": (((Verb.HOLD, 0, 1),), (Verb.RELEASE, 0, 1), lambda s: s.held_links == set()),
    "pause": ((), (Verb.PAUSE, 2), lambda s: s.paused == [False, False, True]),
    "resume": (((Verb.PAUSE, 2),), (Verb.RESUME, 2), lambda s: s.paused == [False] * 3),
    "skew": ((), (Verb.SKEW, 0, 0, 64), lambda s: s.tick_interval == [TICK_US // 2, TICK_US, TICK_US]),
    "link": ((), (Verb.LINK, 0, 1, 0x07), None),  # its effect is on the network: below
    "campaign": ((), (Verb.CAMPAIGN, 1), lambda s: s.campaign is not None and s.campaign.node == 1),
}


def test_every_verb_has_a_handler_and_an_effect_test():
    assert set(EFFECTS) == {spec.name for spec in VERBS}
    assert all(callable(spec.apply) for spec in VERBS)


@pytest.mark.parametrize("name", sorted(name for name, (_, _, check) in EFFECTS.items() if check))
def test_each_handler_does_what_its_row_says(name):
    before, fault, check = EFFECTS[name]
    simulation = Simulation(Schedule(), RaftNode)
    for spec in (*before, fault):
        simulation._apply_fault(FaultEvent(0, *spec))
    assert check(simulation), name


def test_link_degradation_loses_messages_while_faults_are_active():
    late = (150, Verb.SKEW, 2, 0, 128)  # keeps the faults active until tick 150
    _, plain = run(schedule(late), max_steps=3000)
    _, lossy = run(schedule((1, Verb.LINK, 0, 1, 0x07), (1, Verb.LINK, 1, 0, 0x07), late), max_steps=3000)
    assert plain.network["dropped_loss"] == 0 and lossy.network["dropped_loss"] > 50


@pytest.fixture
def only(request):
    """The mutator restricted to one structural mutation."""
    saved = dict(schedule_mutator.WEIGHTS), schedule_mutator.FRESH_PER_256
    schedule_mutator.set_mix(0, **{name: int(name == request.param) for name in schedule_mutator.WEIGHTS})
    yield
    schedule_mutator.set_mix(saved[1], **saved[0])


def never(data, max_size):
    raise AssertionError("only structural mutations here")


@pytest.mark.parametrize("only", ["undo"], indirect=True)
def test_undo_appends_the_tables_inverse_in_range(only):
    rng = random.Random(3)
    for spec in VERBS:
        for _ in range(20):
            fault = event_record(rng.randrange(256), Verb(spec.code), rng.randrange(256), rng.randrange(256),
                                 rng.randrange(256))
            data = bytes(HEADER_SIZE) + bytes(fault)
            seed = rng.randrange(2**32)
            if random.Random(seed).randrange(2):
                continue  # this seed picks libFuzzer's own mutation
            mutated = schedule_mutator.mutate(data, 4096, seed, byte_mutator=never)
            added = [mutated[start:start + EVENT_SIZE] for start in range(HEADER_SIZE + EVENT_SIZE, len(mutated),
                                                                            EVENT_SIZE)]
            undo = undo_of(spec.code)
            if undo is None:
                assert added == []
                continue
            assert added, spec.name
            for record in added:
                assert record[VERB_FIELD] == undo[0] < len(VERBS)
                assert fault[0] <= record[0] < MAX_FAULT_TICKS
                assert record[2:4] == fault[2:4]
                assert record[4] == (fault[4] if undo[1] is None else undo[1])


@pytest.mark.parametrize("only", ["steer"], indirect=True)
def test_steering_writes_codes_of_the_table(only):
    for seed in range(200):
        if random.Random(seed).randrange(2):
            continue  # this seed picks libFuzzer's own mutation
        mutated = schedule_mutator.mutate(bytes(HEADER_SIZE), 4096, seed, byte_mutator=never)
        for start in range(HEADER_SIZE, len(mutated), EVENT_SIZE):
            assert mutated[start + VERB_FIELD] in (Verb.CAMPAIGN, Verb.ISOLATE, Verb.HEAL_ALL)
            assert mutated[start] < MAX_FAULT_TICKS


def test_decode_prints_what_each_verb_used_does(tmp_path):
    data = encode(Schedule(events=(FaultEvent(3, Verb.SPLIT, 0, 0, 0b011), FaultEvent(9, Verb.CRASH, 4))))
    (tmp_path / "input").write_bytes(data)
    completed = run_cli("raftfuzz", "decode", str(tmp_path / "input"))
    assert completed.returncode == 0, completed.stderr
    printed = json.loads(completed.stdout)
    assert printed["events"] == ["t=3 split mask=0x03", "t=9 crash earliest-crashed"]
    assert printed["verbs"] == {"crash": VERBS[Verb.CRASH].summary, "split": VERBS[Verb.SPLIT].summary}


def test_the_docs_show_the_table_as_the_module_renders_it():
    text = (REPO / "docs" / "input-format.md").read_text()
    start = text.index("<!-- verb table: python -m raftfuzz.schedule.verbs -->\n") + len(
        "<!-- verb table: python -m raftfuzz.schedule.verbs -->\n")
    end = text.index("<!-- end of verb table -->")
    assert text[start:end] == markdown_table(), "regenerate with `python -m raftfuzz.schedule.verbs`"


def test_nothing_else_restates_the_verb_byte_layout():
    # The verb byte's meaning lives in the verb table: no other module takes it modulo anything.
    checked = 0
    for path in Path(fault_verbs.__file__).parent.parent.rglob("*.py"):
        checked += 1
        if path != Path(fault_verbs.__file__):
            text = path.read_text()
            assert "% len(Verb)" not in text and "FORMAT_1_VERBS" not in text, path.name
    assert checked > 40
    assert fault_verbs.MAX_CODES == 128  # the core's feedback keeps 7 bits of a code
