"""Fuzzing against a shared store: a small supervisor around the fuzzer.

With a store configured (``BUCKET_NAME`` or ``RAFTFUZZ_STORE_DIR``),
``python -m raftfuzz.atheris_main CORPUS_DIR... [flags]`` does this:

1. checks the store: misconfigured or unreachable is one line and exit 5;
2. uploads crash reports that earlier runs left in the spool;
3. pulls the shared corpus into the first corpus directory (where libFuzzer
   writes new entries);
4. runs the fuzzer as a child process: the same command with
   ``RAFTFUZZ_SYNC=0``;
5. while it runs, uploads each new crash report within
   ``CRASH_POLL_SECONDS`` of its being written (rebuilding the report of a
   raw ``crash-<sha1>`` left without one, see src/raftfuzz/store/crashes.py), and
   pushes new corpus entries every ``RAFTFUZZ_SYNC_INTERVAL`` seconds
   (default 60);
6. when the fuzzer exits, or on SIGTERM / SIGINT (forwarded to it; SIGTERM is
   what Kubernetes sends), uploads and pushes one last time, then exits with
   the fuzzer's exit code, or 128 + the signal's number when a signal
   stopped it (143 for SIGTERM, as the container).

Why a process and not a thread inside the fuzzer: libFuzzer ends a run with
``exit()``, and a crash, a timeout or its own SIGTERM handler with
``_Exit()``; neither runs Python's ``atexit`` or ``finally``, so a final push
from inside the fuzzer could not be relied on. An uploader thread would also
take the GIL from the instrumented fuzz loop. From outside, every way the
fuzzer can end looks the same, including ``-jobs`` and ``-fork`` children.

The container's entrypoint (src/raftfuzz/container.py), which must outlive
libFuzzer anyway to restart it after each crash, runs this same supervisor
in its own process around each fuzzer start, so a worker is two processes.

Failures after the start never stop the fuzzer: a crash that cannot be
uploaded stays in the spool (one line says so) and is retried at the next
interval, by the next run, or by ``raftfuzz sync``.
"""

import os
import signal
import subprocess
import sys
import time

from raftfuzz.store.corpus import CorpusSync
from raftfuzz.store.crashes import CrashUploader
from raftfuzz.run.outcome import Outcome
from raftfuzz.run.settings import Settings
from raftfuzz.store.objects import StorageError
from raftfuzz.store.configured import configured_store

# How often the spool is checked for new crash reports: a directory listing,
# cheap enough to do every couple of seconds so reports leave the machine
# promptly (libFuzzer stops at the first crash, so this mostly matters for
# -jobs and -fork).
CRASH_POLL_SECONDS = 2.0
# How often new corpus entries are pushed, and how long to leave a store that
# failed alone (Settings.sync_interval, RAFTFUZZ_SYNC_INTERVAL, default 60 s):
# frequent enough that a killed pod loses at most a minute of corpus, rare
# enough that the store is never busy with one worker.
# A raw crash-<sha1> this young may still be waiting for its .json (the
# harness writes the two one after the other); older, its report is rebuilt.
ORPHAN_MIN_AGE_SECONDS = 10.0
# libFuzzer flags under which the fuzzer does not fuzz a corpus directory
# (merging, minimising, replaying): these run exactly as without a store.
_NOT_FUZZING = ("-merge=", "-set_cover_merge=", "-merge_inner=", "-merge_control_file=",
                "-minimize_crash=", "-minimize_crash_internal_step=", "-cleanse_crash=",
                "-analyze_dict=", "-help=")


def log(message: str) -> None:
    print(f"raftfuzz: sync: {message}", file=sys.stderr, flush=True)


def wants_sync(libfuzzer: list[str], settings: Settings) -> bool:
    if not settings.sync or not settings.shared:
        return False
    for argument in libfuzzer:
        if argument.startswith(_NOT_FUZZING) and argument.partition("=")[2] not in ("", "0"):
            return False
        if not argument.startswith("-") and os.path.isfile(argument):
            return False  # replaying inputs, not fuzzing
    return True


class Supervisor:
    """Syncs one worker's spool and corpus with the store around fuzzer
    runs; the container's entry runs one around each of its fuzzer starts."""

    def __init__(self, store, settings: Settings, corpus_directory: str | None) -> None:
        self.store = store
        self.settings = settings
        self.uploader = CrashUploader(store, settings.artifacts, settings)
        self.corpus = CorpusSync(store, settings.target_spec) if corpus_directory else None
        self.corpus_directory = corpus_directory
        self.interval = settings.sync_interval
        self.crashes_paused_until = 0.0
        self.stopped_by: int | None = None  # the signal that stopped the last run

    def start(self) -> None:
        """Steps 1–3; StorageError here stops the run."""
        self.store.check()
        self.upload_crashes(final=True, raise_errors=True)
        if self.corpus is not None:
            transfer = self.corpus.pull(self.corpus_directory)
            log(transfer.summary("pulled", self.corpus.where()))

    def upload_crashes(self, *, final: bool = False, raise_errors: bool = False) -> None:
        if not final and time.monotonic() < self.crashes_paused_until:
            return
        # Once the fuzzer has exited nothing is half-written any more.
        self.uploader.orphan_min_age_seconds = 0.0 if final else ORPHAN_MIN_AGE_SECONDS
        if not self.uploader.has_work():
            return
        try:
            result = self.uploader.upload_spool()
        except (StorageError, OSError) as error:
            if raise_errors:
                raise
            self.crashes_paused_until = time.monotonic() + self.interval
            log(f"crash reports kept in {self.uploader.artifacts} for the next sync: {error}")
            return
        log(f"crash reports to {self.store.describe()}: {result.summary()}")

    def push_corpus(self) -> None:
        if self.corpus is None:
            return
        try:
            transfer = self.corpus.push([self.corpus_directory])
        except (StorageError, OSError) as error:
            log(f"corpus entries kept in {self.corpus_directory} for the next push: {error}")
            return
        if transfer.moved:
            log(transfer.summary("pushed", self.corpus.where()))

    def run(self, command: list[str]) -> int:
        """Runs the fuzzer (with syncing off: this process syncs) to its
        end, syncing meanwhile and once more at the end."""
        child = subprocess.Popen(command, env=self.settings.child_environment(sync=False))
        self.stopped_by = None

        def forward(signum, frame):
            if self.stopped_by is None:
                self.stopped_by = signum
            if child.poll() is None:
                child.send_signal(signum)

        previous = {number: signal.signal(number, forward) for number in (signal.SIGTERM, signal.SIGINT)}
        try:
            next_push = time.monotonic() + self.interval
            while True:
                try:
                    child.wait(timeout=CRASH_POLL_SECONDS)
                    break
                except subprocess.TimeoutExpired:
                    pass
                self.upload_crashes()
                if time.monotonic() >= next_push:
                    self.push_corpus()
                    next_push = time.monotonic() + self.interval
            # The final round runs with signals still forwarded, so a second
            # SIGTERM during it does not kill the supervisor mid-upload.
            self.upload_crashes(final=True)
            self.push_corpus()
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
        code = child.returncode
        if self.stopped_by is not None:
            # libFuzzer ends an interrupted run with its own code (72); a
            # stopped process answers 128 + signal, as the container does.
            return Outcome.for_signal(self.stopped_by)
        return Outcome.for_signal(-code) if code < 0 else code


def supervise(settings: Settings, own: list[str], libfuzzer: list[str]) -> int:
    from raftfuzz.run.target import split_target

    split_target(settings.target_spec)  # a malformed target fails here, before any transfer
    corpus_directory = next((argument for argument in libfuzzer if not argument.startswith("-")), None)
    try:
        store = configured_store(settings)
        supervisor = Supervisor(store, settings, corpus_directory)
        supervisor.start()
    except (StorageError, OSError) as error:
        print(f"raftfuzz: error: {error}", file=sys.stderr)
        return Outcome.STORAGE
    return supervisor.run([sys.executable, "-m", "raftfuzz.atheris_main", *own, *libfuzzer])
