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
``ready.snapshot``, ``ready.hard_state`` and ``ready.entries`` — and syncs
them to stable storage when ``ready.must_sync`` — *before* it sends any of
``ready.messages``. A vote or an acknowledgement is therefore never sent for
state that a crash could still take back. Only after that does it call
``advance``, which applies the committed entries to the key-value state
machine.

Features, as production Raft runs them: log compaction with snapshots and
InstallSnapshot (Raft §7); linearizable reads with ReadIndex (thesis §6.4);
client sessions for exactly-once writes (thesis §6.3); PreVote (§9.6) and
CheckQuorum (§6.2) as options in ``NodeConfig``.

Randomness (the election timeout) comes from the injected ``rng``, an object
with ``below(n)``; the simulator hands over its single seeded RNG.

The class is split into small methods (``log_up_to_date``, ``may_commit``,
``persisted_vote``, ``serve_read`` …) so a variant can be written as a
subclass that overrides one rule; the catalogue of planted bugs used to prove
the checkers works that way. The reference node itself has no bug switches.

What the checkers read from a node: ``id``, ``role``, ``term``,
``commit_index``, ``config``, ``log_start()`` (the snapshot index: entries
at or below it live in the snapshot), ``last_index()``, ``term_at(i)`` for
``log_start() <= i <= last_index()``, plus the ``Ready`` it hands out.
"""

from raftfuzz.node.messages import (AppendEntries, AppendEntriesResponse, ClientRequest, ClientResponse, Command,
                                    Entry, InstallSnapshot, RequestVote, RequestVoteResponse, Snapshot)
from raftfuzz.node.interface import NodeConfig, PersistentState, Ready, Role

# Bounds the size of one AppendEntries so that a far-behind follower is caught
# up over several round trips instead of by one unbounded message.
MAX_ENTRIES_PER_APPEND = 16

# Two choices for speed, as the node runs on every simulated event
# (docs/performance.md). The roles are globals: Python 3.11 reads an enum
# member through its class (Role.LEADER) about 50 ns slower, as EnumType's
# __getattr__ takes every lookup on the class off the fast path. And the node
# has __slots__: with more than 30 attributes an instance dict stops sharing
# its keys, which takes every method call on the node off the fast path (9% of
# an execution's instructions). The lines from the class on stay where they
# were (crash signatures name them).
_FOLLOWER, _CANDIDATE, _LEADER, _PRE_CANDIDATE = Role.FOLLOWER, Role.CANDIDATE, Role.LEADER, Role.PRE_CANDIDATE


class RaftNode:
    """A Raft server with a key-value state machine."""
    __slots__ = ("id", "peers", "quorum", "config", "rng", "snapshot", "term", "voted_for", "log", "store",
                 "sessions", "role", "leader_id", "commit_index", "last_applied", "votes", "vote_answers",
                 "next_index", "match_index", "recently_active", "election_elapsed", "heartbeat_elapsed",
                 "quorum_check_elapsed", "randomized_election_timeout", "waiting_clients", "pending_reads",
                 "read_round", "peer_read_round", "outbox", "unpersisted_from", "hard_state_dirty",
                 "snapshot_dirty")

    def __init__(self, node_id: int, members: tuple[int, ...], config: NodeConfig, rng,
                 persisted: PersistentState | None = None) -> None:
        assert node_id in members
        persisted = persisted or PersistentState()
        self.id = node_id
        self.peers = tuple(sorted(m for m in members if m != node_id))
        self.quorum = len(members) // 2 + 1
        self.config = config
        self.rng = rng

        # Persistent state (restored from the disk after a restart). log[0]
        # stands for the snapshot: its index and term are the snapshot's.
        snapshot = persisted.snapshot
        self.snapshot = snapshot
        self.term = persisted.term
        self.voted_for = persisted.voted_for
        base = Entry(snapshot.last_index, snapshot.last_term, None) if snapshot else Entry(0, 0, None)
        self.log: list[Entry] = [base]
        for entry in persisted.entries:
            if entry.index > base.index:
                assert entry.index == self.last_index() + 1, "stored log has a gap"
                self.log.append(entry)

        # The key-value state machine and client sessions, from the snapshot.
        self.store: dict[str, str] = {}
        self.sessions: dict[int, tuple[int, str | None]] = {}
        self.restore_state_machine(snapshot)

        # Volatile state.
        self.role = _FOLLOWER
        self.leader_id: int | None = None
        self.commit_index = base.index
        self.last_applied = base.index
        self.votes: set[int] = set()
        self.vote_answers: set[int] = set()
        self.next_index: dict[int, int] = {}
        self.match_index: dict[int, int] = {}
        self.recently_active: set[int] = set()
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.quorum_check_elapsed = 0
        self.randomized_election_timeout = 0
        self.reset_election_timer()

        # Clients waiting on log indexes, and ReadIndex reads in flight:
        # [command, read_index, round]. A read's round is the heartbeat round
        # started after it arrived; read_index is None until the leader has
        # committed an entry of its own term.
        self.waiting_clients: dict[int, Command] = {}
        self.pending_reads: list[list] = []
        self.read_round = 0
        self.peer_read_round: dict[int, int] = {}

        # What the next Ready will carry.
        self.outbox: list = []
        self.unpersisted_from: int | None = None
        self.hard_state_dirty = False
        self.snapshot_dirty = False

    # ----------------------------------------------------------- log access

    def log_start(self) -> int:
        """The snapshot's index; entries from here on are in ``log``."""
        return self.log[0].index

    def last_index(self) -> int:
        return self.log[0].index + len(self.log) - 1

    def term_at(self, index: int) -> int:
        offset = index - self.log[0].index
        assert offset >= 0, f"entry {index} was compacted into the snapshot"
        return self.log[offset].term

    def entry_at(self, index: int) -> Entry:
        offset = index - self.log[0].index
        assert offset >= 0, f"entry {index} was compacted into the snapshot"
        return self.log[offset]

    def last_term(self) -> int:
        return self.log[-1].term

    def append(self, term: int, command: Command | None) -> int:
        index = self.last_index() + 1
        self.log.append(Entry(index, term, command))
        self.mark_unpersisted(index)
        return index

    def truncate_from(self, index: int) -> None:
        """Drop the entries from ``index`` on (a conflicting suffix)."""
        assert index > self.commit_index, "truncating a committed entry"
        del self.log[index - self.log_start() :]
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
        if self.role == _LEADER:
            self.heartbeat_elapsed += 1
            if self.heartbeat_elapsed >= self.config.heartbeat_ticks:
                self.heartbeat_elapsed = 0
                self.broadcast_append()
            if self.config.check_quorum:
                self.quorum_check_elapsed += 1
                if self.quorum_check_elapsed >= self.config.election_timeout_ticks:
                    self.quorum_check_elapsed = 0
                    self.check_quorum()
            return
        self.election_elapsed += 1
        if self.election_elapsed >= self.randomized_election_timeout:
            self.campaign()
            return
        if self.role in (_CANDIDATE, _PRE_CANDIDATE):
            # Raft §5.1: RPCs are retried when no answer comes, so a lost
            # RequestVote (or a peer that restarted) does not cost the term.
            self.heartbeat_elapsed += 1
            if self.heartbeat_elapsed >= self.config.heartbeat_ticks:
                self.heartbeat_elapsed = 0
                self.request_votes()

    def check_quorum(self) -> None:
        """CheckQuorum: a leader that heard from no quorum during the last
        election timeout steps down, so clients stop waiting on it."""
        if len(self.recently_active) + 1 < self.quorum:
            self.become_follower(self.term, None)
        self.recently_active = set()

    # ---------------------------------------------------------- role changes

    def set_term(self, term: int) -> None:
        assert term > self.term
        self.term = term
        self.voted_for = None
        self.hard_state_dirty = True

    def become_follower(self, term: int, leader_id: int | None) -> None:
        """Steps down (or up to a newer term). The election timer is left
        alone: Raft Figure 2 restarts it only on hearing from the current
        leader or granting a vote, so a node that keeps campaigning with a
        stale log cannot hold everybody else's timers back forever."""
        if term > self.term:
            self.set_term(term)
        if self.role == _LEADER:
            self.fail_pending_reads()
        self.role = _FOLLOWER
        self.leader_id = leader_id
        self.votes = set()

    def campaign(self) -> None:
        if self.config.pre_vote:
            self.start_pre_vote()
        else:
            self.start_election()

    def start_pre_vote(self) -> None:
        """Asks whether a quorum would vote for us, without changing term."""
        self.role = _PRE_CANDIDATE
        self.leader_id = None
        self.votes = {self.id}
        self.vote_answers = {self.id}
        self.heartbeat_elapsed = 0
        self.reset_election_timer()
        self.request_votes()

    def start_election(self) -> None:
        self.set_term(self.term + 1)
        self.role = _CANDIDATE
        self.leader_id = None
        self.voted_for = self.id
        self.votes = {self.id}
        self.vote_answers = {self.id}
        self.heartbeat_elapsed = 0
        self.reset_election_timer()
        self.request_votes()

    def request_votes(self) -> None:
        """Asks every peer that has not answered in this (pre-)election."""
        pre_vote = self.role == _PRE_CANDIDATE
        term = self.term + 1 if pre_vote else self.term
        for peer in self.peers:
            if peer not in self.vote_answers:
                self.send(RequestVote(self.id, peer, term, self.last_index(), self.last_term(), pre_vote))

    def become_leader(self) -> None:
        self.role = _LEADER
        self.leader_id = self.id
        self.heartbeat_elapsed = 0
        self.quorum_check_elapsed = 0
        self.recently_active = set()
        self.next_index = {peer: self.last_index() + 1 for peer in self.peers}
        self.match_index = {peer: 0 for peer in self.peers}
        self.peer_read_round = {peer: 0 for peer in self.peers}
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
        if term is not None and term > self.term and not self.is_pre_vote_traffic(message):
            leader = message.src if type(message) in (AppendEntries, InstallSnapshot) else None
            self.become_follower(term, leader)
        handler(message)

    @staticmethod
    def is_pre_vote_traffic(message) -> bool:
        """PreVote requests carry a future term and granted PreVote answers
        echo it; neither may move anybody's term (thesis §9.6)."""
        if type(message) is RequestVote:
            return message.pre_vote
        return type(message) is RequestVoteResponse and message.pre_vote and message.granted

    def on_request_vote(self, message: RequestVote) -> None:
        if message.pre_vote:
            self.on_pre_vote(message)
            return
        if message.term < self.term:
            self.send(RequestVoteResponse(self.id, message.src, self.term, False))
            return
        granted = self.may_vote_for(message.src) and self.log_up_to_date(
            message.last_log_index, message.last_log_term)
        if granted:
            self.voted_for = message.src
            self.hard_state_dirty = True
            self.reset_election_timer()
        self.send(RequestVoteResponse(self.id, message.src, self.term, granted))

    def on_pre_vote(self, message: RequestVote) -> None:
        """Grant a PreVote if a real vote could be granted in that term and we
        have not heard from a live leader within an election timeout."""
        heard_from_leader = (
            self.leader_id is not None
            and self.election_elapsed < self.config.election_timeout_ticks
        ) or self.role == _LEADER
        granted = (
            message.term > self.term
            and not heard_from_leader
            and self.log_up_to_date(message.last_log_index, message.last_log_term)
        )
        term = message.term if granted else self.term
        self.send(RequestVoteResponse(self.id, message.src, term, granted, True))

    def may_vote_for(self, candidate: int) -> bool:
        """At most one vote per term (§5.2); a repeated request from the same
        candidate (a retry, or a duplicate) gets the same answer."""
        return self.voted_for is None or self.voted_for == candidate

    def log_up_to_date(self, last_log_index: int, last_log_term: int) -> bool:
        """Raft §5.4.1: grant a vote only to a candidate whose log is at least
        as up to date as ours, so every leader holds every committed entry."""
        if last_log_term != self.last_term():
            return last_log_term > self.last_term()
        return last_log_index >= self.last_index()

    def on_request_vote_response(self, message: RequestVoteResponse) -> None:
        if message.pre_vote:
            if self.role != _PRE_CANDIDATE or message.term != self.term + 1:
                return
        elif self.role != _CANDIDATE or message.term != self.term:
            return
        self.vote_answers.add(message.src)
        if not message.granted:
            return
        self.votes.add(message.src)
        if len(self.votes) >= self.quorum:
            if message.pre_vote:
                self.start_election()
            else:
                self.become_leader()

    def on_append_entries(self, message: AppendEntries) -> None:
        if message.term < self.term:
            self.send(AppendEntriesResponse(self.id, message.src, self.term, False, 0, 0))
            return
        self.follow(message.src)

        prev_index, prev_term, entries = message.prev_index, message.prev_term, message.entries
        if prev_index < self.log_start():
            # The follower's snapshot already covers part of this message;
            # entries in a snapshot are committed, so they match the leader's.
            skipped = self.log_start() - prev_index
            if skipped > len(entries):
                self.reply_append(message, True, prev_index + len(entries))
                return
            entries = entries[skipped:]
            prev_index = self.log_start()
            prev_term = self.term_at(prev_index)
        if prev_index > self.last_index() or self.term_at(prev_index) != prev_term:
            self.reply_append(message, False, 0, self.reject_hint(prev_index))
            return

        self.store_entries(prev_index, entries)
        verified = prev_index + len(entries)
        self.advance_follower_commit(message.leader_commit, verified)
        self.reply_append(message, True, verified)

    def store_entries(self, prev_index: int, entries) -> None:
        """Raft Figure 2: an entry we already hold is kept (the message may be
        stale or duplicated); at the first conflict, that entry and all that
        follow it are deleted, then the new entries are appended."""
        index = prev_index
        for entry in entries:
            index += 1
            if index <= self.last_index():
                if self.term_at(index) == entry.term:
                    continue
                self.truncate_from(index)
            self.log.append(Entry(index, entry.term, entry.command))
            self.mark_unpersisted(index)

    def advance_follower_commit(self, leader_commit: int, verified: int) -> None:
        """Only the prefix this message verified is known to match the
        leader: entries past it may be a stale tail the leader will replace."""
        if leader_commit > self.commit_index:
            self.commit_index = max(self.commit_index, min(leader_commit, verified))

    def follow(self, leader: int) -> None:
        if self.role != _FOLLOWER or self.leader_id != leader:
            self.become_follower(self.term, leader)
        self.election_elapsed = 0

    def reply_append(self, message, success: bool, match_index: int, reject_hint: int = 0) -> None:
        self.send(AppendEntriesResponse(self.id, message.src, self.term, success, match_index,
                                        reject_hint, message.read_round))

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

    def on_install_snapshot(self, message: InstallSnapshot) -> None:
        if message.term < self.term:
            self.send(AppendEntriesResponse(self.id, message.src, self.term, False, 0, 0))
            return
        self.follow(message.src)
        snapshot = message.snapshot
        if snapshot.last_index > self.commit_index:
            self.install_snapshot(snapshot)
        self.reply_append(message, True, snapshot.last_index)

    def install_snapshot(self, snapshot: Snapshot) -> None:
        """Raft Figure 13: keep the log after the snapshot if it holds the
        snapshot's last entry (it may hold newer entries the leader sent
        since); otherwise the whole log is replaced by the snapshot."""
        index, term = snapshot.last_index, snapshot.last_term
        if self.log_start() <= index <= self.last_index() and self.term_at(index) == term:
            del self.log[: index - self.log_start()]
            self.log[0] = Entry(index, term, None)
        else:
            self.log = [Entry(index, term, None)]
            self.mark_unpersisted(index + 1)
        self.snapshot = snapshot
        self.snapshot_dirty = True
        self.commit_index = max(self.commit_index, index)
        if self.last_applied < index:
            self.restore_state_machine(snapshot)
            self.last_applied = index

    def on_append_entries_response(self, message: AppendEntriesResponse) -> None:
        if self.role != _LEADER or message.term != self.term:
            return
        peer = message.src
        self.recently_active.add(peer)
        if message.read_round > self.peer_read_round[peer]:
            self.peer_read_round[peer] = message.read_round
            self.serve_confirmed_reads()
        if message.success:
            if message.match_index > self.match_index[peer]:
                self.match_index[peer] = message.match_index
                self.advance_commit_index()
            self.next_index[peer] = max(self.next_index[peer], message.match_index + 1)
            if self.next_index[peer] <= self.last_index():
                self.send_append(peer)
            return
        self.next_index[peer] = self.next_index_after_rejection(peer, message.reject_hint)
        self.send_append(peer)

    def next_index_after_rejection(self, peer: int, reject_hint: int) -> int:
        """Back off to the follower's hint. Responses can be stale or
        duplicated: never move next_index to or below what the follower is
        already known to hold."""
        hinted = min(self.next_index[peer] - 1, reject_hint + 1)
        return max(self.match_index[peer] + 1, hinted, 1)

    def advance_commit_index(self) -> None:
        for index in range(self.last_index(), self.commit_index, -1):
            if not self.may_commit(index):
                break
            replicas = 1 + sum(1 for peer in self.peers if self.match_index[peer] >= index)
            if replicas >= self.quorum:
                self.commit_index = index
                self.assign_read_indexes()
                return

    def may_commit(self, index: int) -> bool:
        """Raft §5.4.2: a leader commits by counting replicas only entries of
        its own term; older entries are committed indirectly with them
        (Figure 8 shows what goes wrong otherwise)."""
        return self.term_at(index) == self.term

    def send_append(self, peer: int) -> None:
        next_index = self.next_index[peer]
        if next_index <= self.log_start():
            # The entries this follower needs are compacted: send the snapshot.
            self.send(InstallSnapshot(self.id, peer, self.term, self.snapshot, self.read_round))
            return
        prev_index = next_index - 1
        start = next_index - self.log_start()
        entries = tuple(self.log[start : start + MAX_ENTRIES_PER_APPEND])
        self.send(AppendEntries(self.id, peer, self.term, prev_index, self.term_at(prev_index),
                                entries, self.commit_index, self.read_round))

    def broadcast_append(self) -> None:
        for peer in self.peers:
            self.send_append(peer)

    # ------------------------------------------------------------- clients

    def on_client_request(self, message: ClientRequest) -> None:
        command = message.command
        if self.role != _LEADER:
            self.reply_client(command, False, None)
            return
        if command.op == "get":
            self.serve_read(command)
            return
        session = self.sessions.get(command.client)
        if session is not None and command.seq <= session[0]:
            # A retry of a write already applied: answer from the session.
            self.reply_client(command, True, session[1])
            return
        index = self.append(self.term, command)
        self.waiting_clients[index] = command
        self.broadcast_append()

    def serve_read(self, command: Command) -> None:
        """ReadIndex (thesis §6.4): remember the commit index, confirm we are
        still leader with a heartbeat round a quorum answers, and answer once
        the state machine has applied up to the remembered index."""
        self.read_round += 1
        read_index = self.commit_index if self.term_at(self.commit_index) == self.term else None
        self.pending_reads.append([command, read_index, self.read_round])
        self.broadcast_append()

    def assign_read_indexes(self) -> None:
        """Reads that arrived before the leader committed an entry of its own
        term wait for that commit, which fixes their read index."""
        for read in self.pending_reads:
            if read[1] is None:
                read[1] = self.commit_index
        self.serve_confirmed_reads()

    def serve_confirmed_reads(self) -> None:
        if not self.pending_reads:
            return
        rounds = sorted([self.read_round, *self.peer_read_round.values()], reverse=True)
        confirmed_round = rounds[self.quorum - 1]
        remaining = []
        for read in self.pending_reads:
            command, read_index, read_round = read
            if read_index is not None and read_round <= confirmed_round and read_index <= self.last_applied:
                self.reply_client(command, True, self.store.get(command.key))
            else:
                remaining.append(read)
        self.pending_reads = remaining

    def fail_pending_reads(self) -> None:
        for command, _, _ in self.pending_reads:
            self.reply_client(command, False, None)
        self.pending_reads = []

    def reply_client(self, command: Command, ok: bool, result: str | None) -> None:
        self.send(ClientResponse(self.id, command.client, command.seq, ok, result, self.leader_id))

    def on_client_response(self, message: ClientResponse) -> None:
        raise AssertionError(f"node {self.id} received a client response")

    _handler_names = {
        RequestVote: "on_request_vote",
        RequestVoteResponse: "on_request_vote_response",
        AppendEntries: "on_append_entries",
        AppendEntriesResponse: "on_append_entries_response",
        InstallSnapshot: "on_install_snapshot",
        ClientRequest: "on_client_request",
        ClientResponse: "on_client_response",
    }

    # ------------------------------------------------------ ready / advance

    def persisted_term(self) -> int:
        """The currentTerm value written to stable storage."""
        return self.term

    def persisted_vote(self) -> int | None:
        """The votedFor value written to stable storage."""
        return self.voted_for

    def has_ready(self) -> bool:
        return bool(
            self.outbox
            or self.hard_state_dirty
            or self.snapshot_dirty
            or self.unpersisted_from is not None
            or self.commit_index > self.last_applied
        )

    def ready(self) -> Ready | None:
        if not self.has_ready():
            return None
        ready = Ready()
        if self.snapshot_dirty:
            ready.snapshot = self.snapshot
            self.snapshot_dirty = False
        if self.hard_state_dirty:
            ready.hard_state = (self.persisted_term(), self.persisted_vote())
            self.hard_state_dirty = False
        if self.unpersisted_from is not None:
            start = max(self.unpersisted_from, self.log_start() + 1)
            ready.entries_from = start
            ready.entries = self.log[start - self.log_start() :]
            self.unpersisted_from = None
        ready.must_sync = (
            ready.snapshot is not None or ready.hard_state is not None or ready.entries_from is not None
        )
        ready.messages, self.outbox = self.outbox, []
        start = self.log_start()
        ready.committed = self.log[self.last_applied + 1 - start : self.commit_index + 1 - start]
        return ready

    def advance(self, ready: Ready) -> None:
        for entry in ready.committed:
            if entry.index <= self.last_applied:
                continue  # a snapshot installed meanwhile already covers it
            assert entry.index == self.last_applied + 1
            self.last_applied = entry.index
            result = self.apply(entry.command)
            waiting = self.waiting_clients.pop(entry.index, None)
            if waiting is not None:
                self.reply_client(waiting, waiting == entry.command, result)
        if self.role == _LEADER:
            self.serve_confirmed_reads()
        if self.last_applied - self.log_start() >= self.config.snapshot_threshold:
            self.take_snapshot()

    def apply(self, command: Command | None) -> str | None:
        """Apply one committed command; a write already applied for its
        client session is skipped and answered from the session."""
        if command is None:
            return None
        session = self.sessions.get(command.client)
        if session is not None and command.seq <= session[0]:
            return session[1]
        result = self.apply_to_store(command)
        self.sessions[command.client] = (command.seq, result)
        return result

    def apply_to_store(self, command: Command) -> str | None:
        """Puts and appends return nothing; a get (which reaches the log only
        in variants that read through it) returns the value."""
        if command.op == "put":
            self.store[command.key] = command.value
        elif command.op == "append":
            current = self.store.get(command.key)
            self.store[command.key] = command.value if current is None else f"{current},{command.value}"
        else:
            return self.store.get(command.key)
        return None

    # ------------------------------------------------------------ snapshots

    def take_snapshot(self) -> None:
        """Compacts the applied prefix of the log into a snapshot."""
        index = self.last_applied
        self.snapshot = Snapshot(
            index,
            self.term_at(index),
            tuple(sorted(self.store.items())),
            tuple(sorted((client, seq, result) for client, (seq, result) in self.sessions.items())),
        )
        del self.log[: index - self.log_start()]
        self.log[0] = Entry(index, self.snapshot.last_term, None)
        self.snapshot_dirty = True

    def restore_state_machine(self, snapshot: Snapshot | None) -> None:
        self.store = dict(snapshot.store) if snapshot else {}
        self.sessions = {client: (seq, result) for client, seq, result in snapshot.sessions} if snapshot else {}
