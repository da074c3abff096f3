"""How much faster the C core runs the simulator's hot loop than the Python twin.

A null protocol stands in for Raft so that the numbers measure the core plus
the unavoidable Python loop around it: five endpoints tick, and every tick or
delivered message makes its endpoint send one message to a random peer chosen
with core.below. Loss slightly above duplication keeps the number of messages
in flight steady. Both cores run the same fixed number of events in one
process (best of three runs each); the output also says whether they
produced the same counters, as they must.

    python benchmarks/bench_core.py [--events N]
"""

import argparse
import pathlib
import sys
import time

# Run from a checkout without installing: the package sits one level up.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from raftfuzz.core_constants import KIND_TICK, NODE_UP, TIME_MAX  # noqa: E402
from raftfuzz.core_python import PythonCore  # noqa: E402

try:
    from raftfuzz.core_c import CCore
except ImportError:
    CCore = None

ENDPOINTS = 5
LOOKAHEAD_US = 100
LATENCY_MAX_US = 500
TICK_INTERVAL_US = 1_000
# Per 100 messages: 2 lost, 1 duplicated, so each hop loses 1% on balance.
LOSS_NUM, DUP_NUM, DEN = 2, 1, 100
SEED = 20240601
# The machine may be busy: the clock is this process's CPU time, and the best
# of a few runs is the closest to the cost.
REPEATS = 3


def run(make, event_count):
    """Runs the null protocol for about event_count events.

    Returns (seconds, batches, events handled, stats).
    """
    core = make(SEED, ENDPOINTS, LOOKAHEAD_US)
    for node in range(ENDPOINTS):
        # Slightly different intervals, like clock skew, so ticks do not all tie.
        core.set_tick_interval(node, TICK_INTERVAL_US + 7 * node)
        core.set_node_state(0, node, NODE_UP)
        for peer in range(ENDPOINTS):
            core.set_link_faults(node, peer, LOSS_NUM, DUP_NUM, DEN, LOOKAHEAD_US, LATENCY_MAX_US)
    next_batch = core.next_batch
    below = core.below
    send = core.send
    handled = 0
    batches = 0
    message_id = 0
    started = time.process_time()
    while handled < event_count:
        batch = next_batch(TIME_MAX)
        batches += 1
        for offset in range(0, len(batch), 5):
            event_time = batch[offset]
            kind = batch[offset + 1]
            node = batch[offset + 2] if kind == KIND_TICK else batch[offset + 3]
            # A random peer other than the node itself.
            peer = below(ENDPOINTS - 1)
            if peer >= node:
                peer += 1
            message_id += 1
            send(event_time, node, peer, message_id)
        handled += len(batch) // 5
    elapsed = time.process_time() - started
    return elapsed, batches, handled, core.stats()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="events per run")
    arguments = parser.parse_args()
    cores = [("python", PythonCore)]
    if CCore is None:
        print("C core not built (pip install -e .); measuring the Python core only")
    else:
        cores.insert(0, ("c", CCore))
    rates = {}
    results = {}
    for name, make in cores:
        runs = [run(make, arguments.events) for _ in range(REPEATS)]
        elapsed, batches, handled, stats = min(runs)
        rates[name] = handled / elapsed
        results[name] = (handled, stats)
        print(
            f"{name:>6} core: {rates[name]:>12,.0f} events per CPU second "
            f"(best of {REPEATS}: {handled:,} events in {elapsed:.2f} CPU s, "
            f"{handled / batches:.1f} per batch)"
        )
    if len(rates) == 2:
        print(f" ratio: C is {rates['c'] / rates['python']:.2f}x the Python core")
        print(f" same counters on both cores: {results['c'] == results['python']}")


if __name__ == "__main__":
    main()
