"""The ``raftfuzz`` command (also ``python -m raftfuzz``).

    raftfuzz fuzz CORPUS... [libFuzzer flags]   coverage-guided (atheris)
    raftfuzz random [--runs N] [--seconds S]    random schedules, no feedback
    raftfuzz replay FILE [--log-level L]        crash-<sha1>.json or a raw input (or gs://...)
    raftfuzz decode FILE                        print the schedule an input means
    raftfuzz shrink REPORT [-o OUT]             the simplest schedule with the same finding
    raftfuzz explain REPORT [-o run.html]       what happened: a summary, an HTML diagram, ShiViz
    raftfuzz regress DIR|gs://...               replay every report: still failing, fixed, different
    raftfuzz seed-corpus DIR                    write the built-in seed corpus
    raftfuzz corpus pull|push|prune ...         the shared corpus (BUCKET_NAME)
    raftfuzz crashes list|fetch|push ...        shared crash reports
    raftfuzz sync [CORPUS_DIR]                  upload spooled crashes, push and pull
    raftfuzz container                          the container entrypoint (FUZZ_MODE=..., see raftfuzz/container.py)

Exit codes: 0 no violation, 1 harness error, 2 bad usage or input,
3 safety violation, 4 liveness violation, 5 storage misconfigured or down.
"""

import argparse
import json
import os
import sys
from pathlib import Path

from raftfuzz import core as core_module
from raftfuzz import storage_cli
from raftfuzz.storage import EXIT_STORAGE, StorageError
from raftfuzz.violations import EXIT_HARNESS_ERROR, EXIT_OK, EXIT_USAGE

LOG_ENV = "RAFTFUZZ_LOG"


def describe_error(error: BaseException) -> str | None:
    """The one-line message for an error a user can fix, or None for a bug."""
    from raftfuzz.harness import SettingsError
    from raftfuzz.paths import PathError
    from raftfuzz.report import ReportError
    from raftfuzz.target import TargetError

    if isinstance(error, (ReportError, TargetError, SettingsError, PathError, core_module.CoreUnavailable)):
        return str(error)
    if isinstance(error, FileNotFoundError):
        return f"{error.filename}: no such file"
    if isinstance(error, IsADirectoryError):
        return f"{error.filename}: is a directory, expected a file"
    if isinstance(error, PermissionError):
        return f"{error.filename}: permission denied"
    if isinstance(error, OSError) and error.filename is not None:  # a symlink loop, a file used as a directory
        return f"{error.filename}: {error.strerror or type(error).__name__}"
    return None


def report_error(error: Exception, prefix: str) -> int:
    """Prints the one line for an error the user can fix and returns its exit
    code: 5 for the shared store, 2 for a setting, file or target. Any other
    exception is a bug in raftfuzz and is raised again, traceback and all."""
    if isinstance(error, StorageError):
        message, code = str(error), EXIT_STORAGE
    else:
        message, code = describe_error(error), EXIT_USAGE
        if message is None:
            raise error
    print(f"{prefix}: error: {message}", file=sys.stderr)
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="raftfuzz", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.partition("\n\n")[2])
    commands = parser.add_subparsers(dest="command", required=True)

    fuzz = commands.add_parser("fuzz", help="coverage-guided fuzzing (same as python -m raftfuzz.atheris_main)",
                               add_help=False)
    fuzz.add_argument("rest", nargs=argparse.REMAINDER)

    def common(sub):
        sub.add_argument("--target", help="node class as package.module:Class (default: the reference node)")
        sub.add_argument("--max-steps", help="events per run (env MAX_STEPS)")
        sub.add_argument("--artifacts", help="where crash reports go (env RAFTFUZZ_ARTIFACTS)")
        sub.add_argument("--core", choices=core_module.CORE_NAMES,
                         help="simulation core (env RAFTFUZZ_CORE; default: C when built)")

    random_mode = commands.add_parser("random", help="random schedules without coverage feedback")
    common(random_mode)
    random_mode.add_argument("--runs", type=int, default=0, help="stop after N runs (0: no limit)")
    random_mode.add_argument("--seconds", type=float, default=0, help="stop after S seconds (0: no limit)")
    random_mode.add_argument("--seed", type=int, default=0, help="seed of the input generator")
    random_mode.add_argument("--stop-on-violation", action="store_true", help="stop at the first violation")
    random_mode.add_argument("--quiet", action="store_true", help="no progress line")
    random_mode.add_argument("--shrink-seconds", type=float,
                             help="shrink each new crash for up to S seconds before saving it, keeping the "
                                  "original beside it (env RAFTFUZZ_SHRINK_SECONDS; default 0: off)")

    replay = commands.add_parser("replay", help="replay a crash report or a raw input")
    common(replay)
    replay.add_argument("file", help="crash-<sha1>.json, a raw input, or gs://BUCKET/.../crash-<sha1>.json")
    replay.add_argument("--log-level", choices=("none", "info", "debug", "trace"),
                        help=f"trace detail (env {LOG_ENV}; default info)")

    decode = commands.add_parser("decode", help="print the schedule an input decodes to")
    decode.add_argument("file", type=Path)

    seeds = commands.add_parser("seed-corpus", help="write the built-in seed corpus")
    seeds.add_argument("directory", type=Path)

    def target_option(sub):
        sub.add_argument("--target", help="node class as package.module:Class (default: the reference node)")

    storage_cli.add_parsers(commands, target_option)
    _finding_parsers(commands)
    return parser


def _finding_parsers(commands) -> None:
    """shrink, explain and regress: what to do with a finding once it is found."""
    from raftfuzz.shrink import DEFAULT_MAX_RUNS, DEFAULT_SECONDS

    def target_option(sub):
        sub.add_argument("--target", help="node class as package.module:Class (default: each report's own, "
                                          "when shipped with raftfuzz or equal to RAFTFUZZ_TARGET)")

    shrink = commands.add_parser("shrink", help="shrink a crash report's schedule, keeping its signature")
    target_option(shrink)
    shrink.add_argument("report", help="crash-<sha1>.json")
    shrink.add_argument("-o", "--output", help="a directory (crash-<sha1>{,.json} in it) or a .json path "
                                               "(default: beside REPORT)")
    shrink.add_argument("--seconds", type=float, default=DEFAULT_SECONDS,
                        help=f"time budget (default {DEFAULT_SECONDS:g})")
    shrink.add_argument("--max-runs", type=int, default=DEFAULT_MAX_RUNS,
                        help=f"run budget (default {DEFAULT_MAX_RUNS})")
    shrink.add_argument("--core", choices=core_module.CORE_NAMES, help="simulation core (env RAFTFUZZ_CORE)")

    explain = commands.add_parser("explain", help="what a crash report's run did: text, HTML or ShiViz")
    target_option(explain)
    explain.add_argument("report", help="crash-<sha1>.json")
    explain.add_argument("-o", "--output", help="write the page (or ShiViz log) here; without it a "
                                                "plain-text summary is printed")
    explain.add_argument("--format", choices=("html", "shiviz"), default="html",
                         help="what -o writes (default html)")
    explain.add_argument("--core", choices=core_module.CORE_NAMES, help="simulation core (env RAFTFUZZ_CORE)")

    regress = commands.add_parser("regress", help="replay every report in a directory or bucket prefix")
    target_option(regress)
    regress.add_argument("source", help="a directory of crash-<sha1>.json reports, or gs://BUCKET/PREFIX")
    regress.add_argument("--expect", choices=("fixed", "failing"), default="fixed",
                         help="exit 0 when every report is fixed (default), or when every one still fails")
    regress.add_argument("--core", choices=core_module.CORE_NAMES, help="simulation core (env RAFTFUZZ_CORE)")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["fuzz"]:
        from raftfuzz import atheris_main

        atheris_main.main(["raftfuzz fuzz", *argv[1:]])
        return EXIT_OK
    if argv[:1] == ["container"]:
        from raftfuzz import container

        return container.main(argv[1:])
    arguments = _parser().parse_args(argv)
    try:
        return _dispatch(arguments)
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        return report_error(error, "raftfuzz")


def _dispatch(arguments) -> int:
    if getattr(arguments, "core", None):
        os.environ[core_module.ENVIRONMENT_VARIABLE] = arguments.core
    if arguments.command == "random":
        from raftfuzz.random_mode import run_random

        return run_random(arguments)
    if arguments.command == "replay":
        if arguments.file.startswith("gs://"):
            with storage_cli.DownloadedReport(arguments.file) as path:
                return _replay(arguments, path)
        return _replay(arguments, Path(arguments.file))
    if arguments.command in ("corpus", "crashes", "sync"):
        return storage_cli.dispatch(arguments)
    if arguments.command == "shrink":
        from raftfuzz.shrink import run_shrink

        return run_shrink(arguments)
    if arguments.command == "explain":
        from raftfuzz.explain import run_explain

        return run_explain(arguments)
    if arguments.command == "regress":
        from raftfuzz.regress import run_regress

        return run_regress(arguments)
    if arguments.command == "decode":
        from raftfuzz.report import current_format_input, load_report, looks_like_report, read_crash_file
        from raftfuzz.schedule import decode

        data = read_crash_file(arguments.file)
        if looks_like_report(arguments.file, data):  # a report: its embedded input
            data = current_format_input(*load_report(arguments.file, data))
        print(json.dumps(decode(data).describe(legend=True), indent=2))
        return EXIT_OK
    if arguments.command == "seed-corpus":
        from raftfuzz.paths import writable_directory
        from raftfuzz.seeds import write_seed_corpus

        writable_directory(arguments.directory, "the seed corpus directory", "the DIR argument")
        paths = write_seed_corpus(arguments.directory)
        print(f"wrote {len(paths)} seeds to {arguments.directory}")
        return EXIT_OK
    raise AssertionError(arguments.command)


def _replay(arguments, path: Path) -> int:
    from raftfuzz.harness import Harness
    from raftfuzz.report import current_format_input, load_report, looks_like_report, read_crash_file
    from raftfuzz.target import load_target, report_target, target_spec

    # Everything about the file is checked before anything is imported or
    # run: what it is (by content, not by name), its structure, and whether
    # the target it names may be imported (raftfuzz.target.report_target).
    expected = None
    content = read_crash_file(path)
    if looks_like_report(path, content):
        data, expected = load_report(path, content)
        data = current_format_input(data, expected)
        target = report_target(expected["target"], arguments.target)
        max_steps = arguments.max_steps or expected["max_steps"]
    else:
        data = content
        target, max_steps = arguments.target, arguments.max_steps
    log_level = arguments.log_level or os.environ.get(LOG_ENV) or "info"
    if log_level not in ("none", "info", "debug", "trace"):
        print(f"raftfuzz: error: {LOG_ENV}={log_level!r}; use none, info, debug or trace", file=sys.stderr)
        return EXIT_USAGE
    spec = target_spec(target)
    harness = Harness.from_settings(load_target(spec), target=spec, max_steps=max_steps,
                                    artifacts=arguments.artifacts)
    schedule, result = harness.execute(data, log_level=None if log_level == "none" else log_level)
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
            return EXIT_HARNESS_ERROR
        print("reproduced: same property, step and trace hash as the report")
    return violation.exit_code if violation is not None else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
