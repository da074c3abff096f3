"""Cluster-state feedback: what it costs per execution, and which abstraction guides best.

    python benchmarks/bench_feedback.py cost [--inputs 60] [--repeat 5] [--json PATH]
    python benchmarks/bench_feedback.py variants [--bugs A,B] [--reps 3] [--budget 90] [--configs C,D]
                                                 [--json PATH]
    python benchmarks/bench_feedback.py flood [--inputs 60] [--features A,B] [--json PATH]
    python benchmarks/bench_feedback.py kept LOG... [--json PATH]

``cost``: the same fixed inputs (the seed corpus plus ``--inputs`` random
schedules from a fixed generator) run under real atheris, side by side in
one invocation, with the feedback on and off, the variants interleaved and
repeated:

- ``code`` vs ``code+state``: the target instrumented, state counters off / on;
- ``none`` vs ``state``: the target not instrumented, state counters off / on
  (``none`` is ``--feedback=state`` with the state features forced to 0,
  which exists only here: the price of an uninstrumented execution).

Every input is a file of one corpus directory and libFuzzer runs with
``-runs=1``, so each process executes exactly the corpus once, in
libFuzzer's order, with its full per-input work (reset the counters, run,
collect features, add to the corpus). A probe in the child records process
CPU time and wall time from the start of the first execution to the end of
the last; the result is CPU and wall seconds per execution, and the
feedback's share of an execution's CPU time.

A second, in-process measurement runs the simulator alone on the same
inputs with feedback 0 and with every feature on: the simulator-side cost
(buffering, one crossing per barrier, the C abstraction) without libFuzzer.

``variants``: executions and CPU seconds to the first violation for planted
bugs, for ``--feedback=code`` and for ``--feedback=state`` with each
alternative feature set (RAFTFUZZ_STATE_FEATURES), fuzzer seeds 1..reps,
starting from the seed corpus; each run stops at the first violation or
the budget (``--runs`` executions, ``--budget`` wall seconds; on a loaded
machine executions are the fair one). ``--configs`` picks the configurations, each ``MODE`` or
``MODE:FEATURES`` (e.g. ``code,state:states,code+state:states``); the
default is ``code`` and ``state`` with every feature set above.

``flood``: how fast each feature set's abstract space fills, without
libFuzzer: the seed corpus and ``--inputs`` random schedules (the fixed
generator of ``cost``) run once each on the reference node, in order; per
feature set, the distinct counters bumped and how many inputs bumped one no
earlier input had. An input that bumps a new counter is one libFuzzer keeps
(visit-count buckets aside, which make it keep more): when nearly every
input is new, the corpus grows with every execution and its selection says
little. Beside the counters it counts what libFuzzer sees: each counter's
visit-count bucket (1, 2, 3, 4-7, ..., 128+) as a feature of its own, and
how many inputs reach a counter/bucket feature no earlier input reached.

``kept``: the same question for real libFuzzer runs: from each fuzzer log
``bench_bugs.py`` kept, the last status line's executions, ``cov:``, ``ft:``
and corpus size, and the share of executions kept as new inputs.
"""

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO))

COST_VARIANTS = ("code", "code+state", "none", "state")
FEATURE_VARIANTS = ("states", "states+kind", "transitions", "states+transitions", "states+transitions+kind")
DEFAULT_BUGS = "VotedForNotPersisted,StaleReadWithoutReadIndex,SnapshotOverNewerEntries"


# ------------------------------------------------------- in the child process

def cost_child() -> None:
    """raftfuzz.atheris_main with a probe: CPU and wall time from the first
    execution's start to the last one's end, written after every execution
    (libFuzzer ends the process with exit(), so atexit never runs)."""
    from raftfuzz import atheris_main
    from raftfuzz.checks import feedback
    from raftfuzz.run.harness import Harness

    if os.environ.get("BENCH_FEEDBACK_OFF"):
        feedback.uses_state = lambda mode: False  # no counters, and still no instrumentation
    probe = Path(os.environ["BENCH_FEEDBACK_PROBE"])
    totals = {"executions": 0, "steps": 0, "cpu_inside": 0.0}
    execute = Harness.execute

    def probed_execute(self, data, **keywords):
        started = time.process_time()
        if totals["executions"] == 0:
            totals["cpu_start"], totals["wall_start"] = started, time.perf_counter()
        schedule, result = execute(self, data, **keywords)
        totals["executions"] += 1
        totals["steps"] += result.steps
        totals["cpu_end"], totals["wall_end"] = time.process_time(), time.perf_counter()
        totals["cpu_inside"] += totals["cpu_end"] - started
        probe.write_text(json.dumps(totals))
        return schedule, result

    Harness.execute = probed_execute
    atheris_main.main(["raftfuzz.atheris_main", *sys.argv[1:]])


# ------------------------------------------------------------------- cost

def fixed_inputs(count: int) -> list[bytes]:
    from raftfuzz.run.random_mode import random_input
    from raftfuzz.schedule.codec import encode
    from raftfuzz.schedule.seeds import seed_schedules

    generator = random.Random(2024)
    return [encode(schedule) for schedule in seed_schedules().values()] + [
        random_input(generator) for _ in range(count)]


def cost_run(variant: str, corpus: Path, work: Path) -> dict:
    probe = work / f"probe-{variant}.json"
    run_corpus = work / f"corpus-{variant}"
    shutil.rmtree(run_corpus, ignore_errors=True)
    shutil.copytree(corpus, run_corpus)
    mode = "state" if variant == "none" else variant
    environment = dict(os.environ, PYTHONPATH=str(REPO), BENCH_FEEDBACK_PROBE=str(probe), RAFTFUZZ_CORE="c")
    environment.pop("RAFTFUZZ_FEEDBACK", None)
    if variant == "none":
        environment["BENCH_FEEDBACK_OFF"] = "1"
    code = f"import sys; sys.path.insert(0, {str(BENCHMARKS)!r}); import bench_feedback; bench_feedback.cost_child()"
    completed = subprocess.run(
        [sys.executable, "-c", code, f"--feedback={mode}", str(run_corpus), "-runs=1", "-seed=1",
         f"-artifact_prefix={work}/"], env=environment, capture_output=True, text=True, cwd=work)
    if not probe.exists():
        raise SystemExit(f"bench_feedback: {variant} run failed:\n{completed.stderr[-2000:]}")
    totals = json.loads(probe.read_text())
    probe.unlink()
    return {"executions": totals["executions"], "steps": totals["steps"],
            "cpu_seconds": totals["cpu_end"] - totals["cpu_start"],
            # The simulation itself (feedback included), without libFuzzer's work between inputs.
            "cpu_seconds_inside": totals["cpu_inside"],
            "wall_seconds": totals["wall_end"] - totals["wall_start"]}


def simulator_cost(inputs: list[bytes], repeat: int) -> dict:
    """The simulator alone, in this process, feedback off vs every feature on."""
    from raftfuzz.core.constants import FEEDBACK_EVENT_KIND, FEEDBACK_STATES, FEEDBACK_TRANSITIONS
    from raftfuzz.run.harness import Harness
    from raftfuzz.node.raft import RaftNode

    harness = Harness.from_settings(RaftNode, core="c")
    variants = {"off": 0, "on": FEEDBACK_STATES | FEEDBACK_TRANSITIONS | FEEDBACK_EVENT_KIND}
    cpu = {name: [] for name in variants}
    for _ in range(repeat):
        for name, features in variants.items():
            harness.feedback = features
            started = time.process_time()
            for data in inputs:
                harness.execute(data)
            cpu[name].append(time.process_time() - started)
    off, on = statistics.median(cpu["off"]), statistics.median(cpu["on"])
    return {"cpu_seconds_off": off, "cpu_seconds_on": on, "overhead": on / off - 1,
            "runs": cpu}


def cost(arguments) -> dict:
    inputs = fixed_inputs(arguments.inputs)
    results = {variant: [] for variant in COST_VARIANTS}
    with tempfile.TemporaryDirectory(prefix="raftfuzz-bench-feedback-") as scratch:
        work = Path(scratch)
        corpus = work / "inputs"
        corpus.mkdir()
        for index, data in enumerate(inputs):
            (corpus / f"input-{index:04d}").write_bytes(data)
        for repetition in range(arguments.repeat):
            # Interleaved, so that machine noise spreads over every variant.
            for variant in COST_VARIANTS:
                results[variant].append(cost_run(variant, corpus, work))
                print(f"cost rep {repetition + 1} {variant}: {results[variant][-1]}", file=sys.stderr, flush=True)
    summary = {}
    for variant, runs in results.items():
        summary[variant] = {
            "executions": runs[0]["executions"],
            "steps": runs[0]["steps"],
            "cpu_ms_per_execution": statistics.median(r["cpu_seconds"] / r["executions"] for r in runs) * 1e3,
            "wall_ms_per_execution": statistics.median(r["wall_seconds"] / r["executions"] for r in runs) * 1e3,
            "libfuzzer_cpu_ms_per_execution": statistics.median(
                (r["cpu_seconds"] - r["cpu_seconds_inside"]) / r["executions"] for r in runs) * 1e3,
            "runs": runs,
        }
    simulator = simulator_cost(inputs, arguments.repeat)
    print(f"\nThe same {len(inputs)} inputs (seed corpus + {arguments.inputs} random schedules) under atheris, "
          f"-runs=1 over one corpus directory; medians of {arguments.repeat} interleaved repetitions\n")
    print("| variant | executions | events | CPU ms / execution | of which libFuzzer between inputs "
          "| wall ms / execution |")
    print("|---|---:|---:|---:|---:|---:|")
    for variant in COST_VARIANTS:
        row = summary[variant]
        print(f"| {variant} | {row['executions']} | {row['steps']} | {row['cpu_ms_per_execution']:.2f} "
              f"| {row['libfuzzer_cpu_ms_per_execution']:.2f} | {row['wall_ms_per_execution']:.2f} |")
    pairs = {"code+state vs code": ("code+state", "code"), "state vs none": ("state", "none")}
    overheads = {}
    for label, (on, off) in pairs.items():
        overheads[label] = {
            "cpu": summary[on]["cpu_ms_per_execution"] / summary[off]["cpu_ms_per_execution"] - 1,
            "wall": summary[on]["wall_ms_per_execution"] / summary[off]["wall_ms_per_execution"] - 1}
        print(f"\nFeedback cost, {label}: {100 * overheads[label]['cpu']:+.1f}% CPU, "
              f"{100 * overheads[label]['wall']:+.1f}% wall per execution")
    print(f"\nThe simulator alone, in-process, feedback off vs on (all features): "
          f"{simulator['cpu_seconds_off']:.2f} vs {simulator['cpu_seconds_on']:.2f} CPU s "
          f"({100 * simulator['overhead']:+.1f}%)")
    same = len({summary[variant]["steps"] for variant in COST_VARIANTS}) == 1
    print(f"\nEvery variant ran the same events: {same}")
    return {"inputs": len(inputs), "repeat": arguments.repeat, "variants": summary, "overheads": overheads,
            "simulator": simulator, "same_events": same}


# --------------------------------------------------------------- variants

def variant_run(bug: str, feedback: str, features: str | None, rep: int, budget: int, runs: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="raftfuzz-bench-feedback-") as scratch:
        work = Path(scratch)
        (work / "corpus").mkdir()
        shutil.copytree(REPO / "corpus", work / "seeds")
        environment = dict(os.environ, PYTHONPATH=str(REPO), RAFTFUZZ_FEEDBACK=feedback)
        environment.pop("RAFTFUZZ_STATE_FEATURES", None)
        if features:
            environment["RAFTFUZZ_STATE_FEATURES"] = features
        command = [sys.executable, "-m", "raftfuzz.atheris_main", f"--target=raftfuzz.node.mutants:{bug}",
                   str(work / "corpus"), str(work / "seeds"), f"-seed={rep}", f"-max_total_time={budget}",
                   f"-runs={runs}",
                   "-print_final_stats=1", f"-artifact_prefix={work / 'artifacts'}/"]
        started = time.monotonic()
        with (work / "log.txt").open("w") as sink:
            process = subprocess.Popen(command, cwd=work, stdout=sink, stderr=subprocess.STDOUT, env=environment)
            _, status, usage = os.wait4(process.pid, 0)
        seconds = time.monotonic() - started
        output = (work / "log.txt").read_text(errors="replace")
        found = bool(list((work / "artifacts").glob("crash-*.json")))
    executions = re.search(r"stat::number_of_executed_units: (\d+)", output)
    features_seen = re.findall(r"\bft: (\d+)", output)
    return {"bug": bug, "feedback": feedback, "features": features, "rep": rep, "budget": budget, "runs": runs,
            "found": found,
            "seconds": round(seconds, 2), "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
            "executions": int(executions.group(1)) if executions else None,
            "last_ft": int(features_seen[-1]) if features_seen else None}


def parse_configurations(text: str | None) -> list[tuple[str, str | None]]:
    if not text:
        return [("code", None)] + [("state", features) for features in FEATURE_VARIANTS]
    configurations = []
    for item in text.split(","):
        mode, _, features = item.partition(":")
        configurations.append((mode, features or None))
    return configurations


def variants(arguments) -> dict:
    bugs = arguments.bugs.split(",")
    configurations = parse_configurations(arguments.configs)
    results = []
    for rep in range(1, arguments.reps + 1):
        for bug in bugs:
            for feedback, features in configurations:
                result = variant_run(bug, feedback, features, rep, arguments.budget, arguments.runs)
                results.append(result)
                print(json.dumps(result), file=sys.stderr, flush=True)
    print(f"\nExecutions (and CPU s) to the first violation, fuzzer seeds 1..{arguments.reps}, budget "
          f"{arguments.runs} executions or {arguments.budget} s wall; median, a miss counting as infinite\n")
    names = [feedback if features is None else f"{feedback}: {features}" for feedback, features in configurations]
    print("| bug | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for bug in bugs:
        cells = []
        for feedback, features in configurations:
            runs = [r for r in results if r["bug"] == bug and r["feedback"] == feedback and r["features"] == features]
            hits = [r for r in runs if r["found"]]
            padded_executions = sorted(r["executions"] for r in hits) + [float("inf")] * (len(runs) - len(hits))
            padded_cpu = sorted(r["cpu_seconds"] for r in hits) + [float("inf")] * (len(runs) - len(hits))
            executions, cpu = statistics.median_low(padded_executions), statistics.median_low(padded_cpu)
            cells.append(f"{len(hits)}/{len(runs)}: " + ("not found" if executions == float("inf")
                                                         else f"{executions} ({cpu:.1f} s)"))
        print(f"| {bug} | " + " | ".join(cells) + " |")
    return {"results": results}


# ------------------------------------------------------------------ flood

FLOOD_FEATURES = "states,states+history,states+coarse,states+coarse+history"


def visit_bucket(count: int) -> int:
    """libFuzzer's bucket of an 8-bit counter's value (CounterToFeature in
    FuzzerTracePC.h): 1, 2, 3, 4-7, 8-15, 16-31, 32-127, 128+."""
    count = min(count, 255)
    if count >= 128:
        return 7
    if count >= 32:
        return 6
    if count >= 16:
        return 5
    if count >= 8:
        return 4
    return min(count, 4) - 1  # 1, 2, 3 -> 0, 1, 2; 4-7 -> 3


def flood(arguments) -> dict:
    from collections import Counter

    from raftfuzz.core import twin as core_python
    from raftfuzz.node.raft import RaftNode
    from raftfuzz.run.harness import Harness
    from raftfuzz.run.settings import state_feature_mask

    # The Python core hands every feature to a sink; the C core's counters
    # are libFuzzer's. Both emit the same indexes (tests/test_feedback.py).
    inputs = fixed_inputs(arguments.inputs)
    rows = []
    for features in arguments.features.split(","):
        harness = Harness.from_settings(RaftNode, target="raftfuzz.node.raft:RaftNode", artifacts=tempfile.mkdtemp(),
                                        core="python")
        harness.feedback = state_feature_mask(features)
        seen: set = set()
        seen_buckets: set = set()
        new_inputs = new_bucket_inputs = 0
        for data in inputs:
            bumped: Counter = Counter()
            core_python.set_feedback_sink(lambda index: bumped.update((index,)))
            harness.execute(data)
            # What libFuzzer sees: each counter's visit bucket is a feature.
            buckets = {(index, visit_bucket(count)) for index, count in bumped.items()}
            new_inputs += bool(bumped.keys() - seen)
            new_bucket_inputs += bool(buckets - seen_buckets)
            seen |= bumped.keys()
            seen_buckets |= buckets
        core_python.set_feedback_sink(None)
        rows.append({"features": features, "inputs": len(inputs), "distinct_counters": len(seen),
                     "inputs_with_a_new_counter": new_inputs, "distinct_counter_buckets": len(seen_buckets),
                     "inputs_with_a_new_counter_bucket": new_bucket_inputs})
        print(f"{features:<28} {len(seen):>6} distinct counters; {new_inputs}/{len(inputs)} inputs bump a new one; "
              f"{len(seen_buckets):>6} counter/visit-bucket features; {new_bucket_inputs}/{len(inputs)} inputs "
              "reach a new one", flush=True)
    return {"rows": rows}


# ------------------------------------------------------------------- kept

STATUS = re.compile(r"#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/")


def kept(arguments) -> dict:
    """How much of a real libFuzzer run's executions it kept as new inputs:
    the last status line of each log (bench_bugs.py keeps them), read as
    executions, cov:, ft: and corpus size."""
    rows = []
    for log in arguments.logs:
        text = log.read_text(errors="replace")
        statuses = STATUS.findall(text)
        if not statuses:
            print(f"{log}: no libFuzzer status line", flush=True)
            continue
        executions, cov, ft, corpus = map(int, statuses[-1])
        rows.append({"log": str(log), "executions": executions, "cov": cov, "ft": ft, "corpus": corpus,
                     "kept_share": round(corpus / executions, 3)})
        print(f"{log.name:<60} {executions:>6} execs  cov {cov:>6}  ft {ft:>6}  corpus {corpus:>5} "
              f"({100 * corpus / executions:.0f}% kept)", flush=True)
    return {"rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    cost_parser = commands.add_parser("cost")
    cost_parser.add_argument("--inputs", type=int, default=60, help="random schedules beside the seed corpus")
    cost_parser.add_argument("--repeat", type=int, default=5)
    variants_parser = commands.add_parser("variants")
    variants_parser.add_argument("--bugs", default=DEFAULT_BUGS)
    variants_parser.add_argument("--reps", type=int, default=3)
    variants_parser.add_argument("--budget", type=int, default=90, help="wall seconds per run")
    variants_parser.add_argument("--configs", help="MODE or MODE:FEATURES, comma-separated")
    # Executions are the fair budget on a loaded machine: wall time is not.
    variants_parser.add_argument("--runs", type=int, default=-1, help="executions per run (-1: no limit)")
    flood_parser = commands.add_parser("flood")
    flood_parser.add_argument("--inputs", type=int, default=60, help="random schedules beside the seed corpus")
    flood_parser.add_argument("--features", default=FLOOD_FEATURES, help="feature sets, comma-separated")
    kept_parser = commands.add_parser("kept")
    kept_parser.add_argument("logs", type=Path, nargs="+", help="fuzzer logs kept by bench_bugs.py")
    for sub in (cost_parser, variants_parser, flood_parser, kept_parser):
        sub.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    arguments = parser.parse_args()
    started = time.time()
    result = {"cost": cost, "variants": variants, "flood": flood, "kept": kept}[arguments.command](arguments)
    print(f"\n(measured in {time.time() - started:.0f} s)")
    if arguments.json:
        arguments.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
