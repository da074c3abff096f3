"""A simulated disk for one node: what survives a crash and what does not.

Fault model: writes land in a volatile page cache first; ``sync()`` makes
everything written so far durable; ``crash()`` throws away whatever was not
synced, as a power loss would. ``load()`` reads back only durable state, which
is what a restarted node recovers from. The inverse of a crash is a restart
that calls ``load()``.
"""

from raftfuzz.messages import Entry
from raftfuzz.node_interface import PersistentState


class Disk:
    def __init__(self) -> None:
        self.durable_term = 0
        self.durable_vote: int | None = None
        self.durable_log: list[Entry] = []
        # Writes not yet synced, in order: ("hard_state", (term, vote)) or
        # ("log", (first_index, entries)). Kept as a list of operations rather
        # than a second copy of the log so a sync costs what was written, not
        # the length of the log.
        self.unsynced: list[tuple[str, tuple]] = []
        self.syncs = 0

    def write_hard_state(self, term: int, voted_for: int | None) -> None:
        self.unsynced.append(("hard_state", (term, voted_for)))

    def write_log(self, first_index: int, entries: list[Entry]) -> None:
        """Replace the log from ``first_index`` on with ``entries``."""
        assert first_index >= 1
        self.unsynced.append(("log", (first_index, list(entries))))

    def sync(self) -> None:
        for kind, payload in self.unsynced:
            if kind == "hard_state":
                self.durable_term, self.durable_vote = payload
            else:
                first_index, entries = payload
                # The durable log may be shorter than first_index - 1 only if
                # the node skipped persisting a prefix, which is a node bug the
                # checkers will see through the restarted log; keep the disk
                # itself consistent.
                del self.durable_log[first_index - 1 :]
                self.durable_log.extend(entries)
        self.unsynced.clear()
        self.syncs += 1

    def crash(self) -> None:
        self.unsynced.clear()

    def load(self) -> PersistentState:
        assert not self.unsynced, "load() after crash() only"
        return PersistentState(self.durable_term, self.durable_vote, tuple(self.durable_log))
