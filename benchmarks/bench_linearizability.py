"""How long the linearizability checker takes on client histories of the
size a fuzz run produces.

Histories come from a stand-in for the simulator's workload: three
closed-loop clients, each with one operation outstanding, a mix of puts,
appends and gets over 1–4 keys, operations lasting 1–30 ms with think time
between them, and each client's last operation left pending half the time.
Every history is linearizable by construction (each operation takes effect
at a random point inside its interval and gets return the model's state
there). A second variant turns one late read stale — it returns the value
before the last completed write of its key — so the numbers also show what
a violation costs, shrinking included. The clock is this process's CPU time,
best of a few runs, because the machine may be busy.

    python benchmarks/bench_linearizability.py [--seed N]
"""

import argparse
import pathlib
import random
import sys
import time

# Run from a checkout without installing: the package sits one level up.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from raftfuzz.sim.clients import Operation  # noqa: E402
from raftfuzz.checks.linearizability import apply_operation, check_history  # noqa: E402

CLIENTS = 3
SIZES = (100, 300, 1000)
KEY_COUNTS = (1, 2, 4)
REPEATS = 3
# Per 256 operations: 80 puts, 48 appends, the rest gets.
PUT_PER_256, APPEND_PER_256 = 80, 48


def linearizable_history(generator: random.Random, operation_count: int, key_count: int) -> list[Operation]:
    """A history of operation_count operations that is linearizable by construction."""
    history = []
    effects = []
    per_client = [operation_count // CLIENTS + (client < operation_count % CLIENTS) for client in range(CLIENTS)]
    for client, count in enumerate(per_client, start=1):
        time_us = generator.randrange(0, 5_000)
        for seq in range(1, count + 1):
            draw = generator.randrange(256)
            kind = "put" if draw < PUT_PER_256 else "append" if draw < PUT_PER_256 + APPEND_PER_256 else "get"
            key = f"k{generator.randrange(key_count)}"
            value = None if kind == "get" else f"c{client}.{seq}"
            operation = Operation(client, seq, kind, key, value, time_us)
            duration_us = generator.randrange(1_000, 30_000)
            point_us = time_us + generator.randrange(duration_us + 1)
            if seq == count and generator.randrange(2):
                if kind != "get":
                    effects.append((point_us, client, operation))  # a pending write that took effect
            else:
                operation.completed_us = time_us + duration_us
                effects.append((point_us, client, operation))
                time_us = operation.completed_us + generator.randrange(0, 10_000)
            history.append(operation)
    effects.sort(key=lambda effect: (effect[0], effect[1]))
    state = {}
    for _, _, operation in effects:
        if operation.op == "get":
            operation.result = state.get(operation.key)
        else:
            _, state[operation.key] = apply_operation(operation, state.get(operation.key))
    return history


def make_stale(history: list[Operation]) -> None:
    """Makes the last completed get that follows two completed puts of its key
    return the first put's value: a stale read no order can explain."""
    completed = sorted((operation for operation in history if operation.completed_us is not None),
                       key=lambda operation: operation.completed_us)
    for read in reversed(completed):
        if read.op != "get":
            continue
        puts = [operation for operation in completed
                if operation.op == "put" and operation.key == read.key and operation.completed_us < read.invoked_us]
        if len(puts) >= 2 and puts[-2].completed_us < puts[-1].invoked_us:
            # The read must have seen puts[-1] or something later; it claims
            # puts[-2]'s value, which puts[-1] overwrote before the read began.
            read.result = puts[-2].value
            return
    raise RuntimeError("no read to make stale; try another seed")


def measure(history) -> tuple[float, object]:
    runs = []
    for _ in range(REPEATS):
        started = time.process_time()
        result = check_history(history)
        runs.append((time.process_time() - started, result))
    return min(runs, key=lambda run: run[0])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=20240601, help="seed for the generated histories")
    arguments = parser.parse_args()
    generator = random.Random(arguments.seed)
    print(f"{CLIENTS} clients, best of {REPEATS} runs, CPU time")
    print(f"{'ops':>5} {'keys':>4} {'variant':>9} {'status':>9} {'search steps':>12} "
          f"{'shrink steps':>12} {'shrunk to':>9} {'ms':>8}")
    for operation_count in SIZES:
        for key_count in KEY_COUNTS:
            history = linearizable_history(generator, operation_count, key_count)
            for variant in ("valid", "stale"):
                if variant == "stale":
                    make_stale(history)
                elapsed, result = measure(history)
                shrunk = len(result.operations) if result.operations else "-"
                print(f"{operation_count:>5} {key_count:>4} {variant:>9} {result.status:>9} "
                      f"{result.search_steps:>12,} {result.minimise_steps:>12,} {shrunk:>9} "
                      f"{elapsed * 1000:>8.1f}")


if __name__ == "__main__":
    main()
