"""Where crash reports and the shared corpus live: a small object store.

Two stores share one interface, so the corpus sync and the crash upload are
written once: ``GcsStore`` (a Google Cloud Storage bucket, see
``src/raftfuzz/store/gcs.py``) and ``LocalStore`` (a directory with the bucket's
layout, for many workers on one machine and for tests). Names are relative to
the store's root and always use ``/``; the layout mirrors ClusterFuzz:

    corpus/v<format>/<target>/<sha1>             inputs, added to, never edited
    crashes/<signature>/crash-<sha1>{,.json}     one full report per signature
    crashes/<signature>/signature.json           which input holds that report
    crashes/<signature>/occurrences/<sha1>.json  one small record per input

Every write is create-only: a worker that finds the name taken learns that
the object is already there, which is success, never an overwrite. That is
what makes every upload safe to retry and lets many workers share a bucket
without coordinating.

Which store the settings select (``BUCKET_NAME``, ``RAFTFUZZ_STORE_DIR``):
``src/raftfuzz/store/configured.py``.
"""

import os
import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from raftfuzz.run.outcome import Outcome

# Threads per bulk transfer. Against the real service each small object is
# a round trip of tens of milliseconds but only ~3 ms of client CPU, so about
# ten threads keep one core busy; 16 leaves room for slower round trips.
# More buys nothing: the client holds the GIL for that CPU time, and against
# a local emulator (no latency to hide) 4 threads are already as fast as 32
# (benchmarks/bench_storage.py).
TRANSFER_WORKERS = 16

_OBJECT_NAME = re.compile(r"^[A-Za-z0-9_.:@=+-]+(/[A-Za-z0-9_.:@=+-]+)*$")


class StorageError(Exception):
    """The store cannot be used; the message is one line naming the problem
    and the fix, and never contains key material. Its own exit code
    (Outcome.STORAGE) lets a Kubernetes Job tell "fix the bucket" from "fix
    the command" (2) and from the violation codes (3, 4)."""

    outcome = Outcome.STORAGE


class StorageUnavailable(StorageError):
    """The store did not answer in time (network, emulator down, 5xx after
    retries). Whatever was being uploaded stays in the local spool."""


class ObjectMissing(StorageError):
    """The named object does not exist."""


def check_object_name(name: str) -> str:
    """Rejects names that could escape the store's root or the bucket prefix."""
    if not _OBJECT_NAME.match(name) or any(part in (".", "..") for part in name.split("/")):
        raise StorageError(f"{name!r} is not a valid object name")
    return name


class LocalStore:
    """A directory with the bucket's layout.

    Create-only writes are a hard link from a finished temporary file: the
    link either appears complete or fails with "exists", across processes.
    The generation is the file's mtime in nanoseconds."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def describe(self) -> str:
        return str(self.root)

    def check(self) -> None:
        if not self.root.is_dir():
            raise StorageError(f"RAFTFUZZ_STORE_DIR={self.root}: no such directory; create it or unset "
                               f"RAFTFUZZ_STORE_DIR")

    def _path(self, name: str) -> Path:
        return self.root / check_object_name(name)

    def create(self, name: str, data: bytes) -> bool:
        path = self._path(name)
        staging = self.root / ".staging"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            staging.mkdir(exist_ok=True)
            temporary = staging / uuid.uuid4().hex
            temporary.write_bytes(data)
            try:
                os.link(temporary, path)
                return True
            except FileExistsError:
                return False
            finally:
                temporary.unlink()
        except OSError as error:
            raise StorageError(f"{path}: cannot write ({error.strerror})") from None

    def read(self, name: str) -> tuple[bytes, int]:
        path = self._path(name)
        try:
            with open(path, "rb") as stream:
                return stream.read(), os.fstat(stream.fileno()).st_mtime_ns
        except FileNotFoundError:
            raise ObjectMissing(f"{path}: no such object") from None
        except OSError as error:
            raise StorageError(f"{path}: cannot read ({error.strerror})") from None

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()

    def list(self, prefix: str) -> dict[str, int]:
        """Every object whose name starts with ``prefix``, with its generation."""
        base = self.root / prefix.rpartition("/")[0] if "/" in prefix else self.root
        found = {}
        for directory, subdirectories, files in os.walk(base):
            subdirectories[:] = [d for d in subdirectories if not d.startswith(".")]
            for file_name in files:
                path = Path(directory, file_name)
                name = path.relative_to(self.root).as_posix()
                if name.startswith(prefix):
                    try:
                        found[name] = path.stat().st_mtime_ns
                    except FileNotFoundError:
                        pass  # deleted since the walk saw it
        return found

    def delete(self, name: str, generation: int | None = None) -> bool:
        """Deletes the object if it still has ``generation``; False if it is
        gone or was replaced. (Checking and unlinking are two steps here; the
        bucket does it in one.)"""
        path = self._path(name)
        try:
            if generation is not None and path.stat().st_mtime_ns != generation:
                return False
            path.unlink()
            return True
        except FileNotFoundError:
            return False


def run_parallel(function, items, workers: int = TRANSFER_WORKERS) -> list:
    """``[function(item) for item in items]`` on a thread pool.

    The first StorageError stops the rest: when the bucket is down, every
    remaining transfer would only wait out its own retries, so they are
    skipped (their result is None) and the error is raised once all running
    transfers have returned. Callers keep what was not transferred locally."""
    items = list(items)
    if not items:
        return []
    stop = threading.Event()
    errors: list[StorageError] = []

    def guarded(item):
        if stop.is_set():
            return None
        try:
            return function(item)
        except StorageError as error:
            stop.set()
            errors.append(error)
            return None

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(items))),
                            thread_name_prefix="raftfuzz-transfer") as pool:
        results = list(pool.map(guarded, items))
    if errors:
        raise errors[0]
    return results
