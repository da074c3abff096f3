"""Bug-finding benchmark: how fast each catalogued bug is found, coverage-guided
versus random, over several fuzzer seeds with a fixed budget.

    python benchmarks/bench_bugs.py run [--reps 5] [--budget 600] [--jobs 2] [--bugs A,B] [--modes ...]
    python benchmarks/bench_bugs.py report        # docs/bugs.md and docs/bugs.png from the results

Modes (each a separate process per repetition, stopping at the first violation):

- ``coverage``: ``python -m raftfuzz.atheris_main`` on a fresh copy of the
  seed corpus, libFuzzer ``-seed=<rep>``: what a user runs;
- ``coverage-bytes``: the same with libFuzzer's byte mutations only
  (``--mutator=bytes``), to show what the structure-aware mutator adds;
- ``coverage-empty``: the same as ``coverage`` from an empty corpus;
- ``random``: ``python -m raftfuzz random --seed <rep>``, no feedback, no seeds.

Time to first violation is the wall time of the whole process (start-up
included, the same for every mode), and its CPU time is recorded too (what
the process itself used, whatever else the machine runs); executions are libFuzzer's
``number_of_executed_units`` or random mode's run count. Results are appended
to a JSON-lines file one run at a time, so an interrupted campaign resumes
where it stopped. ``report`` computes, per bug and mode, the success rate and
the median time and executions (a repetition that found nothing counts as
the budget; a median over a majority of misses is "not found").
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from raftfuzz.mutants import CATALOGUE  # noqa: E402

MODES = ("coverage", "coverage-bytes", "coverage-empty", "random")
DEFAULT_RESULTS = REPO / "benchmarks" / "results" / "bugs.jsonl"
DOCS = REPO / "docs"


def fuzz_command(mode: str, bug: str, rep: int, budget: int, workdir: Path) -> list[str]:
    target = f"--target=raftfuzz.mutants:{bug}"
    if mode == "random":
        return [sys.executable, "-m", "raftfuzz", "random", target, f"--seed={rep}", f"--seconds={budget}",
                "--stop-on-violation", "--quiet", f"--artifacts={workdir / 'artifacts'}"]
    corpus = workdir / "corpus"
    corpus.mkdir()
    seeds = []
    if mode != "coverage-empty":
        shutil.copytree(REPO / "corpus", workdir / "seeds")
        seeds = [str(workdir / "seeds")]
    mutator = "--mutator=bytes" if mode == "coverage-bytes" else "--mutator=schedule"
    return [sys.executable, "-m", "raftfuzz.atheris_main", target, mutator, str(corpus), *seeds, f"-seed={rep}",
            f"-max_total_time={budget}", "-print_final_stats=1",
            f"-artifact_prefix={workdir / 'artifacts'}/"]


def run_one(mode: str, bug: str, rep: int, budget: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="raftfuzz-bench-") as scratch:
        workdir = Path(scratch)
        command = fuzz_command(mode, bug, rep, budget, workdir)
        log = workdir / "log.txt"
        started = time.monotonic()
        with log.open("w") as sink:
            process = subprocess.Popen(command, cwd=workdir, stdout=sink, stderr=subprocess.STDOUT)
            # wait4 gives this child's own CPU time, which other load on the
            # machine does not inflate the way it inflates wall time.
            _, status, usage = os.wait4(process.pid, 0)
        seconds = time.monotonic() - started
        returncode = os.waitstatus_to_exitcode(status)
        output = log.read_text(errors="replace")
        reports = sorted((workdir / "artifacts").glob("crash-*.json"))
        found = json.loads(reports[0].read_text())["violation"] if reports else None
    if mode == "random":
        executions = int(re.search(r"random: (\d+) runs", output).group(1))
    else:
        executions = int(re.search(r"stat::number_of_executed_units: (\d+)", output).group(1))
    if found is None and returncode != 0:
        raise RuntimeError(f"{mode} {bug} rep {rep} failed with exit {returncode}:\n{output[-3000:]}")
    return {"bug": bug, "mode": mode, "rep": rep, "budget": budget, "found": found is not None,
            "property": found["property"] if found else None, "seconds": round(seconds, 2),
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2), "executions": executions}


def load_results(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_campaign(arguments) -> int:
    bugs = arguments.bugs.split(",") if arguments.bugs else list(CATALOGUE)
    unknown = sorted(set(bugs) - set(CATALOGUE))
    if unknown:
        raise SystemExit(f"bench_bugs: unknown bug(s) {', '.join(unknown)}; see raftfuzz/mutants.py")
    modes = arguments.modes.split(",")
    arguments.results.parent.mkdir(parents=True, exist_ok=True)
    done = {(r["bug"], r["mode"], r["rep"], r["budget"]) for r in load_results(arguments.results)}
    # Interleave modes and bugs so that machine noise spreads evenly.
    todo = [(mode, bug, rep) for rep in range(1, arguments.reps + 1) for bug in bugs for mode in modes
            if (bug, mode, rep, arguments.budget) not in done]
    print(f"bench_bugs: {len(todo)} runs to do ({len(done)} already in {arguments.results})", flush=True)

    def one(job):
        result = run_one(*job, arguments.budget)
        with arguments.results.open("a") as results:
            results.write(json.dumps(result) + "\n")
        what = f"found {result['property']}" if result["found"] else "not found"
        print(f"{result['bug']:<30} {result['mode']:<15} rep {result['rep']}: {what} in "
              f"{result['seconds']:.1f}s, {result['executions']} executions", flush=True)

    with ThreadPoolExecutor(arguments.jobs) as pool:
        list(pool.map(one, todo))
    return 0


def median_or_none(values: list[float], misses: int) -> float | None:
    """Median with each miss counted as +infinity (it is at least the budget)."""
    padded = sorted(values) + [float("inf")] * misses
    middle = statistics.median_low(padded) if padded else float("inf")
    return None if middle == float("inf") else middle


def summarise(results: list[dict], budget: int) -> dict:
    table: dict = {}
    for result in results:
        if result["budget"] == budget:
            table.setdefault(result["bug"], {}).setdefault(result["mode"], []).append(result)
    summary = {}
    for bug in [name for name in CATALOGUE if name in table]:
        for mode, runs in table[bug].items():
            hits = [run for run in runs if run["found"]]
            summary.setdefault(bug, {})[mode] = {
                "reps": len(runs),
                "found": len(hits),
                "median_seconds": median_or_none([run["seconds"] for run in hits], len(runs) - len(hits)),
                "median_cpu_seconds": median_or_none([run["cpu_seconds"] for run in hits], len(runs) - len(hits)),
                "median_executions": median_or_none([run["executions"] for run in hits], len(runs) - len(hits)),
                "properties": sorted({run["property"] for run in hits}),
                "seconds": [run["seconds"] if run["found"] else None for run in runs],
            }
    return summary


def render_report(arguments) -> int:
    results = load_results(arguments.results)
    if not results:
        raise SystemExit(f"bench_bugs: no results in {arguments.results}; run `bench_bugs.py run` first")
    budget = arguments.budget or max(result["budget"] for result in results)
    summary = summarise(results, budget)
    modes = [mode for mode in MODES if any(mode in row for row in summary.values())]
    DOCS.mkdir(exist_ok=True)
    (DOCS / "bugs.md").write_text(markdown(summary, modes, budget, arguments))
    plot(summary, modes, budget, DOCS / "bugs.png")
    print(f"bench_bugs: wrote {DOCS / 'bugs.md'} and {DOCS / 'bugs.png'}")
    return 0


def seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"


def cell(stats: dict | None) -> str:
    """found/reps, then the medians of wall time, CPU time and executions."""
    if stats is None:
        return "–"
    found = f"{stats['found']}/{stats['reps']}"
    if stats["median_seconds"] is None:
        return f"{found}: not found"
    return (f"{found}: {seconds(stats['median_seconds'])}, {seconds(stats['median_cpu_seconds'])} CPU, "
            f"{stats['median_executions']:.0f} execs")


def catalogue_median(summary: dict, mode: str) -> float | None:
    """The median over the catalogue of each bug's median time (misses: +inf)."""
    medians = [row[mode]["median_seconds"] for row in summary.values() if mode in row]
    finite = [value for value in medians if value is not None]
    return median_or_none(finite, len(medians) - len(finite))


def markdown(summary: dict, modes: list[str], budget: int, arguments) -> str:
    reps = max(stats["reps"] for row in summary.values() for stats in row.values())
    lines = [
        "# Bug-finding benchmark",
        "",
        f"Every catalogued bug (`raftfuzz/mutants.py`), {reps} repetitions per mode with fuzzer seeds "
        f"1..{reps}, a budget of {budget} s per repetition, stopping at the first violation. Time is the "
        "wall time of the fuzzing process (start-up included); a repetition that found nothing counts "
        "as the budget, and a median over a majority of misses is \"not found\".",
        "",
        "Regenerate: `python benchmarks/bench_bugs.py run --budget "
        f"{budget} --reps {reps} && python benchmarks/bench_bugs.py report`",
        "",
        "Each cell: repetitions that found the bug, then the medians of wall time, CPU time and "
        "executions to the first violation.",
        "",
        "| bug | property found | " + " | ".join(modes) + " |",
        "|---|---|" + "---|" * len(modes),
    ]
    for bug, row in summary.items():
        properties = sorted({p for stats in row.values() for p in stats["properties"]})
        cells = [cell(row.get(mode)) for mode in modes]
        lines.append(f"| {bug} | {', '.join(properties) or '–'} | " + " | ".join(cells) + " |")
    lines += ["", "Median over the catalogue of the per-bug median time:", ""]
    for mode in modes:
        value = catalogue_median(summary, mode)
        lines.append(f"- {mode}: {'not found' if value is None else f'{value:.1f} s'}")
    if "coverage" in modes and "random" in modes:
        cov, rnd = catalogue_median(summary, "coverage"), catalogue_median(summary, "random")
        if cov and rnd:
            faster, ratio = ("coverage", rnd / cov) if cov <= rnd else ("random", cov / rnd)
            lines.append(f"- {faster} mode's median is {ratio:.1f}x lower")
    lines += ["", "![time to first violation per bug and mode](bugs.png)", "", "## The catalogue", "",
              "| bug | what goes wrong | may break | mirrors |", "|---|---|---|---|"]
    for name, node_class in CATALOGUE.items():
        summary_line = " ".join(node_class.__doc__.split()).split(". ")[0].rstrip(".") + "."
        canonical, report = node_class.mirrors
        lines.append(f"| {name} | {summary_line} | {', '.join(node_class.breaks)} | {canonical}; {report} |")
    lines.append("")
    if arguments.notes:
        lines += [arguments.notes.read_text().strip(), ""]
    return "\n".join(lines)


def plot(summary: dict, modes: list[str], budget: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bugs = list(summary)
    colours = {"coverage": "tab:blue", "coverage-bytes": "tab:purple", "coverage-empty": "tab:green",
               "random": "tab:orange"}
    figure, axes = plt.subplots(figsize=(9, 0.45 * len(bugs) + 1.5))
    for offset, mode in enumerate(modes):
        shift = (offset - (len(modes) - 1) / 2) * 0.25
        for row, bug in enumerate(bugs):
            stats = summary[bug].get(mode)
            if stats is None:
                continue
            y = row + shift
            hits = [s for s in stats["seconds"] if s is not None]
            misses = len(stats["seconds"]) - len(hits)
            axes.scatter(hits, [y] * len(hits), color=colours[mode], s=18,
                         label=mode if row == 0 else None)
            if misses:
                axes.scatter([budget] * misses, [y] * misses, color=colours[mode], marker="x", s=30)
    axes.axvline(budget, color="grey", linestyle=":", linewidth=1)
    axes.set_xscale("log")
    axes.set_yticks(range(len(bugs)), bugs)
    axes.invert_yaxis()
    axes.set_xlabel(f"seconds to first violation (log scale; x = not found within {budget} s)")
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
    axes.grid(axis="x", which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run (or resume) the campaign")
    run.add_argument("--reps", type=int, default=5)
    run.add_argument("--budget", type=int, default=600, help="seconds per repetition")
    run.add_argument("--jobs", type=int, default=1, help="repetitions run at once (one core each)")
    run.add_argument("--bugs", help="comma-separated catalogue names (default: all)")
    run.add_argument("--modes", default="coverage,random", help=f"comma-separated, of {', '.join(MODES)}")
    report = commands.add_parser("report", help="write docs/bugs.md and docs/bugs.png")
    report.add_argument("--budget", type=int, help="which campaign (default: the largest budget)")
    report.add_argument("--notes", type=Path, help="markdown appended to docs/bugs.md")
    for sub in (run, report):
        sub.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    arguments = parser.parse_args()
    return run_campaign(arguments) if arguments.command == "run" else render_report(arguments)


if __name__ == "__main__":
    sys.exit(main())
