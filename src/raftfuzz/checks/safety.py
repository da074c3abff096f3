"""Raft's safety properties (Figure 3 of the Raft paper), checked after every
simulated event.

Each check is incremental: it looks only at what the last event could have
changed (one node's role, term, commit index and the log suffix it persisted
or applied), so the cost per step does not grow with the length of the run.
The price is a little global memory: one record per log position ever
written, bounded by the run's step limit.

What counts as committed is learned from the nodes themselves (their commit
index). A node that commits wrongly is exactly what these checks exist to
catch: the first conflicting application or a later leader missing the entry
turns into a violation.
"""

from bisect import bisect_left

from raftfuzz.checks.protocol import Handoff, Run
from raftfuzz.node.messages import RequestVoteResponse
from raftfuzz.node.interface import Ready, Role
from raftfuzz.checks.violations import SafetyViolation

ELECTION_SAFETY = "ElectionSafety"
SINGLE_VOTE = "SingleVotePerTerm"
LEADER_APPEND_ONLY = "LeaderAppendOnly"
LOG_MATCHING = "LogMatching"
LEADER_COMPLETENESS = "LeaderCompleteness"
STATE_MACHINE_SAFETY = "StateMachineSafety"
COMMIT_MONOTONIC = "CommitIndexMonotonic"
COMMIT_WITHIN_LOG = "CommitIndexWithinLog"

# Read at every check: a module constant is several times faster to look up
# than the enum member.
_LEADER = Role.LEADER


class SafetyChecker:
    """A raftfuzz.checks.protocol.Checker: the same checks in every phase."""

    name = "safety"

    def __init__(self) -> None:
        # ElectionSafety: the one leader seen for each term.
        self.leader_of_term: dict[int, int] = {}
        # SingleVotePerTerm: (voter, term) → the candidate it granted.
        self.vote_granted: dict[tuple[int, int], int] = {}
        # LeaderAppendOnly: per current leader, (term, last index, its term).
        self.leader_tail: dict[int, tuple[int, int, int]] = {}
        # LogMatching: (index, term) → (command, term of the previous entry).
        self.written: dict[tuple[int, int], tuple[object, int]] = {}
        # LeaderCompleteness: the entry term of every committed index, and an
        # upper bound on the term in which it was committed (the term of the
        # node that first reported it committed, made non-decreasing: an
        # index is committed no earlier than the one before it). Index 0 is
        # the empty prefix every log shares.
        self.committed_terms: list[int] = [0]
        self.commit_term_bounds: list[int] = [0]
        # StateMachineSafety: the entry first applied at each index.
        self.applied: dict[int, tuple[int, object, int]] = {}
        # CommitIndexMonotonic: commit index per live node incarnation.
        self.commit_seen: dict[int, int] = {}

    # ------------------------------------------------------------- checker

    @classmethod
    def for_run(cls, run: Run) -> "SafetyChecker":
        return cls()

    def handlers(self, phase) -> dict:
        return {Handoff.NODE_STATE: self.check_node, Handoff.READY: self.check_ready,
                Handoff.NODE_STOPPED: self.node_stopped}

    def finish(self, run: Run) -> None:
        """Every property is checked as it happens: nothing is left to judge."""
        return None

    # ------------------------------------------------------------ lifecycle

    def node_stopped(self, node_id: int) -> None:
        """A crash ends an incarnation: its volatile commit index may restart at 0."""
        self.commit_seen.pop(node_id, None)
        self.leader_tail.pop(node_id, None)

    # -------------------------------------------------------------- checks

    def check_ready(self, node, ready: Ready) -> None:
        """Checks what the node is about to persist, send and apply."""
        if ready.snapshot is not None:
            self._check_snapshot(node, ready.snapshot)
        for message in ready.messages:
            if type(message) is RequestVoteResponse and message.granted and not message.pre_vote:
                self._check_vote(message)
        if ready.entries_from is not None:
            self._check_log_matching(node, ready)
        if ready.committed:
            self._check_applied(node, ready.committed)

    def check_node(self, node, term: int, role, commit_index: int, last_index: int) -> None:
        """Checks a node's visible state (read once by the run for every
        observer: raftfuzz.checks.protocol.Handoff.NODE_STATE) after it
        handled an event."""
        node_id = node.id
        previous_commit = self.commit_seen.get(node_id, 0)
        if commit_index < previous_commit:
            raise SafetyViolation(
                COMMIT_MONOTONIC,
                f"node {node_id} commit index went from {previous_commit} back to {commit_index}",
                nodes=(node_id,),
                facts={"before": previous_commit, "after": commit_index},
            )
        self.commit_seen[node_id] = commit_index
        if commit_index > last_index:
            raise SafetyViolation(
                COMMIT_WITHIN_LOG,
                f"node {node_id} commit index {commit_index} is past its last log index {last_index}",
                nodes=(node_id,),
                facts={"commit_index": commit_index, "last_index": last_index},
            )
        if commit_index > previous_commit:
            self._learn_commits(node, term, commit_index)
        if role == _LEADER:
            self._check_leader(node, term, last_index)
        else:
            self.leader_tail.pop(node_id, None)

    def _learn_commits(self, node, term: int, commit_index: int) -> None:
        committed_terms = self.committed_terms
        bounds = self.commit_term_bounds
        bound = max(bounds[-1], term)
        for index in range(len(committed_terms), commit_index + 1):
            committed_terms.append(_term_or_none(node, index))
            bounds.append(bound)

    def _check_vote(self, vote: RequestVoteResponse) -> None:
        """A server grants at most one vote per term (Raft Figure 2, votedFor);
        Election Safety rests on it. Seen on the wire, so a node that forgets
        its vote is caught even when the second candidate then loses."""
        granted = self.vote_granted.setdefault((vote.src, vote.term), vote.dst)
        if granted != vote.dst:
            raise SafetyViolation(
                SINGLE_VOTE,
                f"node {vote.src} granted its term {vote.term} vote to both {granted} and {vote.dst}",
                nodes=(vote.src, granted, vote.dst),
                facts={"term": vote.term, "voter": vote.src, "candidates": [granted, vote.dst]},
            )

    def _check_leader(self, node, term: int, last_index: int) -> None:
        leader = self.leader_of_term.setdefault(term, node.id)
        if leader != node.id:
            raise SafetyViolation(
                ELECTION_SAFETY,
                f"nodes {leader} and {node.id} are both leader of term {term}",
                nodes=(leader, node.id),
                facts={"term": term},
            )
        tail = self.leader_tail.get(node.id)
        if tail is None or tail[0] != term:
            self._check_leader_completeness(node)
        else:
            _, previous_last, previous_last_term = tail
            if last_index < previous_last:
                raise self._append_only_violation(node, term, previous_last, last_index)
            # An entry compacted into the snapshot is committed, hence kept.
            if previous_last >= node.log_start():
                if node.term_at(previous_last) != previous_last_term:
                    raise self._append_only_violation(node, term, previous_last, last_index)
                if last_index == previous_last:
                    return  # the tail is unchanged (checked just now)
        self.leader_tail[node.id] = (term, last_index, node.term_at(last_index))

    @staticmethod
    def _append_only_violation(node, term: int, index: int, last_index: int) -> SafetyViolation:
        return SafetyViolation(
            LEADER_APPEND_ONLY,
            f"leader {node.id} of term {term} removed or overwrote entry {index}",
            nodes=(node.id,),
            facts={"term": term, "index": index, "last_index": last_index},
        )

    def _check_leader_completeness(self, node) -> None:
        """A leader of term T must hold every entry committed in a term below
        T. Checking the newest such index suffices: LogMatching (checked
        separately) makes equal (index, term) pairs imply equal prefixes.

        Entries that may have been committed in term T or later are not
        required, so a leader that wins an old term late (its votes were
        delayed, or it was paused) is rightly not a violation. The bound on
        each commit term is conservative: it can hide a violation, never
        invent one."""
        committed = bisect_left(self.commit_term_bounds, node.term) - 1
        if committed <= 0:
            return
        if committed < node.log_start():
            # The entry is inside the leader's snapshot, which holds only
            # committed entries: check the snapshot's last entry instead.
            committed = min(node.log_start(), len(self.committed_terms) - 1)
        expected_term = self.committed_terms[committed]
        if expected_term is None:
            return  # learned through a snapshot: the term is unknown here
        actual = _term_or_none(node, committed)
        if actual != expected_term:
            raise SafetyViolation(
                LEADER_COMPLETENESS,
                f"node {node.id} became leader of term {node.term} without committed entry "
                f"{committed} (term {expected_term}); its log has term {actual} there",
                nodes=(node.id,),
                facts={
                    "term": node.term,
                    "index": committed,
                    "committed_term": expected_term,
                    "leader_term_at_index": actual,
                    "leader_last_index": node.last_index(),
                },
            )

    def _check_log_matching(self, node, ready: Ready) -> None:
        written = self.written
        index = ready.entries_from
        previous_term = node.term_at(index - 1) if index - 1 <= node.last_index() else -1
        for entry in ready.entries:
            key = (entry.index, entry.term)
            record = (entry.command, previous_term)
            existing = written.setdefault(key, record)
            if existing != record:
                raise SafetyViolation(
                    LOG_MATCHING,
                    f"node {node.id} wrote entry {entry.index} of term {entry.term} that differs "
                    f"from one already written at the same index and term",
                    nodes=(node.id,),
                    facts={
                        "index": entry.index,
                        "term": entry.term,
                        "existing": _describe_record(existing),
                        "new": _describe_record(record),
                    },
                )
            previous_term = entry.term

    def _check_snapshot(self, node, snapshot) -> None:
        """A snapshot stands for the entries up to its last index having been
        applied: it must agree with what was applied there."""
        existing = self.applied.get(snapshot.last_index)
        if existing is not None and existing[0] != snapshot.last_term:
            raise SafetyViolation(
                STATE_MACHINE_SAFETY,
                f"node {node.id} holds a snapshot through entry {snapshot.last_index} of term "
                f"{snapshot.last_term}, but node {existing[2]} applied an entry of term {existing[0]} there",
                nodes=(existing[2], node.id),
                facts={"index": snapshot.last_index, "snapshot_term": snapshot.last_term,
                       "applied_term": existing[0]},
            )

    def _check_applied(self, node, entries) -> None:
        applied = self.applied
        for entry in entries:
            record = (entry.term, entry.command, node.id)
            existing = applied.setdefault(entry.index, record)
            if existing[:2] != record[:2]:
                raise SafetyViolation(
                    STATE_MACHINE_SAFETY,
                    f"node {node.id} applied entry {entry.index} of term {entry.term}, but node "
                    f"{existing[2]} applied an entry of term {existing[0]} there",
                    nodes=(existing[2], node.id),
                    facts={
                        "index": entry.index,
                        "first": {"node": existing[2], "term": existing[0], "command": _describe(existing[1])},
                        "second": {"node": node.id, "term": entry.term, "command": _describe(entry.command)},
                    },
                )


def _term_or_none(node, index: int) -> int | None:
    """The term of entry ``index`` in the node's log, or None when it is
    compacted into the snapshot or past the end."""
    if node.log_start() <= index <= node.last_index():
        return node.term_at(index)
    return None


def _describe(command) -> str | None:
    return None if command is None else repr(tuple(command))


def _describe_record(record) -> dict:
    command, previous_term = record
    return {"command": _describe(command), "previous_term": previous_term}
