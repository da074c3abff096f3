"""Planted bugs: classic Raft mistakes as one-rule subclasses of the
reference node. The fuzzer must find each; see tests/test_bugs_found.py."""

from raftfuzz.messages import Entry
from raftfuzz.node_interface import Role
from raftfuzz.raft import RaftNode


class CommitPreviousTermByCounting(RaftNode):
    """Figure 8 of the Raft paper: a leader counts replicas of an entry from an
    earlier term and commits it; a later leader without it overwrites it.
    Breaks LeaderCompleteness / StateMachineSafety.

    Like the paper's basic algorithm, this node appends no no-op on election
    and serves reads through the log: with the no-op, the first entries a new
    leader replicates always end in one of its own term, which hides the
    wrong rule behind the right one."""

    def may_commit(self, index: int) -> bool:
        return True

    def append_election_noop(self) -> None:
        pass

    def serve_read(self, command) -> None:
        index = self.append(self.term, command)
        self.waiting_clients[index] = command
        self.broadcast_append()


class VotedForNotPersisted(RaftNode):
    """votedFor is kept in memory only: after a crash and restart the node
    votes again in the same term, so two candidates can win one term.
    Breaks ElectionSafety."""

    def persisted_vote(self):
        return None


class VoteWithoutLogCheck(RaftNode):
    """RequestVote granted without the up-to-date check (§5.4.1): a node
    missing committed entries can be elected. Breaks LeaderCompleteness."""

    def log_up_to_date(self, last_log_index: int, last_log_term: int) -> bool:
        return True


class StaleReadWithoutReadIndex(RaftNode):
    """A leader answers reads from its local state at once, without the
    ReadIndex heartbeat round: a leader cut off from the majority keeps
    serving values the new leader has overwritten. Breaks Linearizability."""

    def serve_read(self, command) -> None:
        self.reply_client(command, True, self.store.get(command.key))


class DuplicateWriteAppliedTwice(RaftNode):
    """No client sessions: a write retried after a leader change (or a lost
    reply) is appended and applied again. Breaks Linearizability (a later
    read sees the appended value twice)."""

    def apply(self, command):
        if command is None:
            return None
        return self.apply_to_store(command)

    def on_client_request(self, message) -> None:
        command = message.command
        if self.role == Role.LEADER and command.op != "get":
            index = self.append(self.term, command)
            self.waiting_clients[index] = command
            self.broadcast_append()
            return
        super().on_client_request(message)


class SnapshotOverNewerEntries(RaftNode):
    """InstallSnapshot without Figure 13's checks: any snapshot, even an old
    or duplicated one, replaces the whole log and the state machine, so
    entries the follower acknowledged (and may have committed) vanish.
    Breaks CommitIndexWithinLog / LogMatching / StateMachineSafety."""

    def on_install_snapshot(self, message) -> None:
        if message.term < self.term:
            super().on_install_snapshot(message)
            return
        self.follow(message.src)
        snapshot = message.snapshot
        self.log = [Entry(snapshot.last_index, snapshot.last_term, None)]
        self.mark_unpersisted(snapshot.last_index + 1)
        self.snapshot = snapshot
        self.snapshot_dirty = True
        self.restore_state_machine(snapshot)
        self.last_applied = snapshot.last_index
        self.reply_append(message, True, snapshot.last_index)


class LeaderNeverStepsDown(RaftNode):
    """CheckQuorum switched on but never acted upon: a leader cut off from
    the majority stays leader, and its clients wait on it forever.
    Breaks LeaderStepDown (liveness)."""

    def check_quorum(self) -> None:
        self.recently_active = set()


class TruncateOnEveryAppend(RaftNode):
    """A follower that matches prev_index deletes everything after it before
    appending, even when the entries agree: a stale or duplicated
    AppendEntries then erases entries it already acknowledged (and the leader
    may have committed by counting that acknowledgement). Raft Figure 2
    truncates only on a conflict for this reason. Breaks CommitIndexWithinLog,
    LeaderCompleteness or StateMachineSafety."""

    def on_append_entries(self, message) -> None:
        if message.term >= self.term and self.log_start() <= message.prev_index < self.last_index():
            if self.term_at(message.prev_index) == message.prev_term:
                self.unsafe_truncate_after(message.prev_index)
        super().on_append_entries(message)

    def unsafe_truncate_after(self, index: int) -> None:
        del self.log[index + 1 - self.log_start() :]
        self.mark_unpersisted(index + 1)
