"""PySyncObj's files on the simulated disk: its journal, its meta file and its
full-dump file, and how they are rebuilt after a crash.

PySyncObj 0.3.17 keeps three files (``pysyncobj/journal.py``,
``pysyncobj/serializer.py``):

- the **journal** (``FileJournal``): the log, ``(command, index, term)``
  records written to an mmap as they are added; after a log compaction it
  starts at the entry *before* the last applied one;
- the **meta file** (``MetaStorer``): currentTerm and votedFor, stored
  synchronously by ``setCurrentTerm``, and the commit index, stored lazily
  (by the next ``setCurrentTerm`` or the once-a-second timer);
- the **full dump** (``Serializer``): a gzipped pickle of the state machine
  and the last two applied entries, written to a temporary file and renamed
  over the old one; after the rename, the next tick compacts the journal.

``SimulatedJournal`` is ``FileJournal``'s behaviour over a list, and
``SimulatedFiles`` is the little file system the serializer writes the dump
to (``open``/``atomicReplace``/``os.path.isfile`` are routed here). Neither
syncs: what PySyncObj wrote to the operating system is what the adapter
hands to the simulated disk, through ``Ready``:

- journal records → ``Ready.entries`` (``entries_from`` is where it changed);
- the meta file, plus where the journal starts and a dump written but not
  yet followed by a compaction → ``Ready.hard_state`` as
  ``(currentTerm, StoredMeta(...))``;
- the dump, when the journal is compacted to it (or cleared and reloaded
  from it) → ``Ready.snapshot`` as a ``DumpSnapshot``: the key-value state
  the dump holds, with the dump's bytes attached.

``restore_journal`` rebuilds the journal file exactly as PySyncObj left it
from what the disk held: the simulator drops the log prefix a snapshot
covers, and the two entries PySyncObj keeps below it come back from the dump.
"""

from typing import NamedTuple

from pysyncobj.journal import Journal

from raftfuzz.node.messages import Snapshot

DUMP_FILE = "fulldump.bin"
JOURNAL_FILE = "journal.bin"
# How many recent dumps SimulatedFiles remembers: a compaction lags the
# dump it belongs to by at most one newer dump.
DUMP_HISTORY = 3
NO_OP = b"\x01"  # _bchr(_COMMAND_TYPE.NO_OP): the entry every journal starts with


class StoredMeta(NamedTuple):
    """The second half of ``hard_state``: the meta file's votedFor and
    commit index, the index the journal file starts at, and a dump file
    newer than the last compaction (its bytes), if any."""

    voted_for: int | None
    commit_index: int
    journal_start: int
    newer_dump: bytes | None


class DumpSnapshot(Snapshot):
    """A ``Snapshot`` read from a PySyncObj full dump; ``dump`` is the file's
    bytes, so a restarted node loads exactly what PySyncObj wrote. Equality
    is the ``Snapshot``'s."""

    dump: bytes


class SimulatedJournal(Journal):
    """``FileJournal`` (pysyncobj/journal.py, 0.3.17) without the files: the
    same records, the same meta dictionary with the same defaults, stored at
    the same moments. Tracks what changed since the adapter last asked."""

    def __init__(self, records: list[tuple[bytes, int, int]], meta: dict) -> None:
        self.records = records
        self.meta = dict(meta)
        self.stored_meta = dict(meta)
        self.meta_saved = True
        self.changed_from: int | None = None  # lowest index added or removed
        self.meta_stored = False  # storeMeta ran since the last take
        self.prefix_changed = False  # compacted or cleared since the last take

    # -- FileJournal's interface

    def add(self, command, idx, term):
        self.records.append((command, idx, term))
        self._changed(idx)

    def clear(self):
        self.records = []
        self.prefix_changed = True

    def deleteEntriesFrom(self, entryFrom):
        if entryFrom < len(self.records):
            self._changed(self.records[entryFrom][1])
            del self.records[entryFrom:]

    def deleteEntriesTo(self, entryTo):
        if entryTo > 0:
            self.records = self.records[entryTo:]
            self.prefix_changed = True

    def __getitem__(self, item):
        return self.records[item]

    def __len__(self):
        return len(self.records)

    def _destroy(self):
        pass

    def flush(self):
        pass

    def setRaftCommitIndex(self, raftCommitIndex):
        self.meta["raftCommitIndex"] = raftCommitIndex
        self.meta_saved = False

    def getRaftCommitIndex(self):
        return self.meta.get("raftCommitIndex", 1)

    def setCurrentTerm(self, term, votedForNodeId):
        self.meta["currentTerm"] = term
        self.meta["votedForNodeId"] = votedForNodeId
        self._store_meta()

    def getCurrentTerm(self):
        return self.meta.get("currentTerm", 0)

    def getVotedForNodeId(self):
        return self.meta.get("votedForNodeId", None)

    def onOneSecondTimer(self):
        if not self.meta_saved:
            self._store_meta()

    # -- bookkeeping for the adapter

    def _store_meta(self) -> None:
        self.stored_meta = dict(self.meta)
        self.meta_saved = True
        self.meta_stored = True

    def _changed(self, index: int) -> None:
        if self.changed_from is None or index < self.changed_from:
            self.changed_from = index


class SimulatedFiles:
    """The files the serializer writes: path → bytes, as the operating
    system holds them (a process crash loses none of them)."""

    def __init__(self, dump: bytes | None) -> None:
        self.files: dict[str, bytes] = {} if dump is None else {DUMP_FILE: dump}
        self.dump_replaced = False  # the dump file was renamed over since the last take
        # The dumps renamed into place, oldest first (a few suffice): a
        # compaction can complete for one dump in the same tick in which the
        # serializer writes the next one, and the disk must then get the dump
        # the journal was compacted to, not the newest file.
        self.dumps: list[bytes] = [] if dump is None else [dump]

    def open(self, path, mode="r", *args, **kwargs):
        if "w" in mode:
            return _WrittenFile(self, path)
        if path not in self.files:
            raise FileNotFoundError(2, "No such file or directory", path)
        return _ReadFile(self.files[path])

    def replace(self, source, destination) -> None:
        self.files[destination] = self.files.pop(source)
        if destination == DUMP_FILE:
            self.dump_replaced = True
            self.dumps = [*self.dumps[-(DUMP_HISTORY - 1):], self.files[destination]]

    def isfile(self, path) -> bool:
        return path in self.files

    def dump(self) -> bytes | None:
        return self.files.get(DUMP_FILE)

    def dump_starting_at(self, index: int, entries_of) -> bytes | None:
        """The newest dump whose two journal records start at ``index``
        (``entries_of`` reads them), or the current dump if none does."""
        for dump in reversed(self.dumps):
            if entries_of(dump)[0][1] == index:
                return dump
        return self.dump()


class _ReadFile:
    """A read-only file: what ``open(path, 'rb')`` returns."""

    def __init__(self, content: bytes) -> None:
        import io

        self._stream = io.BytesIO(content)

    def read(self, size=-1):
        return self._stream.read(size)

    def seek(self, *args):
        return self._stream.seek(*args)

    def tell(self):
        return self._stream.tell()

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _WrittenFile:
    """A file being written: its bytes reach ``SimulatedFiles`` on close, as
    the serializer always closes (``with``) before it renames. It has no
    ``name``, so gzip writes no file name into its header."""

    def __init__(self, files: SimulatedFiles, path: str) -> None:
        self._files = files
        self._path = path
        self._chunks: list[bytes] = []
        self.closed = False

    def write(self, data):
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self):
        pass

    def close(self):
        if not self.closed:
            self.closed = True
            self._files.files[self._path] = b"".join(self._chunks)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def restore_journal(entries, meta: StoredMeta | None, snapshot: DumpSnapshot | None,
                    dump_entries) -> list[tuple[bytes, int, int]]:
    """The journal file PySyncObj left, from the disk's log (``entries``,
    ``Entry(index, term, LogCommand)``), the meta record and the snapshot.

    The journal starts at ``meta.journal_start``: index 1 (the initial no-op,
    which is never written as an entry) before any compaction, otherwise the
    first of the two entries the last compaction kept. The simulator drops
    the log prefix a snapshot covers, so those two come back from that
    snapshot's dump (``dump_entries`` reads them from its bytes); everything
    else is on the disk as written."""
    if meta is None:
        return []  # a fresh disk: SyncObj adds the initial no-op itself
    start = meta.journal_start
    records: dict[int, tuple[bytes, int, int]] = {}
    if start == 1:
        records[1] = (NO_OP, 1, 0)
    if snapshot is not None:
        for record in dump_entries(snapshot.dump):
            records[record[1]] = record
    for entry in entries:
        records[entry.index] = (entry.command.raw, entry.index, entry.term)
    journal = []
    index = start
    while index in records:
        journal.append(records[index])
        index += 1
    assert journal, f"journal start {start} is neither on the disk nor in the dump"
    return journal
