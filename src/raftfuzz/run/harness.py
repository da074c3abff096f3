"""One fuzz execution, shared by every entry point (atheris, random mode,
replay): bytes → schedule → simulation → crash report on a violation.

Its settings (target, step limit, artifacts directory, core, commit) come
from a raftfuzz.run.settings.Settings the entry point built; the core is resolved
once, here, and every simulation of this harness runs on it, so the core a
report records is the core that ran.
"""

import base64
import gc
import hashlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from raftfuzz.core import contract as core_module
from raftfuzz.run.contract import diagnose
from raftfuzz.run.report import build_report, input_sha1, write_crash
from raftfuzz.schedule.codec import decode
from raftfuzz.run.settings import Settings
from raftfuzz.sim.simulation import CHECKERS, RunResult, Simulation
from raftfuzz.checks.violations import Violation

# A run allocates a message or two per event and drops them all at its end,
# so with the default first generation (700 allocations) the collector runs
# every few events over objects that die young anyway. 10,000 executed the
# fewest instructions of 700, 3,000, 10,000 and 30,000 (docs/performance.md).
YOUNG_GENERATION_THRESHOLD = 10_000


def tune_collector() -> None:
    """For a process that executes many runs: fuzzing and random mode."""
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, *gc.get_threshold()[1:])


@dataclass
class Harness:
    node_class: type
    target: str
    max_steps: int
    artifacts: Path
    core_name: str
    # Called with the report's path once a crash is safely on local disk; the
    # shared-store upload hooks in here (see src/raftfuzz/store/crashes.py).
    on_crash: Callable[[Path], None] | None = None
    # The core's FEEDBACK_* features to emit (raftfuzz.checks.feedback), 0 for none;
    # only the atheris entry point with --feedback=state turns them on.
    feedback: int = 0
    # The commit reports name (None: asked from git, see report.source_commit).
    commit: str | None = None
    # Checker factories every run gets beside the simulation's CHECKERS
    # (raftfuzz.checks.protocol): observers such as the coverage switch of
    # raftfuzz.run.instrumentation.
    observers: tuple = ()

    @classmethod
    def from_settings(cls, node_class, settings: Settings | None = None, **flags) -> "Harness":
        """A harness for ``node_class`` with ``settings`` (default: the
        defaults, never the environment), and any of their fields given as
        flags would give them (target=, max_steps=, artifacts=, core=).
        CoreUnavailable when the core asked for is not built."""
        settings = (settings or Settings()).override(**flags)
        return cls(
            node_class=node_class,
            target=settings.target_spec,
            max_steps=settings.max_steps,
            artifacts=settings.artifacts,
            core_name=core_module.core_name(settings.core),
            commit=settings.commit,
        )

    def execute(self, data: bytes, *, log_level: str | None = None) -> tuple[object, RunResult]:
        """Runs one input. Whatever the target does — raise in its
        constructor, return garbage from ready(), call sys.exit() — the
        outcome is a RunResult, with a violation when something went wrong
        (raftfuzz.run.contract), so every mode saves and replays it alike."""
        schedule, _, result = self.run_input(data, log_level=log_level)
        return schedule, result

    def run_input(self, data: bytes, *, log_level: str | None = None,
                  simulation_class=Simulation) -> tuple[object, Simulation | None, RunResult]:
        """execute(), also giving the simulation (None when the cluster could
        not be built), run as ``simulation_class``: for callers that read the
        run afterwards (raftfuzz.findings.explain records one)."""
        schedule = decode(data)
        simulation = None
        try:
            simulation = simulation_class(schedule, self.node_class, max_steps=self.max_steps,
                                          log_level=log_level, feedback=self.feedback, core=self.core_name,
                                          checkers=CHECKERS + self.observers)
            return schedule, simulation, simulation.run()
        except (KeyboardInterrupt, core_module.CoreUnavailable):
            raise
        except Violation as found:  # a node's constructor raised while the cluster was built
            violation = found
        except BaseException as error:  # anything else the target (or raftfuzz) raised
            violation = diagnose(simulation, error)
        return schedule, simulation, _failed_run(simulation, violation)

    def save_crash(self, data: bytes, schedule, result: RunResult) -> Path | None:
        """Writes the report to the artifacts directory and returns its path.
        If it cannot be written, the input is printed (base64) in the same
        line, so the finding survives a full or read-only disk."""
        violation = result.violation
        report = build_report(data, schedule, result, target=self.target,
                              core_name=self.core_name, max_steps=self.max_steps, commit=self.commit)
        found = (f"raftfuzz: {violation.label} {violation.property_name} at step {result.steps} "
                 f"(trace {result.trace_hash})")
        try:
            path = write_crash(self.artifacts, data, report)
        except OSError as error:
            print(f"{found}, but its report cannot be written to {self.artifacts} "
                  f"({error.strerror or error}); the input crash-{input_sha1(data)}, base64: "
                  f"{base64.b64encode(data).decode('ascii')} (save it with `base64 -d`, replay it with "
                  f"`raftfuzz replay FILE --target {self.target}`)", file=sys.stderr, flush=True)
            return None
        print(f"{found}; report {path}", file=sys.stderr)
        if self.on_crash is not None:
            self.on_crash(path)
        return path


def _failed_run(simulation, violation: Violation) -> RunResult:
    """The result of a run that ended in an exception: where it stopped, the
    trace so far. Without a simulation (the cluster could not be built) it
    stopped before step 1."""
    if simulation is None:
        violation.step, violation.time_us = 0, 0
        return RunResult(steps=0, time_us=0, trace_hash=hashlib.blake2b(digest_size=16).hexdigest(),
                         ended_by="violation", violation=violation, history=[])
    violation.step, violation.time_us = simulation.step, simulation.now
    return RunResult(steps=simulation.step, time_us=simulation.now, trace_hash=simulation.hasher.hexdigest(),
                     ended_by="violation", violation=violation, history=simulation.history,
                     network=simulation.core.stats(), trace_records=simulation.trace_records(),
                     describe=simulation._describe)
