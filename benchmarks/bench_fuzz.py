"""Fuzzing throughput, measured side by side in one run, C core vs Python core.

1. The simulator alone, without instrumentation, over the seed corpus:
   events and runs per CPU second, simulated seconds per CPU second, and the
   process's peak memory. CPU time rather than wall time, so a busy machine
   skews the ratio less.
2. Fuzzing under atheris, starting from the seed corpus (-runs=N, -seed=1):
   exec/s (libFuzzer's own average_exec_per_sec), simulated seconds per wall
   second (from the start of the first execution to the end of the last, so
   libFuzzer's own work in between counts), and the fuzzing process's peak
   memory (resource.getrusage ru_maxrss).
3. The share of the executions' time spent in checkers: the safety checker
   (after every step), the liveness checker, and the final linearizability
   check. A second atheris run with the same seed times every checker call
   from outside. It starts on the same inputs but, slowed by the wrappers,
   diverges after a few hundred executions (observed at 600, not at 100;
   two unwrapped runs stay identical), so it is a comparable run rather than
   an identical one; the output says how much simulated time it covered
   against the first. This script wraps the
   checkers' entry points before raftfuzz.atheris_main starts, and subtracts
   the wrapper's own cost, measured on a no-op. The product code is untouched.

Each fuzzing process runs raftfuzz.atheris_main through this file, which
installs the timing wrappers and writes what they saw to a JSON file after
every execution (libFuzzer ends the process with exit(), so Python's atexit
never runs).

    python benchmarks/bench_fuzz.py [--runs 600] [--repeat 3] [--json PATH]
"""

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO))

CORES = ("c", "python")
CHECKER_GROUPS = ("safety", "liveness", "linearizability")


# ------------------------------------------------------- in the child processes

def peak_rss_mib() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def simulator_child(repeat: int) -> None:
    """Runs every seed `repeat` times without instrumentation; prints JSON."""
    from raftfuzz.run.harness import Harness
    from raftfuzz.node.raft import RaftNode
    from raftfuzz.schedule.codec import encode
    from raftfuzz.schedule.seeds import seed_schedules
    from raftfuzz.run.settings import Settings

    inputs = [encode(schedule) for schedule in seed_schedules().values()] * repeat
    harness = Harness.from_settings(RaftNode, Settings.load())  # RAFTFUZZ_CORE from the parent
    steps = simulated_us = 0
    started = time.process_time()
    for data in inputs:
        result = harness.execute(data)[1]
        steps += result.steps
        simulated_us += result.time_us
    elapsed = time.process_time() - started
    print(json.dumps({"events_per_cpu_second": steps / elapsed, "runs_per_cpu_second": len(inputs) / elapsed,
                      "simulated_seconds_per_cpu_second": simulated_us / 1e6 / elapsed,
                      "peak_rss_mib": peak_rss_mib()}))


def _timed(function, totals: dict, key: str):
    """function, with its calls counted and timed into totals[key]."""
    def timed(*arguments, **keywords):
        started = time.perf_counter_ns()
        try:
            return function(*arguments, **keywords)
        finally:
            totals[key] += time.perf_counter_ns() - started
            totals[key + "_calls"] += 1
    return timed


def _wrapper_cost_ns() -> float:
    """What _timed adds to the time it reports for one call, measured on a no-op."""
    totals = {"noop": 0, "noop_calls": 0}
    noop = _timed(lambda: None, totals, "noop")
    for _ in range(100_000):
        noop()
    return totals["noop"] / totals["noop_calls"]


def fuzz_child(time_checkers: bool) -> None:
    """Runs raftfuzz.atheris_main with sys.argv, recording per execution the
    simulated time, the wall time and, if asked, the time spent in checkers,
    into the file named by BENCH_FUZZ_PROBE."""
    from raftfuzz import atheris_main
    from raftfuzz.checks.safety import SafetyChecker
    from raftfuzz.run.harness import Harness
    from raftfuzz.checks.linearizability import LinearizabilityChecker
    from raftfuzz.checks.liveness import LivenessChecker

    totals = {"executions": 0, "simulated_us": 0, "execute_ns": 0, "first_started_ns": None,
              "last_ended_ns": None, "wrapper_cost_ns": 0.0}
    for group in CHECKER_GROUPS:
        totals[group] = totals[group + "_calls"] = 0
    if time_checkers:
        totals["wrapper_cost_ns"] = _wrapper_cost_ns()
        # Every handler the checkers hand the simulator (raftfuzz.checks.protocol),
        # and their finish; none of them calls another.
        for name in ("check_node", "check_ready", "node_stopped"):
            setattr(SafetyChecker, name, _timed(getattr(SafetyChecker, name), totals, "safety"))
        for name in ("on_node_event", "node_restarted", "on_phase", "on_step", "finish"):
            setattr(LivenessChecker, name, _timed(getattr(LivenessChecker, name), totals, "liveness"))
        LinearizabilityChecker.finish = _timed(LinearizabilityChecker.finish, totals, "linearizability")

    probe = Path(os.environ["BENCH_FUZZ_PROBE"])
    execute = Harness.execute

    def recorded_execute(self, data, **keywords):
        started = time.perf_counter_ns()
        schedule, result = execute(self, data, **keywords)
        ended = time.perf_counter_ns()
        if totals["first_started_ns"] is None:
            totals["first_started_ns"] = started
        totals["last_ended_ns"] = ended
        totals["executions"] += 1
        totals["execute_ns"] += ended - started
        totals["simulated_us"] += result.time_us
        totals["peak_rss_mib"] = peak_rss_mib()
        probe.write_text(json.dumps(totals))
        return schedule, result

    Harness.execute = recorded_execute
    atheris_main.main(["raftfuzz.atheris_main", *sys.argv[1:]])


# ---------------------------------------------------------- in the benchmark

def simulator_throughput(core: str, repeat: int) -> dict:
    return json.loads(_run_child(f"simulator_child({repeat})", [], core).stdout)


def fuzzing_throughput(core: str, runs: int, time_checkers: bool) -> dict:
    """One atheris run over the seed corpus; libFuzzer's exec/s plus the probe's totals."""
    with tempfile.TemporaryDirectory() as work:
        probe = Path(work) / "probe.json"
        corpus = Path(work) / "corpus"
        corpus.mkdir()
        completed = _run_child(
            f"fuzz_child({time_checkers})",
            # The corpus gets a directory of its own: libFuzzer rescans its
            # corpus directories every second and would take the probe file in.
            [str(corpus), str(REPO / "corpus"), f"-runs={runs}", "-seed=1", "-print_final_stats=1",
             f"-artifact_prefix={work}/"],
            core, probe=probe, check=False)
        match = re.search(r"average_exec_per_sec:\s+(\d+)", completed.stderr)
        if completed.returncode != 0 or not match or not probe.exists():
            raise SystemExit(f"atheris run failed:\n{completed.stderr[-2000:]}")
        totals = json.loads(probe.read_text())
    result = {
        "exec_per_second": float(match.group(1)),
        "executions": totals["executions"],
        "simulated_us": totals["simulated_us"],
        # libFuzzer's figure above divides by whole seconds since the process
        # started (imports included); this one is from the probe's clock.
        "exec_per_wall_second_from_first_execution":
            totals["executions"] * 1e9 / (totals["last_ended_ns"] - totals["first_started_ns"]),
        "simulated_seconds_per_wall_second":
            totals["simulated_us"] * 1e3 / (totals["last_ended_ns"] - totals["first_started_ns"]),
        "peak_rss_mib": totals["peak_rss_mib"],
    }
    if time_checkers:
        shares = {}
        for group in CHECKER_GROUPS:
            spent = totals[group] - totals[group + "_calls"] * totals["wrapper_cost_ns"]
            shares[group] = max(0.0, spent) / totals["execute_ns"]
        shares["all"] = sum(shares.values())
        result["checker_share"] = shares
        result["checker_calls_per_execution"] = {
            group: totals[group + "_calls"] / totals["executions"] for group in CHECKER_GROUPS}
        result["wrapper_cost_ns_per_call"] = totals["wrapper_cost_ns"]
    return result


def _run_child(call: str, arguments: list[str], core: str, *, probe: Path | None = None,
               check: bool = True) -> subprocess.CompletedProcess:
    code = f"import sys; sys.path.insert(0, {str(BENCHMARKS)!r}); import bench_fuzz; bench_fuzz.{call}"
    environment = dict(os.environ, RAFTFUZZ_CORE=core, PYTHONPATH=str(REPO))
    if probe is not None:
        environment["BENCH_FUZZ_PROBE"] = str(probe)
    return subprocess.run([sys.executable, "-c", code, *arguments], env=environment, check=check,
                          capture_output=True, text=True, cwd=REPO)


def _percent(share: float) -> str:
    return f"{100 * share:.1f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=600, help="atheris executions per fuzzing run")
    parser.add_argument("--repeat", type=int, default=3, help="passes over the seed corpus, simulator alone")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    arguments = parser.parse_args()

    started = time.time()
    results = {}
    for core in CORES:
        fuzzing = fuzzing_throughput(core, arguments.runs, time_checkers=False)
        profiled = fuzzing_throughput(core, arguments.runs, time_checkers=True)
        fuzzing.update(checker_share=profiled["checker_share"],
                       checker_calls_per_execution=profiled["checker_calls_per_execution"],
                       wrapper_cost_ns_per_call=profiled["wrapper_cost_ns_per_call"],
                       profiled_simulated_time_ratio=profiled["simulated_us"] / fuzzing["simulated_us"])
        results[core] = {"simulator": simulator_throughput(core, arguments.repeat), "atheris": fuzzing}

    print(f"Fuzzing under atheris from the seed corpus, -runs={arguments.runs} -seed=1; "
          "checker shares are of the executions' time\n")
    print("| core | exec/s | simulated s / wall s | safety | liveness | linearizability | all checkers "
          "| peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for core, result in results.items():
        fuzzing = result["atheris"]
        share = fuzzing["checker_share"]
        print(f"| {core} | {fuzzing['exec_per_second']:.0f} | {fuzzing['simulated_seconds_per_wall_second']:.1f} "
              f"| {_percent(share['safety'])} | {_percent(share['liveness'])} "
              f"| {_percent(share['linearizability'])} | {_percent(share['all'])} "
              f"| {fuzzing['peak_rss_mib']:.0f} |")
    ratios = ", ".join(f"{core} {result['atheris']['profiled_simulated_time_ratio']:.3f}"
                       for core, result in results.items())
    print(f"\nSimulated time of the profiled runs (checker shares) relative to the first runs: {ratios}")
    print(f"\nThe simulator alone, without instrumentation; passes over the seed corpus: {arguments.repeat}\n")
    print("| core | events/CPU s | runs/CPU s | simulated s / CPU s | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|")
    for core, result in results.items():
        alone = result["simulator"]
        print(f"| {core} | {alone['events_per_cpu_second']:,.0f} | {alone['runs_per_cpu_second']:.1f} "
              f"| {alone['simulated_seconds_per_cpu_second']:.1f} | {alone['peak_rss_mib']:.0f} |")
    c_result, python_result = results["c"], results["python"]
    simulator_ratio = (c_result["simulator"]["events_per_cpu_second"]
                       / python_result["simulator"]["events_per_cpu_second"])
    atheris_ratio = c_result["atheris"]["exec_per_second"] / python_result["atheris"]["exec_per_second"]
    elapsed = time.time() - started
    print(f"\nC / Python: simulator {simulator_ratio:.2f}x, atheris {atheris_ratio:.2f}x "
          f"(measured in {elapsed:.0f} s)")

    if arguments.json:
        arguments.json.write_text(json.dumps({
            "atheris_runs": arguments.runs,
            "simulator_repeat": arguments.repeat,
            "cores": results,
            "ratios_c_python": {"simulator": simulator_ratio, "atheris": atheris_ratio},
            "seconds": elapsed,
        }, indent=2) + "\n")


if __name__ == "__main__":
    main()
