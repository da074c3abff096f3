"""The container entrypoint: one process, configured by environment variables.

    python -m raftfuzz.container        (also ``raftfuzz container``; the image's ENTRYPOINT)

| variable | meaning | default |
|---|---|---|
| ``FUZZ_MODE`` | ``fuzz`` (coverage-guided), ``random``, ``reproduce`` or ``prune`` | ``fuzz`` |
| ``FUZZ_SECONDS`` | time budget of a ``fuzz`` or ``random`` run | 3600 |
| ``MAX_STEPS`` | simulated events per execution | 5000 |
| ``FUZZ_FILE`` | ``reproduce``: a crash ``.json`` or raw input, a path or ``gs://`` URL | (required) |
| ``RAFTFUZZ_TARGET`` | node class to fuzz | ``raftfuzz.raft:RaftNode`` |
| ``BUCKET_NAME``, ``RAFTFUZZ_BUCKET_PREFIX`` | shared corpus and crash reports | unset: all local |
| ``GOOGLE_APPLICATION_CREDENTIALS`` | service-account key file | the ambient identity |
| ``RAFTFUZZ_LOG`` | ``reproduce`` trace detail: none, info, debug, trace | ``info`` |
| ``RAFTFUZZ_CORPUS`` | the local corpus directory | ``corpus`` |
| ``RAFTFUZZ_ARTIFACTS`` | where crash reports are written first | ``artifacts`` |
| ``JOB_COMPLETION_INDEX`` | set by an Indexed Kubernetes Job: part of the worker's name | unset |

Every mode runs the same code path as the command line: ``fuzz`` runs
``python -m raftfuzz.atheris_main CORPUS SEEDS -max_total_time=...`` (which
pulls, pushes and uploads through ``raftfuzz/fuzz_supervisor.py`` when a
bucket is set), ``random`` is ``raftfuzz random --seconds ...``,
``reproduce`` is ``raftfuzz replay FUZZ_FILE`` and ``prune`` is ``raftfuzz
corpus prune``.

Exit codes. ``reproduce`` exits with the verdict: 3 safety, 4 liveness, 0 no
violation, 1 not reproduced. ``fuzz`` and ``random`` are workers: a crash is
a finding, stored in the bucket (or in the artifacts directory without one),
not a failure of the worker, so they exit 0 when the budget ends, whether or
not they found crashes; libFuzzer stops at a crash, so ``fuzz`` starts it
again for the rest of the budget. A non-zero exit from them means the worker
itself failed — 2 a bad setting (one line names it), 5 the bucket, 1 a
harness error — which is what a Kubernetes Job should count and retry.
SIGTERM (what Kubernetes sends) stops the fuzzer, pushes what it found, and
exits 143.
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from raftfuzz.storage import BUCKET_ENV, EXIT_STORAGE, STORE_DIR_ENV, WORKER_ENV
from raftfuzz.violations import EXIT_HARNESS_ERROR, EXIT_LIVENESS, EXIT_OK, EXIT_SAFETY, EXIT_USAGE

CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"
MODES = ("fuzz", "random", "reproduce", "prune")
LOG_LEVELS = ("none", "info", "debug", "trace")
DEFAULT_SECONDS = 3600
# A week: a budget beyond it is a typo (seconds taken for milliseconds), and a
# pod that long outlives any sensible Job deadline anyway.
MAX_SECONDS = 7 * 24 * 3600
# Far above the Indexed Job's parallelism limits; a larger index is not one a
# Job assigns.
MAX_COMPLETION_INDEX = 100_000
# libFuzzer stops at each crash and is started again for the rest of the
# budget. Each start costs a second or two (imports, corpus load), so this
# bounds the time a target that crashes on almost every input spends
# restarting; past it the worker stops early with what it has.
MAX_FUZZER_STARTS = 200


class ContainerSettingsError(Exception):
    """An environment variable has a value the entrypoint cannot use."""


@dataclass(frozen=True)
class Settings:
    mode: str
    seconds: int
    max_steps: int
    fuzz_file: str | None
    log_level: str
    corpus: Path
    artifacts: Path
    index: int | None
    worker: str
    shared: bool  # a bucket or shared directory is configured


def _whole_number(environ, name: str, default: int | None, low: int, high: int) -> int | None:
    value = environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ContainerSettingsError(f"{name}={value!r} is not a whole number") from None
    if not low <= number <= high:
        raise ContainerSettingsError(f"{name}={number} is outside {low}..{high}")
    return number


def read_settings(environ=None) -> Settings:
    """The settings from the environment; ContainerSettingsError names the
    first bad one."""
    from raftfuzz.feedback import feedback_mode
    from raftfuzz.harness import DEFAULT_ARTIFACTS, SettingsError, parse_max_steps

    environ = os.environ if environ is None else environ
    # The Kubernetes templates set the key file's path empty for Workload
    # Identity (one template serves both ways); empty means unset, and
    # google-auth must not see it at all.
    if environ.get(CREDENTIALS_ENV) == "":
        del environ[CREDENTIALS_ENV]
    mode = environ.get("FUZZ_MODE", "").strip() or "fuzz"
    if mode not in MODES:
        raise ContainerSettingsError(f"FUZZ_MODE={mode!r} is not a mode; use {', '.join(MODES)}")
    seconds = _whole_number(environ, "FUZZ_SECONDS", DEFAULT_SECONDS, 1, MAX_SECONDS)
    try:
        max_steps = parse_max_steps(environ.get("MAX_STEPS") or None)
        # Checked here too, so a bad value stops the worker before it starts fuzzing.
        feedback_mode(environ.get("RAFTFUZZ_FEEDBACK") or None)
    except SettingsError as error:
        raise ContainerSettingsError(str(error)) from None
    fuzz_file = environ.get("FUZZ_FILE", "").strip() or None
    if mode == "reproduce" and fuzz_file is None:
        raise ContainerSettingsError("FUZZ_MODE=reproduce needs FUZZ_FILE (a crash-<sha1>.json or raw "
                                     "input: a path in the container or a gs://BUCKET/... URL)")
    log_level = environ.get("RAFTFUZZ_LOG", "").strip() or "info"
    if log_level not in LOG_LEVELS:
        raise ContainerSettingsError(f"RAFTFUZZ_LOG={log_level!r}; use {', '.join(LOG_LEVELS)}")
    shared = bool(environ.get(BUCKET_ENV) or environ.get(STORE_DIR_ENV))
    if mode == "prune" and not shared:
        raise ContainerSettingsError(f"FUZZ_MODE=prune prunes the shared corpus; set {BUCKET_ENV} "
                                     f"(or {STORE_DIR_ENV})")
    index = _whole_number(environ, "JOB_COMPLETION_INDEX", None, 0, MAX_COMPLETION_INDEX)
    host = socket.gethostname()
    worker = environ.get(WORKER_ENV) or (host if index is None else f"{host}-index{index}")
    return Settings(
        mode=mode,
        seconds=seconds,
        max_steps=max_steps,
        fuzz_file=fuzz_file,
        log_level=log_level,
        corpus=Path(environ.get("RAFTFUZZ_CORPUS") or "corpus"),
        artifacts=Path(environ.get("RAFTFUZZ_ARTIFACTS") or DEFAULT_ARTIFACTS),
        index=index,
        worker=worker,
        shared=shared,
    )


class Entrypoint:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stop_signal: int | None = None
        self.child: subprocess.Popen | None = None

    def log(self, message: str) -> None:
        print(f"raftfuzz: container[{self.settings.worker}]: {message}", file=sys.stderr, flush=True)

    def run(self) -> int:
        settings = self.settings
        # Children (the fuzzer, its supervisor, occurrence records in the
        # bucket) see the same settings and the same worker name.
        os.environ[WORKER_ENV] = settings.worker
        os.environ["MAX_STEPS"] = str(settings.max_steps)
        os.environ["RAFTFUZZ_ARTIFACTS"] = str(settings.artifacts)
        from raftfuzz.target import split_target, target_spec

        target = target_spec()
        split_target(target)
        where = self._store_description()
        if settings.mode == "reproduce":  # the report names its own target and step limit
            what = f"file={settings.fuzz_file}"
        else:
            what = f"target={target} max_steps={settings.max_steps}"
            if settings.mode in ("fuzz", "random"):
                what += f" seconds={settings.seconds}"
        self.log(f"mode={settings.mode} {what} store={where} commit={_commit()}")
        if not settings.shared and settings.mode in ("fuzz", "random"):
            corpus = f" and the corpus in {settings.corpus.resolve()}" if settings.mode == "fuzz" else ""
            self.log(f"no {BUCKET_ENV} set: crash reports stay in {settings.artifacts.resolve()}{corpus} "
                     f"(mount a volume there to keep them)")
        if settings.mode == "fuzz":
            return self.fuzz()
        from raftfuzz import cli

        self._stop_on_signals(lambda signum, frame: self._interrupt(signum))
        if settings.mode == "random":
            code = cli.main(["random", "--seconds", str(settings.seconds), "--quiet"])
            return EXIT_OK if code in (EXIT_SAFETY, EXIT_LIVENESS) else code
        if settings.mode == "reproduce":
            return cli.main(["replay", settings.fuzz_file, "--log-level", settings.log_level])
        return cli.main(["corpus", "prune"])

    def _store_description(self) -> str:
        from raftfuzz.storage import configured_store

        store = configured_store()  # a malformed bucket or key file fails here, in one line
        return "none" if store is None else store.describe()

    def _stop_on_signals(self, handler) -> None:
        # As PID 1 in a container, a signal without a handler is ignored, so
        # SIGTERM would do nothing until SIGKILL; install one explicitly.
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, handler)

    def _interrupt(self, signum: int) -> None:
        self.stop_signal = signum
        raise KeyboardInterrupt

    def fuzz(self) -> int:
        from raftfuzz.seeds import write_seed_corpus

        settings = self.settings
        settings.corpus.mkdir(parents=True, exist_ok=True)
        settings.artifacts.mkdir(parents=True, exist_ok=True)

        def forward(signum, frame):
            self.stop_signal = signum
            if self.child is not None and self.child.poll() is None:
                self.child.send_signal(signum)

        self._stop_on_signals(forward)
        deadline = time.monotonic() + settings.seconds
        found: list[Path] = []
        last_run_reports: set[str] = set()
        with tempfile.TemporaryDirectory(prefix="raftfuzz-seeds-") as seeds:
            write_seed_corpus(Path(seeds))
            for _ in range(MAX_FUZZER_STARTS):
                remaining = int(deadline - time.monotonic())
                if remaining < 1 or self.stop_signal is not None:
                    break
                before = _reports(settings.artifacts)
                code = self._run_fuzzer(seeds, remaining)
                after = _reports(settings.artifacts)
                new = sorted(path for path, stamp in after.items() if before.get(path) != stamp)
                found.extend(path for path in new if path not in found)
                if self.stop_signal is not None:
                    self.log(f"stopped by signal {self.stop_signal}; {_count(found)} this run")
                    return 128 + self.stop_signal
                if code == EXIT_OK:
                    break  # the budget ended
                if not new:
                    # Not a crash report: a bad setting (2), the bucket (5), or
                    # a harness error libFuzzer saved as a bare crash-<sha1>.
                    self.log(f"the fuzzer exited with code {code} without a crash report")
                    return code if code in (EXIT_USAGE, EXIT_STORAGE) else EXIT_HARNESS_ERROR
                for path in new:
                    self.log(f"crash report {path}")
                names = {path.name for path in new}
                if names == last_run_reports:
                    # The same input crashed again at once: it is in the corpus
                    # or the seeds, so every start would end the same way.
                    self.log("the same input crashed twice in a row (it is in the corpus); stopping early")
                    break
                last_run_reports = names
            else:
                self.log(f"the fuzzer was started {MAX_FUZZER_STARTS} times; stopping early")
        kept = "uploaded to the store (and kept in the spool)" if settings.shared else \
            f"kept in {settings.artifacts.resolve()}"
        self.log(f"budget ended: {_count(found)}" + (f", {kept}" if found else ""))
        return EXIT_OK

    def _run_fuzzer(self, seeds: str, seconds: int) -> int:
        settings = self.settings
        command = [sys.executable, "-m", "raftfuzz.atheris_main", str(settings.corpus), seeds,
                   f"-max_total_time={seconds}", f"-artifact_prefix={settings.artifacts}/"]
        self.child = subprocess.Popen(command)
        try:
            while True:
                try:
                    return self.child.wait()
                except KeyboardInterrupt:  # SIGINT outside the handler's window
                    continue
        finally:
            self.child = None


def _reports(artifacts: Path) -> dict[Path, int]:
    return {path: path.stat().st_mtime_ns for path in artifacts.glob("crash-*.json")}


def _count(reports: list[Path]) -> str:
    return f"{len(reports)} crash report{'' if len(reports) == 1 else 's'}"


def _commit() -> str:
    from raftfuzz.report import source_commit

    return source_commit()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv:
        print(f"raftfuzz: container: error: takes no arguments (got {' '.join(argv)}); it is configured by "
              "environment variables, see `python -m raftfuzz.container --help`" if argv != ["--help"]
              else __doc__, file=sys.stderr)
        return EXIT_OK if argv == ["--help"] else EXIT_USAGE
    try:
        settings = read_settings()
        return Entrypoint(settings).run()
    except ContainerSettingsError as error:
        print(f"raftfuzz: container: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        from raftfuzz.cli import report_error

        return report_error(error, "raftfuzz: container")


if __name__ == "__main__":
    sys.exit(main())
