"""The bug catalogue: classic Raft mistakes, each planted in a subclass of the
reference node that overrides one rule.

Point the fuzzer at one to watch it work, e.g.

    python -m raftfuzz.atheris_main --target=raftfuzz.node.mutants:VoteWithoutLogCheck artifacts/corpus corpus

Each class names, in ``breaks``, the properties a run of it may violate (the
first found is reported), and in ``mirrors`` the canonical source of the
rule it breaks and a real-world report of the same bug. ``CATALOGUE`` lists them all; the
benchmark in ``benchmarks/bench_bugs.py`` measures how fast each is found,
and docs/bugs.md shows the results.

``DEEP`` lists deeper bugs, kept out of ``CATALOGUE`` (and so out of the CI
test that fuzzes every catalogued bug): each shows only after a history
across several terms (a leader deposed and elected again, an entry
overwritten after it was proposed) or state carried across a snapshot, a
restart or a client's retry. They are what tells good guidance from bad;
``tests/test_deep_bugs.py`` replays a schedule that triggers each.
"""

from dataclasses import replace

from raftfuzz.node.messages import Entry, Snapshot
from raftfuzz.node.interface import Role
from raftfuzz.node.raft import RaftNode


class CommitPreviousTermByCounting(RaftNode):
    """Figure 8 of the Raft paper: a leader counts replicas of an entry from an
    earlier term and commits it; a later leader without it overwrites it.

    Like the paper's basic algorithm, this node appends no no-op on election
    and serves reads through the log: with the no-op, the first entries a new
    leader replicates always end in one of its own term, which hides the
    wrong rule behind the right one."""

    breaks = ("LeaderCompleteness", "StateMachineSafety", "LogMatching", "Linearizability")
    mirrors = ("Raft paper §5.4.2, Figure 8",
               'https://github.com/canonical/raft/issues/220 "Committing entries from previous terms"')

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
    votes again in the same term, so two candidates can win one term."""

    breaks = ("SingleVotePerTerm", "ElectionSafety")
    mirrors = ("Raft paper Figure 2 (persistent state)",
               'https://github.com/mgodave/barge/issues/5 "Term and votedFor are not persisted"')

    def persisted_vote(self):
        return None


class TermNotPersisted(RaftNode):
    """currentTerm is never written (votedFor is): a restarted node is back
    in term 0, adopts the next term it hears of afresh, and with it forgets
    the vote it already cast in that term."""

    breaks = ("SingleVotePerTerm", "ElectionSafety")
    mirrors = ("Raft paper Figure 2 (persistent state)",
               'https://github.com/bakwc/PySyncObj/pull/202 "Persist raft currentTerm and votedFor to fix data divergence on simultaneous restart"')

    def persisted_term(self) -> int:
        return 0


class VoteGrantedTwice(RaftNode):
    """The votedFor check is missing: a node votes for every candidate of the
    current term whose log is up to date, so a split vote can elect two."""

    breaks = ("SingleVotePerTerm", "ElectionSafety")
    mirrors = ("Raft paper §5.2",
               'https://github.com/camunda/camunda/issues/5356 "Raft elects two leaders at the same term"')

    def may_vote_for(self, candidate: int) -> bool:
        return True


class VoteWithoutLogCheck(RaftNode):
    """RequestVote granted without the up-to-date check (§5.4.1): a node
    missing committed entries can be elected."""

    breaks = ("LeaderCompleteness", "StateMachineSafety", "LogMatching")
    mirrors = ("Raft paper §5.4.1",
               'https://github.com/jgroups-extras/jgroups-raft/issues/14 "Grant vote based on candidate\'s log term and index"')

    def log_up_to_date(self, last_log_index: int, last_log_term: int) -> bool:
        return True


class TruncateOnEveryAppend(RaftNode):
    """A follower that matches prev_index deletes everything after it before
    appending, even when the entries agree: a stale or duplicated
    AppendEntries then erases entries it already acknowledged (and the leader
    may have committed by counting that acknowledgement). Raft Figure 2
    truncates only on a conflict for this reason."""

    breaks = ("CommitIndexWithinLog", "LeaderCompleteness", "StateMachineSafety", "LogMatching",
              "Linearizability", "NodePanic")
    mirrors = ("Raft paper Figure 2 (AppendEntries receiver, step 3)",
               'https://github.com/ktoso/akka-raft/issues/66 "Should only delete entries if they conflict with a new one"')

    def store_entries(self, prev_index: int, entries) -> None:
        if prev_index < self.last_index():
            del self.log[prev_index + 1 - self.log_start() :]
            self.mark_unpersisted(prev_index + 1)
        super().store_entries(prev_index, entries)


class ConflictingTailKept(RaftNode):
    """On a conflict the follower overwrites the conflicting entries in place
    but keeps the rest of its old tail: entries of a deposed leader survive
    behind the new leader's, so two logs agree on an (index, term) but not on
    what precedes it."""

    breaks = ("LogMatching", "LeaderCompleteness", "StateMachineSafety", "Linearizability")
    mirrors = ("Raft paper Figure 2 (AppendEntries receiver, step 3)",
               'https://github.com/mofa-org/mofa/pull/1151 "truncate stale log entries on conflict in handle_append_entries"')

    def store_entries(self, prev_index: int, entries) -> None:
        for index, entry in enumerate(entries, start=prev_index + 1):
            if index > self.last_index():
                self.log.append(Entry(index, entry.term, entry.command))
            elif self.term_at(index) != entry.term:
                self.log[index - self.log_start()] = Entry(index, entry.term, entry.command)
            else:
                continue
            self.mark_unpersisted(index)


class FollowerCommitPastVerified(RaftNode):
    """A follower takes its commit index from leaderCommit, capped only at
    its own last index, as soon as an AppendEntries of the current term
    arrives — before, and whether or not, the consistency check has verified
    its log against the leader's. A stale tail left by a deposed leader is
    committed and applied."""

    breaks = ("StateMachineSafety", "LeaderCompleteness", "LogMatching", "Linearizability", "NodePanic")
    mirrors = ("Raft paper Figure 2 (AppendEntries receiver, step 5)",
               'https://github.com/scylladb/scylladb/issues/9965 "raft: follower may mark obsolete entries committed, causing inconsistency"')

    def on_append_entries(self, message) -> None:
        if message.term >= self.term and message.leader_commit > self.commit_index:
            self.commit_index = min(message.leader_commit, self.last_index())
        super().on_append_entries(message)


class CommitIndexBackwards(RaftNode):
    """A follower copies leaderCommit from every AppendEntries, even a
    delayed or duplicated one carrying an older value: its commit index moves
    backwards."""

    breaks = ("CommitIndexMonotonic",)
    mirrors = ("Raft paper Figure 2 (commitIndex increases monotonically)",
               'https://github.com/etcd-io/etcd/issues/1717 "raft committed index should never decrease"')

    def advance_follower_commit(self, leader_commit: int, verified: int) -> None:
        self.commit_index = min(leader_commit, verified)


class StaleTermAppendAccepted(RaftNode):
    """AppendEntries from a deposed leader is processed as if it came from
    the current one: the follower follows the old leader again and lets it
    overwrite entries the new leader counted as replicated."""

    breaks = ("LeaderCompleteness", "StateMachineSafety", "LogMatching", "CommitIndexWithinLog",
              "Linearizability", "NodePanic")
    mirrors = ("Raft paper Figure 2 (AppendEntries receiver, step 1)",
               'https://github.com/andreev-io/little-raft/issues/44 "process_vote_response_as_candidate should ignore vote with stale term" (the same bug on vote responses)')

    def on_append_entries(self, message) -> None:
        super().on_append_entries(message._replace(term=max(message.term, self.term)))


class LeaderIgnoresHigherTerm(RaftNode):
    """A leader that sees a higher term adopts it but does not step down: it
    is now leader of a term in which another node can win the election."""

    breaks = ("ElectionSafety", "LeaderCompleteness", "LogMatching", "StateMachineSafety")
    mirrors = ("Raft paper §5.1",
               'https://github.com/mgodave/barge/issues/10 "Candidate and Leader do not discover newer terms on RPC responses"')

    def become_follower(self, term: int, leader_id: int | None) -> None:
        if self.role == Role.LEADER and term > self.term:
            self.set_term(term)
            return
        super().become_follower(term, leader_id)


class NextIndexUnderflow(RaftNode):
    """The leader decrements nextIndex once per rejection, as Figure 2
    sketches, with no floor at the follower's known match index or at 1: a
    duplicated or delayed rejection pushes it below 1, and the leader asks
    for the term of entry -1 or ships a snapshot it does not have."""

    breaks = ("NodePanic",)
    mirrors = ("Raft paper §5.3",
               'https://github.com/andreev-io/little-raft/pull/18 "Addressing a prev_log_index bug"')

    def next_index_after_rejection(self, peer: int, reject_hint: int) -> int:
        return self.next_index[peer] - 1


class StaleReadWithoutReadIndex(RaftNode):
    """A leader answers reads from its local state at once, without the
    ReadIndex heartbeat round: a leader cut off from the majority keeps
    serving values the new leader has overwritten."""

    breaks = ("Linearizability",)
    mirrors = ("Raft thesis §6.4",
               'https://github.com/etcd-io/etcd/issues/741 "Consistent reads are not consistent" (Jepsen: etcd and Consul, 2014)')

    def serve_read(self, command) -> None:
        self.reply_client(command, True, self.store.get(command.key))


class DuplicateWriteAppliedTwice(RaftNode):
    """No client sessions: a write retried after a leader change (or a lost
    reply) is appended and applied again, so a later read sees an appended
    value twice."""

    breaks = ("Linearizability",)
    mirrors = ("Raft thesis §6.3",
               'https://github.com/sofastack/sofa-jraft/issues/1014 (a command may be executed twice after a leader crash and client retry)')

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


class _SnapshotFromCurrentLeader(RaftNode):
    """For bugs in what a follower does with a snapshot of the current term:
    a stale one is answered as the reference node answers it."""

    def on_install_snapshot(self, message) -> None:
        if message.term < self.term:
            super().on_install_snapshot(message)
            return
        self.follow(message.src)
        self.accept_snapshot(message)

    def accept_snapshot(self, message) -> None:
        raise NotImplementedError


class SnapshotOverNewerEntries(_SnapshotFromCurrentLeader):
    """InstallSnapshot without Figure 13's checks: any snapshot, even an old
    or duplicated one, replaces the whole log and the state machine, so
    entries the follower acknowledged (and may have committed) vanish."""

    breaks = ("CommitIndexWithinLog", "LogMatching", "StateMachineSafety", "LeaderCompleteness",
              "Linearizability")
    mirrors = ("Raft paper §7, Figure 13",
               'https://github.com/camunda/camunda/issues/6092 "Snapshot install on follower can cause entries to be lost"')

    def accept_snapshot(self, message) -> None:
        snapshot = message.snapshot
        self.log = [Entry(snapshot.last_index, snapshot.last_term, None)]
        self.mark_unpersisted(snapshot.last_index + 1)
        self.snapshot = snapshot
        self.snapshot_dirty = True
        self.restore_state_machine(snapshot)
        self.last_applied = snapshot.last_index
        self.reply_append(message, True, snapshot.last_index)


class SnapshotCrashRenumbersLog(RaftNode):
    """Restart assumes the stored log begins right after the snapshot. When
    the node crashed after the snapshot was synced but before the covered log
    prefix was dropped, the old entries are loaded under new, higher indexes:
    the log claims entries it never received."""

    breaks = ("LogMatching", "StateMachineSafety", "LeaderCompleteness", "CommitIndexWithinLog",
              "Linearizability", "NodePanic")
    mirrors = ("Raft paper §7",
               'https://github.com/etcd-io/etcd/pull/12691 "raftexample: Save snapshot file before writing to wal"')

    def __init__(self, node_id, members, config, rng, persisted=None) -> None:
        if persisted is not None and persisted.snapshot is not None:
            start = persisted.snapshot.last_index + 1
            persisted = replace(persisted, entries=tuple(
                Entry(start + offset, entry.term, entry.command)
                for offset, entry in enumerate(persisted.entries)))
        super().__init__(node_id, members, config, rng, persisted)


class LeaderNeverStepsDown(RaftNode):
    """CheckQuorum switched on but never acted upon: a leader cut off from
    the majority stays leader, and its clients wait on it forever."""

    breaks = ("LeaderStepDown",)
    mirrors = ("Raft thesis §6.2",
               'https://github.com/etcd-io/etcd/pull/3917 "raft: support quorum check when raft is leader"')

    def check_quorum(self) -> None:
        self.recently_active = set()


CATALOGUE = {
    node_class.__name__: node_class
    for node_class in (
        CommitPreviousTermByCounting,
        VotedForNotPersisted,
        TermNotPersisted,
        VoteGrantedTwice,
        VoteWithoutLogCheck,
        TruncateOnEveryAppend,
        ConflictingTailKept,
        FollowerCommitPastVerified,
        CommitIndexBackwards,
        StaleTermAppendAccepted,
        LeaderIgnoresHigherTerm,
        NextIndexUnderflow,
        StaleReadWithoutReadIndex,
        DuplicateWriteAppliedTwice,
        SnapshotOverNewerEntries,
        SnapshotCrashRenumbersLog,
        LeaderNeverStepsDown,
    )
}


# ------------------------------------------------------------- deeper bugs


class MatchIndexKeptAcrossTerms(RaftNode):
    """A node elected leader again keeps the match indexes of its earlier
    leadership instead of starting them at 0. Entries a follower held then
    may since have been overwritten by another leader, so the stale match
    index counts a replica that is gone, and the leader commits an entry a
    majority does not hold."""

    breaks = ("LeaderCompleteness", "StateMachineSafety", "LogMatching", "Linearizability")
    mirrors = ("Raft paper Figure 2 (matchIndex, reinitialised after election)",
               'https://github.com/atomix/copycat/issues/29 "ISE: inconsistent index" (matchIndex is specific '
               "to one leader's term and was not reset)")

    def become_leader(self) -> None:
        earlier = self.match_index
        super().become_leader()
        for peer, index in earlier.items():
            self.match_index[peer] = max(self.match_index[peer], index)


class ReplyByIndexAlone(RaftNode):
    """A leader answers a waiting client as soon as the log index its write
    was given is applied, whatever entry ended up there. The clients it
    waits for may date from an earlier leadership: it was deposed, another
    leader's entry overwrote that index, and elected again it applies that
    entry and tells the client its write succeeded though it never took
    effect."""

    breaks = ("Linearizability",)
    mirrors = ("Raft thesis §6.3 (a leader must check the committed entry is the client's)",
               'https://github.com/lerna-stack/akka-entity-replication/issues/156 "A RaftActor(Leader) could '
               'mis-deliver a ReplicationSucceeded message to a different entity"')

    def advance(self, ready) -> None:
        overwritten = []
        for entry in ready.committed:
            waiting = self.waiting_clients.get(entry.index)
            if self.role == Role.LEADER and waiting is not None and waiting != entry.command:
                overwritten.append(self.waiting_clients.pop(entry.index))
        super().advance(ready)
        for command in overwritten:
            self.reply_client(command, True, None)


class SnapshotAckCoversKeptTail(_SnapshotFromCurrentLeader):
    """A follower that installs a snapshot and keeps the log after it (it
    holds the snapshot's last entry, Figure 13 step 6) acknowledges its whole
    log rather than the snapshot: entries past the snapshot are only known to
    follow the same history up to the snapshot's last entry, and may be a
    deposed leader's. The leader counts them as replicated and commits
    entries a majority does not hold."""

    breaks = ("LeaderCompleteness", "StateMachineSafety", "LogMatching", "CommitIndexWithinLog",
              "Linearizability", "NodePanic")
    mirrors = ("Raft paper §7, Figure 13 (step 6: only the snapshot's last entry is known to match)",
               'https://github.com/etcd-io/etcd/issues/10358 "Log entries with higher indexes should be '
               'discarded when persisting an incoming snapshot"')

    def accept_snapshot(self, message) -> None:
        snapshot = message.snapshot
        if snapshot.last_index > self.commit_index:
            self.install_snapshot(snapshot)
        self.reply_append(message, True, max(snapshot.last_index, self.last_index()))


class ReadAcksKeptAcrossTerms(RaftNode):
    """ReadIndex rounds are numbered afresh in each leadership, but the
    acknowledgements peers sent in the node's earlier leadership are kept:
    elected again, it takes old acknowledgements for confirmation of new
    rounds and serves reads without hearing from a quorum — stale reads
    once it has been deposed unawares."""

    breaks = ("Linearizability",)
    mirrors = ("Raft thesis §6.4 (the heartbeat round must be answered in the current term)",
               'https://github.com/antflydb/antfly/pull/599 "fix(raft): isolate read-index heartbeat contexts" '
               "(delayed acknowledgements released reads from a stale leader; etcd-io/raft#397)")

    def become_leader(self) -> None:
        earlier = self.peer_read_round
        super().become_leader()
        self.read_round = 0
        self.peer_read_round.update(earlier)


class StaleAppendResponseCounted(RaftNode):
    """A leader takes AppendEntries acknowledgements from its own earlier
    leadership as if they were of the current term: a delayed success from
    before it was deposed — for entries another leader has since
    overwritten on that follower — counts as a replica now."""

    breaks = ("LeaderCompleteness", "StateMachineSafety", "LogMatching", "Linearizability", "NodePanic")
    mirrors = ("Raft paper Figure 2 (responses of an older term are ignored)",
               'https://github.com/andreev-io/little-raft/issues/44 "process_vote_response_as_candidate should '
               'ignore vote with stale term" (the same check, missing on append responses)')

    def on_append_entries_response(self, message) -> None:
        if self.role == Role.LEADER and message.term < self.term and message.success:
            message = message._replace(term=self.term)
        super().on_append_entries_response(message)


class OwnEarlierTermCommitted(CommitPreviousTermByCounting):
    """A leader commits by counting replicas not only entries of its current
    term but also entries it wrote itself in an earlier leadership, as if
    authorship made them safe: Figure 8 with the same leader twice. Elected
    again, it re-replicates an entry of its earlier term to a majority and
    commits it; a later leader whose last entry has a newer term overwrites
    it.

    As in CommitPreviousTermByCounting, the node appends no no-op on
    election and serves reads through the log, so that no entry of the new
    term commits the old ones indirectly first."""

    breaks = ("LeaderCompleteness", "StateMachineSafety", "LogMatching", "Linearizability")
    mirrors = ("Raft paper §5.4.2, Figure 8",
               'https://github.com/async-raft/async-raft/issues/108 "Counting entry replicas should only from '
               'leader\'s current term."')

    def become_leader(self) -> None:
        # Volatile, like the rest of a leader's state: a restart forgets it.
        self.terms_led = getattr(self, "terms_led", frozenset()) | {self.term}
        super().become_leader()

    def may_commit(self, index: int) -> bool:
        return self.term_at(index) in self.terms_led


DEEP = {
    node_class.__name__: node_class
    for node_class in (
        MatchIndexKeptAcrossTerms,
        ReplyByIndexAlone,
        SnapshotAckCoversKeptTail,
        ReadAcksKeptAcrossTerms,
        StaleAppendResponseCounted,
        OwnEarlierTermCommitted,
    )
}
