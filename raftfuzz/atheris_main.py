"""Coverage-guided fuzzing with atheris (libFuzzer for Python).

    python -m raftfuzz.atheris_main [--target=pkg.module:Class] [--max-steps=N]
                                    [--core=c|python] [--mutator=schedule|bytes]
                                    [--feedback=code|state|code+state] [--shrink-seconds=S]
                                    CORPUS_DIR... [libFuzzer flags]
    python -m raftfuzz.atheris_main artifacts/crash-<sha1>     # replay one input

Every libFuzzer flag passes through (-runs, -max_total_time, -jobs, -workers,
-fork, -merge=1, -minimize_crash ...). raftfuzz's own flags start with two
dashes, which libFuzzer ignores, so they can stay on the command line that
libFuzzer re-runs for its child processes; they are also exported to the
environment for the same reason.

--feedback picks what guides libFuzzer (raftfuzz/feedback.py,
docs/feedback.md): coverage of the target's code, counters of abstract
cluster states and transitions computed by the core, or both. With code
coverage, only the target's module (and the reference node it may extend,
and any packages the target module declares in ``RAFTFUZZ_INSTRUMENT``, such
as the library an adapter wraps) is instrumented, so coverage describes the
Raft code, not the simulator; with state alone nothing is instrumented.
Crashes land in ``artifacts/`` unless ``-artifact_prefix`` says otherwise.
``--shrink-seconds=S`` (off by default) shrinks a new crash for up to S
seconds before it is saved and uploaded (raftfuzz.shrink), and keeps the
original report beside the shrunk one.

With ``BUCKET_NAME`` (or ``RAFTFUZZ_STORE_DIR``) set, the corpus is pulled
from the shared store first, new entries and crash reports are pushed while
fuzzing and at exit; ``raftfuzz/fuzz_supervisor.py`` says how.
"""

import os
import sys

from raftfuzz.violations import EXIT_USAGE

_OWN_FLAGS = {"--target": "RAFTFUZZ_TARGET", "--max-steps": "MAX_STEPS", "--core": "RAFTFUZZ_CORE",
              "--mutator": "RAFTFUZZ_MUTATOR", "--feedback": "RAFTFUZZ_FEEDBACK",
              "--shrink-seconds": "RAFTFUZZ_SHRINK_SECONDS"}
# "schedule": structure-aware mutations half of the time (raftfuzz.schedule_mutator);
# "bytes": libFuzzer's byte mutations only.
MUTATORS = ("schedule", "bytes")


def _split_arguments(arguments: list[str]) -> tuple[list[str], list[str]]:
    """Separates raftfuzz's flags (normalised to --flag=value) from libFuzzer's."""
    own, libfuzzer = [], []
    index = 0
    while index < len(arguments):
        argument = arguments[index]
        name, has_value, value = argument.partition("=")
        if name in _OWN_FLAGS:
            if not has_value:
                index += 1
                if index == len(arguments):
                    raise SystemExit(f"raftfuzz: error: {name} needs a value")
                value = arguments[index]
            os.environ[_OWN_FLAGS[name]] = value
            own.append(f"{name}={value}")
        elif argument in ("-h", "--help"):
            print(__doc__)
            raise SystemExit(0)
        else:
            libfuzzer.append(argument)
        index += 1
    return own, libfuzzer


def _artifact_directory(libfuzzer: list[str]) -> tuple[str, list[str]]:
    for argument in libfuzzer:
        if argument.startswith("-artifact_prefix="):
            prefix = argument.partition("=")[2]
            directory = prefix if prefix.endswith("/") else os.path.dirname(prefix) or "."
            return directory, libfuzzer
    directory = os.environ.get("RAFTFUZZ_ARTIFACTS") or "artifacts"
    return directory, [f"-artifact_prefix={directory.rstrip('/')}/", *libfuzzer]


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    try:
        own, libfuzzer = _split_arguments(argv[1:])
        if os.environ.get("RAFTFUZZ_MUTATOR", "schedule") not in MUTATORS:
            print(f"raftfuzz: error: --mutator must be one of {', '.join(MUTATORS)}", file=sys.stderr)
            raise SystemExit(EXIT_USAGE)
        from raftfuzz import feedback

        mode = feedback.feedback_mode()
        from raftfuzz.shrink import save_shrunk_crash, shrink_seconds_setting

        shrink_seconds = shrink_seconds_setting()  # --shrink-seconds: shrink a new crash before it is saved
        features = feedback.state_features() if feedback.uses_state(mode) else 0
        artifacts, libfuzzer = _artifact_directory(libfuzzer)
        from raftfuzz.fuzz_supervisor import supervise, wants_sync
        from raftfuzz.paths import check_fuzzer_paths

        synced = wants_sync(libfuzzer)
        check_fuzzer_paths(libfuzzer, artifacts, pulled=synced)  # before any work: findings need a place
        os.environ["RAFTFUZZ_ARTIFACTS"] = artifacts
        if synced:  # BUCKET_NAME or RAFTFUZZ_STORE_DIR: fuzz in a child, sync here
            raise SystemExit(supervise(own, libfuzzer, artifacts))
        harness = _harness(artifacts, instrument=feedback.uses_code(mode))
    except SystemExit:
        raise
    except Exception as error:  # a bad flag or target: one line, no traceback
        from raftfuzz.cli import describe_error

        message = describe_error(error)
        if message is None:
            raise
        print(f"raftfuzz: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None

    import atheris

    def start_feedback() -> None:
        """Runs once, inside the first input: where counters can be registered."""
        note = None
        if features:
            note = feedback.register_state_counters(harness.core_name)
            harness.feedback = features
        print(feedback.startup_line(mode, note), file=sys.stderr, flush=True)

    started = []

    def test_one_input(data: bytes) -> None:
        if not started:
            started.append(True)
            start_feedback()
        schedule, result = harness.execute(data)
        if result.violation is not None:
            if shrink_seconds:
                save_shrunk_crash(harness, data, schedule, result, shrink_seconds)
            else:
                harness.save_crash(data, schedule, result)
            raise result.violation

    mutator = {}
    if os.environ.get("RAFTFUZZ_MUTATOR", "schedule") == "schedule":
        from raftfuzz.schedule_mutator import mutate

        mutator = {"custom_mutator": mutate}
    # libFuzzer re-runs argv[0] through a shell for -fork/-jobs/-merge/-minimize_crash.
    atheris.Setup([f"{sys.executable} -m raftfuzz.atheris_main", *own, *libfuzzer], test_one_input, **mutator)
    atheris.Fuzz()


def _harness(artifacts: str, *, instrument: bool):
    """Loads the target, with coverage instrumentation on its module only
    when instrument is true.

    atheris instruments by top-level package, so everything else raftfuzz
    needs (simulator, checkers, core) is imported first: modules already
    imported are not instrumented, and only the node's module (and the
    reference node, if the target builds on it) is imported inside."""
    import atheris

    from raftfuzz.harness import Harness
    from raftfuzz.target import load_target, split_target, target_spec

    spec = target_spec()
    target_module, _ = split_target(spec)
    if instrument:
        declared = declared_instrumentation(target_module)
        packages = sorted({"raftfuzz", target_module.partition(".")[0], *declared})
        extra = f"; packages it declares: {', '.join(declared)}" if declared else ""
        print(f"raftfuzz: instrumenting the target module {target_module}{extra}", file=sys.stderr)
        with atheris.instrument_imports(include=packages):
            node_class = load_target(spec)
    else:
        node_class = load_target(spec)
    return Harness.from_settings(node_class, target=spec, artifacts=artifacts)


# A target module that wraps a library outside its own package names the
# library's packages here, e.g. RAFTFUZZ_INSTRUMENT = ("pysyncobj",), so that
# coverage describes the library (raftfuzz/targets/pysyncobj.py does).
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
