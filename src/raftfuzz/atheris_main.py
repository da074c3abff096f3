"""Coverage-guided fuzzing with atheris (libFuzzer for Python).

    python -m raftfuzz.atheris_main [--target=pkg.module:Class] [--max-steps=N]
                                    [--core=c|python] [--mutator=schedule|schedule+crossover|bytes]
                                    [--feedback=code|state|code+state] [--shrink-seconds=S]
                                    CORPUS_DIR... [libFuzzer flags]
    python -m raftfuzz.atheris_main artifacts/crash-<sha1>     # replay one input

Every libFuzzer flag passes through (-runs, -max_total_time, -jobs, -workers,
-fork, -merge=1, -minimize_crash ...). raftfuzz's own flags start with two
dashes, which libFuzzer ignores, so they can stay on the command line that
libFuzzer re-runs for its child processes; the settings they make (with the
environment's, src/raftfuzz/run/settings.py) are also exported to the environment
for the same reason.

--feedback picks what guides libFuzzer (src/raftfuzz/checks/feedback.py,
docs/feedback.md): coverage of the target's code, counters of abstract
cluster states and transitions computed by the core, or both. With code
coverage, only the target's module (and the reference node it may extend,
and any packages the target module declares in ``RAFTFUZZ_INSTRUMENT``, such
as the library an adapter wraps) is instrumented, so coverage describes the
Raft code, not the simulator; with state alone nothing is instrumented.
Crashes land in ``artifacts/`` unless ``-artifact_prefix`` says otherwise.
``--shrink-seconds=S`` (off by default) shrinks a new crash for up to S
seconds before it is saved and uploaded (raftfuzz.findings.shrink), and keeps the
original report beside the shrunk one.

With ``BUCKET_NAME`` (or ``RAFTFUZZ_STORE_DIR``) set, the corpus is pulled
from the shared store first, new entries and crash reports are pushed while
fuzzing and at exit; ``src/raftfuzz/store/supervisor.py`` says how.
"""

import os
import stat
import sys
from dataclasses import replace
from pathlib import Path

from raftfuzz.checks import feedback
from raftfuzz.store.supervisor import supervise, wants_sync
from raftfuzz.run.harness import tune_collector
from raftfuzz.run.outcome import Outcome
from raftfuzz.store.paths import PathError, os_reason, readable_directory, writable_directory
from raftfuzz.run.report import ReportError, looks_like_report, read_crash_file
from raftfuzz.run.settings import Settings, SettingsError
from raftfuzz.findings.shrink import save_shrunk_crash
from raftfuzz.run.user_errors import report_error

# raftfuzz's own flags, by the Settings field each sets.
_OWN_FLAGS = {"--target": "target", "--max-steps": "max_steps", "--core": "core",
              "--mutator": "mutator", "--feedback": "feedback", "--shrink-seconds": "shrink_seconds"}


def _split_arguments(arguments: list[str]) -> tuple[dict[str, str], list[str], list[str]]:
    """Separates raftfuzz's flags from libFuzzer's: (the settings they give,
    the flags normalised to --flag=value, libFuzzer's arguments)."""
    given, own, libfuzzer = {}, [], []
    index = 0
    while index < len(arguments):
        argument = arguments[index]
        name, has_value, value = argument.partition("=")
        if name in _OWN_FLAGS:
            if not has_value:
                index += 1
                if index == len(arguments):
                    raise SettingsError(f"{name} needs a value")
                value = arguments[index]
            given[_OWN_FLAGS[name]] = value
            own.append(f"{name}={value}")
        elif argument in ("-h", "--help"):
            print(__doc__)
            raise SystemExit(Outcome.OK)
        else:
            libfuzzer.append(argument)
        index += 1
    return given, own, libfuzzer


def _artifact_directory(libfuzzer: list[str], settings: Settings) -> tuple[Path, list[str]]:
    for argument in libfuzzer:
        if argument.startswith("-artifact_prefix="):
            prefix = argument.partition("=")[2]
            directory = prefix if prefix.endswith("/") else os.path.dirname(prefix) or "."
            return Path(directory), libfuzzer
    directory = str(settings.artifacts)
    return settings.artifacts, [f"-artifact_prefix={directory.rstrip('/')}/", *libfuzzer]


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    try:
        given, own, libfuzzer = _split_arguments(argv[1:])
        settings = Settings.load(given)
        artifacts, libfuzzer = _artifact_directory(libfuzzer, settings)
        settings = replace(settings, artifacts=artifacts)
        synced = wants_sync(libfuzzer, settings)
        check_fuzzer_paths(libfuzzer, artifacts, pulled=synced)  # before any work: findings need a place
        # Once, for libFuzzer's -jobs/-fork/-merge children, which re-run this
        # command line and read the settings back from the environment.
        settings.export()
        if synced:  # BUCKET_NAME or RAFTFUZZ_STORE_DIR: fuzz in a child, sync here
            raise SystemExit(supervise(settings, own, libfuzzer))
        harness = _harness(settings, instrument=feedback.uses_code(settings.feedback))
        tune_collector()
    except SystemExit:
        raise
    except Exception as error:  # a bad flag or target: one line, no traceback
        raise SystemExit(report_error(error, "raftfuzz")) from None

    import atheris

    features = settings.feature_mask if feedback.uses_state(settings.feedback) else 0

    def start_feedback() -> None:
        """Runs once, inside the first input: where counters can be registered."""
        note = None
        if features:
            note = feedback.register_state_counters(harness.core_name)
            harness.feedback = features
        print(feedback.startup_line(settings.feedback, note), file=sys.stderr, flush=True)

    started = []

    def test_one_input(data: bytes) -> None:
        if not started:
            started.append(True)
            start_feedback()
        schedule, result = harness.execute(data)
        if result.violation is not None:
            if settings.shrink_seconds:  # --shrink-seconds: shrink a new crash before it is saved
                save_shrunk_crash(harness, data, schedule, result, settings.shrink_seconds)
            else:
                harness.save_crash(data, schedule, result)
            raise result.violation

    mutator = {}
    if settings.mutator.startswith("schedule"):
        from raftfuzz.schedule.mutator import crossover, mutate

        mutator = {"custom_mutator": mutate}
        if settings.mutator == "schedule+crossover":
            mutator["custom_crossover"] = crossover
    # libFuzzer re-runs argv[0] through a shell for -fork/-jobs/-merge/-minimize_crash.
    atheris.Setup([f"{sys.executable} -m raftfuzz.atheris_main", *own, *libfuzzer], test_one_input, **mutator)
    atheris.Fuzz()


def check_fuzzer_paths(libfuzzer_arguments: list[str], artifacts: Path, *, pulled: bool = False) -> None:
    """What ``raftfuzz.atheris_main`` checks before libFuzzer starts: the
    artifacts directory is writable; every file or directory argument
    exists; the first directory (where libFuzzer writes new corpus entries,
    or the -merge=1 output) is writable; a crash report given as an input is
    pointed at ``raftfuzz replay`` (libFuzzer would run its JSON text as raw
    bytes and find nothing). With ``pulled`` (a shared store), the first
    directory may be missing: the corpus pull creates it."""
    writable_directory(artifacts, "the artifacts directory", "-artifact_prefix (or RAFTFUZZ_ARTIFACTS)")
    positional = [argument for argument in libfuzzer_arguments if not argument.startswith("-")]
    # Once, not per file: a replay of N input files would otherwise stat N * N times.
    mixes_directories = len(positional) > 1 and any(os.path.isdir(argument) for argument in positional)
    first_directory = True
    for position, argument in enumerate(positional):
        try:
            status = os.stat(argument)
        except FileNotFoundError:
            if pulled and position == 0:
                writable_directory(argument, "the corpus directory (new entries go there)", "the first "
                                   "corpus argument")
                first_directory = False
                continue
            raise PathError(f"{argument}: no such corpus directory or input file; create the directory "
                            f"(mkdir -p {argument}) or check the path") from None
        except OSError as error:
            raise PathError(f"{argument}: cannot use it as a corpus directory or input ({os_reason(error)})") from None
        if stat.S_ISDIR(status.st_mode):
            if first_directory:
                writable_directory(argument, "the corpus directory (new entries go there)", "the first "
                                   "corpus argument", create=False)
            else:
                readable_directory(argument, "a corpus directory", "the corpus arguments")
            first_directory = False
            continue
        try:
            content = read_crash_file(Path(argument))
        except ReportError as error:
            raise PathError(str(error)) from None
        if mixes_directories:
            raise PathError(f"{argument}: is a file, but other arguments are directories; libFuzzer takes "
                            f"either input files to run or corpus directories, not both")
        if looks_like_report(Path(argument), content):
            raise PathError(f"{argument}: is a crash report, not a raw input; replay it with `raftfuzz replay "
                            f"{argument}`, or pass the raw crash-<sha1> file beside it")


def _harness(settings: Settings, *, instrument: bool):
    """Loads the target, with coverage instrumentation on its module only
    when instrument is true.

    atheris instruments by top-level package, so everything else raftfuzz
    needs (simulator, checkers, core) is imported first: modules already
    imported are not instrumented, and only the node's module (and the
    reference node, if the target builds on it) is imported inside."""
    from raftfuzz.run.harness import Harness
    from raftfuzz.run.instrumentation import CodeSwitch, coverage_parts, instrumented_imports, uninstrument_accessors
    from raftfuzz.run.target import load_target, split_target

    spec = settings.target_spec
    target_module, _ = split_target(spec)
    if instrument:
        declared = declared_instrumentation(target_module)
        packages = sorted({"raftfuzz", target_module.partition(".")[0], *declared})
        extra = f"; packages it declares: {', '.join(declared)}" if declared else ""
        parts = coverage_parts(settings.code_coverage)
        print(f"raftfuzz: instrumenting the target module {target_module}{extra} "
              f"(RAFTFUZZ_CODE_COVERAGE={settings.code_coverage})", file=sys.stderr)
        imported_before = set(sys.modules)
        with instrumented_imports(packages, comparisons="comparisons" in parts):
            node_class = load_target(spec)
        if "accessors" not in parts:
            uninstrument_accessors(node_class)
        harness = Harness.from_settings(node_class, settings)
        if "healed" not in parts:
            instrumented = [name for name in set(sys.modules) - imported_before
                            if name.partition(".")[0] in packages]
            harness.observers = (CodeSwitch(instrumented).for_run,)
        return harness
    node_class = load_target(spec)
    return Harness.from_settings(node_class, settings)


# A target module that wraps a library outside its own package names the
# library's packages here, e.g. RAFTFUZZ_INSTRUMENT = ("pysyncobj",), so that
# coverage describes the library (src/raftfuzz/targets/pysyncobj.py does).
INSTRUMENT_DECLARATION = "RAFTFUZZ_INSTRUMENT"


def declared_instrumentation(module_name: str) -> tuple[str, ...]:
    """The packages a target module declares in ``RAFTFUZZ_INSTRUMENT``,
    read from its source without importing it: whatever is imported before
    the instrumentation starts would not be instrumented."""
    import ast
    import importlib.util

    # Any failure here (a missing module, a parent package that raises, a
    # file that does not parse) is left to load_target, which reports it in
    # one line; without a readable declaration nothing extra is instrumented.
    try:
        spec = importlib.util.find_spec(module_name)
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            return ()
        with open(spec.origin, encoding="utf-8") as source:
            tree = ast.parse(source.read(), spec.origin)
        for statement in tree.body:
            if (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                    and isinstance(statement.targets[0], ast.Name)
                    and statement.targets[0].id == INSTRUMENT_DECLARATION):
                value = ast.literal_eval(statement.value)
                return tuple(sorted({str(name).partition(".")[0] for name in value}))
    except Exception:
        return ()
    return ()


if __name__ == "__main__":
    main()
