"""One fuzz execution, shared by every entry point (atheris, random mode,
replay): bytes → schedule → simulation → crash report on a violation.

Settings come from flags or, so that processes libFuzzer forks inherit them,
from the environment: ``RAFTFUZZ_TARGET``, ``MAX_STEPS``,
``RAFTFUZZ_ARTIFACTS``, ``RAFTFUZZ_CORE``.
"""

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from raftfuzz import core as core_module
from raftfuzz.report import build_report, write_crash
from raftfuzz.schedule import decode
from raftfuzz.simulator import DEFAULT_MAX_STEPS, RunResult, Simulation
from raftfuzz.target import target_spec

DEFAULT_ARTIFACTS = "artifacts"
# A run longer than this is a configuration mistake rather than a fuzz
# execution: it would take minutes and hold the whole trace in memory.
MAX_STEPS_LIMIT = 10_000_000


class SettingsError(Exception):
    """A flag or environment variable has a value raftfuzz cannot use."""


def parse_max_steps(value: str | int | None) -> int:
    if value is None or value == "":
        value = os.environ.get("MAX_STEPS") or DEFAULT_MAX_STEPS
    try:
        steps = int(value)
    except (TypeError, ValueError):
        raise SettingsError(f"MAX_STEPS={value!r} is not a whole number; set it to e.g. {DEFAULT_MAX_STEPS}") from None
    if not 1 <= steps <= MAX_STEPS_LIMIT:
        raise SettingsError(f"MAX_STEPS={steps} is outside 1..{MAX_STEPS_LIMIT}")
    return steps


@dataclass
class Harness:
    node_class: type
    target: str
    max_steps: int
    artifacts: Path
    core_name: str
    # Called with the report's path once a crash is safely on local disk; the
    # shared-store upload hooks in here (see raftfuzz/crash_upload.py).
    on_crash: Callable[[Path], None] | None = None
    # The core's FEEDBACK_* features to emit (raftfuzz.feedback), 0 for none;
    # only the atheris entry point with --feedback=state turns them on.
    feedback: int = 0

    @classmethod
    def from_settings(cls, node_class, *, target: str | None = None, max_steps=None,
                      artifacts: str | None = None) -> "Harness":
        return cls(
            node_class=node_class,
            target=target_spec(target),
            max_steps=parse_max_steps(max_steps),
            artifacts=Path(artifacts or os.environ.get("RAFTFUZZ_ARTIFACTS") or DEFAULT_ARTIFACTS),
            core_name=core_module.core_name(),
        )

    def execute(self, data: bytes, *, log_level: str | None = None) -> tuple[object, RunResult]:
        schedule = decode(data)
        simulation = Simulation(schedule, self.node_class, max_steps=self.max_steps,
                                log_level=log_level, feedback=self.feedback)
        return schedule, simulation.run()

    def save_crash(self, data: bytes, schedule, result: RunResult) -> Path:
        report = build_report(data, schedule, result, target=self.target,
                              core_name=self.core_name, max_steps=self.max_steps)
        path = write_crash(self.artifacts, data, report)
        violation = result.violation
        print(
            f"raftfuzz: {violation.kind} violation {violation.property_name} at step "
            f"{result.steps} (trace {result.trace_hash}); report {path}",
            file=sys.stderr,
        )
        if self.on_crash is not None:
            self.on_crash(path)
        return path
