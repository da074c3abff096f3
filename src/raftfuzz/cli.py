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
    raftfuzz container                          the container entrypoint (FUZZ_MODE=..., see src/raftfuzz/container.py)

Exit codes: 0 no violation, 1 harness error, 2 bad usage or input,
3 safety violation, 4 liveness violation, 5 storage misconfigured or down.
"""

import argparse
import json
import sys
from pathlib import Path

from raftfuzz.store import cli as storage_cli
from raftfuzz.run.outcome import Outcome
from raftfuzz.run.settings import CORE_NAMES, LOG_LEVELS, Settings
from raftfuzz.run.user_errors import report_error

# The flags that are settings (raftfuzz.run.settings), by their Settings field.
_SETTING_FLAGS = ("target", "max_steps", "artifacts", "core", "log_level", "shrink_seconds")


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
        sub.add_argument("--core", choices=CORE_NAMES,
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
    replay.add_argument("--log-level", choices=LOG_LEVELS, help="trace detail (env RAFTFUZZ_LOG; default info)")

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
    from raftfuzz.findings.shrink import DEFAULT_MAX_RUNS, DEFAULT_SECONDS

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
    shrink.add_argument("--core", choices=CORE_NAMES, help="simulation core (env RAFTFUZZ_CORE)")

    explain = commands.add_parser("explain", help="what a crash report's run did: text, HTML or ShiViz")
    target_option(explain)
    explain.add_argument("report", help="crash-<sha1>.json")
    explain.add_argument("-o", "--output", help="write the page (or ShiViz log) here; without it a "
                                                "plain-text summary is printed")
    explain.add_argument("--format", choices=("html", "shiviz"), default="html",
                         help="what -o writes (default html)")
    explain.add_argument("--core", choices=CORE_NAMES, help="simulation core (env RAFTFUZZ_CORE)")

    regress = commands.add_parser("regress", help="replay every report in a directory or bucket prefix")
    target_option(regress)
    regress.add_argument("source", help="a directory of crash-<sha1>.json reports, or gs://BUCKET/PREFIX")
    regress.add_argument("--expect", choices=("fixed", "failing"), default="fixed",
                         help="exit 0 when every report is fixed (default), or when every one still fails")
    regress.add_argument("--core", choices=CORE_NAMES, help="simulation core (env RAFTFUZZ_CORE)")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # The subcommands' modules are imported when used, so that a short
    # command does not pay for loading every other one (no circle: neither
    # imports this module; tests/test_settings.py checks).
    if argv[:1] == ["fuzz"]:
        from raftfuzz import atheris_main

        atheris_main.main(["raftfuzz fuzz", *argv[1:]])
        return Outcome.OK
    if argv[:1] == ["container"]:
        from raftfuzz import container

        return container.main(argv[1:])
    arguments = _parser().parse_args(argv)
    try:
        settings = Settings.load({name: getattr(arguments, name, None) for name in _SETTING_FLAGS})
        settings.export()  # for the child processes a command starts (a prune's merge, a rebuilt report)
        return _dispatch(arguments, settings)
    except KeyboardInterrupt:
        return Outcome.SIGINT
    except Exception as error:
        return report_error(error, "raftfuzz")


def _dispatch(arguments, settings: Settings) -> int:
    if arguments.command == "random":
        from raftfuzz.run.random_mode import Budget, run_random

        return run_random(settings, Budget(runs=arguments.runs, seconds=arguments.seconds, seed=arguments.seed,
                                           stop_on_violation=arguments.stop_on_violation, quiet=arguments.quiet))
    if arguments.command == "replay":
        from raftfuzz.run.replay import replay

        return replay(settings, arguments.file)
    if arguments.command in ("corpus", "crashes", "sync"):
        return storage_cli.dispatch(arguments, settings)
    if arguments.command == "shrink":
        from raftfuzz.findings.shrink import run_shrink

        return run_shrink(arguments, settings)
    if arguments.command == "explain":
        from raftfuzz.findings.explain import run_explain

        return run_explain(arguments, settings)
    if arguments.command == "regress":
        from raftfuzz.findings.regress import run_regress

        return run_regress(arguments, settings)
    if arguments.command == "decode":
        from raftfuzz.run.report import current_format_input, load_report, looks_like_report, read_crash_file
        from raftfuzz.schedule.codec import decode

        data = read_crash_file(arguments.file)
        if looks_like_report(arguments.file, data):  # a report: its embedded input
            data = current_format_input(*load_report(arguments.file, data))
        print(json.dumps(decode(data).describe(legend=True), indent=2))
        return Outcome.OK
    if arguments.command == "seed-corpus":
        from raftfuzz.store.paths import writable_directory
        from raftfuzz.schedule.seeds import write_seed_corpus

        writable_directory(arguments.directory, "the seed corpus directory", "the DIR argument")
        paths = write_seed_corpus(arguments.directory)
        print(f"wrote {len(paths)} seeds to {arguments.directory}")
        return Outcome.OK
    raise AssertionError(arguments.command)


if __name__ == "__main__":
    sys.exit(main())
