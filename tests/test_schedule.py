"""Schedule decoding is total and local, and encoding round-trips."""

from hypothesis import given, settings
from hypothesis import strategies as st

from raftfuzz.schedule.codec import (
    EVENT_SIZE,
    HEADER_SIZE,
    MAX_EVENTS,
    FaultEvent,
    MAX_ENDPOINTS,
    ROLE_SELECTORS,
    SHARED_HEADER_BYTES,
    Schedule,
    Verb,
    decode,
    encode,
)
from raftfuzz.schedule.seeds import seed_schedules

inputs = st.binary(max_size=HEADER_SIZE + EVENT_SIZE * (MAX_EVENTS + 4))


@given(inputs)
def test_every_byte_string_decodes_to_a_valid_schedule(data):
    schedule = decode(data)
    assert 3 <= schedule.node_count <= 7
    assert schedule.heartbeat_ticks < schedule.election_timeout_ticks
    assert len(schedule.events) <= MAX_EVENTS
    assert schedule.node_count + schedule.client_count * schedule.pipeline_depth <= MAX_ENDPOINTS
    for event in schedule.events:
        assert 0 <= event.a < schedule.node_count + ROLE_SELECTORS
        assert 0 <= event.b < schedule.node_count + ROLE_SELECTORS


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
        changed = set(k for k, v in before.describe().items() if after.describe()[k] != v)
        # A shared byte holds two knobs; the client count also bounds the
        # pipeline depth (client sessions must fit the core's endpoints).
        allowed = set(SHARED_HEADER_BYTES.get(position, ())) or {"latency_min_us", "latency_max_us"}
        assert len(changed) <= 1 or changed <= allowed
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


def test_new_codes_leave_canonical_format_1_bytes_alone():
    """Bytes within the old ranges (what encode writes) keep their meaning:
    a 20-tick retry and one operation in flight, clients 1..3, verbs 0..13,
    node selectors up to earliest-crashed."""
    header = bytearray(HEADER_SIZE)
    header[4 + 7] = 2  # client_count byte: field 2 → 3 clients, no pipeline bits
    header[4 + 8] = 5  # think byte: 6 ticks, retry bits zero
    schedule = decode(bytes(header) + bytes([10, int(Verb.LINK), 4, 3, 0x81]))
    assert (schedule.client_count, schedule.pipeline_depth) == (3, 1)
    assert (schedule.client_think_ticks, schedule.client_retry_ticks) == (6, 20)
    assert schedule.events == (FaultEvent(10, Verb.LINK, 4, 3, 0x81),)


def test_client_knobs_use_the_high_bits_and_sessions_fit_the_endpoints():
    header = bytearray(HEADER_SIZE)
    header[4 + 7] = 7 | 3 << 3  # 8 clients, depth 4: too many sessions for 3 nodes
    header[4 + 8] = 0 | 7 << 3  # think 1, retry choice 7
    schedule = decode(bytes(header))
    assert schedule.client_count == 8 and schedule.pipeline_depth == 1
    assert schedule.client_retry_ticks == 100
    header[4 + 7] = 2 | 3 << 3  # 3 clients, depth 4 → 12 sessions + 3 nodes fit
    assert decode(bytes(header)).pipeline_depth == 4
    import pytest

    with pytest.raises(ValueError):
        Schedule(client_count=8, pipeline_depth=4)
    with pytest.raises(ValueError):
        Schedule(client_retry_ticks=21)


def test_campaign_and_previous_leader_round_trip_and_describe():
    event = FaultEvent(40, Verb.CAMPAIGN, 5)  # 3 nodes: selector 5 is previous-leader
    schedule = Schedule(events=(event,))
    assert decode(encode(schedule)) == schedule
    assert schedule.describe()["events"] == ["t=40 campaign previous-leader"]
