"""``raftfuzz replay FILE`` (and the container's ``reproduce`` mode): run a
crash report or a raw input once, print what happened, and say whether a
report reproduced.

Everything about the file is checked before anything is imported or run:
what it is (by content, not by name), its structure, and whether the target
it names may be imported (raftfuzz.run.target.report_target).
"""

from pathlib import Path

from raftfuzz.run.harness import Harness
from raftfuzz.run.outcome import Outcome
from raftfuzz.run.report import current_format_input, load_report, looks_like_report, read_crash_file
from raftfuzz.run.settings import Settings
from raftfuzz.store.cli import DownloadedReport
from raftfuzz.run.target import load_target, report_target


def replay(settings: Settings, file: str) -> int:
    """Replays ``file`` (a path or a gs:// URL); the exit code is the verdict."""
    if file.startswith("gs://"):
        with DownloadedReport(file, settings) as path:
            return replay_path(settings, path)
    return replay_path(settings, Path(file))


def report_run(path: Path, settings: Settings, content: bytes | None = None) -> tuple[bytes, dict, Harness]:
    """A crash report's input (in the current input format), the report, and
    the harness that replays it: the report's own target, if it may be
    imported (raftfuzz.run.target.report_target), and its own step limit, unless
    --target or --max-steps say otherwise (MAX_STEPS, which a container
    always sets, does not)."""
    data, report = load_report(path, content)
    data = current_format_input(data, report)
    target = report_target(report["target"], settings)
    max_steps = settings.max_steps if settings.from_flag("max_steps") else report["max_steps"]
    return data, report, Harness.from_settings(load_target(target), settings, target=target, max_steps=max_steps)


def replay_path(settings: Settings, path: Path) -> int:
    expected = None
    content = read_crash_file(path)
    if looks_like_report(path, content):
        data, expected, harness = report_run(path, settings, content)
    else:
        data = content
        harness = Harness.from_settings(load_target(settings.target_spec), settings)
    log_level = None if settings.log_level == "none" else settings.log_level
    schedule, result = harness.execute(data, log_level=log_level)
    print(f"core={harness.core_name} target={harness.target} steps={result.steps} "
          f"time={result.time_us / 1e6:.3f}s ended_by={result.ended_by} trace={result.trace_hash}")
    violation = result.violation
    if violation is not None:
        print(f"{violation.label} {violation.property_name} at step {violation.step}: "
              f"{violation.message}")
    if expected is not None:
        recorded = expected["violation"]
        reproduced = (
            violation is not None
            and violation.property_name == recorded.get("property")
            and violation.step == recorded.get("step")
            and result.trace_hash == expected.get("run", {}).get("trace_hash")
        )
        if not reproduced:
            print(f"NOT REPRODUCED: the report recorded {recorded.get('property')} at step "
                  f"{recorded.get('step')} (trace {expected.get('run', {}).get('trace_hash')}); "
                  f"report core {expected.get('core')}, commit {expected.get('commit')}")
            return Outcome.HARNESS_ERROR
        print("reproduced: same property, step and trace hash as the report")
    return violation.exit_code if violation is not None else Outcome.OK
