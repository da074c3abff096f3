"""How the schedule mutator's mix changes what one mutation step finds.

    python benchmarks/bench_mutation_mix.py [--mutations 150] [--bugs A,B] [--seed 1]

For each mix (how often a structural mutation is a fresh random schedule,
and the relative weights of the structural operations; see
``src/raftfuzz/schedule/mutator.py``), every bug gets the same number of
mutations, each of a committed seed drawn at random (fixed seed, so every
mix mutates the same seeds in the same order), and each mutated input runs
once on the bug's node class. Reported per mix and bug: violations per 100
mutations and CPU seconds per violation, plus, per mix, the share of
mutations that changed a network or timing knob.

This measures one step away from the seeds, without libFuzzer: the half of
the mutations that are libFuzzer's own byte mutations in a real campaign is
stood in for by a one-byte change, so the numbers compare mixes with each
other, not with a campaign. Seeds that already trigger a bug count only
through their mutations like any other.
"""

import argparse
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from raftfuzz.schedule import mutator as schedule_mutator  # noqa: E402
from raftfuzz.node.mutants import CATALOGUE, DEEP  # noqa: E402
from raftfuzz.schedule.codec import decode  # noqa: E402
from raftfuzz.sim.simulation import Simulation  # noqa: E402

BASE = dict(FRESH=32, knob=1, network=1, seed=1, insert=1, delete=1, undo=1, steer=1, field=1)
MIXES = {
    "format-1 (no network op, no steer)": dict(BASE, network=0, steer=0),
    "default": BASE,
    "fresh 0/256": dict(BASE, FRESH=0),
    "fresh 96/256": dict(BASE, FRESH=96),
    "network x3": dict(BASE, network=3),
    "steer x3": dict(BASE, steer=3),
}
DEFAULT_BUGS = ("StaleReadWithoutReadIndex", "SnapshotOverNewerEntries", "MatchIndexKeptAcrossTerms",
                "ReplyByIndexAlone", "ReadAcksKeptAcrossTerms")


def one_byte_change(data: bytes, max_size: int, rng: random.Random) -> bytes:
    """Stands in for libFuzzer's byte mutations: one byte set at random."""
    if not data:
        return bytes([rng.randrange(256)])
    position = rng.randrange(len(data))
    return (data[:position] + bytes([rng.randrange(256)]) + data[position + 1:])[:max_size]


def measure(mix: dict, bugs: list[str], seeds: list[bytes], mutations: int, seed: int) -> dict:
    weights = {name: weight for name, weight in mix.items() if name != "FRESH"}
    schedule_mutator.set_mix(mix["FRESH"], **weights)
    rows = {}
    network_changes = 0
    for bug in bugs:
        node_class = {**CATALOGUE, **DEEP}[bug]
        rng = random.Random(seed)
        hits = 0
        started = time.process_time()
        for _ in range(mutations):
            parent = rng.choice(seeds)
            byte_rng = random.Random(rng.getrandbits(32))
            child = schedule_mutator.mutate(parent, 4096, rng.getrandbits(32),
                                            byte_mutator=lambda data, size: one_byte_change(data, size, byte_rng))
            before, after = decode(parent), decode(child)
            if any(getattr(before, knob) != getattr(after, knob) for knob in NETWORK_TIMING_KNOBS):
                network_changes += 1
            if Simulation(after, node_class).run().violation is not None:
                hits += 1
        cpu = time.process_time() - started
        rows[bug] = {"hits": hits, "cpu": cpu}
    total = mutations * len(bugs)
    return {"rows": rows, "network_share": network_changes / total}


NETWORK_TIMING_KNOBS = ("election_timeout_ticks", "heartbeat_ticks", "latency_min_us", "latency_max_us",
                        "loss_per_256", "duplicate_per_256", "client_think_ticks", "client_retry_ticks",
                        "crash_after_sync_per_256", "restart_after_ticks")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutations", type=int, default=150, help="mutations per bug and mix")
    parser.add_argument("--bugs", default=",".join(DEFAULT_BUGS))
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()
    bugs = arguments.bugs.split(",")
    seeds = [path.read_bytes() for path in sorted((REPO / "corpus").iterdir())]
    print(f"{arguments.mutations} mutations of the {len(seeds)} seeds per bug and mix; "
          "cells: violations per 100 mutations (CPU s per violation)")
    print("| mix | network/timing knob changed | " + " | ".join(bugs) + " | all |")
    print("|---|---|" + "---|" * (len(bugs) + 1))
    for name, mix in MIXES.items():
        result = measure(mix, bugs, seeds, arguments.mutations, arguments.seed)
        cells = []
        for bug in bugs:
            row = result["rows"][bug]
            per_hit = f"{row['cpu'] / row['hits']:.1f} s" if row["hits"] else "–"
            cells.append(f"{100 * row['hits'] / arguments.mutations:.1f} ({per_hit})")
        total_hits = sum(row["hits"] for row in result["rows"].values())
        total_cpu = sum(row["cpu"] for row in result["rows"].values())
        overall = f"{100 * total_hits / (arguments.mutations * len(bugs)):.1f} " \
                  f"({total_cpu / total_hits:.1f} s)" if total_hits else "0.0 (–)"
        print(f"| {name} | {100 * result['network_share']:.0f}% | " + " | ".join(cells) + f" | {overall} |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
