"""The checker protocol and the run's phases (raftfuzz.checks.protocol): a run hands
each checker what it subscribed to and nothing else, moves through its
phases in order, and a checker's verdict or violation ends up in the result
as the built-in checkers' do."""

from raftfuzz.checks.safety import SafetyChecker
from raftfuzz.checks.protocol import Handoff, Phase
from raftfuzz.node.interface import Role
from raftfuzz.node.raft import RaftNode
from raftfuzz.schedule.codec import Verb
from raftfuzz.sim.simulation import CHECKERS, Simulation
from raftfuzz.checks.violations import SafetyViolation
from tests.scenarios import schedule

FAST_NETWORK = dict(election_timeout_ticks=10, heartbeat_ticks=2, latency_min_us=2_000, latency_max_us=4_000)
SLOW_NETWORK = dict(FAST_NETWORK, latency_min_us=10_000, latency_max_us=40_000)


class Recorder:
    """Subscribes to every hand-off in every phase and counts what it gets."""

    name = "recorder"

    def __init__(self) -> None:
        self.counts = {handoff: 0 for handoff in Handoff}
        self.phases: list[Phase] = []
        self.finished_in: Phase | None = None
        self.ended_by: str | None = None
        # Every NODE_STATE hand-off: (node id, term, role, commit index, last
        # index), and every NODE_STOPPED as (node id, None, None, None, None).
        self.states: list[tuple] = []

    @classmethod
    def for_run(cls, run) -> "Recorder":
        recorder = cls()
        cls.last = recorder
        return recorder

    def handlers(self, phase: Phase) -> dict:
        return {handoff: getattr(self, f"on_{handoff.name.lower()}", self._counter(handoff)) for handoff in Handoff}

    def _counter(self, handoff):
        def count(*arguments):
            self.counts[handoff] += 1
        return count

    def on_phase(self, run, phase) -> None:
        self.counts[Handoff.PHASE] += 1
        self.phases.append(phase)

    # The same bound methods in every phase: one subscriber throughout.
    def on_node_state(self, node, *state) -> None:
        self.counts[Handoff.NODE_STATE] += 1
        self.states.append((node.id, *state))

    def on_node_stopped(self, node_id) -> None:
        self.counts[Handoff.NODE_STOPPED] += 1
        self.states.append((node_id, None, None, None, None))

    def finish(self, run) -> str:
        self.finished_in, self.ended_by = run.phase, run.ended_by
        return "seen"


def run_with(extra, faults=((20, Verb.CRASH, 0),), *, max_steps=5_000, **knobs):
    simulation = Simulation(schedule(*faults, **knobs), RaftNode, max_steps=max_steps,
                            checkers=CHECKERS + (extra,))
    return simulation, simulation.run()


def test_a_judged_run_waits_for_progress_after_the_heal_then_ends_healed():
    simulation, result = run_with(Recorder.for_run, **FAST_NETWORK)
    recorder = Recorder.last
    assert result.violation is None
    assert recorder.phases == [Phase.HEALED, Phase.WAITING_FOR_PROGRESS, Phase.HEALED]
    assert recorder.finished_in is Phase.HEALED and recorder.ended_by in ("quiet_end", "idle")
    assert simulation.phase is Phase.DONE
    assert result.verdicts["linearizability"] == "ok" and result.verdicts["recorder"] == "seen"


def test_a_run_whose_timing_cannot_be_judged_never_waits_for_progress():
    _, result = run_with(Recorder.for_run, **SLOW_NETWORK)
    assert result.violation is None and Recorder.last.phases == [Phase.HEALED]


def test_a_run_cut_by_its_step_limit_finishes_in_the_phase_it_was_in():
    _, result = run_with(Recorder.for_run, max_steps=50, **FAST_NETWORK)
    assert result.ended_by == "max_steps" and result.violation is None
    assert Recorder.last.phases == [] and Recorder.last.finished_in is Phase.FAULTS_ACTIVE


def test_every_hand_off_reaches_a_checker_that_subscribed_to_it():
    _, result = run_with(Recorder.for_run, **FAST_NETWORK)
    counts = Recorder.last.counts
    assert counts[Handoff.STEP] == result.steps
    assert counts[Handoff.NODE_STOPPED] == counts[Handoff.NODE_STARTED] == 1  # the crash, the heal's restart
    assert counts[Handoff.NODE_STATE] > 0 and counts[Handoff.NODE_EVENT] > 0
    assert counts[Handoff.READY] > 0 and counts[Handoff.RECORDS] > 0


def test_a_node_state_is_handed_over_at_every_change_and_never_twice_unless_it_leads():
    simulation, result = run_with(Recorder.for_run, **FAST_NETWORK)
    states = Recorder.last.states
    last_handed = {}
    for node_id, term, role, commit_index, last_index in states:
        state = (term, role, commit_index, last_index)
        if term is None:  # a crash: the next incarnation starts afresh
            last_handed.pop(node_id, None)
            continue
        assert role == Role.LEADER or last_handed.get(node_id) != state
        last_handed[node_id] = state
    # Each node's state at the end of the run is the last one it handed over.
    for node in simulation.nodes:
        assert last_handed[node.id] == (node.term, node.role, node.commit_index, node.last_index())
    assert any(state[2] == Role.LEADER for state in states)


def test_only_what_a_checker_subscribes_to_is_handed_to_it():
    simulation = Simulation(schedule((20, Verb.CRASH, 0), **FAST_NETWORK), RaftNode,
                            checkers=(SafetyChecker.for_run,))
    [safety] = simulation.checkers
    # One handler is called directly; nobody watching costs nothing.
    assert simulation._on_node_state == safety.check_node and simulation._on_ready == safety.check_ready
    assert simulation._on_node_event is None and simulation._on_step is None and simulation._on_records is None
    assert Simulation(schedule(**FAST_NETWORK), RaftNode).checkers[-1].name != "state feedback"
    assert Simulation(schedule(**FAST_NETWORK), RaftNode, feedback=1)._on_records is not None


class FailsAtTheEnd(Recorder):
    name = "fails at the end"

    def finish(self, run):
        raise SafetyViolation("MadeUp", "found only when the run ended", nodes=(0,))


def test_a_violation_raised_when_the_run_finishes_is_the_runs_finding():
    simulation, result = run_with(FailsAtTheEnd.for_run, **FAST_NETWORK)
    assert result.violation.property_name == "MadeUp" and result.ended_by == "violation"
    assert (result.violation.step, result.violation.time_us) == (simulation.step, simulation.now)
    assert result.verdicts["linearizability"] == "ok" and result.verdicts["fails at the end"] == "violation"


def test_the_checkers_do_not_change_the_run():
    """With a checker more, the same events, the same trace hash."""
    knobs = dict(FAST_NETWORK, node_options=2)
    plain = Simulation(schedule((20, Verb.ISOLATE, 0), (60, Verb.CAMPAIGN, 1), **knobs), RaftNode).run()
    _, watched = run_with(Recorder.for_run, ((20, Verb.ISOLATE, 0), (60, Verb.CAMPAIGN, 1)), **knobs)
    assert (plain.steps, plain.trace_hash) == (watched.steps, watched.trace_hash)


def test_every_built_in_checker_has_the_protocol():
    simulation = Simulation(schedule(**FAST_NETWORK), RaftNode, feedback=1)
    assert len(simulation.checkers) == len(CHECKERS)
    for checker in simulation.checkers:
        assert isinstance(checker.name, str)
        for phase in (Phase.FAULTS_ACTIVE, Phase.HEALED, Phase.WAITING_FOR_PROGRESS):
            handlers = checker.handlers(phase)
            assert all(isinstance(handoff, Handoff) and callable(handler) for handoff, handler in handlers.items())
