"""Fuzzing throughput of this tree against an older commit, side by side in one run.

What the fuzzer's user pays for is executions per CPU second in the regime
atheris runs: real Raft runs, instrumented as `python -m raftfuzz.atheris_main`
instruments them, the checkers on. So each variant runs that command, in its
own tree and its own virtualenv, over one fixed set of inputs that libFuzzer
executes once each (input files on the command line: libFuzzer's replay
mode, no mutation, so both trees see the same bytes). The fixed set is the
committed seed corpus of this tree plus seeded random byte strings.

Per variant and repetition: CPU seconds (user + system of the child, from
wait4) and wall seconds of the run over all inputs, minus those of a run over
a single empty input (start-up: imports, instrumentation, core build check),
so the figures are per execution, not per process. Variants are interleaved
and the median of the repetitions is reported.

Events and simulated time per CPU second come from each tree's own harness,
uninstrumented, over the same inputs (a run's steps and simulated time do not
depend on instrumentation); they say how much simulation each CPU second of
fuzzing buys. The same bytes can decode to different schedules in the two
trees when the input format changed between them; the event counts show it.

    python benchmarks/bench_versus.py --against 2f8c401 [--inputs 300] [--repeat 3]
        [--feedback code,state,code:PARTS] [--cores c,python] [--json PATH]

The older commit is checked out as a detached git worktree under
$TMPDIR/raftfuzz-versus-<commit> and gets its own .venv (make .venv/.installed),
kept between runs.
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Prints the steps and simulated microseconds of every input file given as
# arguments, with the tree's own harness (whichever layout it has).
_COUNT_EVENTS = """
import json, sys
try:
    from raftfuzz.run.harness import Harness
    from raftfuzz.node.raft import RaftNode
except ImportError:  # the flat layout before the component subpackages
    Harness = __import__("raftfuzz" + ".harness", fromlist=["Harness"]).Harness
    RaftNode = __import__("raftfuzz" + ".raft", fromlist=["RaftNode"]).RaftNode
harness = Harness.from_settings(RaftNode)
steps = simulated_us = 0
for name in sys.argv[1:]:
    result = harness.execute(open(name, "rb").read())[1]
    steps += result.steps
    simulated_us += result.time_us
print(json.dumps({"steps": steps, "simulated_us": simulated_us}))
"""


def fixed_inputs(directory: Path, count: int) -> list[Path]:
    """The seed corpus, then seeded random byte strings up to `count` files."""
    seeds = sorted((REPO / "corpus").iterdir())[:count]
    generator = random.Random(20261201)
    blobs = [path.read_bytes() for path in seeds]
    while len(blobs) < count:
        blobs.append(generator.randbytes(generator.randrange(8, 400)))
    paths = []
    for index, blob in enumerate(blobs):
        path = directory / f"input-{index:04d}"
        path.write_bytes(blob)
        paths.append(path)
    return paths


def older_tree(commit: str) -> tuple[Path, Path]:
    """A worktree of `commit` with its own virtualenv: (root, python)."""
    resolved = subprocess.run(["git", "rev-parse", "--short=12", commit], cwd=REPO, check=True,
                              capture_output=True, text=True).stdout.strip()
    root = Path(tempfile.gettempdir()) / f"raftfuzz-versus-{resolved}"
    if not root.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(root), resolved], cwd=REPO, check=True,
                       capture_output=True)
    subprocess.run(["make", "--silent", ".venv/.installed"], cwd=root, check=True, capture_output=True)
    return root, root / ".venv" / "bin" / "python"


def timed_child(command: list[str], cwd: Path, environment: dict) -> tuple[float, float, str]:
    """CPU seconds (user + system) and wall seconds of one child process, and its stderr."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as errors:
        child = subprocess.Popen(command, cwd=cwd, env=environment, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        errors.seek(0)
        stderr = errors.read().decode(errors="replace")
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} ... exited {child.returncode} in {cwd}:\n{stderr[-2000:]}")
    return usage.ru_utime + usage.ru_stime, wall, stderr


class Variant:
    def __init__(self, name: str, root: Path, python: Path, flags: list[str], core: str = "c",
                 environment: dict | None = None):
        self.name, self.root, self.python, self.flags, self.core = name, root, python, flags, core
        self.extra_environment = environment or {}
        self.cpu, self.wall = [], []

    def command(self, inputs: list[Path], artifacts: Path) -> list[str]:
        return [str(self.python), "-m", "raftfuzz.atheris_main", *self.flags, *map(str, inputs),
                f"-artifact_prefix={artifacts}/"]

    def measure(self, inputs: list[Path], empty: Path, artifacts: Path) -> None:
        environment = {key: value for key, value in os.environ.items()
                       if not key.startswith(("RAFTFUZZ_", "PYTHON")) and key not in ("BUCKET_NAME", "MAX_STEPS")}
        environment["RAFTFUZZ_CORE"] = self.core
        environment.update(self.extra_environment)
        cpu_all, wall_all, _ = timed_child(self.command(inputs, artifacts), self.root, environment)
        cpu_one, wall_one, _ = timed_child(self.command([empty], artifacts), self.root, environment)
        self.cpu.append(cpu_all - cpu_one)
        self.wall.append(wall_all - wall_one)

    def events(self, inputs: list[Path]) -> dict:
        counted = subprocess.run([str(self.python), "-c", _COUNT_EVENTS, *map(str, inputs)], cwd=self.root,
                                 env=dict(os.environ, RAFTFUZZ_CORE="c"), capture_output=True, text=True)
        if counted.returncode != 0:
            raise SystemExit(f"counting events in {self.root} failed:\n{counted.stderr[-2000:]}")
        return json.loads(counted.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", required=True, help="the older commit to compare with (e.g. 2f8c401)")
    parser.add_argument("--inputs", type=int, default=300, help="size of the fixed input set")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved repetitions per variant")
    parser.add_argument("--feedback", default="code,state",
                        help="this tree's --feedback modes to measure (the older commit runs its default); "
                             "code:PARTS sets RAFTFUZZ_CODE_COVERAGE=PARTS")
    parser.add_argument("--cores", default="c",
                        help="this tree's simulation cores to measure, e.g. c,python (the older commit runs C)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    arguments = parser.parse_args()

    old_root, old_python = older_tree(arguments.against)
    variants = [Variant(f"{arguments.against} (its default)", old_root, old_python, [])]
    for mode in arguments.feedback.split(","):
        base, _, parts = mode.partition(":")
        for core in arguments.cores.split(","):
            variants.append(Variant(f"this tree, --feedback={mode}, {core} core", REPO, Path(sys.executable),
                                    [f"--feedback={base}"], core,
                                    {"RAFTFUZZ_CODE_COVERAGE": parts} if parts else None))

    with tempfile.TemporaryDirectory(prefix="raftfuzz-versus-") as work:
        work = Path(work)
        (work / "inputs").mkdir()
        (work / "artifacts").mkdir()
        inputs = fixed_inputs(work / "inputs", arguments.inputs)
        empty = work / "empty"
        empty.write_bytes(b"")
        counts = {variant.root: variant.events(inputs) for variant in variants}
        for _ in range(arguments.repeat):
            for variant in variants:
                variant.measure(inputs, empty, work / "artifacts")

    print(f"{len(inputs)} fixed inputs executed once each by `python -m raftfuzz.atheris_main INPUT...`; medians of {arguments.repeat} interleaved repetitions, start-up subtracted\n")
    print("| variant | exec / CPU s | exec / wall s | events / CPU s | simulated s / CPU s | CPU s | wall s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    rows = []
    for variant in variants:
        cpu, wall = statistics.median(variant.cpu), statistics.median(variant.wall)
        count = counts[variant.root]
        row = {"variant": variant.name, "cpu_seconds": cpu, "wall_seconds": wall,
               "exec_per_cpu_second": len(inputs) / cpu, "exec_per_wall_second": len(inputs) / wall,
               "events_per_cpu_second": count["steps"] / cpu,
               "simulated_seconds_per_cpu_second": count["simulated_us"] / 1e6 / cpu,
               "steps": count["steps"], "cpu_samples": variant.cpu, "wall_samples": variant.wall}
        rows.append(row)
        print(f"| {row['variant']} | {row['exec_per_cpu_second']:.1f} | {row['exec_per_wall_second']:.1f} "
              f"| {row['events_per_cpu_second']:,.0f} | {row['simulated_seconds_per_cpu_second']:.1f} "
              f"| {cpu:.2f} | {wall:.2f} |")
    base = rows[0]["exec_per_cpu_second"]
    print("\nExecutions per CPU second relative to " + arguments.against + ": "
          + ", ".join(f"{row['variant']} {row['exec_per_cpu_second'] / base:.2f}x" for row in rows[1:]))
    by_name = {row["variant"]: row for row in rows}
    for mode in arguments.feedback.split(","):
        c, python = (by_name.get(f"this tree, --feedback={mode}, {core} core") for core in ("c", "python"))
        if c and python:
            print(f"C core / Python twin, --feedback={mode}: "
                  f"{c['exec_per_cpu_second'] / python['exec_per_cpu_second']:.2f}x executions per CPU second")
    if rows[0]["steps"] != rows[1]["steps"]:
        print(f"The inputs decode to different runs in the two trees ({rows[0]['steps']:,} against "
              f"{rows[1]['steps']:,} events): compare events / CPU s as well as executions.")
    if arguments.json:
        arguments.json.write_text(json.dumps({"against": arguments.against, "inputs": len(inputs),
                                              "repeat": arguments.repeat, "variants": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
