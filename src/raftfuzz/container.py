"""The container entrypoint: one process, configured by environment variables.

    python -m raftfuzz.container        (also ``raftfuzz container``; the image's ENTRYPOINT)

| variable | meaning | default |
|---|---|---|
| ``FUZZ_MODE`` | ``fuzz`` (coverage-guided), ``random``, ``reproduce`` or ``prune`` | ``fuzz`` |
| ``FUZZ_SECONDS`` | time budget of a ``fuzz`` or ``random`` run | 3600 |
| ``MAX_STEPS`` | simulated events per execution | 5000 |
| ``FUZZ_FILE`` | ``reproduce``: a crash ``.json`` or raw input, a path or ``gs://`` URL | (required) |
| ``RAFTFUZZ_TARGET`` | node class to fuzz | ``raftfuzz.node.raft:RaftNode`` |
| ``BUCKET_NAME``, ``RAFTFUZZ_BUCKET_PREFIX`` | shared corpus and crash reports | unset: all local |
| ``GOOGLE_APPLICATION_CREDENTIALS`` | service-account key file | the ambient identity |
| ``RAFTFUZZ_LOG`` | ``reproduce`` trace detail: none, info, debug, trace | ``info`` |
| ``RAFTFUZZ_CORPUS`` | the local corpus directory | ``corpus`` |
| ``RAFTFUZZ_ARTIFACTS`` | where crash reports are written first | ``artifacts`` |
| ``JOB_COMPLETION_INDEX`` | set by an Indexed Kubernetes Job: part of the worker's name | unset |

The settings are read and checked once (src/raftfuzz/run/settings.py) and every
mode calls the same functions as the command line with them: ``random`` is
``raftfuzz.run.random_mode.run_random`` (``raftfuzz random --seconds ...``),
``reproduce`` is ``raftfuzz.run.replay.replay`` (``raftfuzz replay FUZZ_FILE``)
and ``prune`` is ``raftfuzz.store.cli.prune_shared_corpus`` (``raftfuzz
corpus prune``), all in this process. ``fuzz`` runs ``python -m
raftfuzz.atheris_main CORPUS SEEDS -max_total_time=...`` as a child, because
libFuzzer ends its process at every crash (``exit``/``_Exit``, no
``finally``) and this process outlives it to restart it, rebuild reports and
sync; with a bucket this process is also the sync supervisor
(``src/raftfuzz/store/supervisor.py``) around each start, so a worker is two
processes, never three.

Exit codes. ``reproduce`` exits with the verdict: 3 safety, 4 liveness, 0 no
violation, 1 not reproduced. ``fuzz`` and ``random`` are workers: a crash is
a finding, stored in the bucket (or in the artifacts directory without one),
not a failure of the worker, so they exit 0 when the budget ends, whether or
not they found crashes; libFuzzer stops at a crash, so ``fuzz`` starts it
again for the rest of the budget. A non-zero exit from them means the worker
itself failed — 2 a bad setting (one line names it), 5 the bucket, 1 a
harness error — which is what a Kubernetes Job should count and retry.
SIGTERM (what Kubernetes sends) stops the fuzzer, pushes what it found, and
exits 143 (SIGINT: 130). The corpus and artifacts directories are checked
before the fuzzer starts (a file or a read-only mount is exit code 2), and a
raw crash the fuzzer left without its report has the report rebuilt.
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from raftfuzz.run import random_mode

from raftfuzz.run import replay

from raftfuzz.store import cli as storage_cli
from raftfuzz.store.crashes import RebuildError, orphans, rebuild_report
from raftfuzz.store.supervisor import Supervisor
from raftfuzz.run.outcome import Outcome
from raftfuzz.store.paths import writable_directory
from raftfuzz.run.report import source_commit
from raftfuzz.schedule.seeds import write_seed_corpus
from raftfuzz.run.settings import Settings, SettingsError
from raftfuzz.store.configured import configured_store
from raftfuzz.run.target import split_target
from raftfuzz.run.user_errors import report_error

# libFuzzer stops at each crash and is started again for the rest of the
# budget. Each start costs a second or two (imports, corpus load), so this
# bounds the time a target that crashes on almost every input spends
# restarting; past it the worker stops early with what it has.
MAX_FUZZER_STARTS = 200


def container_settings(environ=None) -> Settings:
    """The settings from the environment, with the container's own rules:
    a mode's required settings, and the worker's name. SettingsError names
    the first bad one."""
    settings = Settings.load(environ=environ)
    if settings.fuzz_mode == "reproduce" and settings.fuzz_file is None:
        raise SettingsError("FUZZ_MODE=reproduce needs FUZZ_FILE (a crash-<sha1>.json or raw "
                            "input: a path in the container or a gs://BUCKET/... URL)")
    if settings.fuzz_mode == "prune" and not settings.shared:
        raise SettingsError("FUZZ_MODE=prune prunes the shared corpus; set BUCKET_NAME (or RAFTFUZZ_STORE_DIR)")
    if settings.worker is None:
        host = socket.gethostname()
        settings = replace(settings, worker=host if settings.job_index is None else f"{host}-index{settings.job_index}")
    return settings


class Entrypoint:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = None
        self.supervisor: Supervisor | None = None  # with a store: syncs around each fuzzer start
        self.stop_signal: int | None = None
        self.child: subprocess.Popen | None = None
        self.kept: set[Path] = set()  # raw crashes whose report could not be rebuilt

    def log(self, message: str) -> None:
        print(f"raftfuzz: container[{self.settings.worker}]: {message}", file=sys.stderr, flush=True)

    def run(self) -> int:
        settings = self.settings
        # Children (the fuzzer, a rebuilt report's replay) see the same
        # settings and the same worker name.
        settings.export()
        target = settings.target_spec
        split_target(target)
        where = self._store_description()
        if settings.fuzz_mode == "reproduce":  # the report names its own target and step limit
            what = f"file={settings.fuzz_file}"
        else:
            what = f"target={target} max_steps={settings.max_steps}"
            if settings.fuzz_mode in ("fuzz", "random"):
                what += f" seconds={settings.fuzz_seconds}"
        self.log(f"mode={settings.fuzz_mode} {what} store={where} commit={source_commit(settings.commit)}")
        if not settings.shared and settings.fuzz_mode in ("fuzz", "random"):
            corpus = f" and the corpus in {_absolute(settings.corpus)}" if settings.fuzz_mode == "fuzz" else ""
            self.log(f"no BUCKET_NAME set: crash reports stay in {_absolute(settings.artifacts)}{corpus} "
                     f"(mount a volume there to keep them)")
        if settings.fuzz_mode == "fuzz":
            return self.fuzz()
        self._stop_on_signals(lambda signum, frame: self._interrupt(signum))
        try:
            if settings.fuzz_mode == "random":
                code = random_mode.run_random(settings, random_mode.Budget(seconds=settings.fuzz_seconds, quiet=True))
                # A violation is a finding, saved; the worker did its job.
                code = Outcome.OK if code in (Outcome.SAFETY, Outcome.LIVENESS) else code
            elif settings.fuzz_mode == "reproduce":
                code = replay.replay(settings, settings.fuzz_file)
            else:
                code = storage_cli.prune_shared_corpus(settings)
        except KeyboardInterrupt:
            if self.stop_signal is None:
                raise
            code = Outcome.SIGINT
        # A signal ends every mode alike: 128 + its number (143 for SIGTERM),
        # not the 130 of the KeyboardInterrupt it is delivered as.
        return Outcome.for_signal(self.stop_signal) if self.stop_signal is not None else code

    def _store_description(self) -> str:
        self.store = configured_store(self.settings)  # a malformed bucket or key file fails here, in one line
        return "none" if self.store is None else self.store.describe()

    def _stop_on_signals(self, handler) -> None:
        # As PID 1 in a container, a signal without a handler is ignored, so
        # SIGTERM would do nothing until SIGKILL; install one explicitly.
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, handler)

    def _interrupt(self, signum: int) -> None:
        self.stop_signal = signum
        raise KeyboardInterrupt

    def fuzz(self) -> int:
        settings = self.settings
        # Checked before any fuzzing: a crash found later must have somewhere to go.
        writable_directory(settings.corpus, "the corpus directory", "RAFTFUZZ_CORPUS")
        writable_directory(settings.artifacts, "the artifacts directory", "RAFTFUZZ_ARTIFACTS")

        def forward(signum, frame):
            self.stop_signal = signum
            if self.child is not None and self.child.poll() is None:
                self.child.send_signal(signum)

        self._stop_on_signals(forward)
        deadline = time.monotonic() + settings.fuzz_seconds
        if self.store is not None and settings.sync:
            # Steps 1-3 of src/raftfuzz/store/supervisor.py, once per worker: a
            # store that is misconfigured or down stops it here (exit 5).
            self.supervisor = Supervisor(self.store, settings, str(settings.corpus))
            self.supervisor.start()
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
                self._recover_orphans()
                after = _reports(settings.artifacts)
                new = sorted(path for path, stamp in after.items() if before.get(path) != stamp)
                found.extend(path for path in new if path not in found)
                if self.stop_signal is not None:
                    self.log(f"stopped by signal {self.stop_signal}; {_count(found)} this run")
                    return Outcome.for_signal(self.stop_signal)
                if code == Outcome.OK:
                    break  # the budget ended
                if not new:
                    # Not a crash report: a bad setting (2), the bucket (5), or
                    # a harness error libFuzzer saved as a bare crash-<sha1>.
                    lost = (" (a crash whose report could not be written: its input is printed above, "
                            "base64)") if code == Outcome.LIBFUZZER_CRASH else ""
                    self.log(f"the fuzzer exited with code {code} without a crash report{lost}")
                    return code if code in (Outcome.USAGE, Outcome.STORAGE) else Outcome.HARNESS_ERROR
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
            f"kept in {_absolute(settings.artifacts)}"
        self.log(f"budget ended: {_count(found)}" + (f", {kept}" if found else ""))
        return Outcome.OK

    def _recover_orphans(self) -> None:
        """A raw crash-<sha1> the fuzzer left without its report (a write
        that failed, a kill between the two files) gets its report rebuilt
        here; one that does not reproduce is kept, and said so."""
        for raw in orphans(self.settings.artifacts):
            if raw in self.kept:
                continue  # tried after an earlier start already
            self.kept.add(raw)
            try:
                if rebuild_report(raw, self.settings) is not None:
                    continue
                why = "it did not reproduce with this target"
            except RebuildError as error:
                why = str(error)
            self.log(f"{raw} has no report ({why}); the input is kept there, and a sync with a bucket "
                     f"uploads it alone")

    def _run_fuzzer(self, seeds: str, seconds: int) -> int:
        settings = self.settings
        command = [sys.executable, "-m", "raftfuzz.atheris_main", str(settings.corpus), seeds,
                   f"-max_total_time={seconds}", f"-artifact_prefix={settings.artifacts}/"]
        if self.supervisor is not None:
            code = self.supervisor.run(command)  # forwards signals itself, and syncs
            if self.supervisor.stopped_by is not None:
                self.stop_signal = self.supervisor.stopped_by
            return code
        # Syncing is this process's job (or there is no store): never the child's.
        self.child = subprocess.Popen(command, env=settings.child_environment(sync=False))
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


def _absolute(path: Path) -> Path:
    """For messages: absolute, without following symlinks (a symlink loop
    is reported by the directory check, not by a traceback here)."""
    return Path(os.path.abspath(path))


def _count(reports: list[Path]) -> str:
    return f"{len(reports)} crash report{'' if len(reports) == 1 else 's'}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv:
        print(f"raftfuzz: container: error: takes no arguments (got {' '.join(argv)}); it is configured by "
              "environment variables, see `python -m raftfuzz.container --help`" if argv != ["--help"]
              else __doc__, file=sys.stderr)
        return Outcome.OK if argv == ["--help"] else Outcome.USAGE
    try:
        return Entrypoint(container_settings()).run()
    except KeyboardInterrupt:
        return Outcome.SIGINT
    except Exception as error:
        return report_error(error, "raftfuzz: container")


if __name__ == "__main__":
    sys.exit(main())
