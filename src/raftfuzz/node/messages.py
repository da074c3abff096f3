"""Raft messages and log entries.

Messages are immutable named tuples: the network may deliver one message
object twice (duplication), so no receiver may be able to change it. Named
tuples are also the cheapest immutable record Python offers, and a message is
built for almost every simulated event.
"""

from typing import NamedTuple


class Command(NamedTuple):
    """A client operation as it travels through the log.

    ``client`` and ``seq`` identify the invocation (and the client session);
    ``op`` is "put", "append" or "get". Gets are served by ReadIndex and never
    enter the log.
    """

    client: int
    seq: int
    op: str
    key: str
    value: str | None


class Entry(NamedTuple):
    """One log entry. ``command`` is None for the no-op a new leader appends."""

    index: int
    term: int
    command: Command | None


class Snapshot(NamedTuple):
    """The state machine up to ``last_index``: key-value pairs and client
    sessions (client, last applied seq, its result), both sorted, so equal
    states are equal snapshots."""

    last_index: int
    last_term: int
    store: tuple[tuple[str, str], ...]
    sessions: tuple[tuple[int, int, str | None], ...]


class RequestVote(NamedTuple):
    """A vote request; with ``pre_vote`` a PreVote (Raft thesis §9.6): ``term``
    is the term the candidate would campaign in, and nobody changes state."""

    src: int
    dst: int
    term: int
    last_log_index: int
    last_log_term: int
    pre_vote: bool = False


class RequestVoteResponse(NamedTuple):
    src: int
    dst: int
    term: int
    granted: bool
    pre_vote: bool = False


class AppendEntries(NamedTuple):
    src: int
    dst: int
    term: int
    prev_index: int
    prev_term: int
    entries: tuple[Entry, ...]
    leader_commit: int
    # Echoed back by the follower; a leader serving a ReadIndex read waits for
    # a quorum to echo a round started after the read arrived.
    read_round: int = 0


class InstallSnapshot(NamedTuple):
    """Sent instead of AppendEntries when the entries a follower needs were
    compacted away. Answered with an AppendEntriesResponse."""

    src: int
    dst: int
    term: int
    snapshot: Snapshot
    read_round: int = 0


class AppendEntriesResponse(NamedTuple):
    """Reply to AppendEntries.

    On success ``match_index`` is the last index the follower verified to match
    the leader. On failure ``reject_hint`` is the index the leader should try as
    the new ``prev_index`` (conflict backtracking, so a far-behind follower does
    not cost one round trip per missing entry).
    """

    src: int
    dst: int
    term: int
    success: bool
    match_index: int
    reject_hint: int
    read_round: int = 0


class ClientRequest(NamedTuple):
    src: int
    dst: int
    command: Command


class ClientResponse(NamedTuple):
    """Reply to a client.

    ``ok`` False means "not applied here, try elsewhere"; ``leader_hint`` names
    the node this one believes is leader, or is None.
    """

    src: int
    dst: int
    client_seq: int
    ok: bool
    result: str | None
    leader_hint: int | None


Message = (
    RequestVote
    | RequestVoteResponse
    | AppendEntries
    | AppendEntriesResponse
    | InstallSnapshot
    | ClientRequest
    | ClientResponse
)
