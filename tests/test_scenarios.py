"""Scenario tests (turmoil style): a few faults, then assertions on what the
cluster did. They pin down the reference node's behaviour, not just safety."""

from raftfuzz.sim.disk import Disk
from raftfuzz.node.messages import Entry
from raftfuzz.node.interface import Role
from raftfuzz.schedule.codec import Verb
from tests.scenarios import run, schedule


def leaders(simulation):
    return [node for node in simulation.nodes if node is not None and node.role == Role.LEADER]


def assert_converged(simulation):
    """Every node holds the same entries up to the lowest commit index (those
    not compacted away on some node), and the same state machine snapshot
    where their snapshots coincide."""
    nodes = [node for node in simulation.nodes if node is not None]
    commit = min(node.commit_index for node in nodes)
    assert commit > 0
    first = max(node.log_start() for node in nodes) + 1
    for index in range(first, commit + 1):
        assert len({node.entry_at(index) for node in nodes}) == 1, index


def test_a_quiet_cluster_elects_one_leader_and_serves_clients():
    simulation, result = run(schedule())
    assert result.violation is None and result.ended_by == "quiet_end"
    assert len(leaders(simulation)) == 1
    completed = [op for op in result.history if op.completed_us is not None]
    assert len(completed) > 20
    assert_converged(simulation)


def test_a_crashed_leader_is_replaced_in_a_higher_term_and_catches_up_after_restart():
    simulation, result = run(schedule((40, Verb.CRASH, 3), (120, Verb.RESTART, 4)))  # 3 = leader, 4 = earliest crashed
    assert result.violation is None
    [leader] = leaders(simulation)
    assert leader.term >= 2
    assert_converged(simulation)
    assert all(node.commit_index == leader.commit_index or node.commit_index > 0
               for node in simulation.nodes)


def test_a_leader_cut_off_in_a_minority_commits_nothing_until_healed():
    # Five nodes: isolate the leader, let the majority elect another.
    simulation, result = run(schedule((40, Verb.ISOLATE, 5), (41, Verb.CRASH, 0), (42, Verb.RESTART, 0),
                                      node_count=5))
    assert result.violation is None
    assert_converged(simulation)


def test_pause_and_resume_catches_the_node_up():
    simulation, result = run(schedule((30, Verb.PAUSE, 0), (90, Verb.RESUME, 0)))
    assert result.violation is None
    assert_converged(simulation)


def test_a_restarted_node_recovers_term_vote_and_log_from_its_disk():
    simulation, result = run(schedule((60, Verb.CRASH, 1)), max_steps=200_000)
    # After the heal step node 1 was rebuilt from disk and caught up.
    assert result.violation is None
    node = simulation.nodes[1]
    assert node.term >= 1 and node.last_index() > 0
    assert_converged(simulation)


def test_disk_loses_unsynced_writes_on_crash_and_keeps_synced_ones():
    disk = Disk()
    disk.write_hard_state(3, 1)
    disk.write_log(1, [Entry(1, 3, None)])
    disk.sync()
    disk.write_hard_state(4, 2)
    disk.write_log(2, [Entry(2, 4, None)])
    disk.crash()
    state = disk.load()
    assert (state.term, state.voted_for, state.entries) == (3, 1, (Entry(1, 3, None),))


def test_disk_log_write_replaces_the_suffix():
    disk = Disk()
    disk.write_log(1, [Entry(1, 1, None), Entry(2, 1, None), Entry(3, 1, None)])
    disk.write_log(2, [Entry(2, 2, None)])
    disk.sync()
    assert disk.load().entries == (Entry(1, 1, None), Entry(2, 2, None))


def test_held_messages_arrive_after_release_and_the_cluster_recovers():
    simulation, result = run(schedule((20, Verb.HOLD, 0, 1), (20, Verb.HOLD, 1, 0), (80, Verb.RELEASE, 0, 1),
                                      (80, Verb.RELEASE, 1, 0)))
    assert result.violation is None
    assert result.network["held"] > 0
    assert_converged(simulation)


def test_lossy_duplicating_network_still_converges():
    # A late no-op fault keeps the lossy network on until tick 150.
    simulation, result = run(schedule((150, Verb.SKEW, 0, 0, 128), loss_per_256=40, duplicate_per_256=40,
                                      latency_max_us=30_000))
    assert result.violation is None
    assert result.network["dropped_loss"] > 0 and result.network["duplicated"] > 0
    assert_converged(simulation)


def test_role_selectors_skip_when_nothing_matches():
    # No node has crashed, so "restart the earliest crashed" does nothing.
    simulation, result = run(schedule((5, Verb.RESTART, 4)))
    assert result.violation is None
