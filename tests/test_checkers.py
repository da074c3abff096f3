"""Each checker fires on a hand-built violation and stays silent on the
situations that look alike but are legal."""

import pytest

from raftfuzz.checks import safety as checkers
from raftfuzz.checks.safety import SafetyChecker
from raftfuzz.node.messages import Command, Entry
from raftfuzz.node.interface import Ready, Role
from raftfuzz.checks.violations import SafetyViolation
from raftfuzz.sim.simulation import visible_state


class FakeNode:
    def __init__(self, node_id, term=1, role=Role.FOLLOWER, terms=(), commit_index=0):
        self.id = node_id
        self.term = term
        self.role = role
        self.log = [Entry(0, 0, None)] + [Entry(i + 1, t, None) for i, t in enumerate(terms)]
        self.commit_index = commit_index

    def log_start(self):
        return 0

    def last_index(self):
        return len(self.log) - 1

    def term_at(self, index):
        return self.log[index].term


def check_node(checker, node):
    """The NODE_STATE hand-off as the run makes it: the state read once."""
    checker.check_node(node, *visible_state(node))


def violation_of(call, *args):
    with pytest.raises(SafetyViolation) as caught:
        call(*args)
    return caught.value.property_name


def test_two_leaders_in_one_term_break_election_safety():
    checker = SafetyChecker()
    check_node(checker, FakeNode(0, term=2, role=Role.LEADER))
    assert violation_of(check_node, checker, FakeNode(1, term=2, role=Role.LEADER)) == checkers.ELECTION_SAFETY


def test_leaders_of_different_terms_are_fine():
    checker = SafetyChecker()
    check_node(checker, FakeNode(0, term=2, role=Role.LEADER))
    check_node(checker, FakeNode(1, term=3, role=Role.LEADER))


def test_a_leader_that_drops_its_tail_breaks_leader_append_only():
    checker = SafetyChecker()
    leader = FakeNode(0, term=2, role=Role.LEADER, terms=(1, 2, 2))
    check_node(checker, leader)
    leader.log.pop()
    assert violation_of(check_node, checker, leader) == checkers.LEADER_APPEND_ONLY


def test_a_leader_that_overwrites_its_last_entry_breaks_leader_append_only():
    checker = SafetyChecker()
    leader = FakeNode(0, term=3, role=Role.LEADER, terms=(1, 3))
    check_node(checker, leader)
    leader.log[2] = Entry(2, 2, None)
    assert violation_of(check_node, checker, leader) == checkers.LEADER_APPEND_ONLY


def test_a_new_leader_missing_a_committed_entry_breaks_leader_completeness():
    checker = SafetyChecker()
    check_node(checker, FakeNode(0, term=2, terms=(1, 2), commit_index=2))
    newcomer = FakeNode(1, term=3, role=Role.LEADER, terms=(1,))
    assert violation_of(check_node, checker, newcomer) == checkers.LEADER_COMPLETENESS


def test_a_stale_leader_of_a_lower_term_is_not_a_completeness_violation():
    checker = SafetyChecker()
    # Entry 2 was reported committed by a node in term 4: it may have been
    # committed in term 4, so a late leader of term 3 need not hold it.
    check_node(checker, FakeNode(0, term=4, terms=(1, 4), commit_index=2))
    check_node(checker, FakeNode(1, term=3, role=Role.LEADER, terms=(1, 3)))


def test_commit_index_moving_backwards_is_a_violation_but_a_restart_resets_it():
    checker = SafetyChecker()
    node = FakeNode(0, terms=(1, 1), commit_index=2)
    check_node(checker, node)
    node.commit_index = 1
    assert violation_of(check_node, checker, node) == checkers.COMMIT_MONOTONIC
    checker.node_stopped(0)
    check_node(checker, FakeNode(0, terms=(1, 1), commit_index=0))


def test_commit_index_past_the_log_is_a_violation():
    checker = SafetyChecker()
    assert violation_of(check_node, checker, FakeNode(0, terms=(1,), commit_index=3)) == checkers.COMMIT_WITHIN_LOG


def test_two_different_entries_at_one_index_and_term_break_log_matching():
    checker = SafetyChecker()
    first = FakeNode(0, terms=(1, 1))
    checker.check_ready(first, Ready(entries_from=1, entries=first.log[1:]))
    second = FakeNode(1, terms=(1, 1))
    second.log[2] = Entry(2, 1, Command(9, 1, "put", "k", "v"))
    ready = Ready(entries_from=2, entries=second.log[2:])
    assert violation_of(checker.check_ready, second, ready) == checkers.LOG_MATCHING


def test_same_index_and_term_with_different_predecessors_breaks_log_matching():
    checker = SafetyChecker()
    first = FakeNode(0, terms=(1, 2))
    checker.check_ready(first, Ready(entries_from=1, entries=first.log[1:]))
    second = FakeNode(1, terms=(3, 2))
    ready = Ready(entries_from=2, entries=second.log[2:])
    assert violation_of(checker.check_ready, second, ready) == checkers.LOG_MATCHING


def test_applying_different_entries_at_one_index_breaks_state_machine_safety():
    checker = SafetyChecker()
    checker.check_ready(FakeNode(0), Ready(committed=[Entry(1, 1, Command(5, 1, "put", "k", "a"))]))
    checker.check_ready(FakeNode(1), Ready(committed=[Entry(1, 1, Command(5, 1, "put", "k", "a"))]))
    ready = Ready(committed=[Entry(1, 2, Command(6, 1, "put", "k", "b"))])
    assert violation_of(checker.check_ready, FakeNode(2), ready) == checkers.STATE_MACHINE_SAFETY


def test_granting_two_candidates_in_one_term_breaks_single_vote_per_term():
    from raftfuzz.node.messages import RequestVoteResponse

    checker = SafetyChecker()
    checker.check_ready(FakeNode(0), Ready(messages=[RequestVoteResponse(0, 1, 5, True)]))
    checker.check_ready(FakeNode(0), Ready(messages=[RequestVoteResponse(0, 1, 5, True)]))  # again: fine
    checker.check_ready(FakeNode(0), Ready(messages=[RequestVoteResponse(0, 2, 5, False)]))  # refusal: fine
    checker.check_ready(FakeNode(0), Ready(messages=[RequestVoteResponse(0, 2, 6, True)]))  # next term: fine
    ready = Ready(messages=[RequestVoteResponse(0, 2, 5, True)])
    assert violation_of(checker.check_ready, FakeNode(0), ready) == checkers.SINGLE_VOTE


def test_an_exception_inside_the_node_is_a_node_panic_finding_named_by_type_and_line():
    from raftfuzz.node.raft import RaftNode
    from raftfuzz.run.report import signature
    from raftfuzz.schedule.codec import Schedule
    from raftfuzz.sim.simulation import Simulation

    class PanicsOnTenthTick(RaftNode):
        def tick(self):
            super().tick()
            if self.id == 1 and getattr(self, "ticks", 0) == 9:
                raise IndexError("log index out of range")
            self.ticks = getattr(self, "ticks", 0) + 1

    result = Simulation(Schedule(seed=3), PanicsOnTenthTick).run()
    violation = result.violation
    assert violation.kind == "safety" and violation.property_name == "NodePanic"
    assert violation.nodes == (1,)
    assert violation.facts["exception"] == "IndexError"
    assert violation.facts["where"].startswith("test_checkers.py:") and violation.facts["where"].endswith(" in tick")
    assert signature(violation, "t:PanicsOnTenthTick") == signature(
        Simulation(Schedule(seed=4), PanicsOnTenthTick).run().violation, "t:PanicsOnTenthTick")
