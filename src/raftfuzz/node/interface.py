"""The contract between a Raft node and the driver that runs it.

These types are shared by the reference node (raftfuzz.node.raft), any other
target, the simulator and the checkers. They live apart from the reference
node so the harness can import the simulator without importing the node, and
so instrument only the node's module for coverage.

``Node`` is the contract itself, every member the simulator, the checkers
and the state feedback use; raftfuzz.run.target checks a target against it when
it loads (docs/targets.md "The interface").
"""

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Protocol

from raftfuzz.node.messages import Entry, Snapshot


class Role(IntEnum):
    FOLLOWER = 0
    CANDIDATE = 1
    LEADER = 2
    PRE_CANDIDATE = 3


@dataclass(frozen=True)
class NodeConfig:
    """Timing (in ticks) and options of one node. Validated on construction.

    ``pre_vote``: campaign only after a PreVote round a quorum grants (Raft
    thesis §9.6), so a node that was cut off does not disrupt the cluster.
    ``check_quorum``: a leader that has not heard from a quorum for an
    election timeout steps down (thesis §6.2).
    ``snapshot_threshold``: compact the log once this many applied entries
    follow the last snapshot.
    """

    election_timeout_ticks: int
    heartbeat_ticks: int
    pre_vote: bool = False
    check_quorum: bool = False
    snapshot_threshold: int = 64

    def __post_init__(self) -> None:
        if self.election_timeout_ticks < 2:
            raise ValueError("election_timeout_ticks must be at least 2")
        if self.heartbeat_ticks < 1:
            raise ValueError("heartbeat_ticks must be at least 1")
        if self.heartbeat_ticks >= self.election_timeout_ticks:
            raise ValueError("heartbeat_ticks must be below election_timeout_ticks")
        if self.snapshot_threshold < 1:
            raise ValueError("snapshot_threshold must be at least 1")


@dataclass(frozen=True)
class PersistentState:
    """What survives a crash: Raft's currentTerm, votedFor, the last snapshot
    and the log entries after it (contiguous from snapshot.last_index + 1)."""

    term: int = 0
    voted_for: int | None = None
    entries: tuple[Entry, ...] = ()
    snapshot: Snapshot | None = None


@dataclass(slots=True)  # one per ready round: slots make it cheaper to build and read
class Ready:
    """One batch of work for the driver; see the module docstring for the order.

    ``entries`` replace the stored log from ``entries_from`` on: the driver
    truncates its log to ``entries_from - 1`` and appends ``entries`` (which may
    be empty when a suffix was only removed). ``snapshot`` is written (and
    synced) before them; the log prefix it covers may be dropped lazily, so a
    node must ignore stored entries at or below its snapshot on restart.
    """

    snapshot: Snapshot | None = None
    hard_state: tuple[int, int | None] | None = None
    entries_from: int | None = None
    entries: list[Entry] = field(default_factory=list)
    must_sync: bool = False
    messages: list = field(default_factory=list)
    committed: list[Entry] = field(default_factory=list)


class Node(Protocol):
    """A Raft node as the driver and the checkers see it (docs/targets.md).

    Constructed as ``Node(node_id, members, config, rng, persisted)``:
    ``rng`` is the simulation's core, whose ``below(n)`` is the only source
    of randomness a node may use.
    """

    id: int  # node_id, as constructed
    role: Role
    term: int  # currentTerm
    commit_index: int

    def __init__(self, node_id: int, members: tuple[int, ...], config: NodeConfig, rng,
                 persisted: PersistentState) -> None: ...

    def tick(self) -> None:
        """One unit of the node's own logical time."""

    def step(self, message) -> None:
        """A message arrived, from a peer or a client."""

    def ready(self) -> Ready | None:
        """The work the node needs done, or None when it has settled."""

    def advance(self, ready: Ready) -> None:
        """The driver carried ``ready`` out (persisted, synced, sent)."""

    def last_index(self) -> int:
        """The index of the last log entry (the snapshot's, when the log after it is empty)."""

    def term_at(self, index: int) -> int:
        """The term of entry ``index``, for log_start() <= index <= last_index()."""

    def log_start(self) -> int:
        """The index of the last snapshot (0 before any)."""


# The contract's members by kind, in the order above: attributes are usually
# set in __init__, so they are checked on a node, methods on the class.
NODE_ATTRIBUTES = tuple(Node.__annotations__)
NODE_METHODS = tuple(name for name, value in vars(Node).items()
                     if callable(value) and not name.startswith("_"))
