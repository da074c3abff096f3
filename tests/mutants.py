"""Planted bugs: classic Raft mistakes as one-rule subclasses of the
reference node. The fuzzer must find each; see tests/test_bugs_found.py."""

from raftfuzz.raft import RaftNode


class CommitPreviousTermByCounting(RaftNode):
    """Figure 8 of the Raft paper: a leader counts replicas of an entry from an
    earlier term and commits it; a later leader without it overwrites it.
    Breaks LeaderCompleteness / StateMachineSafety.

    Like the paper's basic algorithm, this node appends no no-op on election:
    with the no-op, the first entries a new leader replicates always end in
    one of its own term, which hides the wrong rule behind the right one."""

    def may_commit(self, index: int) -> bool:
        return True

    def append_election_noop(self) -> None:
        pass


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
