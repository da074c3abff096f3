"""Cluster-state feedback (raftfuzz.checks.feedback, docs/feedback.md).

- The C core and the Python core emit the same feature indexes, bit for bit:
  on random record streams and state changes (hypothesis), and over whole
  simulations of the seed corpus.
- The feedback observes and never steers: trace hashes, steps and findings
  are the same with it on or off, on both cores.
- --feedback: parsing, a bad value is one line and exit 2, and a real atheris
  run with --feedback=state reports the counters and gains far more features
  than code coverage alone on the same inputs and -runs.
- libFuzzer resets the registered counters before every input.
"""

import os
import random
import re
import struct
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raftfuzz.core import contract as core_module
from raftfuzz.checks import feedback
from raftfuzz.core.constants import (
    FEEDBACK_COUNTERS,
    FEEDBACK_COARSE,
    FEEDBACK_CONFLICTS,
    FEEDBACK_EVENT_KIND,
    FEEDBACK_FIELDS,
    FEEDBACK_HISTORY,
    FEEDBACK_MAX_FIELDS,
    FEEDBACK_MAX_PER_RECORD,
    FEEDBACK_ONCE,
    FEEDBACK_PAIRS,
    FEEDBACK_STATES,
    FEEDBACK_TRANSITIONS,
    KIND_BARRIER_MIN,
    KIND_DELIVER,
    KIND_TICK,
    LINK_CUT,
    LINK_HELD,
    LINK_UP,
    NODE_DOWN,
    NODE_PAUSED,
    NODE_UP,
)
from raftfuzz.core.twin import PythonCore
from raftfuzz.node.raft import RaftNode
from raftfuzz.run.random_mode import random_input
from raftfuzz.schedule.codec import decode, encode
from raftfuzz.schedule.seeds import seed_schedules
from raftfuzz.run.settings import Settings, SettingsError, state_feature_mask
from raftfuzz.sim.simulation import KIND_FAULT, Simulation
from tests.conftest import REPO, run_cli
from tests.test_core import CCore

needs_c_core = pytest.mark.skipif(CCore is None, reason="C core not built (pip install -e .)")
RECORD = struct.Struct("<9q")
ALL_FEATURES = FEEDBACK_STATES | FEEDBACK_TRANSITIONS | FEEDBACK_EVENT_KIND
FIELDS_AND_PAIRS = FEEDBACK_FIELDS | FEEDBACK_PAIRS
FEATURE_SETS = [FEEDBACK_STATES, FEEDBACK_TRANSITIONS, FEEDBACK_STATES | FEEDBACK_TRANSITIONS,
                FEEDBACK_STATES | FEEDBACK_EVENT_KIND, ALL_FEATURES, FEEDBACK_STATES | FEEDBACK_ONCE,
                ALL_FEATURES | FEEDBACK_ONCE, FEEDBACK_STATES | FEEDBACK_HISTORY,
                FEEDBACK_STATES | FEEDBACK_HISTORY | FEEDBACK_ONCE, ALL_FEATURES | FEEDBACK_HISTORY | FEEDBACK_ONCE,
                FEEDBACK_STATES | FEEDBACK_COARSE, FEEDBACK_STATES | FEEDBACK_COARSE | FEEDBACK_HISTORY,
                ALL_FEATURES | FEEDBACK_COARSE | FEEDBACK_HISTORY | FEEDBACK_ONCE,
                FEEDBACK_FIELDS, FEEDBACK_PAIRS, FIELDS_AND_PAIRS, FIELDS_AND_PAIRS | FEEDBACK_ONCE,
                FIELDS_AND_PAIRS | FEEDBACK_HISTORY, FIELDS_AND_PAIRS | FEEDBACK_COARSE,
                FIELDS_AND_PAIRS | FEEDBACK_COARSE | FEEDBACK_HISTORY | FEEDBACK_EVENT_KIND,
                FIELDS_AND_PAIRS | FEEDBACK_STATES, FIELDS_AND_PAIRS | ALL_FEATURES | FEEDBACK_HISTORY | FEEDBACK_ONCE,
                FEEDBACK_CONFLICTS, FEEDBACK_STATES | FEEDBACK_CONFLICTS, FEEDBACK_CONFLICTS | FEEDBACK_ONCE,
                ALL_FEATURES | FEEDBACK_CONFLICTS | FEEDBACK_HISTORY | FEEDBACK_ONCE,
                FIELDS_AND_PAIRS | FEEDBACK_COARSE | FEEDBACK_CONFLICTS | FEEDBACK_ONCE]


# ------------------------------------------------------------ differential

ENDPOINTS = 6  # four nodes and two clients
NODES = 4
small = st.integers(min_value=-3, max_value=40)
wide = st.one_of(small, st.integers(min_value=-(2**63), max_value=2**63 - 1))
kinds = st.sampled_from([KIND_TICK, KIND_DELIVER, 2, 63, KIND_BARRIER_MIN, KIND_BARRIER_MIN + 1,
                         KIND_BARRIER_MIN + 2, KIND_BARRIER_MIN + 3, 200])
records = st.tuples(st.integers(0, 10**6), kinds, st.integers(-1, ENDPOINTS), st.integers(-1, ENDPOINTS),
                    st.integers(-2, 9), wide, st.integers(-1, 5), wide, wide)
# Records of few nodes whose terms, roles and logs move a little each time, so
# that leaders come back and logs are truncated now and then (conflicts).
histories = st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from([KIND_TICK, KIND_DELIVER]),
                               st.integers(0, 3), st.integers(0, 3), st.just(0), st.integers(0, 4),
                               st.sampled_from([0, 2, 2, 1]), st.integers(0, 6), st.integers(0, 6)), max_size=12)
operations = st.lists(st.one_of(
    st.tuples(st.just("node"), st.integers(0, ENDPOINTS - 1), st.sampled_from([NODE_UP, NODE_DOWN, NODE_PAUSED])),
    st.tuples(st.just("link"), st.integers(0, ENDPOINTS - 1), st.integers(0, ENDPOINTS - 1),
              st.sampled_from([LINK_UP, LINK_CUT, LINK_HELD])),
    st.tuples(st.just("observe"), st.lists(records, max_size=12)),
    st.tuples(st.just("observe"), histories),
    st.tuples(st.just("observe"), st.lists(st.tuples(st.integers(0, 10**6), st.just(KIND_BARRIER_MIN + 1),
                                                     st.just(0), st.just(0), st.just(0), st.just(0), st.just(0),
                                                     st.just(0), st.just(0)), min_size=1, max_size=1)),
), max_size=30)


def apply(core, operation):
    """One operation on one core; returns what it returned or raised."""
    try:
        if operation[0] == "node":
            return core.set_node_state(0, operation[1], operation[2])
        if operation[0] == "link":
            return core.set_link_state(0, operation[1], operation[2], operation[3])
        return core.feedback_observe(b"".join(RECORD.pack(*record) for record in operation[1]), collect=True)
    except ValueError as error:
        return ("ValueError", str(error))


@needs_c_core
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(features=st.sampled_from(FEATURE_SETS), verbs=st.binary(max_size=8), operations=operations)
def test_c_and_python_emit_the_same_features(features, verbs, operations):
    cores = [CCore(1, ENDPOINTS, 1000), PythonCore(1, ENDPOINTS, 1000)]
    for core in cores:
        for endpoint in range(ENDPOINTS):
            core.set_node_state(0, endpoint, NODE_UP)
        core.feedback_begin(NODES, features, KIND_BARRIER_MIN, verbs)
    for operation in operations:
        results = [apply(core, operation) for core in cores]
        assert results[0] == results[1], operation


@pytest.mark.parametrize("core", ["c", "python"])
def test_history_tells_a_returning_leader_from_a_first_one(core):
    """Node 0 leading term 3 for the first time, and leading it after it led
    term 1 and lost it: the same state without history, two with it."""
    if core == "c" and CCore is None:
        pytest.skip("C core not built")
    make = CCore if core == "c" else PythonCore
    follower, leader = 0, 2
    first = [(10, KIND_TICK, 0, 0, 0, 3, leader, 0, 0)]
    returning = [(1, KIND_TICK, 0, 0, 0, 1, leader, 0, 0), (2, KIND_TICK, 0, 0, 0, 2, follower, 0, 0),
                 (10, KIND_TICK, 0, 0, 0, 3, leader, 0, 0)]
    last_feature = {}
    for features in (FEEDBACK_STATES, FEEDBACK_STATES | FEEDBACK_HISTORY):
        for name, records in (("first", first), ("returning", returning)):
            instance = make(1, 4, 1000)
            for endpoint in range(4):
                instance.set_node_state(0, endpoint, NODE_UP)
            instance.feedback_begin(3, features, KIND_BARRIER_MIN, b"")
            indexes = instance.feedback_observe(b"".join(RECORD.pack(*r) for r in records), collect=True)
            last_feature[features, name] = indexes[-1]
    assert last_feature[FEEDBACK_STATES, "first"] == last_feature[FEEDBACK_STATES, "returning"]
    assert (last_feature[FEEDBACK_STATES | FEEDBACK_HISTORY, "first"]
            != last_feature[FEEDBACK_STATES | FEEDBACK_HISTORY, "returning"])


CONFLICT_CUT = 1 << 10  # the conflict word's "this record truncated its node's log" bit


def conflict_words_of_run(monkeypatch, schedule, node_class=RaftNode):
    """The conflict words the Python core computed over a whole run, and the
    features both cores emitted (checked equal when the C core is built)."""
    words = []
    real_word = PythonCore._conflict_word

    def recording_word(self, node, cut):
        words.append(real_word(self, node, cut))
        return words[-1]

    monkeypatch.setattr(PythonCore, "_conflict_word", recording_word)
    data = encode(schedule)
    features = FEEDBACK_STATES | FEEDBACK_CONFLICTS
    python_features, result = features_of_run(monkeypatch, "python", data, features, node_class, max_steps=5000)
    if CCore is not None:
        c_features, _ = features_of_run(monkeypatch, "c", data, features, node_class, max_steps=5000)
        assert c_features == python_features
    return words, python_features, result


def test_conflicts_fire_on_the_deep_schedule_and_not_without_faults(monkeypatch):
    """MatchIndexKeptAcrossTerms' committed schedule overwrites a deposed
    leader's entries on a follower (its log gets shorter within one life):
    the conflict feature sees the truncation and keeps it for the rest of
    the run. The same schedule without its faults truncates no log."""
    from dataclasses import replace

    from raftfuzz.node.mutants import MatchIndexKeptAcrossTerms

    schedule = decode((REPO / "tests" / "data" / "deep" / "MatchIndexKeptAcrossTerms.bin").read_bytes())
    for node_class in (MatchIndexKeptAcrossTerms, RaftNode):
        words, features, result = conflict_words_of_run(monkeypatch, schedule, node_class)
        cuts = [i for i, word in enumerate(words) if word & CONFLICT_CUT]
        assert cuts, node_class
        # Before the first truncation the count is 0; from it on, at least 1.
        assert all(word >> 5 & 3 == 0 for word in words[:cuts[0]])
        assert all(word >> 5 & 3 >= 1 for word in words[cuts[0]:])
        # And the conflict features after it are ones no record before it emitted.
        before = set(features[1:2 * cuts[0]:2])
        assert set(features[2 * cuts[0] + 1::2]) - before
    quiet_words, _, quiet = conflict_words_of_run(monkeypatch, replace(schedule, events=()))
    assert quiet.violation is None and len(quiet_words) > 1000
    assert not any(word & CONFLICT_CUT or word >> 5 & 3 for word in quiet_words)


@pytest.mark.parametrize("core", ["c", "python"])
def test_conflicts_count_a_truncation_within_a_life_and_not_across_a_crash(core):
    """Node 1's log shrinks from 5 to 3 while it is up: a truncation. Its log
    shrinking across a crash (an unsynced tail lost) is not one; and a leader
    elected again after a truncation is a conflict word of its own."""
    if core == "c" and CCore is None:
        pytest.skip("C core not built")
    make = CCore if core == "c" else PythonCore
    follower, leader = 0, 2

    def words(steps):
        instance = make(1, 4, 1000)
        for endpoint in range(4):
            instance.set_node_state(0, endpoint, NODE_UP)
        instance.feedback_begin(3, FEEDBACK_CONFLICTS, KIND_BARRIER_MIN, b"")
        emitted = []
        for step in steps:
            if step[0] == "node":
                instance.set_node_state(0, step[1], step[2])
                step = (0, KIND_BARRIER_MIN + 1, 0, 0, 0, 0, 0, 0, 0)
            emitted.extend(instance.feedback_observe(RECORD.pack(*step), collect=True))
        return emitted

    grow = (1, KIND_TICK, 1, 0, 0, 1, follower, 0, 5)
    shrink = (2, KIND_TICK, 1, 0, 0, 2, follower, 0, 3)
    again = (3, KIND_TICK, 1, 0, 0, 2, follower, 0, 3)
    truncated = words([grow, shrink, again])
    across_crash = words([grow, ("node", 1, NODE_DOWN), ("node", 1, NODE_UP), shrink, again])
    grown_only = words([grow, grow, grow])
    assert truncated[0] == grown_only[0] and truncated[1] != grown_only[1]
    # After the crash the same shrink is no truncation: the last features equal the growing run's.
    assert across_crash[-1] == grown_only[-1] != truncated[-1]
    # Node 0 leads term 1, node 1's log is truncated, node 0 leads term 3: back after a conflict.
    lead = (1, KIND_TICK, 0, 0, 0, 1, leader, 0, 5)
    deposed = (2, KIND_TICK, 0, 0, 0, 2, follower, 0, 5)
    back = (4, KIND_TICK, 0, 0, 0, 3, leader, 0, 5)
    with_conflict = words([lead, deposed, grow, shrink, back])
    without = words([lead, deposed, grow, grow, back])
    first_time_after_conflict = words([grow, shrink, back])
    assert with_conflict[-1] not in (without[-1], first_time_after_conflict[-1])


@pytest.mark.parametrize("core", ["c", "python"])
def test_bad_arguments_are_refused_alike(core):
    if core == "c" and CCore is None:
        pytest.skip("C core not built")
    make = CCore if core == "c" else PythonCore
    with pytest.raises(ValueError, match="feedback_observe before feedback_begin"):
        make(1, 4, 1000).feedback_observe(b"")
    for arguments, message in [((0, 1, KIND_FAULT, b""), "node_count"), ((5, 1, KIND_FAULT, b""), "node_count"),
                               ((3, 0, KIND_FAULT, b""), "features"), ((3, 512, KIND_FAULT, b""), "features"),
                               ((3, FEEDBACK_HISTORY, KIND_FAULT, b""), "features"),
                               ((3, FEEDBACK_ONCE, KIND_FAULT, b""), "features"),
                               ((3, FEEDBACK_EVENT_KIND, KIND_FAULT, b""), "features"),
                               ((3, FEEDBACK_COARSE | FEEDBACK_ONCE, KIND_FAULT, b""), "features"),
                               ((3, 1, 1, b""), "kinds"), ((3, 1, KIND_FAULT, bytes(257)), "fault verbs")]:
        with pytest.raises(ValueError, match=message):
            make(1, 4, 1000).feedback_begin(*arguments)
    started = make(1, 4, 1000)
    started.feedback_begin(3, 1, KIND_FAULT, b"")
    with pytest.raises(ValueError, match="72-byte records"):
        started.feedback_observe(bytes(71))


class RecordingCore:
    """A real core whose feedback_observe also keeps the feature indexes."""

    def __init__(self, inner):
        self._inner = inner
        self.features = []

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def feedback_observe(self, records, collect=False):
        indexes = self._inner.feedback_observe(records, collect=True)
        self.features.extend(indexes)
        return indexes if collect else len(indexes)


REAL_MAKE_CORE = core_module.make_core


def features_of_run(monkeypatch, core_name, data, features=ALL_FEATURES, node_class=RaftNode, max_steps=2000):
    made = []
    make_core = REAL_MAKE_CORE

    def recording_make_core(*arguments):
        made.append(RecordingCore(make_core(*arguments)))
        return made[-1]

    monkeypatch.setattr(core_module, "make_core", recording_make_core)
    result = Simulation(decode(data), node_class, max_steps=max_steps, feedback=features, core=core_name).run()
    assert type(made[0]._inner).__name__ == {"c": "CCore", "python": "PythonCore"}[core_name]
    return made[0].features, result


def corpus_inputs():
    inputs = [encode(schedule) for schedule in seed_schedules().values()]
    generator = random.Random(11)
    return inputs + [random_input(generator) for _ in range(6)]


@needs_c_core
def test_whole_runs_give_the_same_features_on_both_cores(monkeypatch):
    for data in corpus_inputs():
        c_features, c_result = features_of_run(monkeypatch, "c", data)
        python_features, python_result = features_of_run(monkeypatch, "python", data)
        assert c_result.trace_hash == python_result.trace_hash
        assert c_features == python_features
        # Every handled event emits a state feature.
        assert len(c_features) >= c_result.steps
    # And the features tell runs apart: not one constant stream.
    assert len(set(c_features)) > 20


@needs_c_core
def test_whole_runs_give_the_same_field_features_on_both_cores(monkeypatch):
    features = FIELDS_AND_PAIRS | FEEDBACK_HISTORY
    fields = 12 + 1  # the full state's fields and the leaderships
    for data in corpus_inputs()[::4]:
        c_features, c_result = features_of_run(monkeypatch, "c", data, features)
        python_features, _ = features_of_run(monkeypatch, "python", data, features)
        assert c_features == python_features
        # Every record emits one feature per field and one per pair.
        assert len(c_features) == c_result.steps * (fields + fields * (fields - 1) // 2)


def test_field_features_are_a_bounded_set_that_saturates():
    """Each field feature names one field and value, each pair feature two:
    records that differ in one field share every other field's feature and
    every pair without that field, and many distinct states reach few more
    field features than the fields' values allow."""
    def indexes(features, records):
        core = PythonCore(1, 4, 1000)
        for endpoint in range(4):
            core.set_node_state(0, endpoint, NODE_UP)
        core.feedback_begin(3, features, KIND_BARRIER_MIN, b"")
        return core.feedback_observe(b"".join(RECORD.pack(*r) for r in records), collect=True)

    fields = 12
    # Node 1's log grows from 1 entry to 9: only the log spread changes.
    growing = [(1, KIND_TICK, 1, 0, 0, 1, 0, 0, 1), (2, KIND_TICK, 1, 0, 0, 1, 0, 0, 9)]
    both = indexes(FEEDBACK_FIELDS, growing)
    short, long_tail = set(both[:fields]), set(both[fields:])
    assert len(short) == len(long_tail) == fields
    assert len(short & long_tail) == fields - 1
    pairs = fields * (fields - 1) // 2
    both = indexes(FEEDBACK_PAIRS, growing)
    assert len(set(both[:pairs]) & set(both[pairs:])) == (fields - 1) * (fields - 2) // 2
    # Many distinct states: the states' features grow with them, the fields' stay bounded.
    generator = random.Random(3)
    stream = [(t, KIND_TICK, generator.randrange(3), 0, 0, generator.randrange(40), generator.randrange(4),
               generator.randrange(60), generator.randrange(60)) for t in range(3000)]
    assert len(set(indexes(FEEDBACK_STATES, stream))) > 500
    assert len(set(indexes(FEEDBACK_FIELDS, stream))) <= 4 + 4 + 4 + 1 + 1 + 1 + 8 + 8 + 8 + 2 + 2 + 8


def test_the_cores_constants_agree_with_the_header():
    if CCore is None:
        pytest.skip("C core not built")
    from raftfuzz.core._native import lib
    from raftfuzz.core import constants
    names = [name for name in dir(constants) if name.startswith("FEEDBACK_")]
    assert "FEEDBACK_PAIRS" in names and "FEEDBACK_MAX_PER_RECORD" in names
    for name in names:
        assert getattr(lib, "RF_" + name) == getattr(constants, name), name
    assert FEEDBACK_MAX_PER_RECORD == 3 + FEEDBACK_MAX_FIELDS * (FEEDBACK_MAX_FIELDS + 1) // 2


FEATURES_OF_SEEDS = r"""
import hashlib, json, os
from raftfuzz.core import contract as core_module
from raftfuzz.node.raft import RaftNode
from raftfuzz.schedule.codec import decode, encode
from raftfuzz.schedule.seeds import seed_schedules
from raftfuzz.sim.simulation import Simulation
digest = hashlib.sha256()
make_core = core_module.make_core
def recording_make_core(*arguments):
    inner = make_core(*arguments)
    class Recording:
        def __getattr__(self, name):
            return getattr(inner, name)
        def feedback_observe(self, records, collect=False):
            digest.update(json.dumps(inner.feedback_observe(records, collect=True)).encode())
    return Recording()
core_module.make_core = recording_make_core
for schedule in list(seed_schedules().values())[:8]:
    Simulation(schedule, RaftNode, max_steps=1500, feedback=7, core=os.environ["RAFTFUZZ_CORE"]).run()
print(digest.hexdigest())
"""


def test_feature_indexes_do_not_depend_on_the_process_or_hash_seed():
    """-merge, -minimize_crash and -jobs children must see the same features."""
    cores = ["python"] + (["c"] if CCore is not None else [])
    digests = set()
    for core_name in cores:
        for hash_seed in ("0", "1", "random"):
            completed = subprocess.run(
                [sys.executable, "-c", FEATURES_OF_SEEDS], capture_output=True, text=True, check=True, cwd=REPO,
                env=dict(os.environ, PYTHONPATH=str(REPO), RAFTFUZZ_CORE=core_name, PYTHONHASHSEED=hash_seed))
            digests.add(completed.stdout.strip())
    assert len(digests) == 1, digests


# ------------------------------------------------------ observes, never steers

@pytest.mark.parametrize("core_name", ["c", "python"])
def test_trace_hashes_are_the_same_with_feedback_on_and_off(monkeypatch, core_name):
    if core_name == "c" and CCore is None:
        pytest.skip("C core not built")
    for data in corpus_inputs():
        results = [Simulation(decode(data), RaftNode, max_steps=2000, feedback=features, core=core_name).run()
                   for features in (0, FEEDBACK_STATES, ALL_FEATURES, FIELDS_AND_PAIRS | FEEDBACK_HISTORY)]
        summaries = {(result.trace_hash, result.steps, result.ended_by, repr(result.violation))
                     for result in results}
        assert len(summaries) == 1, summaries


def test_findings_are_the_same_with_feedback_on_and_off(crash_report):
    from raftfuzz.node.mutants import VoteWithoutLogCheck
    from raftfuzz.run.report import load_report

    path, expected = crash_report
    data, report = load_report(path)
    result = Simulation(decode(data), VoteWithoutLogCheck, max_steps=report["max_steps"],
                        feedback=ALL_FEATURES).run()
    assert (result.trace_hash, result.steps) == (expected.trace_hash, expected.steps)
    assert result.violation.property_name == expected.violation.property_name


# ---------------------------------------------------------------- the flag

def test_modes_and_features_parse():
    assert Settings.load({"feedback": "state"}, environ={}).feedback == "state"
    assert feedback.uses_code("code+state") and feedback.uses_state("code+state")
    assert not feedback.uses_code("state") and not feedback.uses_state("code")
    assert state_feature_mask("states+kind") == FEEDBACK_STATES | FEEDBACK_EVENT_KIND
    with pytest.raises(SettingsError, match="use code, state, code\\+state"):
        Settings.load({"feedback": "states"}, environ={})
    assert state_feature_mask("states+history+once") == FEEDBACK_STATES | FEEDBACK_HISTORY | FEEDBACK_ONCE
    assert state_feature_mask("states+coarse") == FEEDBACK_STATES | FEEDBACK_COARSE
    assert state_feature_mask("fields+pairs+once") == FEEDBACK_FIELDS | FEEDBACK_PAIRS | FEEDBACK_ONCE
    assert state_feature_mask("pairs") == FEEDBACK_PAIRS
    assert state_feature_mask("states+conflicts") == FEEDBACK_STATES | FEEDBACK_CONFLICTS
    assert state_feature_mask("conflicts") == FEEDBACK_CONFLICTS
    with pytest.raises(SettingsError, match="names 'edges'"):
        Settings.load(environ={"RAFTFUZZ_STATE_FEATURES": "states+edges"})
    with pytest.raises(SettingsError, match="needs one of states, transitions, fields, pairs, conflicts"):
        state_feature_mask("kind")


def test_mode_comes_from_the_environment_for_child_processes():
    assert Settings.load(environ={"RAFTFUZZ_FEEDBACK": "code"}).feedback == "code"
    assert Settings.load(environ={}).feedback == "state"  # the measured default
    # What a parent exports, a child reads back.
    parent = Settings.load({"feedback": "code+state"}, environ={})
    assert Settings.load(environ=parent.to_environment()).feedback == "code+state"


@pytest.mark.parametrize("arguments", [["--feedback=bogus"], ["--feedback", "states"]])
def test_bad_feedback_value_is_one_line_and_exit_2(tmp_path, arguments):
    completed = run_cli("raftfuzz.atheris_main", *arguments, str(tmp_path), "-runs=1", cwd=tmp_path)
    assert completed.returncode == 2
    assert completed.stderr.strip().count("\n") == 0, completed.stderr
    assert completed.stderr.startswith("raftfuzz: error: --feedback=")
    assert "Traceback" not in completed.stderr


def test_the_container_refuses_a_bad_feedback_mode_before_fuzzing(tmp_path):
    completed = run_cli("raftfuzz", "container", cwd=tmp_path,
                        env={"RAFTFUZZ_FEEDBACK": "nope", "RAFTFUZZ_CORPUS": str(tmp_path / "corpus"),
                             "RAFTFUZZ_ARTIFACTS": str(tmp_path / "artifacts")})
    assert completed.returncode == 2
    assert completed.stderr.strip().count("\n") == 0, completed.stderr
    assert "RAFTFUZZ_FEEDBACK" in completed.stderr


def test_bad_feature_list_is_one_line_and_exit_2(tmp_path):
    completed = run_cli("raftfuzz.atheris_main", "--feedback=state", str(tmp_path), "-runs=1", cwd=tmp_path,
                        env={"RAFTFUZZ_STATE_FEATURES": "states+nope"})
    assert completed.returncode == 2
    assert completed.stderr.strip().count("\n") == 0, completed.stderr


# ------------------------------------------------------ real atheris runs

def fuzz(tmp_path, mode, runs, core_name="c", extra=()):
    """One real atheris run; returns its log and libFuzzer's cov: after the
    seeds (INITED) and at the end (DONE)."""
    work = tmp_path / f"work-{mode}-{core_name}"
    work.mkdir()
    completed = run_cli("raftfuzz.atheris_main", f"--feedback={mode}", f"--core={core_name}", str(work),
                        str(REPO / "corpus"), f"-runs={runs}", "-seed=1", f"-artifact_prefix={tmp_path}/",
                        *extra, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr[-2000:]
    inited = re.search(r"INITED\s+cov: (\d+)", completed.stderr)
    done = re.search(r"DONE\s+cov: (\d+)", completed.stderr)
    assert inited and done, completed.stderr[-2000:]
    return completed.stderr, int(inited.group(1)), int(done.group(1))


@needs_c_core
def test_state_feedback_registers_from_c_and_keeps_growing(tmp_path):
    code_log, code_seeds, code_end = fuzz(tmp_path, "code", 80)
    state_log, state_seeds, state_end = fuzz(tmp_path, "state", 80)
    assert "raftfuzz: feedback=code: target code coverage instrumented" in code_log
    assert (f"raftfuzz: feedback=state: {FEEDBACK_COUNTERS} cluster-state counters registered with "
            "libFuzzer from the C core") in state_log
    assert "Instrumenting" not in state_log  # state alone: the target is not instrumented
    # cov: counts counters whose PC-table entry libFuzzer saw, so it moves
    # only when the table matches the counters in size. The seeds already
    # reach more abstract states than the node has edges...
    assert state_seeds > 2 * code_seeds
    # ... and mutations keep finding new ones, where code coverage is saturated.
    assert state_end - state_seeds > 3 * (code_end - code_seeds) + 30, (code_seeds, code_end, state_seeds, state_end)


def test_python_core_feeds_the_same_mechanism_through_atheris(tmp_path):
    log, _, cov = fuzz(tmp_path, "state", 40, core_name="python")
    assert f"{FEEDBACK_COUNTERS} cluster-state counters reserved from atheris (Python core)" in log
    # Nothing is instrumented: every counter libFuzzer saw is a state counter,
    # reserved during the first input and handed over before the second.
    assert cov > 200


RESET_PROBE = r"""
import sys
import atheris
from raftfuzz.checks import feedback
from raftfuzz.core.binding import feedback_counter_sum
from raftfuzz.run.harness import Harness
from raftfuzz.node.raft import RaftNode
from raftfuzz.schedule.codec import encode
from raftfuzz.schedule.seeds import seed_schedules
from raftfuzz.run.settings import Settings

harness = Harness.from_settings(RaftNode, max_steps=800, core="c")
seen = []

def test_one_input(data):
    if not seen:
        print(feedback.register_state_counters("c"), file=sys.stderr)
        harness.feedback = Settings().feature_mask
    seen.append(feedback_counter_sum())
    harness.execute(encode(seed_schedules()["leader-crash-restart"]) if len(seen) % 2 else data)
    after = feedback_counter_sum()
    print(f"probe: before={seen[-1]} after={after}", file=sys.stderr, flush=True)

atheris.Setup([sys.argv[0], "-runs=12", "-seed=3"], test_one_input)
atheris.Fuzz()
"""


@needs_c_core
def test_libfuzzer_resets_the_counters_before_every_input(tmp_path):
    script = tmp_path / "probe.py"
    script.write_text(RESET_PROBE)
    completed = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path,
                               env=dict(os.environ, PYTHONPATH=str(REPO), RAFTFUZZ_CORE="c"), timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    probes = [tuple(map(int, match)) for match in re.findall(r"probe: before=(\d+) after=(\d+)", completed.stderr)]
    assert len(probes) >= 10
    # Each input starts from zeroed counters and leaves some set.
    assert all(before == 0 and after > 0 for before, after in probes), probes


@needs_c_core
def test_state_guided_fuzzing_of_the_correct_node_finds_nothing(tmp_path):
    """State guidance reaches cluster situations code coverage does not; the
    checkers must stay silent on the reference node there too."""
    log, _, _ = fuzz(tmp_path, "state", 300, extra=["-seed=7"])
    assert "violation" not in log
    assert not list(tmp_path.glob("crash-*"))
