"""How much ``raftfuzz shrink`` simplifies the bug catalogue's findings.

    python benchmarks/bench_shrink.py generate DIR [--seconds 60]   # one crash report per catalogue bug
    python benchmarks/bench_shrink.py run DIR [--seconds 60] [--out results.jsonl]
    python benchmarks/bench_shrink.py table RESULTS.jsonl...                  # one table of several runs

``generate`` runs random mode on every mutant of ``raftfuzz.node.mutants.CATALOGUE``
(seed 1, until the first violation or the budget) and leaves each crash
report in ``DIR/<mutant>/``. ``run`` shrinks every report under DIR, replays
each shrunk report in a fresh ``raftfuzz replay`` process on both cores and
records, per report: faults and steps before and after, nodes, runs, wall
and CPU seconds, and whether both replays reproduced the signature. It ends
with the medians the issue sets targets for (at most 25% of the faults and
half of the steps kept) and a Markdown table for docs/shrink.md.
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def generate(directory: Path, seconds: float, seed: int, mutants: list[str]) -> None:
    from raftfuzz.node.mutants import CATALOGUE

    for mutant in mutants or CATALOGUE:
        subprocess.run([sys.executable, "-m", "raftfuzz", "random", "--target", f"raftfuzz.node.mutants:{mutant}",
                        "--seconds", str(seconds), "--seed", str(seed), "--stop-on-violation", "--quiet",
                        "--artifacts", str(directory / mutant)], cwd=REPO, check=False)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(directory: Path, seconds: float, out: Path) -> None:
    from raftfuzz.run.replay import report_run
    from raftfuzz.run.settings import Settings
    from raftfuzz.findings.shrink import Shrinker, shrunk_report, write_shrunk

    rows = []
    shrunk_directory = out.parent / (out.stem + "-reports")
    for path in sorted(directory.rglob("crash-*.json")):
        data, report, harness = report_run(path, Settings())
        wall, cpu = time.monotonic(), _cpu()
        shrinker = Shrinker(harness, data, report["max_steps"], expected_signature=report.get("signature"),
                            seconds=seconds)
        result = shrinker.shrink()
        wall, cpu = time.monotonic() - wall, _cpu() - cpu
        written = write_shrunk(shrunk_directory / f"{spec.rpartition(':')[2]}.json", result.best.data,
                               shrunk_report(harness, result, report))
        reproduced = {}
        for core in ("c", "python"):
            replay = subprocess.run([sys.executable, "-m", "raftfuzz", "replay", str(written), "--log-level",
                                     "none", "--core", core], cwd=REPO, capture_output=True, text=True)
            reproduced[core] = "reproduced" in replay.stdout
        original, best = result.original, result.best
        row = {
            "target": spec, "signature": shrinker.signature,
            "faults_before": len(original.candidate.schedule.events), "faults_after": len(best.candidate.schedule.events),
            "steps_before": original.result.steps, "steps_after": best.result.steps,
            "nodes_before": original.candidate.schedule.node_count, "nodes_after": best.candidate.schedule.node_count,
            "runs": result.runs, "fixed_point": result.complete, "wall_seconds": round(wall, 2),
            "cpu_seconds": round(cpu, 2), "reproduced_c": reproduced["c"], "reproduced_python": reproduced["python"],
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    out.write_text("".join(json.dumps(row) + "\n" for row in rows))
    print(table(rows))


def _fraction(after: int, before: int) -> float:
    return after / before if before else 0.0


def table(rows: list[dict]) -> str:
    lines = ["| bug | signature property | faults | steps | nodes | runs | wall s | CPU s | replays (C, Python) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(
            f"| {row['target'].rpartition(':')[2]} | {row['signature'].split('.')[1]} | "
            f"{row['faults_before']} → {row['faults_after']} | {row['steps_before']} → {row['steps_after']} | "
            f"{row['nodes_before']} → {row['nodes_after']} | {row['runs']}{'' if row['fixed_point'] else '*'} | "
            f"{row['wall_seconds']} | {row['cpu_seconds']} | "
            f"{'yes' if row['reproduced_c'] else 'NO'}, {'yes' if row['reproduced_python'] else 'NO'} |")
    faults = statistics.median(_fraction(r["faults_after"], r["faults_before"]) for r in rows)
    steps = statistics.median(_fraction(r["steps_after"], r["steps_before"]) for r in rows)
    lines.append("")
    lines.append(f"median faults kept {faults:.0%}, median steps kept {steps:.0%}, median wall "
                 f"{statistics.median(r['wall_seconds'] for r in rows):.1f} s, median CPU "
                 f"{statistics.median(r['cpu_seconds'] for r in rows):.1f} s; "
                 f"{sum(r['reproduced_c'] and r['reproduced_python'] for r in rows)}/{len(rows)} shrunk reports "
                 f"reproduce on both cores")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    generating = commands.add_parser("generate")
    generating.add_argument("directory", type=Path)
    generating.add_argument("--seconds", type=float, default=60)
    generating.add_argument("--seed", type=int, default=1)
    generating.add_argument("mutants", nargs="*", help="catalogue names (default: all)")
    running = commands.add_parser("run")
    running.add_argument("directory", type=Path)
    running.add_argument("--seconds", type=float, default=60)
    running.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "shrink.jsonl")
    tabling = commands.add_parser("table")
    tabling.add_argument("results", type=Path, nargs="+")
    arguments = parser.parse_args()
    if arguments.command == "generate":
        generate(arguments.directory, arguments.seconds, arguments.seed, arguments.mutants)
    elif arguments.command == "table":
        rows = [json.loads(line) for path in arguments.results for line in path.read_text().splitlines() if line]
        print(table(sorted(rows, key=lambda row: row["target"])))
    else:
        run(arguments.directory, arguments.seconds, arguments.out)


if __name__ == "__main__":
    main()
