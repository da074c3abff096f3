"""The ``raftfuzz`` subcommands that talk to the shared store.

    raftfuzz corpus pull DIR           shared corpus -> DIR (what DIR lacks)
    raftfuzz corpus push DIR...        DIR -> shared corpus (what the store lacks)
    raftfuzz corpus prune              merge the shared corpus into a minimal set
    raftfuzz crashes list              one line per signature
    raftfuzz crashes fetch [SIG...]    download reports to crashes/<signature>/
    raftfuzz crashes push              upload the crash reports in the spool
    raftfuzz sync [CORPUS_DIR]         crashes push, then corpus push and pull
    raftfuzz replay gs://BUCKET/.../crash-<sha1>.json

The store comes from the settings (``BUCKET_NAME`` and
``RAFTFUZZ_BUCKET_PREFIX``, or ``RAFTFUZZ_STORE_DIR``); see
``src/raftfuzz/store/configured.py``. A store that is misconfigured or down is one line
and exit code 5.
"""

import os
import sys
import tempfile
from pathlib import Path

from raftfuzz.store.corpus import CorpusSync, prune
from raftfuzz.store.crashes import CrashUploader, fetch_crashes, list_crashes
from raftfuzz.store.gcs import GcsStore
from raftfuzz.run.outcome import Outcome
from raftfuzz.store.paths import readable_directory, writable_directory
from raftfuzz.run.settings import Settings
from raftfuzz.store.objects import StorageError
from raftfuzz.store.configured import required_store
from raftfuzz.run.target import split_target


def add_parsers(commands, common_target) -> None:
    corpus = commands.add_parser("corpus", help="pull, push or prune the shared corpus")
    corpus_commands = corpus.add_subparsers(dest="corpus_command", required=True)
    pull = corpus_commands.add_parser("pull", help="download the entries DIR lacks")
    pull.add_argument("directory", type=Path)
    push = corpus_commands.add_parser("push", help="upload the entries the store lacks")
    push.add_argument("directories", type=Path, nargs="+")
    prune = corpus_commands.add_parser("prune", help="merge (libFuzzer -merge=1) into a minimal set")
    for sub in (pull, push, prune):
        common_target(sub)

    crashes = commands.add_parser("crashes", help="list, fetch or upload crash reports")
    crash_commands = crashes.add_subparsers(dest="crashes_command", required=True)
    crash_commands.add_parser("list", help="one line per signature")
    fetch = crash_commands.add_parser("fetch", help="download each signature's report")
    fetch.add_argument("signatures", nargs="*", help="signatures to fetch (default: all)")
    fetch.add_argument("--dest", type=Path, default=Path("crashes"),
                       help="directory for <signature>/crash-<sha1>{,.json} (default: crashes)")
    crash_push = crash_commands.add_parser("push", help="upload the crash reports in the spool")
    crash_push.add_argument("--artifacts", help="the spool (env RAFTFUZZ_ARTIFACTS; default artifacts)")
    common_target(crash_push)  # replays raw crash inputs left without a report

    sync = commands.add_parser("sync", help="upload spooled crashes; push then pull a corpus directory")
    sync.add_argument("corpus_directory", type=Path, nargs="?")
    sync.add_argument("--artifacts", help="the spool (env RAFTFUZZ_ARTIFACTS; default artifacts)")
    common_target(sync)


def _check_paths(arguments, settings: Settings) -> None:
    """Local paths are checked before the store is touched: one line, exit 2."""
    command = arguments.command
    if command == "corpus" and arguments.corpus_command == "pull":
        writable_directory(arguments.directory, "the corpus directory", "the DIR argument")
    elif command == "corpus" and arguments.corpus_command == "push":
        for directory in arguments.directories:
            readable_directory(directory, "a corpus directory", "the DIR arguments")
    elif command == "crashes" and arguments.crashes_command == "fetch":
        writable_directory(arguments.dest, "the destination directory", "--dest")
    if command == "sync" and arguments.corpus_directory is not None:
        writable_directory(arguments.corpus_directory, "the corpus directory", "the CORPUS_DIR argument")
    if command == "sync" or (command == "crashes" and arguments.crashes_command == "push"):
        spool = settings.artifacts
        if os.path.lexists(spool):  # no spool yet: nothing to upload
            readable_directory(spool, "the artifacts directory", "--artifacts (or RAFTFUZZ_ARTIFACTS)")


def dispatch(arguments, settings: Settings) -> int:
    _check_paths(arguments, settings)
    store = required_store(settings)
    store.check()
    command = arguments.command
    if command == "corpus":
        split_target(settings.target_spec)
        sync = CorpusSync(store, settings.target_spec)
        if arguments.corpus_command == "pull":
            print(sync.pull(arguments.directory).summary("pulled", sync.where()))
        elif arguments.corpus_command == "push":
            print(sync.push(arguments.directories).summary("pushed", sync.where()))
        else:
            print(prune(store, settings).summary(sync.where()))
        return Outcome.OK
    if command == "crashes":
        return _crashes(store, arguments, settings)
    if command == "sync":
        _push_spool(store, settings)
        if arguments.corpus_directory is not None:
            split_target(settings.target_spec)
            sync = CorpusSync(store, settings.target_spec)
            print(sync.push([arguments.corpus_directory]).summary("pushed", sync.where()))
            print(sync.pull(arguments.corpus_directory).summary("pulled", sync.where()))
        return Outcome.OK
    raise AssertionError(command)


def prune_shared_corpus(settings: Settings) -> int:
    """``raftfuzz corpus prune`` (the container's ``prune`` mode)."""
    store = required_store(settings)
    store.check()
    split_target(settings.target_spec)
    sync = CorpusSync(store, settings.target_spec)
    print(prune(store, settings).summary(sync.where()))
    return Outcome.OK


def _push_spool(store, settings: Settings) -> None:
    uploader = CrashUploader(store, settings.artifacts, settings)
    result = uploader.upload_spool()
    print(f"crash reports from {uploader.artifacts} to {store.describe()}: {result.summary()}")
    for problem in result.broken:
        print(f"  left in the spool: {problem}", file=sys.stderr)


def _crashes(store, arguments, settings: Settings) -> int:
    if arguments.crashes_command == "list":
        summaries = list_crashes(store)
        if not summaries:
            print(f"no crashes in {store.describe()}")
        for summary in summaries:
            report = ", ".join(summary.reports) or "report pending (its finder has not uploaded it yet)"
            print(f"{summary.signature}  occurrences={summary.occurrences}  {report}")
    elif arguments.crashes_command == "fetch":
        for path in fetch_crashes(store, arguments.signatures, arguments.dest):
            print(path)
    else:
        _push_spool(store, settings)
    return Outcome.OK


class DownloadedReport:
    """A ``gs://`` crash file downloaded to a temporary directory for replay;
    use as a context manager, which yields the local path."""

    def __init__(self, url: str, settings: Settings) -> None:
        self.url = url
        self.settings = settings
        self._directory: tempfile.TemporaryDirectory | None = None

    def __enter__(self) -> Path:
        bucket, _, name = self.url.removeprefix("gs://").partition("/")
        if not bucket or not name or name.endswith("/"):
            raise StorageError(f"{self.url}: not an object URL; give gs://BUCKET/path/crash-<sha1>.json")
        data, _ = GcsStore(bucket, settings=self.settings).read(name)
        self._directory = tempfile.TemporaryDirectory(prefix="raftfuzz-replay-")
        path = Path(self._directory.name) / name.rpartition("/")[2]
        path.write_bytes(data)
        return path

    def __exit__(self, *exception) -> None:
        if self._directory is not None:
            self._directory.cleanup()
