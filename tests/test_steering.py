"""Election steering and the wider client model (raftfuzz.schedule.codec):
``campaign`` makes the chosen node the next leader when its log allows it,
``previous-leader`` names the leader a new one replaced, and pipelined
clients with a long retry grow a cut-off leader's uncommitted tail — all
without a false positive on the reference node."""

from raftfuzz.node.interface import Role
from raftfuzz.schedule.codec import Verb, leader_selector, previous_leader_selector
from tests.scenarios import run, schedule

PREVIOUS_LEADER_3 = previous_leader_selector(3)
LEADER_3 = leader_selector(3)


def leaders_by_term(simulation):
    return sorted(simulation.leader_of_term.items())


def test_campaign_makes_the_chosen_follower_the_next_leader():
    for seed in range(8):
        simulation, result = run(schedule((60, Verb.CAMPAIGN, 1), (100, Verb.SKEW, 0, 0, 128), seed=seed,
                                          node_count=3))
        assert result.violation is None
        first_term, first_leader = leaders_by_term(simulation)[0]
        if first_leader == 1:
            continue  # a campaign for the leader is skipped
        later = [leader for term, leader in leaders_by_term(simulation) if term > first_term]
        assert later and later[0] == 1, (seed, leaders_by_term(simulation))
        # The campaign is over: the old leader's links are up again.
        assert simulation.campaign is None and not simulation.cut_links


def test_previous_leader_names_the_replaced_leader_and_campaign_brings_it_back():
    for seed in range(6):
        simulation, result = run(schedule((30, Verb.ISOLATE, LEADER_3), (60, Verb.HEAL_ALL),
                                          (80, Verb.CAMPAIGN, PREVIOUS_LEADER_3), (120, Verb.SKEW, 0, 0, 128),
                                          seed=seed, node_count=3))
        assert result.violation is None
        terms = leaders_by_term(simulation)
        original, replacement = terms[0][1], terms[1][1]
        assert original != replacement
        # After the campaign the original leader leads again.
        assert terms[-1][1] == original, (seed, terms)


def test_campaign_is_skipped_for_a_crashed_node_and_previous_leader_without_history():
    simulation, result = run(schedule((20, Verb.CRASH, 1), (21, Verb.CAMPAIGN, 1),
                                      (22, Verb.CAMPAIGN, PREVIOUS_LEADER_3), (60, Verb.RESTART, 1)))
    assert result.violation is None
    assert simulation.campaign_count == 0


def test_a_pipelined_client_has_several_operations_in_flight():
    simulation, result = run(schedule(client_count=2, pipeline_depth=4, client_think_ticks=1, seed=3))
    assert result.violation is None
    [first, second] = simulation.clients
    assert len(first.endpoints) == 4 and set(first.endpoints).isdisjoint(second.endpoints)
    mine = [op for op in result.history if op.client in first.endpoints]
    overlapping = max(sum(1 for other in mine if other.invoked_us <= op.invoked_us and
                          (other.completed_us is None or other.completed_us > op.invoked_us))
                      for op in mine)
    assert overlapping >= 3
    # Every session is sequential: one operation of it in flight at a time.
    for endpoint in first.endpoints:
        ops = sorted((op for op in mine if op.client == endpoint), key=lambda op: op.seq)
        for earlier, later in zip(ops, ops[1:]):
            assert earlier.completed_us is not None and earlier.completed_us <= later.invoked_us


def uncommitted_tail_of_cut_off_leader(retry_ticks: int, depth: int) -> int:
    """Entries the isolated leader holds past its commit index after the
    same number of simulated events (the isolation outlasts the run)."""
    simulation, result = run(schedule((40, Verb.ISOLATE, LEADER_3), (250, Verb.SKEW, 0, 0, 128),
                                      client_count=3, pipeline_depth=depth, client_retry_ticks=retry_ticks,
                                      client_think_ticks=1, write_per_256=255, seed=5), max_steps=8_000)
    assert result.violation is None and result.ended_by == "max_steps"
    old_leader = leaders_by_term(simulation)[0][1]
    node = simulation.nodes[old_leader]
    return node.last_index() - node.commit_index


def test_pipelines_and_a_long_retry_grow_a_cut_off_leaders_tail():
    short = uncommitted_tail_of_cut_off_leader(retry_ticks=4, depth=1)
    long = uncommitted_tail_of_cut_off_leader(retry_ticks=100, depth=4)
    assert long > 2 * short, (short, long)


def test_the_reference_node_stays_silent_under_steering_and_pipelines():
    for seed in range(6):
        simulation, result = run(schedule(
            (20, Verb.ISOLATE, LEADER_3), (35, Verb.CAMPAIGN, PREVIOUS_LEADER_3), (50, Verb.HEAL_ALL),
            (60, Verb.CRASH, LEADER_3), (62, Verb.CAMPAIGN, 0), (80, Verb.RESTART, 4),
            (90, Verb.CAMPAIGN, PREVIOUS_LEADER_3), (120, Verb.HEAL_ALL),
            client_count=3, pipeline_depth=4, client_retry_ticks=[4, 100][seed % 2], client_think_ticks=1,
            write_per_256=200, key_count=1, seed=seed, loss_per_256=20, duplicate_per_256=20))
        assert result.violation is None, (seed, result.violation)
        assert result.linearizability in ("ok", "unknown")  # unknown: search budget spent


def test_the_linearizability_search_does_not_order_one_clients_concurrent_operations():
    """A pipelined client's operations overlap. The search orders them by
    real time only: here the later-invoked put takes effect first."""
    from raftfuzz.sim.clients import Operation
    from raftfuzz.checks.linearizability import OK, VIOLATION, check_history

    first = Operation(3, 1, "put", "k0", "a", invoked_us=100, completed_us=400)
    second = Operation(3, 2, "put", "k0", "b", invoked_us=110, completed_us=300)
    read = Operation(4, 1, "get", "k0", None, invoked_us=500, completed_us=600, result="a")
    assert check_history([first, second, read]).status == OK
    # Real-time order still binds: a read after both that sees neither is wrong.
    stale = Operation(4, 1, "get", "k0", None, invoked_us=500, completed_us=600, result=None)
    assert check_history([first, second, stale]).status == VIOLATION
