"""The PySyncObj campaign: coverage-guided and random fuzzing of
raftfuzz.targets.pysyncobj:Node side by side, every finding triaged.

    python benchmarks/bench_pysyncobj.py run --out /work/campaign-pso [--cpu-seconds 3600] [--workers 2]
    python benchmarks/bench_pysyncobj.py report --out /work/campaign-pso   # table, from the logs

``run`` starts both modes at once, on the same target and the same seeds
(corpora/pysyncobj), each with ``--workers`` processes, and stops each mode
when its processes together have used ``--cpu-seconds`` of CPU time (or
after ``--wall-seconds``):

- ``coverage``: ``python -m raftfuzz.atheris_main`` with libFuzzer's fork
  mode, ``-fork=<workers> -ignore_crashes=1``: PySyncObj crashes within
  seconds (even some seeds do), and a ``-jobs`` job ends at its first crash,
  so only fork mode keeps fuzzing past a known bug to find the next;
- ``random``: ``--workers`` processes of this script's ``random-worker``,
  which runs what ``raftfuzz random`` runs (``schedule.random_input`` from
  ``random.Random(seed)``) but keeps every violating input, not only the
  first of each signature: two bugs can break the same property.

CPU time is read from /proc for the whole process tree while it runs and
from ``wait4`` when it ends (the number reported). Each mode logs, for every
violating input, the CPU seconds and executions of that mode so far.
``report`` triages every distinct input with raftfuzz.targets.pysyncobj_fixes
(the patch that makes it run clean names the bug) and prints, per bug and
mode, the CPU time and executions to its first finding.
"""

import argparse
import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TARGET = "raftfuzz.targets.pysyncobj:Node"
SEEDS = REPO / "corpora" / "pysyncobj"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# The cap on violating inputs a random worker keeps: bug 1 shows up in
# about one run in twenty, and the first hundred or so say all there is
# (each costs a few runs to triage).
MAX_KEPT = 150


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU of ``root`` and its live descendants, including
    what their waited-for children used (/proc stat fields 14-17)."""
    children: dict[int, list[int]] = {}
    stats: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rpartition(")")[2].split()
        except OSError:
            continue
        pid, parent = int(entry), int(fields[1])
        children.setdefault(parent, []).append(pid)
        stats[pid] = sum(int(value) for value in fields[11:15]) / CLOCK_TICKS
    total, pending = 0.0, [root]
    while pending:
        pid = pending.pop()
        total += stats.get(pid, 0.0)
        pending.extend(children.get(pid, []))
    return total


# ------------------------------------------------------------------ workers

def random_worker(arguments) -> int:
    import random

    from raftfuzz.run.harness import Harness
    from raftfuzz.schedule.codec import random_input
    from raftfuzz.run.target import load_target

    out = Path(arguments.out)
    artifacts = out / "random" / "artifacts"
    harness = Harness.from_settings(load_target(TARGET), target=TARGET, artifacts=str(artifacts))
    generator = random.Random(arguments.seed)
    log = open(out / "random" / f"worker-{arguments.seed}.jsonl", "a", buffering=1)
    started = time.monotonic()
    runs = kept = 0
    while time.process_time() < arguments.cpu_seconds and time.monotonic() - started < arguments.wall_seconds:
        data = random_input(generator)
        schedule, result = harness.execute(data)
        runs += 1
        if result.violation is None:
            continue
        record = {"worker": arguments.seed, "runs": runs, "cpu_s": time.process_time(),
                  "wall_s": time.monotonic() - started, "property": result.violation.property_name}
        if kept < MAX_KEPT:
            import contextlib
            import io

            with contextlib.redirect_stderr(io.StringIO()):
                path = harness.save_crash(data, schedule, result)
            record["report"] = str(path)
            kept += 1
        log.write(json.dumps(record) + "\n")
    log.write(json.dumps({"worker": arguments.seed, "done": True, "runs": runs, "cpu_s": time.process_time(),
                          "wall_s": time.monotonic() - started}) + "\n")
    return 0


# ---------------------------------------------------------------- campaign

def run(arguments) -> int:
    out = Path(arguments.out)
    for mode in ("coverage", "random"):
        (out / mode / "artifacts").mkdir(parents=True, exist_ok=True)
    (out / "coverage" / "corpus").mkdir(exist_ok=True)
    environment = dict(os.environ, PYTHONUNBUFFERED="1")
    (out / "started.json").write_text(json.dumps({"epoch": time.time(), "cpu_seconds": arguments.cpu_seconds,
                                                  "workers": arguments.workers}))
    processes = {"coverage": [subprocess.Popen(
        [sys.executable, "-m", "raftfuzz.atheris_main", f"--target={TARGET}", f"--feedback={arguments.feedback}",
         str(out / "coverage" / "corpus"),
         str(SEEDS), f"-fork={arguments.workers}", "-ignore_crashes=1", f"-max_total_time={arguments.wall_seconds}",
         f"-artifact_prefix={out / 'coverage' / 'artifacts'}/", "-print_final_stats=1"],
        cwd=REPO, env=environment, stdout=open(out / "coverage" / "fuzz.log", "w"), stderr=subprocess.STDOUT,
        start_new_session=True)]}
    processes["random"] = [subprocess.Popen(
        [sys.executable, __file__, "random-worker", "--out", str(out), "--seed", str(seed),
         "--cpu-seconds", str(arguments.cpu_seconds / arguments.workers),
         "--wall-seconds", str(arguments.wall_seconds)],
        cwd=REPO, env=environment, stdout=subprocess.DEVNULL,
        stderr=open(out / "random" / f"worker-{seed}.err", "w"), start_new_session=True)
        for seed in range(1, arguments.workers + 1)]
    started = time.monotonic()
    finished: dict[int, float] = {}  # pid → CPU seconds from wait4 (with its waited-for children)
    interrupted = False
    with open(out / "progress.jsonl", "a", buffering=1) as progress:
        while len(finished) < sum(len(group) for group in processes.values()):
            time.sleep(5)
            line = {"wall_s": round(time.monotonic() - started, 1)}
            for mode, group in processes.items():
                cpu = 0.0
                for process in group:
                    if process.pid not in finished:
                        pid, _, rusage = os.wait4(process.pid, os.WNOHANG)
                        if pid:
                            finished[process.pid] = rusage.ru_utime + rusage.ru_stime
                        else:
                            cpu += tree_cpu_seconds(process.pid)
                    cpu += finished.get(process.pid, 0.0)
                line[mode] = round(cpu, 1)
                if mode == "coverage" and cpu >= arguments.cpu_seconds and not interrupted:
                    interrupted = True
                    os.killpg(group[0].pid, signal.SIGINT)  # the session started above: libFuzzer and its children
            progress.write(json.dumps(line) + "\n")
    usage = {mode: sum(finished[process.pid] for process in group) for mode, group in processes.items()}
    (out / "usage.json").write_text(json.dumps({"cpu_s": usage, "wall_s": time.monotonic() - started}))
    print(json.dumps(usage))
    return 0


# ------------------------------------------------------------------ report

def coverage_findings(out: Path) -> list[dict]:
    """Each coverage crash with the CPU seconds and executions of the
    campaign when it was written: the last libFuzzer status line before the
    file's modification time (fork mode prints one every few seconds)."""
    log = (out / "coverage" / "fuzz.log").read_text(errors="replace").splitlines()
    started = json.loads((out / "started.json").read_text())["epoch"]
    status = []
    for line in log:
        match = re.match(r"#(\d+): .*?time: (\d+)s", line)
        if match:
            status.append((int(match.group(2)), int(match.group(1))))
    progress = [json.loads(line) for line in (out / "progress.jsonl").read_text().splitlines() if '"coverage"' in line]
    findings = []
    for path in sorted((out / "coverage" / "artifacts").glob("crash-*.json")):
        elapsed = path.stat().st_mtime - started
        executions = max([units for seconds, units in status if seconds <= elapsed], default=0)
        cpu = max([line["coverage"] for line in progress if line["wall_s"] <= elapsed], default=0.0)
        findings.append({"report": str(path), "wall_s": elapsed, "cpu_s": cpu, "runs": executions})
    return findings


def random_findings(out: Path) -> list[dict]:
    """Random workers run side by side at the same speed, so a finding's
    campaign CPU time and executions are its worker's times the number of
    workers. Inputs past a worker's MAX_KEPT have no report; they are
    regenerated from the worker's seed and run number when needed."""
    logs = sorted((out / "random").glob("worker-*.jsonl"))
    findings = []
    for log in logs:
        for line in log.read_text().splitlines():
            record = json.loads(line)
            if "property" in record:
                findings.append({"report": record.get("report"), "worker": record["worker"], "run": record["runs"],
                                 "property": record["property"], "wall_s": record["wall_s"],
                                 "cpu_s": record["cpu_s"] * len(logs), "runs": record["runs"] * len(logs)})
    return findings


def random_input_at(worker: int, run: int) -> bytes:
    """The input random worker ``worker`` ran as its ``run``-th (from 1)."""
    import random

    from raftfuzz.schedule.codec import random_input

    generator = random.Random(worker)
    for _ in range(run - 1):
        random_input(generator)
    return random_input(generator)


def mode_totals(out: Path) -> dict:
    usage = json.loads((out / "usage.json").read_text()) if (out / "usage.json").exists() else None
    progress = [json.loads(line) for line in (out / "progress.jsonl").read_text().splitlines()]
    last = progress[-1]
    status = [line for line in (out / "coverage" / "fuzz.log").read_text(errors="replace").splitlines()
              if re.match(r"#\d+: ", line)]
    coverage_runs = int(re.match(r"#(\d+):", status[-1]).group(1)) if status else 0
    random_runs = 0
    for log in sorted((out / "random").glob("worker-*.jsonl")):
        lines = [json.loads(line) for line in log.read_text().splitlines()]
        random_runs += max((line.get("runs", 0) for line in lines), default=0)
    cpu = usage["cpu_s"] if usage else {"coverage": last.get("coverage"), "random": last.get("random")}
    return {"coverage": {"cpu_s": cpu["coverage"], "runs": coverage_runs},
            "random": {"cpu_s": cpu["random"], "runs": random_runs}, "wall_s": last["wall_s"],
            "final": usage is not None}


def report(arguments) -> int:
    """Triages each mode's findings in the order they were found until every
    bug id has been seen (a finding counts for bug k when exactly patch k
    removes its violation), and prints the table."""
    from raftfuzz.run.harness import Harness
    from raftfuzz.run.target import load_target
    from raftfuzz.targets.pysyncobj_fixes import BUG_IDS, triage

    out = Path(arguments.out)
    cache_path = out / "triage.json"
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    wanted = {str(bug) for bug in BUG_IDS}
    first: dict[tuple[str, str], dict] = {}
    triaged: dict[str, dict[str, int]] = {}
    found: dict[str, int] = {}
    for mode, findings in (("coverage", coverage_findings(out)), ("random", random_findings(out))):
        found[mode] = len(findings)
        triaged[mode] = {}
        seen: set[str] = set()
        for finding in sorted(findings, key=lambda finding: finding["cpu_s"]):
            if wanted <= seen:
                break
            if finding.get("report"):
                report_json = json.loads(Path(finding["report"]).read_text())
                data = base64.b64decode(report_json["input"]["base64"])
                expected = (report_json["violation"]["property"], report_json["violation"]["step"])
                max_steps = report_json.get("max_steps")
            else:
                data = random_input_at(finding["worker"], finding["run"])
                harness = Harness.from_settings(load_target(TARGET), target=TARGET, artifacts=str(out / "regenerated"))
                schedule, result = harness.execute(data)
                assert result.violation is not None and result.violation.property_name == finding["property"]
                import contextlib
                import io

                with contextlib.redirect_stderr(io.StringIO()):
                    finding["report"] = str(harness.save_crash(data, schedule, result))
                expected, max_steps = (result.violation.property_name, result.steps), None
            key = f"{finding.get('report')}"
            if key not in cache:
                cache[key] = triage(data, max_steps=max_steps, expected=expected)
                cache_path.write_text(json.dumps(cache, indent=1))
            label = cache[key]
            triaged[mode][label] = triaged[mode].get(label, 0) + 1
            seen.add(label)
            if (label, mode) not in first:
                first[(label, mode)] = dict(finding, property=expected[0])
    totals = mode_totals(out)
    print(f"campaign: {totals['wall_s']:.0f} s wall" + ("" if totals["final"] else " (still running)"))
    for mode in ("coverage", "random"):
        print(f"- {mode}: {totals[mode]['cpu_s']:.0f} CPU s, {totals[mode]['runs']} executions, "
              f"{found[mode]} violating inputs; triaged in order until every bug was seen: {triaged[mode]}")
    print()
    print("| bug | mode | CPU s to first | executions to first | wall s | property | crash report |")
    print("|---|---|---|---|---|---|---|")
    for (label, mode), finding in sorted(first.items()):
        print(f"| {label} | {mode} | {finding['cpu_s']:.0f} | {finding['runs']} | {finding['wall_s']:.0f} | "
              f"{finding['property']} | {Path(finding['report']).name} |")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("run", "report", "random-worker"):
        command = commands.add_parser(name)
        command.add_argument("--out", required=True)
        command.add_argument("--cpu-seconds", type=float, default=3600)
        command.add_argument("--wall-seconds", type=int, default=5400)
        command.add_argument("--workers", type=int, default=2)
        command.add_argument("--seed", type=int, default=1)
        # The campaign in docs/findings ran with code coverage of PySyncObj.
        command.add_argument("--feedback", default="code", choices=("code", "state", "code+state"))
    arguments = parser.parse_args()
    if arguments.command == "random-worker":
        return random_worker(arguments)
    if arguments.command == "report":
        return report(arguments)
    return run(arguments)


if __name__ == "__main__":
    raise SystemExit(main())
