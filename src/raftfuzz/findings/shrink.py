"""Schedule-level shrinking: the simplest schedule that keeps a finding.

libFuzzer's ``-minimize_crash`` shortens bytes and knows nothing of faults;
this shrinks the *schedule* a crash report's input decodes to, the way
Hypothesis shrinks a failing example and DEMi shrinks a distributed
execution, and keeps a candidate only if its run ends in a violation with
the same signature (``raftfuzz.run.report.signature``) as the original.

Order of simplicity (shortlex, as in Hypothesis): candidate A is simpler
than B when ``simplicity(A) < simplicity(B)``, a tuple compared left to
right:

1. fewer faults;
2. a shorter fault phase (the time of the last fault, after which
   everything heals), then earlier faults (the sum of their times) — moving
   an inverse earlier shortens its fault;
3. fewer nodes;
4. fewer client sessions (clients × pipeline depth), then fewer client
   operations in the run's history;
5. lower rates: loss + duplication + crash-after-sync, then the latency
   spread and floor, then the link degradations and clock skews;
6. fewer steps in the run, then a lower step limit.

A candidate is run only when the part of the key its schedule decides
(items 1–4 up to the sessions) is no worse than the best one's, and kept
only when its whole key is smaller — so shrinking ends — and its run ends
in the same signature.

Passes, repeated in this order until none makes progress (a fixed point):
delete faults (delta debugging, chunks then single faults), move faults
earlier (towards the one before), reduce the cluster (fewer nodes, fewer
clients and operations), lower the rates, and cut the run (a shorter quiet
period, a lower step limit). Every pass walks candidates in a fixed order
and every run is deterministic, so the same report always shrinks to the
same schedule — as long as the budget (``--seconds``, ``max_runs``) does not
cut it short; when it does, the simplest schedule found so far is the
result, and it reproduces too.

The output is an ordinary crash report (the schedule's canonical bytes from
``raftfuzz.schedule.codec.encode``), which ``raftfuzz replay`` reproduces, with a
``shrunk_from`` section naming the original.
"""

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from raftfuzz.checks import linearizability
from raftfuzz.run.harness import Harness
from raftfuzz.run.outcome import Outcome
from raftfuzz.run.report import build_report, input_sha1, signature, write_crash, write_crash_files
from raftfuzz.run.settings import Settings, SettingsError
from raftfuzz.schedule.codec import (
    CLIENT_COUNTS,
    LATENCY_FLOOR_US,
    MIN_NODES,
    PIPELINE_DEPTHS,
    ROLE_SELECTORS,
    SKEW_NOMINAL,
    FaultEvent,
    Schedule,
    Verb,
    decode,
    encode,
    fitting_pipeline_depth,
)
from raftfuzz.store.paths import write_atomic

# A shrink is bounded twice: by wall time (the user's --seconds) and by the
# number of runs, so that a report that shrinks slowly (a 5,000-step run of
# a slow target) still ends. A catalogue finding needs a few hundred runs.
DEFAULT_SECONDS = 60.0
DEFAULT_MAX_RUNS = 5_000
# How many leading items of the key schedule_simplicity() gives.
SCHEDULE_KEY_LENGTH = 5


@dataclass(frozen=True)
class Candidate:
    """What a run is made of: the schedule and the step limit."""

    schedule: Schedule
    max_steps: int


@dataclass
class Trial:
    candidate: Candidate
    data: bytes
    result: object  # raftfuzz.sim.simulation.RunResult
    key: tuple


@dataclass
class ShrinkResult:
    original: Trial
    best: Trial
    runs: int
    seconds: float
    complete: bool  # a fixed point was reached within the budget


def schedule_simplicity(schedule: Schedule) -> tuple:
    """The leading part of the key, which the schedule alone decides: a
    candidate worse here than the best is not worth running."""
    events = schedule.events
    return (
        len(events),
        schedule.fault_end_ticks(),
        sum(event.at_ticks for event in events),
        schedule.node_count,
        schedule.client_count * schedule.pipeline_depth,
    )


def simplicity(schedule: Schedule, result, max_steps: int) -> tuple:
    """The shortlex key of the module docstring: smaller is simpler."""
    events = schedule.events
    link_quality = sum(bin(event.value).count("1") for event in events if event.verb == Verb.LINK)
    skew = sum(abs(event.value - SKEW_NOMINAL) for event in events if event.verb == Verb.SKEW)
    return (
        *schedule_simplicity(schedule),
        len(result.history),
        schedule.loss_per_256 + schedule.duplicate_per_256 + schedule.crash_after_sync_per_256,
        schedule.latency_max_us - schedule.latency_min_us,
        schedule.latency_min_us,
        link_quality + skew,
        result.steps,
        max_steps,
    )


class Shrinker:
    """Shrinks one finding. ``progress`` gets one line per improvement."""

    def __init__(self, harness: Harness, data: bytes, max_steps: int, *, expected_signature: str | None = None,
                 seconds: float = DEFAULT_SECONDS, max_runs: int = DEFAULT_MAX_RUNS,
                 progress: Callable[[str], None] | None = None) -> None:
        self.harness = harness
        self.seconds = seconds
        self.max_runs = max_runs
        self.progress = progress or (lambda line: None)
        self.runs = 0
        self.started = time.monotonic()
        self.tried: set[tuple[bytes, int]] = set()
        schedule = decode(data)
        original = self._run(Candidate(schedule, max_steps), data=data)
        if original.result.violation is None:
            raise ShrinkError("the input runs without a violation, so there is nothing to shrink; replay "
                              "the report to see what changed (target, raftfuzz version, core)")
        self.signature = signature(original.result.violation, harness.target)
        if expected_signature is not None and self.signature != expected_signature:
            raise ShrinkError(f"the input now ends in {self.signature}, not the report's {expected_signature}; "
                              f"replay the report to see what changed")
        self.original = original
        # The best starts as the original's canonical bytes: the same schedule,
        # hence the same run, but what the output must hold (encode).
        self.best = replace(original, data=encode(schedule))
        self.tried.add((self.best.data, max_steps))

    # ---------------------------------------------------------------- budget

    def out_of_budget(self) -> bool:
        return self.runs >= self.max_runs or time.monotonic() - self.started >= self.seconds

    def _run(self, candidate: Candidate, data: bytes) -> Trial:
        self.runs += 1
        harness = replace(self.harness, max_steps=candidate.max_steps, on_crash=None, feedback=0)
        schedule, result = harness.execute(data)
        return Trial(candidate, data, result, simplicity(schedule, result, candidate.max_steps))

    def try_candidate(self, schedule: Schedule, max_steps: int | None = None) -> bool:
        """Runs the candidate if it could be simpler than the best and keeps
        it if it is, with the same signature."""
        max_steps = self.best.candidate.max_steps if max_steps is None else max_steps
        if self.out_of_budget():
            return False
        try:
            data = encode(schedule)
        except ValueError:
            return False  # not expressible as bytes, so it could not be replayed
        if (data, max_steps) in self.tried or schedule_simplicity(schedule) > self.best.key[:SCHEDULE_KEY_LENGTH]:
            return False
        self.tried.add((data, max_steps))
        outcome = self._run(Candidate(schedule, max_steps), data=data)
        violation = outcome.result.violation
        if violation is None or outcome.key >= self.best.key:
            return False
        if signature(violation, self.harness.target) != self.signature:
            return False
        self.best = outcome
        self._report_progress()
        return True

    def _report_progress(self) -> None:
        original, best = self.original, self.best
        self.progress(
            f"shrink: {len(original.candidate.schedule.events)} → {len(best.candidate.schedule.events)} faults, "
            f"{original.result.steps} → {best.result.steps} steps, {best.candidate.schedule.node_count} nodes, "
            f"{self.runs} runs, {time.monotonic() - self.started:.1f}s")

    # ---------------------------------------------------------------- passes

    def shrink(self) -> ShrinkResult:
        passes = (self.delete_faults, self.move_faults, self.reduce_cluster, self.lower_rates, self.cut_run)
        complete = False
        while not self.out_of_budget():
            before = self.best.key
            for shrink_pass in passes:
                shrink_pass()
            if self.best.key == before:
                complete = not self.out_of_budget()
                break
        return ShrinkResult(self.original, self.best, self.runs, time.monotonic() - self.started, complete)

    @property
    def schedule(self) -> Schedule:
        return self.best.candidate.schedule

    def delete_faults(self) -> None:
        """Delta debugging over the fault list: remove chunks of halving size
        while that keeps the finding, then single faults."""
        chunk = max(1, len(self.schedule.events) // 2)
        while chunk >= 1 and not self.out_of_budget():
            start = 0
            while start < len(self.schedule.events) and not self.out_of_budget():
                events = self.schedule.events
                kept = events[:start] + events[start + chunk:]
                if not self.try_candidate(replace(self.schedule, events=kept)):
                    start += chunk
            chunk //= 2

    def move_faults(self) -> None:
        """Each fault as early as it can go while the finding stays."""
        for position in range(len(self.schedule.events)):
            while position < len(self.schedule.events) and self._move_earlier(position):
                pass  # each move is strictly earlier, so this ends

    def _move_earlier(self, position: int) -> bool:
        """Moves the fault at ``position`` to the time of the fault before
        it, else halfway there, and so on; True when one move was kept."""
        events = self.schedule.events
        event = events[position]
        earliest = events[position - 1].at_ticks if position else 0
        gap = event.at_ticks - earliest
        while gap > 0 and not self.out_of_budget():
            if self._replace_event(position, replace(event, at_ticks=event.at_ticks - gap)):
                return True
            gap //= 2
        return False

    def reduce_cluster(self) -> None:
        """Fewer nodes (node arguments renumbered onto the smaller cluster,
        role selectors kept), then fewer clients, sessions and operations."""
        for node_count in range(MIN_NODES, self.schedule.node_count):
            if self.try_candidate(_with_node_count(self.schedule, node_count)):
                break
        for client_count in sorted(set(CLIENT_COUNTS)):
            if client_count >= self.schedule.client_count:
                break
            depth = fitting_pipeline_depth(self.schedule.node_count, client_count, self.schedule.pipeline_depth)
            if self.try_candidate(replace(self.schedule, client_count=client_count, pipeline_depth=depth)):
                break
        for depth in sorted(set(PIPELINE_DEPTHS)):
            if depth >= self.schedule.pipeline_depth:
                break
            if self.try_candidate(replace(self.schedule, pipeline_depth=depth)):
                break
        # Fewer operations: clients think longer between them.
        for think in range(8, self.schedule.client_think_ticks, -1):
            if self.try_candidate(replace(self.schedule, client_think_ticks=think)):
                break

    def lower_rates(self) -> None:
        """Loss, duplication and crash-after-sync towards zero, the latency
        range towards its floor, link degradations and skews towards none."""
        for name in ("loss_per_256", "duplicate_per_256", "crash_after_sync_per_256"):
            self._lower_field(name, 0)
        spread = self.schedule.latency_max_us - self.schedule.latency_min_us
        for lower in _descending(spread, 0, step=1_000):
            if self.try_candidate(replace(self.schedule, latency_max_us=self.schedule.latency_min_us + lower)):
                break
        for floor in range(LATENCY_FLOOR_US, self.schedule.latency_min_us, 2_000):
            spread = self.schedule.latency_max_us - self.schedule.latency_min_us
            if self.try_candidate(replace(self.schedule, latency_min_us=floor, latency_max_us=floor + spread)):
                break
        for position, event in enumerate(self.schedule.events):
            if event.verb == Verb.LINK:
                for quality in _simpler_qualities(event.value):
                    if self._replace_event(position, replace(event, value=quality)):
                        break
            elif event.verb == Verb.SKEW and event.value != SKEW_NOMINAL:
                for rate in _towards(event.value, SKEW_NOMINAL):
                    if self._replace_event(position, replace(event, value=rate)):
                        break

    def cut_run(self) -> None:
        """A shorter quiet period, then a step limit no higher than the run
        needs. Below the steps a finding takes, only a finding judged after
        the last step (linearizability of the history) can still show: a
        shorter run is a prefix of this one, and every other check fires
        at the step it names."""
        self._lower_field("quiet_ticks", 50, step=10)
        if self.best.candidate.max_steps > self.best.result.steps:
            self.try_candidate(self.schedule, max_steps=self.best.result.steps)
        if self.best.result.violation.property_name == linearizability.PROPERTY_NAME:
            for limit in _descending(self.best.result.steps, 1):
                if self.try_candidate(self.schedule, max_steps=limit):
                    break

    def _lower_field(self, name: str, lowest: int, step: int = 1) -> None:
        current = getattr(self.schedule, name)
        for value in _descending(current - lowest, 0, step=step):
            if self.try_candidate(replace(self.schedule, **{name: lowest + value})):
                return

    def _replace_event(self, position: int, event: FaultEvent) -> bool:
        events = self.schedule.events
        return self.try_candidate(replace(self.schedule, events=events[:position] + (event,) + events[position + 1:]))


class ShrinkError(Exception):
    """The report cannot be shrunk; the message says why and what to do."""


def _descending(current: int, lowest: int, step: int = 1) -> list[int]:
    """Values below ``current`` to try, simplest first: the lowest, then
    halfway, then closer and closer (a binary descent), in multiples of step."""
    values = []
    gap = current - lowest
    while gap >= step:
        value = current - (gap // step) * step
        if value not in values and value < current:
            values.append(value)
        gap //= 2
    return values


def _towards(value: int, goal: int) -> list[int]:
    """``goal`` first, then values closer and closer to ``value``."""
    candidates = []
    gap = value - goal
    while gap:
        candidates.append(value - gap)
        gap = gap // 2 if gap > 0 else -(-gap // 2)
    return candidates


def _simpler_qualities(quality: int) -> list[int]:
    """Link qualities with bits of the current one cleared, fewest bits first."""
    bits = [1 << bit for bit in range(8) if quality >> bit & 1]
    return [0] + [quality & ~bit for bit in bits] if bits else []


def _with_node_count(schedule: Schedule, node_count: int) -> Schedule:
    """The schedule on a smaller cluster: node indexes folded onto the
    remaining nodes, role selectors kept as roles, split masks cut."""
    old = schedule.node_count

    def selector(value: int) -> int:
        if value >= old:  # a role: leader, earliest-crashed, previous-leader
            return node_count + (value - old) % ROLE_SELECTORS
        return value % node_count

    events = []
    for event in schedule.events:
        value = event.value % (1 << node_count) if event.verb == Verb.SPLIT else event.value
        events.append(replace(event, a=selector(event.a), b=selector(event.b), value=value))
    depth = fitting_pipeline_depth(node_count, schedule.client_count, schedule.pipeline_depth)
    return replace(schedule, node_count=node_count, pipeline_depth=depth, events=tuple(events))


def shrunk_report(harness: Harness, result: ShrinkResult, original_report: dict | None) -> dict:
    """An ordinary crash report of the shrunk schedule, with where it came from."""
    best = result.best
    report = build_report(best.data, best.candidate.schedule, best.result, target=harness.target,
                          core_name=harness.core_name, max_steps=best.candidate.max_steps)
    original = result.original
    report["shrunk_from"] = {
        "sha1": input_sha1(original.data),
        "faults": len(original.candidate.schedule.events),
        "steps": original.result.steps,
        "max_steps": original.candidate.max_steps,
        "nodes": original.candidate.schedule.node_count,
        "runs": result.runs,
        "fixed_point": result.complete,
    }
    return report


def write_shrunk(out: Path, data: bytes, report: dict) -> Path:
    """Writes the raw input and the report: to ``out`` and ``out`` without
    ``.json`` when ``out`` names a .json file, else crash-<sha1>{,.json} in
    the directory ``out``."""
    out = Path(out)
    if out.name.lower().endswith(".json"):
        return write_crash_files(out, data, report)
    return write_crash(out, data, report)


def run_shrink(arguments, settings: Settings) -> int:
    """``raftfuzz shrink REPORT.json [-o OUT] [--seconds N]``."""
    from raftfuzz.run.replay import report_run

    if not arguments.seconds > 0:
        raise SettingsError(f"--seconds {arguments.seconds} must be positive, e.g. --seconds 60")
    if arguments.max_runs < 1:
        raise SettingsError(f"--max-runs {arguments.max_runs} must be at least 1, e.g. --max-runs {DEFAULT_MAX_RUNS}")
    path = Path(arguments.report)
    data, report, harness = report_run(path, settings)
    try:
        shrinker = Shrinker(harness, data, report["max_steps"], expected_signature=report.get("signature"),
                            seconds=arguments.seconds, max_runs=arguments.max_runs,
                            progress=lambda line: print(line, file=sys.stderr, flush=True))
    except ShrinkError as error:
        print(f"raftfuzz shrink: {path}: {error}", file=sys.stderr)
        return Outcome.HARNESS_ERROR
    result = shrinker.shrink()
    out = Path(arguments.output) if arguments.output else path.parent
    written = write_shrunk(out, result.best.data, shrunk_report(harness, result, report))
    original, best = result.original, result.best
    print(f"shrunk {path.name}: {len(original.candidate.schedule.events)} → "
          f"{len(best.candidate.schedule.events)} faults, {original.result.steps} → {best.result.steps} steps, "
          f"{original.candidate.schedule.node_count} → {best.candidate.schedule.node_count} nodes in "
          f"{result.runs} runs, {result.seconds:.1f}s"
          f"{'' if result.complete else ' (budget spent before a fixed point)'}; {shrinker.signature}; "
          f"report {written}")
    return Outcome.OK


# ------------------------------------------------------------ fuzz mode hook

def save_shrunk_crash(harness: Harness, data: bytes, schedule, result, seconds: float) -> Path | None:
    """Fuzz mode with --shrink-seconds: saves a new crash shrunk, and the
    original beside it. Nothing is lost on the way: the original's raw input
    is written first (a kill during the shrink leaves it for the spool's
    report rebuilding), then the shrunk report (so the uploader, oldest
    first, sends it as the bug's report), then the original's report. A
    shrink that fails for any reason saves the original alone."""
    raw = Path(harness.artifacts) / f"crash-{input_sha1(data)}"
    try:
        raw.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(raw, data)
        shrinker = Shrinker(replace(harness, on_crash=None), data, harness.max_steps, seconds=seconds)
        shrunk = shrinker.shrink()
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as error:  # the original is what matters; it is saved below
        print(f"raftfuzz: shrinking the crash failed ({type(error).__name__}: {error}); saving it as found",
              file=sys.stderr)
        return harness.save_crash(data, schedule, result)
    if shrunk.best.candidate != shrunk.original.candidate:
        report = shrunk_report(harness, shrunk, None)
        try:
            path = write_crash(Path(harness.artifacts), shrunk.best.data, report)
        except OSError:
            path = None  # the original below still carries the finding (or its line prints it)
        if path is not None:
            print(f"raftfuzz: shrunk to {len(shrunk.best.candidate.schedule.events)} faults, "
                  f"{shrunk.best.result.steps} steps in {shrunk.seconds:.1f}s; report {path}", file=sys.stderr)
            if harness.on_crash is not None:
                harness.on_crash(path)
    return harness.save_crash(data, schedule, result)
