"""Structure-aware mutation of fuzz inputs (atheris' custom mutator).

libFuzzer mutates bytes. Inside an input's 5-byte event records that works
well, but an inserted or erased byte shifts every record after it, so one
mutation rewrites all the later faults at once: the input's meaning jumps
instead of moving a step. Half of the mutations here therefore work on the
schedule's structure, the way libprotobuf-mutator works on a message:

- rewrite one knob of the header (loss, crash-after-sync, node count…), or
  one of the network and timing knobs in particular (timeouts, latency,
  loss, duplication, crash-after-sync, client retry), which hand-written
  seeds rarely vary;
- draw a new simulation seed: the same faults, different luck;
- insert a random fault record, delete one, or undo one a little later (add
  its inverse: a restart after a crash, a heal after a partition…);
- steer an election: insert a ``campaign`` soon after an existing fault,
  for the previous leader (the old leader returns and wins) or a node by
  index; or insert a whole round of it — cut the leader off, heal, make the
  old leader win again — since bugs that need a history across several
  terms need those moves in that order, which one-record mutations
  rarely line up;
- rewrite one field of one record (its time, verb, nodes or value);
- now and then, propose a fresh random schedule, as random mode would: the
  feedback keeps what is new, and coverage-guided fuzzing never explores
  less of the hostile part of the input space than random mode does.

The other half are libFuzzer's own mutations (``atheris.Mutate``), which
also keep its dictionary and comparison feedback in play. Every draw comes
from ``seed``, as libFuzzer requires, so a campaign with a fixed ``-seed``
repeats itself.

``crossover`` (atheris' custom crossover; the default mutator,
``schedule+crossover``) combines two corpus inputs at record boundaries,
where libFuzzer's own crossover cuts bytes and so misaligns every record
after the cut: one input's faults under the other's header (cluster,
network, workload), a header mixed knob by knob, one input's faults up to a
time and the other's after it, or the other's faults appended as a later
phase.
"""

import random

from raftfuzz.schedule.verbs import Verb, undo_of, verb_of_byte
from raftfuzz.schedule.codec import (
    A_FIELD,
    B_FIELD,
    EVENT_SIZE,
    HEADER_SIZE,
    MAX_EVENTS,
    MAX_FAULT_TICKS,
    TIME_FIELD,
    VALUE_FIELD,
    VERB_FIELD,
    decode,
    event_record,
    leader_selector,
    previous_leader_selector,
    random_input,
)

SEED_BYTES = 4  # the header starts with the simulation seed
MAX_STACKED = 3  # structural mutations applied together, like libFuzzer's stacking
# The mix, measured with benchmarks/bench_mutation_mix.py (docs/bugs.md):
# how often a structural mutation is a fresh random schedule, and the
# relative weights of the others. 96/256 (3/16 of all mutations): random
# schedules find the shallow bugs the seeds miss within a few runs, and
# at 32/256 guided fuzzing needed 3-6x random's CPU time on them
# (bench_bugs.py, docs/bugs.md "Reading the results").
FRESH_PER_256 = 96
# How many of libFuzzer's crossover calls cross (the rest mutate): at 128,
# 6 of 20 deep-bug campaigns found their bug against 4 of 20 at 256 and 2 of
# 20 without crossover (bench_bugs.py, docs/bugs.md "Crossover").
CROSSOVER_PER_256 = 128
WEIGHTS = {"knob": 1, "network": 1, "seed": 1, "insert": 1, "delete": 1, "undo": 1, "steer": 1, "field": 1}
# Header bytes of the network and timing knobs (raftfuzz.schedule.codec._KNOBS):
# election and heartbeat timeouts, latency, loss, duplication, client think
# time and retry, crash-after-sync and restart delay.
NETWORK_TIMING_BYTES = tuple(SEED_BYTES + position for position in (1, 2, 3, 4, 5, 6, 8, 12, 13))
LAST_TICK = MAX_FAULT_TICKS - 1  # a record's time is one byte


def mutate(data: bytes, max_size: int, seed: int, *, byte_mutator=None) -> bytes:
    rng = random.Random(seed)
    if rng.randrange(2):
        if byte_mutator is None:
            import atheris

            byte_mutator = atheris.Mutate
        return byte_mutator(data, max_size)
    if rng.randrange(256) < FRESH_PER_256:
        return random_input(rng)[:max_size]
    header, records = _split(data)
    for _ in range(1 + rng.randrange(MAX_STACKED)):
        _mutate_once(rng, header, records)
    return bytes(header + b"".join(records))[:max_size]


def crossover(data: bytes, other: bytes, max_size: int, seed: int, *, byte_mutator=None) -> bytes:
    """A child of two corpus inputs (libFuzzer picks ``other`` from the corpus).

    With a custom crossover libFuzzer calls it for half of all mutations and
    ``mutate`` for the other half; ``CROSSOVER_PER_256`` of those calls cross
    over and the rest mutate ``data``: crossovers are a quarter of all
    mutations, structural ones and libFuzzer's byte mutations 3/8 each."""
    rng = random.Random(seed)
    if not other or rng.randrange(256) >= CROSSOVER_PER_256:
        return mutate(data, max_size, rng.getrandbits(32), byte_mutator=byte_mutator)
    header, records = _split(data)
    other_header, other_records = _split(other)
    choice = rng.randrange(4)
    if choice == 0:  # these faults under the other input's cluster, network and workload
        header = other_header
    elif choice == 1:  # the header mixed knob by knob (the seed's 4 bytes count as one knob)
        seed_from_other = rng.randrange(2)
        header = bytearray(other_header[i] if (seed_from_other if i < SEED_BYTES else rng.randrange(2))
                           else header[i] for i in range(HEADER_SIZE))
    elif choice == 2:  # these faults up to a time, the other's from then on
        cut = rng.randrange(MAX_FAULT_TICKS)
        records = [r for r in records if r[TIME_FIELD] < cut] + [r for r in other_records if r[TIME_FIELD] >= cut]
    else:  # the other's faults as a later phase, shifted to start after these end
        shift = (max(r[TIME_FIELD] for r in records) + 1 if records else 0) - min(
            (r[TIME_FIELD] for r in other_records), default=0)
        for record in other_records:
            record[TIME_FIELD] = min(LAST_TICK, max(0, record[TIME_FIELD] + shift))
        records = records + other_records
    return bytes(header + b"".join(records[:MAX_EVENTS]))[:max_size]


def _split(data: bytes) -> tuple[bytearray, list[bytearray]]:
    """The header (short ones padded with zeros, as the decoder reads them)
    and the whole event records of an input."""
    header = bytearray(data[:HEADER_SIZE].ljust(HEADER_SIZE, b"\0"))
    body = data[HEADER_SIZE:]
    records = [bytearray(body[start : start + EVENT_SIZE])
               for start in range(0, len(body) - len(body) % EVENT_SIZE, EVENT_SIZE)][:MAX_EVENTS]
    return header, records


def _mutate_once(rng: random.Random, header: bytearray, records: list[bytearray]) -> None:
    choice = rng.choices(_NAMES, _WEIGHTS)[0]
    if choice == "knob":
        header[SEED_BYTES + rng.randrange(HEADER_SIZE - SEED_BYTES)] = rng.randrange(256)
    elif choice == "network":
        header[rng.choice(NETWORK_TIMING_BYTES)] = rng.randrange(256)
    elif choice == "seed":
        header[:SEED_BYTES] = rng.randbytes(SEED_BYTES)
    elif choice == "insert" and len(records) < MAX_EVENTS:
        records.insert(rng.randrange(len(records) + 1), bytearray(rng.randbytes(EVENT_SIZE)))
    elif choice == "delete" and records:
        del records[rng.randrange(len(records))]
    elif choice == "undo" and records and len(records) < MAX_EVENTS:
        fault = rng.choice(records)
        # The inverse from the verb table (raftfuzz.schedule.verbs): a restart
        # after a crash, a heal after a partition; a campaign ends by itself.
        undo = undo_of(verb_of_byte(fault[VERB_FIELD]))
        if undo is not None:
            verb, value = undo
            later = min(LAST_TICK, fault[TIME_FIELD] + 1 + rng.randrange(64))
            records.append(event_record(later, verb, fault[A_FIELD], fault[B_FIELD],
                                        fault[VALUE_FIELD] if value is None else value))
    elif choice == "steer" and len(records) < MAX_EVENTS - 2:
        node_count = decode(bytes(header)).node_count
        after = rng.choice(records)[TIME_FIELD] if records else rng.randrange(128)
        start = min(LAST_TICK, after + 1 + rng.randrange(32))
        if rng.randrange(2):
            node = previous_leader_selector(node_count) if rng.randrange(2) else rng.randrange(node_count)
            records.append(event_record(start, Verb.CAMPAIGN, node))
        else:
            heal = min(LAST_TICK, start + 8 + rng.randrange(24))
            campaign = min(LAST_TICK, heal + 1 + rng.randrange(10))
            records += [event_record(start, Verb.ISOLATE, leader_selector(node_count)),
                        event_record(heal, Verb.HEAL_ALL),
                        event_record(campaign, Verb.CAMPAIGN, previous_leader_selector(node_count))]
    elif choice == "field" and records:
        rng.choice(records)[rng.randrange(EVENT_SIZE)] = rng.randrange(256)


def set_mix(fresh_per_256: int | None = None, **weights: int) -> None:
    """Changes the mix (for benchmarks/bench_mutation_mix.py)."""
    global FRESH_PER_256, _NAMES, _WEIGHTS
    if fresh_per_256 is not None:
        FRESH_PER_256 = fresh_per_256
    WEIGHTS.update(weights)
    _NAMES, _WEIGHTS = tuple(WEIGHTS), tuple(WEIGHTS.values())


_NAMES, _WEIGHTS = tuple(WEIGHTS), tuple(WEIGHTS.values())
