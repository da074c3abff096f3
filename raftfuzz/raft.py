"""The reference Raft node: sans-IO, deterministic, and the target the fuzzer
exercises by default.

The node never touches a socket, a clock, a disk or a global random source.
The driver (the simulator, or any other host) talks to it through four calls,
after the model of etcd-io/raft's ``RawNode``:

- ``tick()``: one unit of logical time has passed;
- ``step(message)``: a message arrived;
- ``ready()``: what the node needs done, or None — state to persist, messages
  to send, committed entries to apply;
- ``advance(ready)``: the driver has done all of it.

Ordering contract (what makes the hand-off safe): the driver persists
``ready.hard_state`` and ``ready.entries`` — and syncs them to stable storage
when ``ready.must_sync`` — *before* it sends any of ``ready.messages``. A vote
or an acknowledgement is therefore never sent for state that a crash could
still take back. Only after that does it call ``advance``, which applies the
committed entries to the key-value state machine.

Randomness (the election timeout) comes from the injected ``rng``, an object
with ``below(n)``; the simulator hands over its single seeded RNG.

The class is split into small methods (``log_up_to_date``, ``may_commit``,
``persisted_vote`` …) so a variant can be written as a subclass that overrides
one rule; the catalogue of planted bugs used to prove the checkers works that
way. The reference node itself has no bug switches.

What the checkers read from a node: ``id``, ``role``, ``term``,
``voted_for``, ``commit_index``, ``last_index()``, ``term_at(i)`` and
``entry_at(i)``, plus the ``Ready`` it hands out.
"""

from raftfuzz.messages import (
    AppendEntries,
    AppendEntriesResponse,
    ClientRequest,
    ClientResponse,
    Command,
    Entry,
    RequestVote,
    RequestVoteResponse,
)
from raftfuzz.node_interface import NodeConfig, PersistentState, Ready, Role

# Bounds the size of one AppendEntries so that a far-behind follower is caught
# up over several round trips instead of by one unbounded message.
MAX_ENTRIES_PER_APPEND = 16

# Ready loops that feed on themselves (apply → respond → ready) are bounded by
# the driver; the node itself keeps no unbounded queues except the log.


_SENTINEL = Entry(0, 0, None)


class RaftNode:
    """A Raft server with a key-value state machine."""

    def __init__(
        self,
        node_id: int,
        members: tuple[int, ...],
        config: NodeConfig,
        rng,
        persisted: PersistentState | None = None,
    ) -> None:
        assert node_id in members
        persisted = persisted or PersistentState()
        self.id = node_id
        self.peers = tuple(sorted(m for m in members if m != node_id))
        self.quorum = len(members) // 2 + 1
        self.config = config
        self.rng = rng

        # Persistent state (restored from the disk after a restart).
        self.term = persisted.term
        self.voted_for = persisted.voted_for
        self.log: list[Entry] = [_SENTINEL, *persisted.entries]

        # Volatile state.
        self.role = Role.FOLLOWER
        self.leader_id: int | None = None
        self.commit_index = 0
        self.last_applied = 0
        self.votes: set[int] = set()
        self.vote_answers: set[int] = set()
        self.next_index: dict[int, int] = {}
        self.match_index: dict[int, int] = {}
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_election_timeout = 0
        self.reset_election_timer()

        # The key-value state machine and the clients waiting on log indexes.
        self.store: dict[str, str] = {}
        self.waiting_clients: dict[int, Command] = {}

        # What the next Ready will carry.
        self.outbox: list = []
        self.unpersisted_from: int | None = None
        self.hard_state_dirty = False

    # ----------------------------------------------------------- log access

    def last_index(self) -> int:
        return len(self.log) - 1

    def term_at(self, index: int) -> int:
        return self.log[index].term

    def entry_at(self, index: int) -> Entry:
        return self.log[index]

    def last_term(self) -> int:
        return self.log[-1].term

    def append(self, term: int, command: Command | None) -> int:
        index = len(self.log)
        self.log.append(Entry(index, term, command))
        self.mark_unpersisted(index)
        return index

    def truncate_from(self, index: int) -> None:
        """Drop the entries from ``index`` on (a conflicting suffix)."""
        assert index >= 1
        del self.log[index:]
        self.mark_unpersisted(index)

    def mark_unpersisted(self, index: int) -> None:
        if self.unpersisted_from is None or index < self.unpersisted_from:
            self.unpersisted_from = index

    # -------------------------------------------------------------- timers

    def reset_election_timer(self) -> None:
        """Restart the election countdown with a fresh random timeout in
        [timeout, 2 * timeout), so that split votes resolve themselves."""
        self.election_elapsed = 0
        timeout = self.config.election_timeout_ticks
        self.randomized_election_timeout = timeout + self.rng.below(timeout)

    def tick(self) -> None:
        if self.role == Role.LEADER:
            self.heartbeat_elapsed += 1
            if self.heartbeat_elapsed >= self.config.heartbeat_ticks:
                self.heartbeat_elapsed = 0
                self.broadcast_append()
            return
        self.election_elapsed += 1
        if self.election_elapsed >= self.randomized_election_timeout:
            self.start_election()
            return
        if self.role == Role.CANDIDATE:
            # Raft §5.1: RPCs are retried when no answer comes, so a lost
            # RequestVote (or a peer that restarted) does not cost the term.
            self.heartbeat_elapsed += 1
            if self.heartbeat_elapsed >= self.config.heartbeat_ticks:
                self.heartbeat_elapsed = 0
                self.request_votes()

    # ---------------------------------------------------------- role changes

    def set_term(self, term: int) -> None:
        assert term > self.term
        self.term = term
        self.voted_for = None
        self.hard_state_dirty = True

    def become_follower(self, term: int, leader_id: int | None) -> None:
        if term > self.term:
            self.set_term(term)
        self.role = Role.FOLLOWER
        self.leader_id = leader_id
        self.votes = set()
        self.reset_election_timer()

    def start_election(self) -> None:
        self.set_term(self.term + 1)
        self.role = Role.CANDIDATE
        self.leader_id = None
        self.voted_for = self.id
        self.votes = {self.id}
        self.vote_answers = {self.id}
        self.heartbeat_elapsed = 0
        self.reset_election_timer()
        self.request_votes()

    def request_votes(self) -> None:
        """Asks every peer that has not answered in this term."""
        for peer in self.peers:
            if peer not in self.vote_answers:
                self.send(RequestVote(self.id, peer, self.term, self.last_index(), self.last_term()))

    def become_leader(self) -> None:
        self.role = Role.LEADER
        self.leader_id = self.id
        self.heartbeat_elapsed = 0
        self.next_index = {peer: self.last_index() + 1 for peer in self.peers}
        self.match_index = {peer: 0 for peer in self.peers}
        self.append_election_noop()
        self.broadcast_append()

    def append_election_noop(self) -> None:
        """A no-op of the new term lets the leader commit (and so learn the
        commit point of) everything before it; see Raft thesis §6.4."""
        self.append(self.term, None)

    # ------------------------------------------------------------- messages

    def send(self, message) -> None:
        self.outbox.append(message)

    def step(self, message) -> None:
        # Dispatch by method name so that a subclass overriding one handler
        # is honoured.
        handler = getattr(self, self._handler_names[type(message)])
        term = getattr(message, "term", None)
        if term is not None and term > self.term:
            leader = message.src if type(message) is AppendEntries else None
            self.become_follower(term, leader)
        handler(message)

    def on_request_vote(self, message: RequestVote) -> None:
        if message.term < self.term:
            self.send(RequestVoteResponse(self.id, message.src, self.term, False))
            return
        can_vote = self.voted_for is None or self.voted_for == message.src
        granted = can_vote and self.log_up_to_date(message.last_log_index, message.last_log_term)
        if granted:
            self.voted_for = message.src
            self.hard_state_dirty = True
            self.reset_election_timer()
        self.send(RequestVoteResponse(self.id, message.src, self.term, granted))

    def log_up_to_date(self, last_log_index: int, last_log_term: int) -> bool:
        """Raft §5.4.1: grant a vote only to a candidate whose log is at least
        as up to date as ours, so every leader holds every committed entry."""
        if last_log_term != self.last_term():
            return last_log_term > self.last_term()
        return last_log_index >= self.last_index()

    def on_request_vote_response(self, message: RequestVoteResponse) -> None:
        if self.role != Role.CANDIDATE or message.term != self.term:
            return
        self.vote_answers.add(message.src)
        if not message.granted:
            return
        self.votes.add(message.src)
        if len(self.votes) >= self.quorum:
            self.become_leader()

    def on_append_entries(self, message: AppendEntries) -> None:
        if message.term < self.term:
            self.send(AppendEntriesResponse(self.id, message.src, self.term, False, 0, 0))
            return
        if self.role != Role.FOLLOWER or self.leader_id != message.src:
            self.become_follower(self.term, message.src)
        self.election_elapsed = 0

        prev_index = message.prev_index
        if prev_index > self.last_index() or self.term_at(prev_index) != message.prev_term:
            self.send(
                AppendEntriesResponse(
                    self.id, message.src, self.term, False, 0, self.reject_hint(prev_index)
                )
            )
            return

        index = prev_index
        for entry in message.entries:
            index += 1
            if index <= self.last_index():
                if self.term_at(index) == entry.term:
                    continue
                self.truncate_from(index)
            self.log.append(Entry(index, entry.term, entry.command))
            self.mark_unpersisted(index)
        verified = prev_index + len(message.entries)
        # Only the prefix this message verified is known to match the leader:
        # entries past it may be a stale tail that the leader will replace.
        if message.leader_commit > self.commit_index:
            self.commit_index = max(self.commit_index, min(message.leader_commit, verified))
        self.send(AppendEntriesResponse(self.id, message.src, self.term, True, verified, 0))

    def reject_hint(self, prev_index: int) -> int:
        """The prev_index the leader should try next after a mismatch: our last
        index if we are short, else the entry before the first entry of the
        conflicting term (skips a whole term per round trip)."""
        if prev_index > self.last_index():
            return self.last_index()
        conflict_term = self.term_at(prev_index)
        index = prev_index
        while index > self.commit_index and self.term_at(index - 1) == conflict_term:
            index -= 1
        return max(index - 1, 0)

    def on_append_entries_response(self, message: AppendEntriesResponse) -> None:
        if self.role != Role.LEADER or message.term != self.term:
            return
        peer = message.src
        if message.success:
            if message.match_index > self.match_index[peer]:
                self.match_index[peer] = message.match_index
                self.advance_commit_index()
            self.next_index[peer] = max(self.next_index[peer], message.match_index + 1)
            if self.next_index[peer] <= self.last_index():
                self.send_append(peer)
            return
        # Responses can be stale or duplicated: never move next_index to or
        # below what the follower is already known to hold.
        hinted = min(self.next_index[peer] - 1, message.reject_hint + 1)
        self.next_index[peer] = max(self.match_index[peer] + 1, hinted, 1)
        self.send_append(peer)

    def advance_commit_index(self) -> None:
        for index in range(self.last_index(), self.commit_index, -1):
            if not self.may_commit(index):
                break
            replicas = 1 + sum(1 for peer in self.peers if self.match_index[peer] >= index)
            if replicas >= self.quorum:
                self.commit_index = index
                return

    def may_commit(self, index: int) -> bool:
        """Raft §5.4.2: a leader commits by counting replicas only entries of
        its own term; older entries are committed indirectly with them
        (Figure 8 shows what goes wrong otherwise)."""
        return self.term_at(index) == self.term

    def send_append(self, peer: int) -> None:
        next_index = self.next_index[peer]
        prev_index = next_index - 1
        entries = tuple(self.log[next_index : next_index + MAX_ENTRIES_PER_APPEND])
        self.send(
            AppendEntries(
                self.id,
                peer,
                self.term,
                prev_index,
                self.term_at(prev_index),
                entries,
                self.commit_index,
            )
        )

    def broadcast_append(self) -> None:
        for peer in self.peers:
            self.send_append(peer)

    def on_client_request(self, message: ClientRequest) -> None:
        command = message.command
        if self.role != Role.LEADER:
            self.send(ClientResponse(self.id, message.src, command.seq, False, None, self.leader_id))
            return
        index = self.append(self.term, command)
        self.waiting_clients[index] = command
        self.broadcast_append()

    def on_client_response(self, message: ClientResponse) -> None:
        raise AssertionError(f"node {self.id} received a client response")

    _handler_names = {
        RequestVote: "on_request_vote",
        RequestVoteResponse: "on_request_vote_response",
        AppendEntries: "on_append_entries",
        AppendEntriesResponse: "on_append_entries_response",
        ClientRequest: "on_client_request",
        ClientResponse: "on_client_response",
    }

    # ------------------------------------------------------ ready / advance

    def persisted_vote(self) -> int | None:
        """The votedFor value written to stable storage."""
        return self.voted_for

    def has_ready(self) -> bool:
        return bool(
            self.outbox
            or self.hard_state_dirty
            or self.unpersisted_from is not None
            or self.commit_index > self.last_applied
        )

    def ready(self) -> Ready | None:
        if not self.has_ready():
            return None
        ready = Ready()
        if self.hard_state_dirty:
            ready.hard_state = (self.term, self.persisted_vote())
            self.hard_state_dirty = False
        if self.unpersisted_from is not None:
            ready.entries_from = self.unpersisted_from
            ready.entries = self.log[self.unpersisted_from :]
            self.unpersisted_from = None
        ready.must_sync = ready.hard_state is not None or ready.entries_from is not None
        ready.messages, self.outbox = self.outbox, []
        ready.committed = self.log[self.last_applied + 1 : self.commit_index + 1]
        return ready

    def advance(self, ready: Ready) -> None:
        for entry in ready.committed:
            assert entry.index == self.last_applied + 1
            self.last_applied = entry.index
            result = self.apply(entry.command)
            waiting = self.waiting_clients.pop(entry.index, None)
            if waiting is not None:
                applied = waiting == entry.command
                self.send(
                    ClientResponse(
                        self.id, waiting.client, waiting.seq, applied, result if applied else None,
                        self.leader_id,
                    )
                )

    def apply(self, command: Command | None) -> str | None:
        """Apply one committed command to the key-value store."""
        if command is None:
            return None
        if command.op == "put":
            self.store[command.key] = command.value
            return None
        return self.store.get(command.key)
