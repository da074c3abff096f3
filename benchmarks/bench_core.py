"""Simulator throughput on a null protocol: the C core, its Python twin, and SimPy.

A null protocol stands in for Raft so that the numbers measure the simulator
plus the unavoidable Python loop around it: five endpoints tick, and every
tick or delivered message makes its endpoint send one message to a random
peer. Each link loses 2 and duplicates 1 message in 100 and delays each copy
by a uniform 100..500 us, so the number of messages in flight stays steady.

The cores run it through next_batch / below / send. SimPy (the discrete-event
simulator a Python user would reach for) runs the same model in the cheapest
form we know: a process per endpoint for its timer, and one Timeout with a
callback per message copy (no process per message). SimPy has no RNG of its own, so its draws (peer,
loss, duplication, delay, in the core's order) come from a seeded
random.Random. Every engine handles the same number of events per run.

Repetitions are interleaved (C, Python, SimPy, C, ...) so that a change in the
machine's load hits all three alike, and each engine's rate is the median of
its runs. The clock is this process's CPU time, as the machine may be busy.
The output also says whether the two cores produced the same counters, as
they must.

    python benchmarks/bench_core.py [--events 200000] [--repeat 5] [--json PATH]

SimPy comes with the bench extra: pip install -e ".[bench]" (make bench does).
"""

import argparse
import json
import pathlib
import random
import statistics
import sys
import time

# Run from a checkout without installing: the package sits one level up.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from raftfuzz.core.constants import KIND_TICK, NODE_UP, TIME_MAX  # noqa: E402
from raftfuzz.core.twin import PythonCore  # noqa: E402

try:
    from raftfuzz.core.binding import CCore
except ImportError:
    CCore = None

try:
    import simpy
except ImportError:
    simpy = None

ENDPOINTS = 5
LOOKAHEAD_US = 100
LATENCY_MAX_US = 500
TICK_INTERVAL_US = 1_000
# Per 100 messages: 2 lost, 1 duplicated, so each hop loses 1% on balance.
LOSS_NUM, DUP_NUM, DEN = 2, 1, 100
SEED = 20240601


def tick_interval_us(node):
    # Slightly different intervals, like clock skew, so ticks do not all tie.
    return TICK_INTERVAL_US + 7 * node


def run_core(make, event_count):
    """Runs the null protocol on a core for about event_count events (whole
    batches). Returns (CPU seconds, events handled, counters)."""
    core = make(SEED, ENDPOINTS, LOOKAHEAD_US)
    for node in range(ENDPOINTS):
        core.set_tick_interval(node, tick_interval_us(node))
        core.set_node_state(0, node, NODE_UP)
        for peer in range(ENDPOINTS):
            core.set_link_faults(node, peer, LOSS_NUM, DUP_NUM, DEN, LOOKAHEAD_US, LATENCY_MAX_US)
    next_batch = core.next_batch
    below = core.below
    send = core.send
    handled = 0
    message_id = 0
    started = time.process_time()
    while handled < event_count:
        batch = next_batch(TIME_MAX)
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
    return elapsed, handled, core.stats()


class SimPyNullProtocol:
    """The null protocol as a SimPy model: the same draws, in the same order,
    as the loop in run_core and core.send do."""

    def __init__(self, event_count):
        self.env = simpy.Environment()
        self.rng = random.Random(SEED)
        self.event_count = event_count
        self.done = self.env.event()
        self.handled = 0
        self.message_id = 0
        self.counters = dict(sent=0, delivered=0, dropped_loss=0, duplicated=0)
        for node in range(ENDPOINTS):
            self.env.process(self.timer(node))

    def timer(self, node):
        interval = tick_interval_us(node)
        while True:
            yield self.env.timeout(interval)
            self.handle(node)

    def deliver(self, event):
        self.counters["delivered"] += 1
        src, dst, message_id = event.value
        self.handle(dst)

    def handle(self, node):
        """One tick or delivery: count it and send one message to a random peer."""
        self.handled += 1
        if self.handled == self.event_count:
            self.done.succeed()
        peer = self.rng.randrange(ENDPOINTS - 1)
        if peer >= node:
            peer += 1
        self.message_id += 1
        self.send(node, peer, self.message_id)

    def send(self, src, dst, message_id):
        """Loss, then duplication, then a delay per copy, as core.send draws them."""
        rng = self.rng
        self.counters["sent"] += 1
        if rng.randrange(DEN) < LOSS_NUM:
            self.counters["dropped_loss"] += 1
            return
        copies = 1
        if rng.randrange(DEN) < DUP_NUM:
            copies = 2
            self.counters["duplicated"] += 1
        for _ in range(copies):
            delay = LOOKAHEAD_US + rng.randrange(LATENCY_MAX_US - LOOKAHEAD_US + 1)
            self.env.timeout(delay, (src, dst, message_id)).callbacks.append(self.deliver)


def run_simpy(event_count):
    """Runs the null protocol on SimPy until event_count events were handled
    (plus any others at that same simulated time). Returns (CPU seconds,
    events handled, counters)."""
    model = SimPyNullProtocol(event_count)
    started = time.process_time()
    model.env.run(until=model.done)
    elapsed = time.process_time() - started
    return elapsed, model.handled, model.counters


def measure(engines, event_count, repeat):
    """Interleaved repetitions; returns {engine: {rate, rates, handled, counters}}."""
    runs = {name: [] for name in engines}
    for _ in range(repeat):
        for name, run in engines.items():
            runs[name].append(run(event_count))
    results = {}
    for name, engine_runs in runs.items():
        rates = [handled / elapsed for elapsed, handled, _ in engine_runs]
        _, handled, counters = engine_runs[0]
        results[name] = {
            "events_per_cpu_second": statistics.median(rates),
            "runs_events_per_cpu_second": rates,
            "events_handled": handled,
            "counters": counters,
        }
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="events per run")
    parser.add_argument("--repeat", type=int, default=5, help="runs per engine, interleaved")
    parser.add_argument("--json", type=pathlib.Path, metavar="PATH", help="also write the results here")
    arguments = parser.parse_args()

    engines = {}
    if CCore is None:
        print("C core not built (pip install -e .): leaving it out")
    else:
        engines["c"] = lambda events: run_core(CCore, events)
    engines["python"] = lambda events: run_core(PythonCore, events)
    if simpy is None:
        print('SimPy not installed (pip install -e ".[bench]"): leaving it out')
    else:
        engines["simpy"] = run_simpy
    results = measure(engines, arguments.events, arguments.repeat)

    print(f"Null protocol, {ENDPOINTS} endpoints, {arguments.events:,} events per run, "
          f"median of {arguments.repeat} interleaved runs (CPU time)\n")
    print("| simulator | events/CPU s | slowest run | fastest run |")
    print("|---|---:|---:|---:|")
    for name, result in results.items():
        rates = result["runs_events_per_cpu_second"]
        print(f"| {name} | {result['events_per_cpu_second']:,.0f} | {min(rates):,.0f} | {max(rates):,.0f} |")
    ratios = {}
    for fast, slow in (("c", "python"), ("c", "simpy"), ("python", "simpy")):
        if fast in results and slow in results:
            ratios[f"{fast}/{slow}"] = (results[fast]["events_per_cpu_second"]
                                        / results[slow]["events_per_cpu_second"])
    if ratios:
        print("\n| ratio | x |")
        print("|---|---:|")
        for name, ratio in ratios.items():
            print(f"| {name} | {ratio:.2f} |")
    same_counters = None
    if "c" in results:
        same_counters = results["c"]["counters"] == results["python"]["counters"]
        print(f"\nsame counters on both cores: {same_counters}")

    if arguments.json:
        arguments.json.write_text(json.dumps({
            "workload": {"endpoints": ENDPOINTS, "events_per_run": arguments.events,
                         "repeat": arguments.repeat, "seed": SEED,
                         "latency_us": [LOOKAHEAD_US, LATENCY_MAX_US],
                         "loss": [LOSS_NUM, DEN], "duplication": [DUP_NUM, DEN]},
            "clock": "process CPU time",
            "engines": results,
            "ratios": ratios,
            "same_counters_c_python": same_counters,
        }, indent=2) + "\n")


if __name__ == "__main__":
    main()
