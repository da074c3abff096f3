"""The PySyncObj 0.3.17 bugs the fuzzer found, each with a minimal patch, for
triage: a crash input that runs clean with exactly one patch applied is that
bug. docs/findings/ has the reports.

Each patch is a subclass hook that changes the one decision the report
blames and nothing else; ``FixedNode`` applies all of them and is what the
no-false-positive test runs (a violation there is a new bug, or an adapter
bug). These variants are not PySyncObj: fuzz ``raftfuzz.targets.pysyncobj:Node``.

| id | what goes wrong | PySyncObj 0.3.17 |
|---|---|---|
| 1 | a follower advances its commit index on an install-snapshot chunk that installed nothing, over log entries no leader verified, and applies them | syncobj.py:1022-1035 |
| 2 | a follower installs a snapshot older than what it has committed (a leader re-sends one after stale ``next_node_idx`` resets, which carry no term or request id) and throws away its newer log: its commit index and applied state go back | syncobj.py:1022-1024, 1487-1495 (1071-1078) |
| 3 | a crash after the full dump is renamed into place but before the journal is compacted (the next tick): on restart the journal does not start with the dump's two entries, so it is cleared, losing every entry after the dump, acknowledged ones included | syncobj.py:1487-1495, 1401-1404 |
"""

from raftfuzz.targets import pysyncobj as target
from raftfuzz.targets.pysyncobj_storage import StoredMeta


class _PatchedStore(target.KeyValueStore):
    """Hooks on PySyncObj's message handler; which ones are on is the
    driver's ``fixes``."""

    def _SyncObj__onMessageReceived(self, node, message):
        fixes = self._driver.fixes
        if message.get("type") != "append_entries" or "prevLogIdx" in message or not fixes & {1, 2}:
            target.SyncObj._SyncObj__onMessageReceived(self, node, message)
            return
        # An install-snapshot message (a chunk of the leader's dump).
        driver = self._driver
        journal, files = driver.journal, driver.files
        commit_before = self.raftCommitIndex
        installed_before, journal.prefix_changed = journal.prefix_changed, False
        dump_before, replaced_before = files.dump(), files.dump_replaced
        driver.stale_dump_skipped = False
        target.SyncObj._SyncObj__onMessageReceived(self, node, message)
        installed = journal.prefix_changed
        journal.prefix_changed = installed or installed_before
        if 1 in fixes and not installed and self.raftCommitIndex != commit_before:
            # Bug 1: only an installed snapshot may move the commit index.
            self._SyncObj__raftCommitIndex = commit_before
            journal.setRaftCommitIndex(commit_before)
        if driver.stale_dump_skipped:
            # Bug 2 (see _SyncObj__loadDumpFile): the stale dump does not
            # replace this node's dump file either.
            if dump_before is None:
                files.files.pop(target.DUMP_FILE, None)
            else:
                files.files[target.DUMP_FILE] = dump_before
            files.dump_replaced = replaced_before

    def _SyncObj__loadDumpFile(self, clearJournal):
        if 2 in self._driver.fixes and clearJournal:
            # Bug 2: a snapshot received from the leader that is not ahead
            # of what this follower has committed is stale; keep the log
            # (Raft's InstallSnapshot: retain the entries following it).
            last = target.pysyncobj_loads(target.gzip_decompress(self._driver.files.dump()))[1]
            if last[1] <= self.raftCommitIndex:
                self._driver.stale_dump_skipped = True
                return
        target.SyncObj._SyncObj__loadDumpFile(self, clearJournal)


class PatchedNode(target.Node):
    """The target with the patches in ``fixes`` (a set of bug ids)."""

    fixes: frozenset[int] = frozenset()
    store_class = _PatchedStore

    def __init__(self, node_id, members, config, rng, persisted) -> None:
        compacted = False
        if 3 in self.fixes:
            restored = _compact_to_newer_dump(persisted)
            compacted, persisted = restored is not persisted, restored
        super().__init__(node_id, members, config, rng, persisted)
        if compacted:
            # The first Ready writes the compaction to the disk: the dump as
            # the snapshot and the meta record that starts the journal at it.
            self.journal.prefix_changed = True
            self.persisted_record = None


def _compact_to_newer_dump(persisted):
    """Bug 3's patch: a dump newer than the journal's compaction stands for
    the compaction PySyncObj would have done next tick, provided the journal
    holds the dump's two entries; the journal then starts at them and the
    restart keeps every entry after the dump."""
    meta = persisted.voted_for
    if not isinstance(meta, StoredMeta) or meta.newer_dump is None:
        return persisted
    first, last = target._dump_entries(meta.newer_dump)
    # What the journal file holds: the disk's entries, and the two the last
    # compaction kept, which the simulator dropped with the snapshot that
    # covers them (restore_journal reads them back from that snapshot's dump).
    held = {(entry.index, entry.term) for entry in persisted.entries}
    if persisted.snapshot is not None:
        held |= {(record[1], record[2]) for record in target._dump_entries(persisted.snapshot.dump)}
    if (first[1], first[2]) not in held or (last[1], last[2]) not in held:
        return persisted
    snapshot = target._snapshot_of_dump(meta.newer_dump)
    meta = meta._replace(journal_start=first[1], newer_dump=None)
    return type(persisted)(persisted.term, meta, persisted.entries, snapshot)


def _variant(name: str, fixes: set[int]) -> type:
    return type(name, (PatchedNode,), {"fixes": frozenset(fixes), "__doc__": f"Patched for bugs {sorted(fixes)}."})


BUG_IDS = (1, 2, 3)
Fix1Node = _variant("Fix1Node", {1})
Fix2Node = _variant("Fix2Node", {2})
Fix3Node = _variant("Fix3Node", {3})
FixedNode = _variant("FixedNode", set(BUG_IDS))
FIX_VARIANTS = {1: Fix1Node, 2: Fix2Node, 3: Fix3Node}


def triage(data: bytes, *, max_steps: int | None = None, expected: tuple[str, int] | None = None) -> str:
    """Which bug a crash input shows: the ids of the patches under which its
    violation (``expected``: property and step, from its report; found by an
    unpatched run when None) no longer happens, e.g. "1", or "13" when two
    patches each remove it; "1+2+3" when only all patches together do;
    "clean" when the unpatched run does not violate; "unknown" when even all
    patches leave it (a new bug, or an adapter bug). A patch can let the run
    go on to another bug later: that still counts as removing this one."""
    from raftfuzz.run.harness import Harness

    def violation(node_class):
        harness = Harness.from_settings(node_class, target="triage", max_steps=max_steps, artifacts="/nonexistent")
        found = harness.execute(data)[1].violation
        return None if found is None else (found.property_name, found.step)

    if expected is None:
        expected = violation(target.Node)
        if expected is None:
            return "clean"
    expected = tuple(expected)
    removed = [bug for bug, variant in FIX_VARIANTS.items() if violation(variant) != expected]
    if removed:
        return "".join(str(bug) for bug in removed)
    return "unknown" if violation(FixedNode) == expected else "1+2+3"
