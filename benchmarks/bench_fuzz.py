"""Fuzzing throughput, measured side by side in one run.

1. Simulator events per CPU second on the seed corpus, C core vs Python
   core, without instrumentation (the simulator alone). CPU time rather than
   wall time, so a busy machine skews the ratio less.
2. exec/s under atheris on the seed corpus (libFuzzer's own
   average_exec_per_sec), C core vs Python core.

    python benchmarks/bench_fuzz.py [--runs 600] [--repeat 3]
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def simulator_events_per_second(core: str, repeat: int) -> tuple[float, float]:
    """Runs every seed `repeat` times in a subprocess pinned to one core."""
    code = f"""
import time
from raftfuzz.harness import Harness
from raftfuzz.raft import RaftNode
from raftfuzz.schedule import encode
from raftfuzz.seeds import seed_schedules
inputs = [encode(s) for s in seed_schedules().values()] * {repeat}
harness = Harness.from_settings(RaftNode)
steps = 0
started = time.process_time()
for data in inputs:
    steps += harness.execute(data)[1].steps
elapsed = time.process_time() - started
print(steps / elapsed, len(inputs) / elapsed)
"""
    output = subprocess.run([sys.executable, "-c", code], env=_environment(core), check=True,
                            capture_output=True, text=True, cwd=REPO).stdout.split()
    return float(output[0]), float(output[1])


def atheris_execs_per_second(core: str, runs: int) -> float:
    with tempfile.TemporaryDirectory() as work:
        completed = subprocess.run(
            [sys.executable, "-m", "raftfuzz.atheris_main", work, str(REPO / "corpus"), f"-runs={runs}",
             "-seed=1", "-print_final_stats=1", f"-artifact_prefix={work}/"],
            env=_environment(core), capture_output=True, text=True, cwd=REPO)
    match = re.search(r"average_exec_per_sec:\s+(\d+)", completed.stderr)
    if completed.returncode != 0 or not match:
        raise SystemExit(f"atheris run failed:\n{completed.stderr[-2000:]}")
    return float(match.group(1))


def _environment(core: str) -> dict:
    return dict(os.environ, RAFTFUZZ_CORE=core, PYTHONPATH=str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=600, help="atheris executions per core")
    parser.add_argument("--repeat", type=int, default=3, help="passes over the seed corpus")
    arguments = parser.parse_args()

    started = time.time()
    rows = []
    for core in ("c", "python"):
        events, runs = simulator_events_per_second(core, arguments.repeat)
        execs = atheris_execs_per_second(core, arguments.runs)
        rows.append((core, events, runs, execs))
    print("| core | simulator events/CPU s | simulator runs/CPU s | atheris exec/s (wall) |")
    print("|---|---:|---:|---:|")
    for core, events, runs, execs in rows:
        print(f"| {core} | {events:,.0f} | {runs:.1f} | {execs:.0f} |")
    c_row, python_row = rows
    print(f"\nC / Python: simulator {c_row[1] / python_row[1]:.2f}x, atheris {c_row[3] / python_row[3]:.2f}x "
          f"(measured in {time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
