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

The null protocol hands back about 44 events per C call; a Raft run about
5, so its ratios are the core's ceiling, not what fuzzing sees. The second
regime, ``--real``, runs the reference Raft node over a fixed input set (the
seed corpus and seeded random schedules) on both cores, uninstrumented, as
the default fuzzing mode runs it: events and runs per CPU second, the C / twin
ratio, and the real-time factor (simulated seconds per CPU second) of the
5-node schedules among them. Both cores must give the same trace hashes.

    python benchmarks/bench_core.py --real [--inputs 120] [--repeat 5]

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


def real_inputs(count: int) -> list[bytes]:
    """The seed schedules, then seeded random ones, up to ``count``."""
    from raftfuzz.schedule.codec import encode, random_input
    from raftfuzz.schedule.seeds import seed_schedules

    inputs = [encode(schedule) for schedule in seed_schedules().values()][:count]
    generator = random.Random(SEED)
    while len(inputs) < count:
        inputs.append(random_input(generator))
    return inputs


def run_real(core: str, inputs: list[bytes]) -> dict:
    """One pass of Raft runs over ``inputs`` on ``core``: CPU seconds, events,
    simulated time (all, and of the 5-node schedules) and the trace hashes."""
    from raftfuzz.node.raft import RaftNode
    from raftfuzz.run.harness import Harness

    harness = Harness.from_settings(RaftNode, core=core)
    totals = {"cpu_seconds": 0.0, "events": 0, "simulated_us": 0, "five_node_cpu_seconds": 0.0,
              "five_node_simulated_us": 0, "hashes": []}
    for data in inputs:
        started = time.process_time()
        schedule, result = harness.execute(data)
        elapsed = time.process_time() - started
        totals["cpu_seconds"] += elapsed
        totals["events"] += result.steps
        totals["simulated_us"] += result.time_us
        if schedule.node_count == 5:
            totals["five_node_cpu_seconds"] += elapsed
            totals["five_node_simulated_us"] += result.time_us
        totals["hashes"].append(result.trace_hash)
    return totals


def real_regime(input_count: int, repeat: int) -> dict:
    inputs = real_inputs(input_count)
    cores = ["c", "python"] if CCore is not None else ["python"]
    passes = {core: [] for core in cores}
    for _ in range(repeat):
        for core in cores:
            passes[core].append(run_real(core, inputs))
    print(f"Reference Raft node, {len(inputs)} fixed inputs (seeds + seeded random schedules), "
          f"uninstrumented, median of {repeat} interleaved passes (CPU time)\n")
    print("| core | events/CPU s | runs/CPU s | simulated s / CPU s | 5-node simulated s / CPU s |")
    print("|---|---:|---:|---:|---:|")
    results = {}
    for core, runs in passes.items():
        median = statistics.median
        cpu = median(run["cpu_seconds"] for run in runs)
        five_cpu = median(run["five_node_cpu_seconds"] for run in runs)
        first = runs[0]
        results[core] = {
            "events_per_cpu_second": first["events"] / cpu,
            "runs_per_cpu_second": len(inputs) / cpu,
            "simulated_seconds_per_cpu_second": first["simulated_us"] / 1e6 / cpu,
            "five_node_simulated_seconds_per_cpu_second":
                first["five_node_simulated_us"] / 1e6 / five_cpu if five_cpu else None,
            "five_node_runs": sum(1 for data in inputs if _node_count(data) == 5),
            "cpu_seconds": [run["cpu_seconds"] for run in runs],
        }
        row = results[core]
        five = row["five_node_simulated_seconds_per_cpu_second"]
        print(f"| {core} | {row['events_per_cpu_second']:,.0f} | {row['runs_per_cpu_second']:.1f} "
              f"| {row['simulated_seconds_per_cpu_second']:.1f} | {'-' if five is None else f'{five:.1f}'} |")
    if len(cores) == 2:
        same = passes["c"][0]["hashes"] == passes["python"][0]["hashes"]
        ratio = results["c"]["events_per_cpu_second"] / results["python"]["events_per_cpu_second"]
        print(f"\nC / Python twin: {ratio:.2f}x; same trace hashes on both cores: {same}")
        results["ratio_c_python"], results["same_trace_hashes"] = ratio, same
    print(f"5-node schedules among the inputs: {results[cores[0]]['five_node_runs']}")
    return results


def _node_count(data: bytes) -> int:
    from raftfuzz.schedule.codec import decode

    return decode(data).node_count


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", action="store_true", help="Raft runs over a fixed input set instead of the "
                                                            "null protocol")
    parser.add_argument("--inputs", type=int, default=120, help="with --real: size of the fixed input set")
    parser.add_argument("--events", type=int, default=200_000, help="events per run")
    parser.add_argument("--repeat", type=int, default=5, help="runs per engine, interleaved")
    parser.add_argument("--json", type=pathlib.Path, metavar="PATH", help="also write the results here")
    arguments = parser.parse_args()
    if arguments.real:
        results = real_regime(arguments.inputs, arguments.repeat)
        if arguments.json:
            arguments.json.write_text(json.dumps({"regime": "real", "inputs": arguments.inputs,
                                                  "cores": results}, indent=2) + "\n")
        return

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
