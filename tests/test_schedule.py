"""Schedule decoding is total and local, and encoding round-trips."""

from hypothesis import given, settings
from hypothesis import strategies as st

from raftfuzz.schedule import (
    EVENT_SIZE,
    HEADER_SIZE,
    MAX_EVENTS,
    FaultEvent,
    Schedule,
    Verb,
    decode,
    encode,
)
from raftfuzz.seeds import seed_schedules

inputs = st.binary(max_size=HEADER_SIZE + EVENT_SIZE * (MAX_EVENTS + 4))


@given(inputs)
def test_every_byte_string_decodes_to_a_valid_schedule(data):
    schedule = decode(data)
    assert 3 <= schedule.node_count <= 7
    assert schedule.heartbeat_ticks < schedule.election_timeout_ticks
    assert len(schedule.events) <= MAX_EVENTS
    for event in schedule.events:
        assert 0 <= event.a < schedule.node_count + 2
        assert 0 <= event.b < schedule.node_count + 2


@given(inputs)
def test_encode_gives_back_bytes_that_decode_to_the_same_schedule(data):
    schedule = decode(data)
    assert decode(encode(schedule)) == schedule


@given(inputs)
def test_decoding_is_deterministic_and_pure(data):
    assert decode(data) == decode(bytes(data))


@settings(max_examples=300)
@given(st.binary(min_size=HEADER_SIZE, max_size=HEADER_SIZE + EVENT_SIZE * 20),
       st.data())
def test_one_changed_byte_changes_one_knob_or_one_event(data, draw):
    position = draw.draw(st.integers(0, len(data) - 1))
    new_byte = draw.draw(st.integers(0, 255))
    mutated = data[:position] + bytes([new_byte]) + data[position + 1 :]
    before, after = decode(data), decode(mutated)
    if position < 4:  # the seed
        assert before.events == after.events
        return
    if position == 4:  # node_count remaps node selectors; nothing else moves
        assert [e.at_ticks for e in before.events] == [e.at_ticks for e in after.events]
        return
    if position < HEADER_SIZE:
        changed = [k for k, v in before.describe().items() if after.describe()[k] != v]
        assert len(changed) <= 1 or set(changed) <= {"latency_min_us", "latency_max_us"}
        assert before.events == after.events
        return
    # Event bytes: the multiset of events differs by at most one event.
    old, new = list(before.events), list(after.events)
    for event in list(old):
        if event in new:
            new.remove(event)
            old.remove(event)
    assert len(old) <= 1 and len(new) <= 1


def test_short_header_reads_missing_bytes_as_zero():
    assert decode(b"") == decode(bytes(HEADER_SIZE))
    assert decode(b"\x05") == decode(b"\x05" + bytes(HEADER_SIZE - 1))


def test_trailing_partial_record_and_records_past_the_limit_are_ignored():
    header = bytes(HEADER_SIZE)
    record = bytes([7, int(Verb.CRASH), 1, 0, 0])
    assert decode(header + record + record[:3]) == decode(header + record)
    many = header + record * (MAX_EVENTS + 5)
    assert len(decode(many).events) == MAX_EVENTS


def test_events_are_ordered_by_time_then_input_position():
    header = bytes(HEADER_SIZE)
    late = bytes([9, int(Verb.CRASH), 1, 0, 0])
    early = bytes([3, int(Verb.RESTART), 1, 0, 0])
    tie = bytes([3, int(Verb.PAUSE), 2, 0, 0])
    events = decode(header + late + early + tie).events
    assert [(e.at_ticks, e.verb) for e in events] == [(3, Verb.RESTART), (3, Verb.PAUSE), (9, Verb.CRASH)]


def test_encode_rejects_what_it_cannot_express():
    import pytest

    with pytest.raises(ValueError):
        encode(Schedule(election_timeout_ticks=99))
    with pytest.raises(ValueError):
        encode(Schedule(events=(FaultEvent(300, Verb.CRASH, 0),)))
    with pytest.raises(ValueError):
        Schedule(node_count=9)


def test_every_seed_round_trips():
    for name, schedule in seed_schedules().items():
        assert decode(encode(schedule)) == schedule, name
