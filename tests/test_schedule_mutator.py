"""The structure-aware mutator: deterministic per seed, within libFuzzer's
size limit, and structural mutations keep the event records aligned."""

from hypothesis import given, settings
from hypothesis import strategies as st

from raftfuzz.schedule.codec import EVENT_SIZE, HEADER_SIZE, FaultEvent, Schedule, Verb, decode, encode
from raftfuzz.schedule.mutator import crossover, mutate
from tests.conftest import run_cli

BYTES_MUTATION = b"<libFuzzer's own mutation>"


def byte_mutator(data: bytes, max_size: int) -> bytes:
    return BYTES_MUTATION


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.integers(0, 4096), st.integers(0, 2**32 - 1))
def test_same_seed_same_mutation_and_never_over_max_size(data, max_size, seed):
    first = mutate(data, max_size, seed, byte_mutator=byte_mutator)
    assert first == mutate(data, max_size, seed, byte_mutator=byte_mutator)
    assert len(first) <= max_size or first == BYTES_MUTATION


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 40), st.integers(0, 2**32 - 1))
def test_structural_mutations_keep_whole_records(record_count, seed):
    data = bytes(range(HEADER_SIZE)) + bytes(EVENT_SIZE * record_count)
    mutated = mutate(data, 4096, seed, byte_mutator=byte_mutator)
    if mutated != BYTES_MUTATION:
        assert len(mutated) >= HEADER_SIZE
        assert (len(mutated) - HEADER_SIZE) % EVENT_SIZE == 0


def test_half_of_the_mutations_are_libfuzzers_and_some_undo_a_fault():
    crash = encode(Schedule(seed=7, events=(FaultEvent(30, Verb.CRASH, 1, 0, 0),)))
    mutations = [mutate(crash, 4096, seed, byte_mutator=byte_mutator) for seed in range(2000)]
    share = sum(mutation == BYTES_MUTATION for mutation in mutations) / len(mutations)
    assert 0.4 < share < 0.6
    undone = [decode(m) for m in mutations if m != BYTES_MUTATION]
    assert any(FaultEvent(30, Verb.CRASH, 1, 0, 0) in s.events
               and any(e.verb == Verb.RESTART and e.a == 1 and e.at_ticks > 30 for e in s.events)
               for s in undone)


def test_an_unknown_mutator_is_a_one_line_usage_error(tmp_path):
    completed = run_cli("raftfuzz.atheris_main", "--mutator=magic", str(tmp_path), "-runs=1")
    assert completed.returncode == 2
    assert completed.stderr.strip() == ("raftfuzz: error: --mutator='magic' is not a mutator; use "
                                        "schedule, schedule+crossover, bytes")


def test_both_mutators_fuzz(tmp_path):
    for mutator in ("schedule", "schedule+crossover", "bytes"):
        corpus = tmp_path / mutator
        corpus.mkdir()
        completed = run_cli("raftfuzz.atheris_main", f"--mutator={mutator}", str(corpus), "-runs=40", "-seed=3",
                            f"-artifact_prefix={tmp_path}/")
        assert completed.returncode == 0, completed.stderr[-2000:]
        assert "Done 40 runs" in completed.stderr


def test_some_mutations_steer_an_election_to_the_previous_leader():
    isolate = encode(Schedule(seed=7, events=(FaultEvent(30, Verb.ISOLATE, 3, 0, 0),)))
    mutations = [decode(m) for m in (mutate(isolate, 4096, seed, byte_mutator=byte_mutator)
                                     for seed in range(2000)) if m != BYTES_MUTATION]
    assert any(any(e.verb == Verb.CAMPAIGN and e.a == 5 and e.at_ticks > 30 for e in s.events)
               for s in mutations)


def test_some_mutations_insert_a_whole_steering_round():
    crash = encode(Schedule(seed=7, events=(FaultEvent(30, Verb.CRASH, 1, 0, 0),)))
    mutations = [decode(m) for m in (mutate(crash, 4096, seed, byte_mutator=byte_mutator)
                                     for seed in range(2000)) if m != BYTES_MUTATION]

    def has_round(schedule):
        verbs = [(e.verb, e.a) for e in schedule.events]
        return any(verbs[i:i + 3] == [(Verb.ISOLATE, 3), (Verb.HEAL_ALL, 0), (Verb.CAMPAIGN, 5)]
                   for i in range(len(verbs)))
    assert any(has_round(s) for s in mutations)


# Two parents whose knobs and faults differ, so that a child shows which parts it took from which.
FIRST = encode(Schedule(seed=1, node_count=3, loss_per_256=10, events=(
    FaultEvent(10, Verb.CRASH, 1, 0, 0), FaultEvent(40, Verb.RESTART, 1, 0, 0))))
SECOND = encode(Schedule(seed=2, node_count=5, duplicate_per_256=20, events=(
    FaultEvent(5, Verb.ISOLATE, 2, 0, 0), FaultEvent(30, Verb.HEAL_ALL, 0, 0, 0))))


def children(count=3000):
    return [crossover(FIRST, SECOND, 4096, seed, byte_mutator=byte_mutator) for seed in range(count)]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.binary(max_size=400), st.integers(0, 4096), st.integers(0, 2**32 - 1))
def test_crossover_is_deterministic_total_and_within_max_size(data, other, max_size, seed):
    child = crossover(data, other, max_size, seed, byte_mutator=byte_mutator)
    assert child == crossover(data, other, max_size, seed, byte_mutator=byte_mutator)
    assert len(child) <= max_size or child == BYTES_MUTATION
    decode(child)


def test_half_of_the_crossover_calls_cross_and_the_rest_mutate(monkeypatch):
    from raftfuzz.schedule import mutator

    monkeypatch.setattr(mutator, "mutate", lambda data, max_size, seed, byte_mutator=None: b"<mutated>")
    kids = children()
    assert 0.45 < sum(kid != b"<mutated>" for kid in kids) / len(kids) < 0.55


def test_crossover_puts_one_inputs_faults_under_the_others_header():
    first = decode(FIRST)
    assert decode(SECOND).loss_per_256 != first.loss_per_256
    kids = [decode(kid) for kid in children()]
    assert any(kid.events == first.events and kid.node_count == 5 and kid.duplicate_per_256 == 20 for kid in kids)
    # and mixes headers knob by knob: the first's loss with the second's duplication
    assert any(kid.events == first.events and kid.loss_per_256 == first.loss_per_256
               and kid.duplicate_per_256 == 20 for kid in kids)


def test_crossover_splices_faults_at_a_time_and_appends_a_later_phase():
    kids = [kid for kid in children() if kid != BYTES_MUTATION]
    assert all(len(kid) >= HEADER_SIZE and (len(kid) - HEADER_SIZE) % EVENT_SIZE == 0 for kid in kids)
    events = [list(decode(kid).events) for kid in kids]
    assert [FaultEvent(10, Verb.CRASH, 1, 0, 0), FaultEvent(30, Verb.HEAL_ALL, 0, 0, 0)] in events
    assert [*decode(FIRST).events, FaultEvent(41, Verb.ISOLATE, 2, 0, 0),
            FaultEvent(66, Verb.HEAL_ALL, 0, 0, 0)] in events
