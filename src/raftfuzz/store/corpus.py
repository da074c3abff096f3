"""The shared corpus in the store: pull before fuzzing, push what is new,
prune to a minimal set.

Entries live at ``corpus/v<format>/<target>/<sha1>``, named by the SHA-1 of
their content as libFuzzer names its files, so a name alone says whether the
store has an entry. The input format version (raftfuzz.schedule.codec) is part of
the path: a worker only ever pulls inputs that mean to it what they meant to
the worker that found them, and a format change starts a new corpus beside
the old one instead of mixing the two. To stay fast with tens of thousands of entries a sync lists
the store once (1,000 names per request) and then moves only the difference,
on a thread pool; a long-running worker keeps that listing in memory and
pushes only what it has not pushed before.

Workers only ever add, create-only: two workers pushing the same entry is
one object. Only the prune deletes, and it deletes only entries it saw
before merging: it lists, downloads, merges with libFuzzer ``-merge=1``,
uploads anything in the minimal set the store lacks, then deletes the listed
entries that are not in the minimal set. Whatever other workers add while
it runs is not in its listing, so it survives until the next prune.
"""

import hashlib
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from raftfuzz.store.paths import write_atomic
from raftfuzz.schedule.codec import FORMAT_VERSION
from raftfuzz.run.settings import Settings
from raftfuzz.store.objects import TRANSFER_WORKERS, ObjectMissing, StorageError, run_parallel

# A schedule is at most a few KiB; anything far larger in a corpus directory
# is not an input raftfuzz wrote and is not worth a transfer.
MAX_ENTRY_BYTES = 1 << 20
# The merge runs every entry once (a 10,000-entry corpus takes minutes); past
# this it is stuck, and the prune gives up without deleting anything.
MERGE_TIMEOUT_SECONDS = 2 * 60 * 60
_SHA1 = re.compile(r"^[0-9a-f]{40}$")


class PruneError(StorageError):
    """The merge failed; nothing was deleted."""


def target_folder(target: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", target)


def corpus_prefix(target: str, format_version: int = FORMAT_VERSION) -> str:
    return f"corpus/v{format_version}/{target_folder(target)}/"


@dataclass
class Transfer:
    moved: int = 0      # uploaded or downloaded
    present: int = 0    # already on the other side
    skipped: int = 0    # too large, unreadable or not matching its name
    seconds: float = 0.0
    workers: int = TRANSFER_WORKERS

    def summary(self, verb: str, where: str) -> str:
        text = f"{verb} {self.moved} entries, {self.present} already in {where}"
        if self.skipped:
            text += f", {self.skipped} skipped"
        return text + f" ({self.seconds:.1f}s, up to {self.workers} parallel transfers)"


class CorpusSync:
    """One worker's view of the shared corpus of one target."""

    def __init__(self, store, target: str, workers: int = TRANSFER_WORKERS) -> None:
        self.store = store
        self.prefix = corpus_prefix(target)
        self.workers = workers
        # SHA-1s the store is known to hold: the listing plus what was pushed.
        self.remote: set[str] | None = None
        # Local file -> (size, mtime_ns, sha1), so a periodic push rehashes
        # only files that are new or changed.
        self._hashes: dict[str, tuple[int, int, str]] = {}

    def where(self) -> str:
        return f"{self.store.describe()}/{self.prefix}"

    def list_remote(self) -> set[str]:
        names = self.store.list(self.prefix)
        self.remote = {name[len(self.prefix):] for name in names if _SHA1.match(name[len(self.prefix):])}
        return self.remote

    def local_entries(self, directories) -> tuple[dict[str, Path], int]:
        """{sha1: path} of the regular files in the directories (not
        recursive, dot-files ignored), and how many were skipped."""
        entries, skipped = {}, 0
        for directory in directories:
            try:
                scan = list(os.scandir(directory))
            except FileNotFoundError:
                continue
            for entry in scan:
                if entry.name.startswith(".") or not entry.is_file():
                    continue
                try:
                    status = entry.stat()
                    if status.st_size > MAX_ENTRY_BYTES:
                        skipped += 1
                        continue
                    cached = self._hashes.get(entry.path)
                    if cached and cached[:2] == (status.st_size, status.st_mtime_ns):
                        sha1 = cached[2]
                    else:
                        with open(entry.path, "rb") as stream:
                            sha1 = hashlib.sha1(stream.read()).hexdigest()
                        self._hashes[entry.path] = (status.st_size, status.st_mtime_ns, sha1)
                except OSError:
                    skipped += 1  # removed or unreadable since the scan
                    continue
                entries.setdefault(sha1, Path(entry.path))
        return entries, skipped

    def pull(self, directory) -> Transfer:
        """Downloads the entries the store has and the directory lacks."""
        started = time.monotonic()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        remote = self.remote if self.remote is not None else self.list_remote()
        local, _ = self.local_entries([directory])
        missing = sorted(remote - local.keys())

        def download(sha1: str) -> str:
            try:
                data, _ = self.store.read(self.prefix + sha1)
            except ObjectMissing:
                return "skipped"  # pruned since the listing
            if hashlib.sha1(data).hexdigest() != sha1:
                return "skipped"  # corrupted in the store; never feed it to the fuzzer under a false name
            write_atomic(directory / sha1, data)
            return "moved"

        outcomes = run_parallel(download, missing, self.workers)
        return Transfer(moved=outcomes.count("moved"), present=len(remote) - len(missing),
                        skipped=outcomes.count("skipped"), seconds=time.monotonic() - started,
                        workers=self.workers)

    def push(self, directories) -> Transfer:
        """Uploads local entries the store is not known to hold, create-only."""
        started = time.monotonic()
        remote = self.remote if self.remote is not None else self.list_remote()
        local, skipped = self.local_entries(directories)
        new = sorted(sha1 for sha1 in local if sha1 not in remote)

        def upload(sha1: str) -> str:
            try:
                data = local[sha1].read_bytes()
            except OSError:
                return "skipped"
            if hashlib.sha1(data).hexdigest() != sha1:
                return "skipped"  # rewritten since it was hashed; the next push takes it
            created = self.store.create(self.prefix + sha1, data)
            remote.add(sha1)
            return "moved" if created else "present"

        outcomes = run_parallel(upload, new, self.workers)
        return Transfer(moved=outcomes.count("moved"),
                        present=len(local) - len(new) + outcomes.count("present"),
                        skipped=skipped + outcomes.count("skipped"), seconds=time.monotonic() - started,
                        workers=self.workers)


@dataclass
class PruneResult:
    listed: int
    kept: int
    uploaded: int
    deleted: int
    seconds: float

    def summary(self, where: str) -> str:
        return (f"pruned {where}: {self.listed} entries merged into {self.kept}, {self.deleted} deleted, "
                f"{self.uploaded} uploaded ({self.seconds:.1f}s)")


def prune(store, settings: Settings, work_directory: Path | None = None) -> PruneResult:
    """Replaces the store's corpus of the settings' target with a minimal set
    of the same coverage, without touching entries added while it runs."""
    started = time.monotonic()
    target = settings.target_spec
    with tempfile.TemporaryDirectory(prefix="raftfuzz-prune-", dir=work_directory) as work:
        work = Path(work)
        inputs, minimal, artifacts = work / "inputs", work / "minimal", work / "artifacts"
        for directory in (inputs, minimal, artifacts):
            directory.mkdir()
        sync = CorpusSync(store, target)
        listing = {name[len(sync.prefix):]: generation
                   for name, generation in store.list(sync.prefix).items()
                   if _SHA1.match(name[len(sync.prefix):])}
        sync.remote = set(listing)
        sync.pull(inputs)
        _merge(settings, minimal, inputs, artifacts)
        kept, _ = sync.local_entries([minimal])
        if listing and not kept:
            raise PruneError(f"the merge of {len(listing)} entries kept none; nothing was deleted")
        uploaded = sync.push([minimal]).moved
        doomed = sorted(sha1 for sha1 in listing if sha1 not in kept)
        deleted = run_parallel(lambda sha1: store.delete(sync.prefix + sha1, generation=listing[sha1]), doomed)
        return PruneResult(listed=len(listing), kept=len(kept), uploaded=uploaded,
                           deleted=sum(1 for done in deleted if done), seconds=time.monotonic() - started)


def _merge(settings: Settings, output: Path, inputs: Path, artifacts: Path) -> None:
    """``python -m raftfuzz.atheris_main -merge=1 OUTPUT INPUTS`` for the target.
    Crashes found while merging go to a scratch directory: the prune is not
    a fuzzing campaign, and libFuzzer's merge already leaves crashers out."""
    command = [sys.executable, "-m", "raftfuzz.atheris_main", f"--target={settings.target_spec}", "-merge=1",
               f"-artifact_prefix={artifacts}/", str(output), str(inputs)]
    environment = settings.child_environment(sync=False, artifacts=artifacts)
    try:
        completed = subprocess.run(command, env=environment, cwd=output.parent, capture_output=True,
                                   text=True, timeout=MERGE_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise PruneError(f"the merge ran longer than {MERGE_TIMEOUT_SECONDS}s; nothing was deleted") from None
    if completed.returncode != 0:
        last = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        raise PruneError(f"the merge failed with exit code {completed.returncode} ({last}); nothing was deleted")
