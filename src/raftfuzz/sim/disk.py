"""A simulated disk for one node: what survives a crash and what does not.

Fault model: writes land in a volatile page cache first; ``sync()`` makes
everything written so far durable; ``crash()`` throws away whatever was not
synced, as a power loss would. ``load()`` reads back only durable state, which
is what a restarted node recovers from. The inverse of a crash is a restart
that calls ``load()``.

After a snapshot the driver drops the log prefix it covers with an unsynced
write (``compact_log``), so a crash between the snapshot and the compaction
is a state the disk really reaches: a snapshot plus a log that still holds
the entries it covers. ``load()`` returns the log exactly as stored; skipping
covered entries is the node's job (``PersistentState`` says so).
"""

from raftfuzz.node.messages import Entry, Snapshot
from raftfuzz.node.interface import PersistentState


class Disk:
    def __init__(self) -> None:
        self.durable_term = 0
        self.durable_vote: int | None = None
        self.durable_snapshot: Snapshot | None = None
        # Contiguous entries; the first one's index is wherever the log starts.
        self.durable_log: list[Entry] = []
        # Writes not yet synced, in order. Kept as a list of operations rather
        # than a second copy of the state so a sync costs what was written,
        # not the length of the log.
        self.unsynced: list[tuple[str, object]] = []
        self.syncs = 0

    def write_hard_state(self, term: int, voted_for: int | None) -> None:
        self.unsynced.append(("hard_state", (term, voted_for)))

    def write_snapshot(self, snapshot: Snapshot) -> None:
        self.unsynced.append(("snapshot", snapshot))

    def write_log(self, first_index: int, entries: list[Entry]) -> None:
        """Replace the log from ``first_index`` on with ``entries``."""
        assert first_index >= 1
        self.unsynced.append(("log", (first_index, list(entries))))

    def compact_log(self, through_index: int) -> None:
        """Drop the entries up to ``through_index`` (covered by a snapshot)."""
        self.unsynced.append(("compact", through_index))

    def sync(self) -> None:
        for kind, payload in self.unsynced:
            if kind == "hard_state":
                self.durable_term, self.durable_vote = payload
            elif kind == "snapshot":
                self.durable_snapshot = payload
            elif kind == "log":
                self._replace_suffix(*payload)
            else:
                self.durable_log = [entry for entry in self.durable_log if entry.index > payload]
        self.unsynced.clear()
        self.syncs += 1

    def _replace_suffix(self, first_index: int, entries: list[Entry]) -> None:
        log = self.durable_log
        if log and log[0].index <= first_index <= log[-1].index + 1:
            del log[first_index - log[0].index :]
            log.extend(entries)
        else:
            # Nothing stored before first_index (a fresh disk, or a log that
            # restarts after a snapshot): the entries are the whole log.
            self.durable_log = list(entries)

    def crash(self) -> None:
        self.unsynced.clear()

    def load(self) -> PersistentState:
        assert not self.unsynced, "load() after crash() only"
        return PersistentState(self.durable_term, self.durable_vote, tuple(self.durable_log),
                               self.durable_snapshot)
