"""Bug-finding benchmark: how fast each planted bug is found, per guidance
mode, over several fuzzer seeds with a fixed budget.

    python benchmarks/bench_bugs.py run [--reps 5] [--budget 600] [--cpu-budget S] [--jobs 2]
                                        [--bugs A,B | --deep | --target pkg.mod:Class ...] [--modes ...]
    python benchmarks/bench_bugs.py long [--budget 600] [--modes code,state,code+state] [--target T]
    python benchmarks/bench_bugs.py report        # docs/bugs.md and its plots from the results

Targets: ``--bugs`` names entries of the catalogue (``raftfuzz.node.mutants.CATALOGUE``)
or of the deeper bugs (``DEEP``; ``--deep`` is all of them), and ``--target``
(repeatable) takes any node class as ``package.module:Class``, inside
raftfuzz or not. The default is the catalogue.

Modes (each a separate process per repetition, stopping at the first violation):

- ``random``: ``python -m raftfuzz random --seed <rep>``, no feedback, no seeds;
- ``code``, ``state``, ``code+state``: ``python -m raftfuzz.atheris_main
  --feedback=<mode>`` on a fresh copy of the seed corpus, libFuzzer
  ``-seed=<rep>``: what a user runs, guided by code coverage, by counters
  of abstract cluster states, or both;
- ``code-bytes``: ``code`` with libFuzzer's byte mutations only
  (``--mutator=bytes``), to show what the structure-aware mutator adds;
- ``state:FEATURES`` (e.g. ``state:states+history``): ``state`` with
  ``RAFTFUZZ_STATE_FEATURES=FEATURES``, to compare abstractions side by side
  with random mode on the same bugs and seeds;
- ``code:PARTS`` (e.g. ``code:blocks``): ``code`` with
  ``RAFTFUZZ_CODE_COVERAGE=PARTS``, to compare what is instrumented;
- any guided mode ``@MUTATOR`` (e.g. ``state@schedule+crossover``): with
  ``--mutator=MUTATOR``, to compare mutators side by side.

Budgets. ``--budget`` is wall seconds (passed on as ``-max_total_time`` /
``--seconds``); ``--cpu-budget`` stops a process (SIGINT) once it has used
that many CPU seconds, read from ``/proc`` four times a second, so that a
loaded machine does not shrink a repetition's share of work. Recorded per
run: wall and CPU seconds (``wait4``: the process's own) and executions to
the first violation — libFuzzer's ``number_of_executed_units`` or random
mode's run count; for a run stopped at its budget, the last count it
printed.

Logs. Every run's output is kept under ``benchmarks/results/logs/<campaign>/``,
each line prefixed with the wall and CPU seconds at which it was read, so
``report`` can plot libFuzzer's coverage (``cov:``) and features (``ft:``)
over time for the ``long`` runs (one run per mode on one target, no stop at
a violation; random mode prints no coverage and is not plotted).

Results are appended to a JSON-lines file one run at a time, so an
interrupted campaign resumes where it stopped. ``report`` computes, per bug
and mode, the success rate and the median CPU time, wall time and
executions (a repetition that found nothing counts as the budget; a median
over at least half misses is "not found").
"""

import argparse
import gzip
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from raftfuzz.node.mutants import CATALOGUE, DEEP  # noqa: E402

MODES = ("random", "code", "state", "code+state", "code-bytes")
GUIDED = ("code", "state", "code+state", "code-bytes")
RESULTS = REPO / "benchmarks" / "results"
DEFAULT_RESULTS = RESULTS / "bugs-modes.jsonl"
LOGS = RESULTS / "logs"
DOCS = REPO / "docs"
POLL_SECONDS = 0.25
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# How long a process stopped at its CPU budget may take to exit.
STOP_GRACE_SECONDS = 30
# Fuzzing processes running now, so that an interrupted campaign stops them.
RUNNING: set = set()


def target_of(bug: str) -> str:
    """A catalogue or deep-bug name, or a node class spec as it is."""
    if ":" in bug:
        return bug
    if bug in CATALOGUE or bug in DEEP:
        return f"raftfuzz.node.mutants:{bug}"
    raise SystemExit(f"bench_bugs: unknown bug {bug!r}: name one in src/raftfuzz/node/mutants.py (CATALOGUE or DEEP) "
                     "or give a node class as package.module:Class")


def split_mode(mode: str) -> tuple[str, str | None]:
    """'state:states+history' -> ('state', 'states+history'); a plain mode has no features.
    A mutator after '@' (``state@schedule+crossover``) is not part of either."""
    base, _, features = mode.partition("@")[0].partition(":")
    return base, features or None


def mutator_of(mode: str) -> str:
    """'state@schedule+crossover' -> 'schedule+crossover'; code-bytes means bytes; else the default."""
    from raftfuzz.run.settings import Settings

    base, _, mutator = mode.partition("@")
    return mutator or ("bytes" if base == "code-bytes" else Settings.mutator)


def fuzz_command(mode: str, bug: str, rep: int, budget: int, workdir: Path) -> list[str]:
    mutator = mutator_of(mode)
    mode, _ = split_mode(mode)
    target = f"--target={target_of(bug)}"
    artifacts = workdir / "artifacts"
    if mode == "random":
        return [sys.executable, "-m", "raftfuzz", "random", target, f"--seed={rep}", f"--seconds={budget}",
                "--stop-on-violation", f"--artifacts={artifacts}"]
    corpus = workdir / "corpus"
    corpus.mkdir()
    shutil.copytree(REPO / "corpus", workdir / "seeds")
    feedback = "code" if mode == "code-bytes" else mode
    return [sys.executable, "-m", "raftfuzz.atheris_main", target, f"--feedback={feedback}",
            f"--mutator={mutator}", str(corpus), str(workdir / "seeds"), f"-seed={rep}",
            f"-max_total_time={budget}", "-print_final_stats=1", f"-artifact_prefix={artifacts}/"]


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a live process, from /proc (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _copy_output(stream, sink, pid: int, started: float) -> None:
    """Writes each output line (tqdm's \\r updates too) to the kept log,
    prefixed with the wall and CPU seconds at which it was read."""
    pending = b""
    for chunk in iter(lambda: stream.read1(65536), b""):
        pending += chunk
        *lines, pending = re.split(rb"[\r\n]", pending)
        stamp = f"[{time.monotonic() - started:9.2f} {process_cpu_seconds(pid):9.2f}] "
        for line in lines:
            if line.strip():
                sink.write(stamp + line.decode(errors="replace") + "\n")
    if pending.strip():
        sink.write(pending.decode(errors="replace") + "\n")
    sink.flush()


def run_one(mode: str, bug: str, rep: int, budget: int, cpu_budget: float | None, log_path: Path,
            stop_on_violation: bool = True) -> dict:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="raftfuzz-bench-") as scratch:
        workdir = Path(scratch)
        command = fuzz_command(mode, bug, rep, budget, workdir)
        if not stop_on_violation:
            command = [argument for argument in command if argument != "--stop-on-violation"]
            if mode != "random":
                command.append("-ignore_crashes=1")
        started = time.monotonic()
        stopped_at_cpu_budget = False
        with log_path.open("w") as sink:
            sink.write("$ " + " ".join(command) + "\n")
            # A campaign started in the background inherits SIGINT ignored, and
            # Python keeps an ignored SIGINT ignored: give the child the default.
            environment = dict(os.environ)
            base, variant = split_mode(mode)
            if variant is not None:
                environment["RAFTFUZZ_CODE_COVERAGE" if base == "code" else "RAFTFUZZ_STATE_FEATURES"] = variant
            process = subprocess.Popen(command, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       env=environment, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
            RUNNING.add(process)
            copier = threading.Thread(target=_copy_output, args=(process.stdout, sink, process.pid, started))
            copier.start()
            # wait4 gives this child's own CPU time, which other load on the
            # machine does not inflate the way it inflates wall time.
            while True:
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)
                if pid:
                    break
                if (not stopped_at_cpu_budget and cpu_budget is not None
                        and process_cpu_seconds(process.pid) >= cpu_budget):
                    process.send_signal(signal.SIGINT)
                    stopped_at_cpu_budget = time.monotonic()
                elif stopped_at_cpu_budget and time.monotonic() - stopped_at_cpu_budget > STOP_GRACE_SECONDS:
                    process.kill()
                time.sleep(POLL_SECONDS)
            process.returncode = os.waitstatus_to_exitcode(status)
            RUNNING.discard(process)
            copier.join()
        seconds = time.monotonic() - started
        returncode = os.waitstatus_to_exitcode(status)
        reports = sorted((workdir / "artifacts").glob("crash-*.json"))
        found = json.loads(reports[0].read_text())["violation"] if reports else None
        if found is not None:
            kept = log_path.with_suffix(".crash.json")
            shutil.copy(reports[0], kept)
    output = log_path.read_text(errors="replace")
    executions = executions_in(mode, output)
    if found is None and returncode != 0 and not stopped_at_cpu_budget:
        raise RuntimeError(f"{mode} {bug} rep {rep} failed with exit {returncode}; see {log_path}")
    return {"bug": bug, "mode": mode, "rep": rep, "budget": budget, "cpu_budget": cpu_budget,
            "found": found is not None, "property": found["property"] if found else None,
            "seconds": round(seconds, 2), "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
            "executions": executions, "log": str(log_path.resolve().relative_to(REPO))}


def executions_in(mode: str, output: str) -> int | None:
    """Executions the run reported: its final count, else the last progress count."""
    if split_mode(mode)[0] == "random":
        final = re.search(r"random: (\d+) runs in", output)
        progress = re.findall(r"\] (\d+) runs", output)
    else:
        final = re.search(r"stat::number_of_executed_units: (\d+)", output)
        progress = re.findall(r"\] #(\d+)\s", output)
    if final:
        return int(final.group(1))
    return int(progress[-1]) if progress else None


def load_results(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def chosen_bugs(arguments) -> list[str]:
    bugs = []
    if arguments.bugs:
        bugs += arguments.bugs.split(",")
    if arguments.deep:
        bugs += list(DEEP)
    bugs += arguments.target or []
    bugs = bugs or list(CATALOGUE)
    for bug in bugs:
        target_of(bug)
    return bugs


def chosen_modes(text: str) -> list[str]:
    modes = text.split(",")
    unknown = [mode for mode in modes if split_mode(mode)[0] not in MODES]
    if unknown:
        raise SystemExit(f"bench_bugs: unknown mode(s) {', '.join(unknown)}; choose from {', '.join(MODES)}"
                         " (state:FEATURES for a state-feature variant, code:PARTS for a coverage variant)")
    from raftfuzz.run.instrumentation import coverage_parts
    from raftfuzz.run.settings import MUTATORS, SettingsError, state_feature_mask

    for mode in modes:
        base, variant = split_mode(mode)
        if "@" in mode and (base == "random" or mutator_of(mode) not in MUTATORS):
            raise SystemExit(f"bench_bugs: {mode}: a guided mode takes @MUTATOR, one of {', '.join(MUTATORS)}")
        if variant is not None:
            if base not in ("state", "code+state", "code"):
                raise SystemExit(f"bench_bugs: {mode}: only code (:PARTS), state and code+state (:FEATURES) "
                                 "take a variant")
            try:
                coverage_parts(variant) if base == "code" else state_feature_mask(variant)
            except (SettingsError, ValueError) as error:
                raise SystemExit(f"bench_bugs: {mode}: {error}") from None
    return modes


def log_name(bug: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", bug)


def run_campaign(arguments) -> int:
    bugs, modes = chosen_bugs(arguments), chosen_modes(arguments.modes)
    arguments.results.parent.mkdir(parents=True, exist_ok=True)
    key = lambda r: (r["bug"], r["mode"], r["rep"], r["budget"], r.get("cpu_budget"))  # noqa: E731
    done = {key(r) for r in load_results(arguments.results)}
    # Interleave modes and bugs so that machine noise spreads evenly.
    todo = [(mode, bug, rep) for rep in range(1, arguments.reps + 1) for bug in bugs for mode in modes
            if (bug, mode, rep, arguments.budget, arguments.cpu_budget) not in done]
    campaign = arguments.results.stem
    print(f"bench_bugs: {len(todo)} runs to do ({len(done)} already in {arguments.results})", flush=True)
    lock = threading.Lock()

    def one(job):
        mode, bug, rep = job
        log = LOGS / campaign / f"{log_name(bug)}-{log_name(mode)}-{rep}.log"
        try:
            result = run_one(mode, bug, rep, arguments.budget, arguments.cpu_budget, log)
        except RuntimeError as error:  # one broken run must not stop the others
            print(f"bench_bugs: {error}", flush=True)
            return
        with lock, arguments.results.open("a") as results:
            results.write(json.dumps(result) + "\n")
        what = f"found {result['property']}" if result["found"] else "not found"
        print(f"{bug:<30} {mode:<11} rep {rep}: {what} in {result['cpu_seconds']:.1f} CPU s "
              f"({result['seconds']:.1f} s wall), {result['executions']} executions", flush=True)

    pool = ThreadPoolExecutor(arguments.jobs)
    try:
        list(pool.map(one, todo))
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)
        stop_running()
        print("bench_bugs: interrupted; finished runs are kept in the results", flush=True)
        return 130
    pool.shutdown()
    return 0


def stop_running() -> None:
    """Stops the fuzzing processes of an interrupted campaign (their runs are not recorded)."""
    for process in list(RUNNING):
        process.kill()


def run_long(arguments) -> int:
    """One long run per mode on one target, for the coverage-over-time plot."""
    modes = chosen_modes(arguments.modes)
    bug = arguments.target or "raftfuzz.node.raft:RaftNode"
    with ThreadPoolExecutor(arguments.jobs) as pool:
        results = list(pool.map(
            lambda mode: run_one(mode, bug, 1, arguments.budget, arguments.cpu_budget,
                                 LOGS / "long" / f"{mode}.log", stop_on_violation=False), modes))
    for result in results:
        print(f"long {result['mode']:<11} {result['cpu_seconds']:.0f} CPU s, {result['executions']} executions, "
              f"log {result['log']}")
    return 0


# ----------------------------------------------------------------- report


def median_or_none(values: list[float], misses: int) -> float | None:
    """Median with each miss counted as +infinity (it is at least the budget);
    of an even count the upper middle, so that half the runs missing is "not found"."""
    padded = sorted(values) + [float("inf")] * misses
    middle = statistics.median_high(padded) if padded else float("inf")
    return None if middle == float("inf") else middle


def summarise(results: list[dict]) -> dict:
    table: dict = {}
    for result in results:
        table.setdefault(result["bug"], {}).setdefault(result["mode"], []).append(result)
    order = [*CATALOGUE, *DEEP]
    summary = {}
    for bug in sorted(table, key=lambda name: (order.index(name) if name in order else len(order), name)):
        for mode, runs in table[bug].items():
            hits = [run for run in runs if run["found"]]
            misses = len(runs) - len(hits)
            summary.setdefault(bug, {})[mode] = {
                "reps": len(runs),
                "found": len(hits),
                "median_seconds": median_or_none([run["seconds"] for run in hits], misses),
                "median_cpu_seconds": median_or_none([run["cpu_seconds"] for run in hits], misses),
                "median_executions": median_or_none([run["executions"] or 0 for run in hits], misses),
                "properties": sorted({run["property"] for run in hits}),
                "cpu_seconds": [run["cpu_seconds"] if run["found"] else None for run in runs],
                "miss_cpu_seconds": min([run["cpu_seconds"] for run in runs if not run["found"]], default=None),
            }
    return summary


def seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"


def cell(stats: dict | None) -> str:
    """found/reps, then the medians of CPU time, wall time and executions."""
    if stats is None:
        return "–"
    found = f"{stats['found']}/{stats['reps']}"
    if stats["median_cpu_seconds"] is None:
        return f"{found}: not found in ≥ {seconds(stats['miss_cpu_seconds'])} CPU"
    return (f"{found}: {seconds(stats['median_cpu_seconds'])} CPU, {seconds(stats['median_seconds'])} wall, "
            f"{stats['median_executions']:.0f} execs")


def overall_median(summary: dict, mode: str, bugs) -> float | None:
    """The median over ``bugs`` of each bug's median CPU time (misses: +inf)."""
    medians = [summary[bug][mode]["median_cpu_seconds"] for bug in bugs if mode in summary[bug]]
    finite = [value for value in medians if value is not None]
    return median_or_none(finite, len(medians) - len(finite))


def render_report(arguments) -> int:
    results = load_results(arguments.results)
    if not results:
        raise SystemExit(f"bench_bugs: no results in {arguments.results}; run `bench_bugs.py run` first")
    summary = summarise(results)
    modes = [mode for mode in MODES if any(mode in row for row in summary.values())]
    modes += sorted({mode for row in summary.values() for mode in row} - set(modes))
    DOCS.mkdir(exist_ok=True)
    plot(summary, modes, DOCS / "bugs.png")
    long_logs = {mode: LOGS / "long" / f"{mode}.log" for mode in GUIDED if (LOGS / "long" / f"{mode}.log").exists()}
    if arguments.features_from:
        # One campaign run per guided mode stands in for the long run.
        campaign = LOGS / arguments.results.stem
        long_logs = {}
        for mode in modes:
            if mode == "random":
                continue
            for suffix in (".log", ".log.gz"):
                log = campaign / f"{log_name(arguments.features_from)}-{log_name(mode)}-1{suffix}"
                if log.exists():
                    long_logs[mode] = log
    if long_logs:
        plot_features(long_logs, DOCS / "bugs-features.png")
    (DOCS / "bugs.md").write_text(markdown(summary, modes, results, long_logs, arguments))
    print(f"bench_bugs: wrote {DOCS / 'bugs.md'} and its plots")
    return 0


def markdown(summary: dict, modes: list[str], results: list[dict], features: dict, arguments) -> str:
    budgets = sorted({(r["budget"], r.get("cpu_budget")) for r in results})
    budget_text = ", ".join(f"{wall} s wall" + (f" / {cpu:.0f} s CPU" if cpu else "") for wall, cpu in budgets)
    lines = [
        "# Bug-finding benchmark",
        "",
        f"Planted bugs (`src/raftfuzz/node/mutants.py`: the catalogue, and the deeper bugs of `DEEP`), budget per "
        f"repetition {budget_text}, stopping at the first violation; repetition r uses fuzzer seed r. "
        "A repetition that found nothing counts as the budget, and a median over at least half misses "
        "is \"not found\". Every run's log is kept under `benchmarks/results/logs/`.",
        "",
        f"Regenerate: `python benchmarks/bench_bugs.py run ... --results {arguments.results.resolve().relative_to(REPO)}` "
        "(the commands that ran are under *What ran*), then `python benchmarks/bench_bugs.py report`.",
        "",
        "Each cell: repetitions that found the bug, then the medians of CPU time, wall time and "
        "executions to the first violation.",
        "",
        "| bug | property found | " + " | ".join(modes) + " |",
        "|---|---|" + "---|" * len(modes),
    ]
    for bug, row in summary.items():
        properties = sorted({p for stats in row.values() for p in stats["properties"]})
        name = f"{bug} (deep)" if bug in DEEP else bug
        lines.append(f"| {name} | {', '.join(properties) or '–'} | " + " | ".join(cell(row.get(m)) for m in modes)
                     + " |")
    lines += ["", "Median over the bugs of the per-bug median CPU time:", ""]
    for label, bugs in (("catalogue", [b for b in summary if b in CATALOGUE]),
                        ("deeper bugs", [b for b in summary if b in DEEP]),
                        ("other targets", [b for b in summary if b not in CATALOGUE and b not in DEEP])):
        if not bugs:
            continue
        values = []
        for mode in modes:
            if not any(mode in summary[bug] for bug in bugs):
                continue  # a mode that did not run on this group
            value = overall_median(summary, mode, bugs)
            values.append(f"{mode} {'not found' if value is None else seconds(value)}")
        lines.append(f"- {label} ({len(bugs)}): " + "; ".join(values))
    lines += ["", "![CPU seconds to first violation per bug and mode](bugs.png)", ""]
    if features:
        source = (f"the first repetition on {arguments.features_from}" if arguments.features_from
                  else "the reference node (`bench_bugs.py long`)")
        lines += [f"Coverage (`cov:`) and features (`ft:`) over CPU time in one run per guided mode, {source}; "
                  "random mode reports neither:", "",
                  "![coverage and features over time](bugs-features.png)", ""]
    lines += ["## The bugs", "", "| bug | what goes wrong | may break | mirrors |", "|---|---|---|---|"]
    for name, node_class in [*CATALOGUE.items(), *DEEP.items()]:
        summary_line = " ".join(node_class.__doc__.split()).split(". ")[0].rstrip(".") + "."
        canonical, report = node_class.mirrors
        name = f"{name} (deep)" if name in DEEP else name
        lines.append(f"| {name} | {summary_line} | {', '.join(node_class.breaks)} | {canonical}; {report} |")
    lines.append("")
    if arguments.notes:
        lines += [arguments.notes.read_text().strip(), ""]
    return "\n".join(lines)


COLOURS = {"random": "tab:orange", "code": "tab:blue", "state": "tab:green", "code+state": "tab:red",
           "code-bytes": "tab:purple"}
VARIANT_COLOURS = ("tab:olive", "tab:cyan", "tab:brown", "tab:pink", "tab:gray")


def colour_of(mode: str, modes: list[str]) -> str:
    """A mode's own colour; variants (state:FEATURES) take the spare ones in order."""
    if mode in COLOURS:
        return COLOURS[mode]
    variants = sorted(set(modes) - set(COLOURS))
    return VARIANT_COLOURS[variants.index(mode) % len(VARIANT_COLOURS)]


def plot(summary: dict, modes: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bugs = list(summary)
    ceiling = max([s for row in summary.values() for stats in row.values() for s in stats["cpu_seconds"]
                   if s is not None] + [1.0]) * 1.5
    figure, axes = plt.subplots(figsize=(9, 0.45 * len(bugs) + 1.5))
    for offset, mode in enumerate(modes):
        shift = (offset - (len(modes) - 1) / 2) * 0.8 / max(len(modes), 1)
        for row, bug in enumerate(bugs):
            stats = summary[bug].get(mode)
            if stats is None:
                continue
            y = row + shift
            hits = [s for s in stats["cpu_seconds"] if s is not None]
            misses = len(stats["cpu_seconds"]) - len(hits)
            colour = colour_of(mode, modes)
            # The legend names each mode once, at the first bug it ran on.
            first = row == min(r for r, b in enumerate(bugs) if mode in summary[b])
            axes.scatter(hits, [y] * len(hits), color=colour, s=18, label=mode if first else None)
            if misses:
                axes.scatter([ceiling] * misses, [y] * misses, color=colour, marker="x", s=30)
    axes.axvline(ceiling, color="grey", linestyle=":", linewidth=1)
    axes.set_xscale("log")
    axes.set_yticks(range(len(bugs)), bugs)
    axes.invert_yaxis()
    axes.set_xlabel("CPU seconds to first violation (log scale; x at the right = not found)")
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
    axes.grid(axis="x", which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


STATUS_LINE = re.compile(r"^\[\s*([\d.]+)\s+([\d.]+)\] #(\d+)\s.*?cov: (\d+) ft: (\d+)")


def coverage_series(log: Path) -> list[tuple[float, int, int, int]]:
    """(CPU seconds, executions, cov, ft) from libFuzzer's status lines."""
    series = []
    # Kept logs may be gzipped (benchmarks/results/logs/*.log.gz) to keep the repository small.
    text = (gzip.decompress(log.read_bytes()).decode(errors="replace") if log.suffix == ".gz"
            else log.read_text(errors="replace"))
    for line in text.splitlines():
        match = STATUS_LINE.match(line)
        if match:
            series.append((float(match.group(2)), int(match.group(3)), int(match.group(4)), int(match.group(5))))
    return series


def plot_features(logs: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (cov_axes, ft_axes) = plt.subplots(1, 2, figsize=(11, 4))
    for mode, log in logs.items():
        series = coverage_series(log)
        if not series:
            continue
        cpu = [point[0] for point in series]
        colour = colour_of(mode, list(logs))
        cov_axes.plot(cpu, [point[2] for point in series], color=colour, label=mode)
        ft_axes.plot(cpu, [point[3] for point in series], color=colour, label=mode)
    cov_axes.set_title("libFuzzer cov: (code edges + state counters)")
    ft_axes.set_title("libFuzzer ft: (features)")
    for axes in (cov_axes, ft_axes):
        axes.set_xlabel("CPU seconds")
        axes.grid(alpha=0.3)
        axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run (or resume) the campaign")
    run.add_argument("--reps", type=int, default=5)
    run.add_argument("--bugs", help="comma-separated names from raftfuzz.node.mutants (CATALOGUE or DEEP)")
    run.add_argument("--deep", action="store_true", help="every bug of raftfuzz.node.mutants.DEEP")
    run.add_argument("--target", action="append", help="a node class as package.module:Class (repeatable)")
    run.add_argument("--modes", default="random,code", help=f"comma-separated, of {', '.join(MODES)}")
    long = commands.add_parser("long", help="one long run per mode, for the coverage-over-time plot")
    long.add_argument("--target", help="node class (default: the reference node)")
    long.add_argument("--modes", default="code,state,code+state")
    for sub in (run, long):
        sub.add_argument("--budget", type=int, default=600, help="wall seconds per repetition")
        sub.add_argument("--cpu-budget", type=float, help="CPU seconds per repetition (stops it with SIGINT)")
        sub.add_argument("--jobs", type=int, default=1, help="repetitions run at once (one core each)")
    report = commands.add_parser("report", help="write docs/bugs.md and its plots")
    report.add_argument("--notes", type=Path, help="markdown appended to docs/bugs.md")
    report.add_argument("--features-from", help="plot coverage over time from this bug's first repetitions "
                                                "instead of the long runs")
    for sub in (run, report):
        sub.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    arguments = parser.parse_args()
    if arguments.command == "run":
        return run_campaign(arguments)
    if arguments.command == "long":
        return run_long(arguments)
    return render_report(arguments)


if __name__ == "__main__":
    sys.exit(main())
