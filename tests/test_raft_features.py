"""Scenario tests for the production features of the reference node:
snapshots, ReadIndex, client sessions, PreVote and CheckQuorum."""

from raftfuzz.sim.disk import Disk
from raftfuzz.node.messages import ClientRequest, Command, Entry, InstallSnapshot
from raftfuzz.node.interface import NodeConfig, Role
from raftfuzz.node.raft import RaftNode
from raftfuzz.schedule.codec import Verb
from tests.scenarios import run, schedule
from tests.test_scenarios import assert_converged, leaders


class CountingRng:
    def below(self, n):
        return 0


def make_node(node_id=0, **options):
    config = NodeConfig(election_timeout_ticks=5, heartbeat_ticks=1, **options)
    return RaftNode(node_id, (0, 1, 2), config, CountingRng())


def test_snapshots_compact_logs_and_a_lagging_follower_is_caught_up_by_install_snapshot():
    installs = []

    class Watching(RaftNode):
        def on_install_snapshot(self, message):
            installs.append(message.snapshot.last_index)
            super().on_install_snapshot(message)

    simulation, result = run(schedule((10, Verb.CRASH, 2), (120, Verb.RESTART, 2), snapshot_threshold=4,
                                      client_count=3, write_per_256=230, client_think_ticks=1),
                             node_class=Watching)
    assert result.violation is None
    assert installs, "the restarted follower should have needed a snapshot"
    assert all(node.log_start() > 0 for node in simulation.nodes)
    assert_converged(simulation)
    stores = {tuple(sorted(node.store.items())) for node in simulation.nodes
              if node.last_applied == simulation.nodes[0].last_applied}
    assert len(stores) == 1


def test_a_crash_between_snapshot_and_log_compaction_recovers_from_the_snapshot():
    node = make_node(snapshot_threshold=2)
    node.term = 1
    for index in range(1, 4):
        node.append(1, Command(9, index, "put", "k", f"v{index}"))
    node.commit_index = 3
    disk = Disk()
    ready = node.ready()
    disk.write_log(ready.entries_from, ready.entries)
    disk.sync()
    node.advance(ready)  # applies 1..3 and snapshots at 3
    ready = node.ready()
    assert ready.snapshot is not None and ready.snapshot.last_index == 3
    disk.write_snapshot(ready.snapshot)
    disk.sync()
    disk.compact_log(3)  # unsynced: lost in the crash below
    disk.crash()
    state = disk.load()
    assert [entry.index for entry in state.entries] == [1, 2, 3]  # the stale prefix survived
    restarted = RaftNode(0, (0, 1, 2), node.config, CountingRng(), state)
    assert restarted.log_start() == 3 and restarted.last_index() == 3
    assert restarted.store == {"k": "v3"} and restarted.sessions == {9: (3, None)}


def test_install_snapshot_keeps_newer_entries_that_match():
    node = make_node()
    node.term = 2
    node.log += [Entry(i, 2, None) for i in range(1, 6)]
    node.commit_index = 2
    snapshot = node.snapshot = None
    from raftfuzz.node.messages import Snapshot

    snapshot = Snapshot(3, 2, (("k", "v"),), ((7, 1, None),))
    node.step(InstallSnapshot(1, 0, 2, snapshot))
    assert node.log_start() == 3 and node.last_index() == 5
    assert node.commit_index == 3 and node.store == {"k": "v"}


def test_a_retried_write_is_applied_once_and_answered_from_the_session():
    node = make_node()
    command = Command(7, 1, "append", "k", "x")
    assert node.apply(command) is None
    assert node.apply(command) is None
    assert node.store == {"k": "x"}
    node.role, node.leader_id = Role.LEADER, 0
    node.step(ClientRequest(7, 0, command))
    [reply] = node.outbox
    assert reply.ok and reply.client_seq == 1
    assert node.last_index() == 0  # not appended again


def test_sessions_survive_snapshots_and_restarts():
    simulation, result = run(schedule((40, Verb.CRASH, 3), (41, Verb.RESTART, 4), (80, Verb.CRASH, 3),
                                      (81, Verb.RESTART, 4), snapshot_threshold=4, loss_per_256=50,
                                      write_per_256=255, key_count=1))
    assert result.violation is None and result.linearizability == "ok"
    sessions = {tuple(sorted(node.sessions.items())) for node in simulation.nodes
                if node.last_applied == max(n.last_applied for n in simulation.nodes)}
    assert len(sessions) == 1 and sessions != {()}


def test_read_index_leader_does_not_answer_reads_while_cut_off():
    # Without CheckQuorum the isolated leader keeps its role; its reads must
    # wait for a heartbeat round it cannot complete.
    simulation, result = run(schedule((40, Verb.ISOLATE, 3), (120, Verb.HEAL_ALL), write_per_256=100,
                                      key_count=1, client_count=3, client_think_ticks=1))
    assert result.violation is None and result.linearizability == "ok"
    assert_converged(simulation)


def test_read_index_waits_for_a_quorum_round_and_the_apply_point():
    node = make_node()
    node.term = 1
    node.become_leader()
    node.outbox.clear()
    node.step(ClientRequest(5, 0, Command(5, 1, "get", "k", None)))
    assert not [m for m in node.outbox if type(m).__name__ == "ClientResponse"]
    assert node.pending_reads, "the read waits for the no-op to commit and a quorum round"


def test_pre_vote_keeps_an_isolated_follower_from_raising_the_term():
    # Node 0 is a follower in this schedule; cut off, it keeps timing out.
    with_pre_vote, result = run(schedule((30, Verb.ISOLATE, 0), (150, Verb.HEAL_ALL), node_options=1))
    assert result.violation is None
    assert [node.term for node in with_pre_vote.nodes] == [1, 1, 1]
    without, result = run(schedule((30, Verb.ISOLATE, 0), (150, Verb.HEAL_ALL), node_options=0))
    assert result.violation is None
    assert min(node.term for node in without.nodes) > 10, "without PreVote every timeout bumps the term"


def test_check_quorum_makes_an_isolated_leader_step_down():
    steps = []

    class Watching(RaftNode):
        def become_follower(self, term, leader_id):
            if self.role == Role.LEADER and term == self.term:
                steps.append(self.id)
            super().become_follower(term, leader_id)

    simulation, result = run(schedule((40, Verb.ISOLATE, 5), (200, Verb.HEAL_ALL), node_count=5,
                                      node_options=2), node_class=Watching)
    assert result.violation is None
    assert steps, "the isolated leader should have stepped down by CheckQuorum"
    assert len(leaders(simulation)) == 1
