"""The liveness checks fire on clusters that stop making progress, and stay
silent on the reference node under the same schedules."""

from raftfuzz.checks.liveness import LEADER_STEP_DOWN, PROGRESS_AFTER_HEAL, progress_checkable
from raftfuzz.node.raft import RaftNode
from raftfuzz.schedule.codec import Verb
from raftfuzz.checks.violations import LivenessViolation
from raftfuzz.node.mutants import LeaderNeverStepsDown
from tests.scenarios import run, schedule


class NeverCampaigns(RaftNode):
    def campaign(self):
        self.reset_election_timer()


class DropsReads(RaftNode):
    def serve_read(self, command):
        pass


FAST_NETWORK = dict(election_timeout_ticks=10, heartbeat_ticks=2, latency_min_us=2_000,
                    latency_max_us=4_000)


def test_isolated_leader_that_never_steps_down_is_a_liveness_violation():
    faults = ((40, Verb.ISOLATE, 5), (200, Verb.HEAL_ALL))
    _, result = run(schedule(*faults, node_count=5, node_options=2), node_class=LeaderNeverStepsDown)
    assert isinstance(result.violation, LivenessViolation)
    assert result.violation.property_name == LEADER_STEP_DOWN
    assert result.violation.exit_code == 4
    _, reference = run(schedule(*faults, node_count=5, node_options=2))
    assert reference.violation is None


def test_without_check_quorum_staying_leader_is_not_judged():
    faults = ((40, Verb.ISOLATE, 5), (200, Verb.HEAL_ALL))
    _, result = run(schedule(*faults, node_count=5, node_options=0), node_class=LeaderNeverStepsDown)
    assert result.violation is None


def test_a_cluster_that_never_elects_fails_progress_after_heal():
    assert progress_checkable(schedule(**FAST_NETWORK))
    _, result = run(schedule((20, Verb.CRASH, 0), **FAST_NETWORK), node_class=NeverCampaigns)
    assert result.violation is not None and result.violation.property_name == PROGRESS_AFTER_HEAL
    assert "leaders []" in result.violation.message


def test_operations_that_never_complete_fail_progress_after_heal():
    _, result = run(schedule((20, Verb.CRASH, 0), write_per_256=0, **FAST_NETWORK), node_class=DropsReads)
    assert result.violation is not None and result.violation.property_name == PROGRESS_AFTER_HEAL
    assert result.violation.facts["pending"]


def test_the_reference_node_makes_progress_after_heal():
    for faults in (((20, Verb.CRASH, 0),), ((20, Verb.ISOLATE, 3), (60, Verb.CRASH, 1)),
                   ((10, Verb.SPLIT, 0, 0, 0b011), (90, Verb.PAUSE, 2))):
        _, result = run(schedule(*faults, **FAST_NETWORK))
        assert result.violation is None, faults


def test_progress_is_not_judged_when_the_network_is_slow_for_the_timeouts():
    slow = dict(FAST_NETWORK, latency_min_us=10_000, latency_max_us=40_000)
    assert not progress_checkable(schedule(**slow))
    _, result = run(schedule((20, Verb.CRASH, 0), **slow), node_class=NeverCampaigns)
    assert result.violation is None
