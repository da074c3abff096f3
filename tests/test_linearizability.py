"""The linearizability checker: hand-written histories, the budget, property
tests against histories linearizable by construction, a brute-force oracle,
shrinking, and determinism."""

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raftfuzz.sim.clients import Operation
from raftfuzz.checks.linearizability import (
    DEFAULT_BUDGET,
    OK,
    PROPERTY_NAME,
    UNKNOWN,
    VIOLATION,
    _minimise,
    _search,
    _NOT_LINEARIZABLE,
    _time_ordered,
    apply_operation,
    check_history,
    format_operation,
)
from raftfuzz.checks.violations import SafetyViolation

# Operations are written in milliseconds here for readability; histories
# store microseconds.
MS = 1000


def put(client, seq, key, value, invoked_ms, completed_ms):
    return _operation(client, seq, "put", key, value, invoked_ms, completed_ms, None)


def append(client, seq, key, value, invoked_ms, completed_ms):
    return _operation(client, seq, "append", key, value, invoked_ms, completed_ms, None)


def get(client, seq, key, result, invoked_ms, completed_ms):
    return _operation(client, seq, "get", key, None, invoked_ms, completed_ms, result)


def _operation(client, seq, op, key, value, invoked_ms, completed_ms, result):
    completed_us = None if completed_ms is None else completed_ms * MS
    return Operation(client, seq, op, key, value, invoked_ms * MS, completed_us, result)


def brute_force_linearizable(operations) -> bool:
    """Tries every order of every subset that keeps all completed operations.

    The oracle for small histories: exponential, obviously correct. Pending
    gets are dropped; a pending write may be placed anywhere after its
    invocation or left out; real-time order is completed_us < invoked_us.
    """
    by_key = {}
    for operation in operations:
        if operation.op == "get" and operation.completed_us is None:
            continue
        by_key.setdefault(operation.key, []).append(operation)

    def search(remaining, state):
        if all(operation.completed_us is None for operation in remaining):
            return True
        for position, operation in enumerate(remaining):
            if any(other.completed_us is not None and other.completed_us < operation.invoked_us
                   for other in remaining if other is not operation):
                continue
            matches, state_after = apply_operation(operation, state)
            if matches and search(remaining[:position] + remaining[position + 1:], state_after):
                return True
        return False

    return all(search(key_operations, None) for key_operations in by_key.values())


def drops_observed_write(operations, position) -> bool:
    """Whether dropping operations[position] drops a write a kept get returned
    (the shrinking rule that keeps the evidence of a stale read)."""
    dropped = operations[position]
    if dropped.op == "get":
        return False
    rest = operations[:position] + operations[position + 1:]
    if any(other.op != "get" and other.value == dropped.value for other in rest):
        return False
    for other in rest:
        if other.op == "get" and other.result is not None:
            if dropped.value == other.result or dropped.value in other.result.split(","):
                return True
    return False


def assert_shrunk(result, *, literal=False):
    """The shrunk sub-history is non-linearizable and 1-minimal."""
    assert result.status == VIOLATION
    operations = list(result.operations)
    assert operations
    assert not brute_force_linearizable(operations)
    assert result.minimal
    for position in range(len(operations)):
        if not literal and drops_observed_write(operations, position):
            continue
        rest = operations[:position] + operations[position + 1:]
        assert brute_force_linearizable(rest), f"operation {position} could be dropped"


# Hand-written histories.

def test_empty_history_is_ok():
    result = check_history([])
    assert result.status == OK
    assert result.keys_checked == 0


def test_sequential_puts_and_gets_are_ok():
    history = [
        get(1, 1, "k", None, 0, 10),
        put(1, 2, "k", "a", 20, 30),
        get(2, 1, "k", "a", 40, 50),
        put(2, 2, "k", "b", 60, 70),
        get(1, 3, "k", "b", 80, 90),
    ]
    result = check_history(history)
    assert result.status == OK
    assert result.operation_count == 5


def test_appends_build_a_comma_separated_list():
    history = [
        append(1, 1, "k", "x", 0, 10),
        append(2, 1, "k", "y", 20, 30),
        get(3, 1, "k", "x,y", 40, 50),
        put(1, 2, "k", "z", 60, 70),
        append(2, 2, "k", "w", 80, 90),
        get(3, 2, "k", "z,w", 100, 110),
    ]
    assert check_history(history).status == OK


def test_read_of_an_absent_key_is_ok():
    history = [get(1, 1, "k", None, 0, 10), put(2, 1, "other", "a", 0, 10), get(1, 2, "k", None, 20, 30)]
    assert check_history(history).status == OK


def test_read_of_an_absent_key_after_a_completed_put_is_a_violation():
    history = [put(1, 1, "k", "a", 0, 10), get(2, 1, "k", None, 20, 30)]
    result = check_history(history)
    assert result.status == VIOLATION
    assert result.lines() == ["c1 #1 put k='a'  [0.000ms, 10.000ms]", "c2 #1 get k -> None  [20.000ms, 30.000ms]"]
    assert_shrunk(result)


def test_concurrent_puts_where_only_one_order_works():
    # Both puts overlap; the later read of 'a' forces b-then-a.
    history = [
        put(1, 1, "k", "a", 0, 100),
        put(2, 1, "k", "b", 0, 100),
        get(3, 1, "k", "b", 10, 20),
        get(3, 2, "k", "a", 150, 160),
    ]
    assert check_history(history).status == OK


def test_reads_may_not_flip_between_concurrent_writes_once_both_completed():
    history = [
        put(1, 1, "k", "a", 0, 100),
        put(2, 1, "k", "b", 0, 100),
        get(3, 1, "k", "a", 110, 120),
        get(3, 2, "k", "b", 130, 140),
    ]
    result = check_history(history)
    assert result.status == VIOLATION
    assert result.key == "k"
    assert_shrunk(result)


def test_read_concurrent_with_a_write_may_see_either_value():
    before = [put(1, 1, "k", "a", 0, 10), put(1, 2, "k", "b", 20, 60), get(2, 1, "k", "a", 30, 40)]
    after = [put(1, 1, "k", "a", 0, 10), put(1, 2, "k", "b", 20, 60), get(2, 1, "k", "b", 30, 40)]
    assert check_history(before).status == OK
    assert check_history(after).status == OK


def test_stale_read_after_a_completed_write_is_a_violation():
    history = [
        put(1, 1, "k", "a", 0, 10),
        put(1, 2, "k", "b", 20, 30),
        get(2, 1, "k", None, 1, 5),  # irrelevant to the violation: shrunk away
        get(2, 2, "k", "a", 40, 50),
    ]
    result = check_history(history)
    assert result.status == VIOLATION
    # The write it saw and the write it missed both stay in the evidence.
    assert result.lines() == [
        "c1 #1 put k='a'  [0.000ms, 10.000ms]",
        "c1 #2 put k='b'  [20.000ms, 30.000ms]",
        "c2 #2 get k -> 'a'  [40.000ms, 50.000ms]",
    ]
    assert result.pattern() == "put-put-get"
    assert_shrunk(result)


def test_duplicated_append_is_a_violation():
    # A retried append executed twice shows up as the value appearing twice.
    history = [
        append(1, 1, "k", "x", 0, 50),
        append(2, 1, "k", "y", 10, 20),
        get(3, 1, "k", "y,x,x", 60, 70),
    ]
    result = check_history(history)
    assert result.status == VIOLATION
    assert [operation.op for operation in result.operations] == ["append", "append", "get"]
    assert_shrunk(result)


def test_values_that_contain_commas():
    history = [
        put(1, 1, "k", "a,b", 0, 10),
        get(2, 1, "k", "a,b", 20, 30),
        append(1, 2, "k", "c,d", 40, 50),
        get(2, 2, "k", "a,b,c,d", 60, 70),
        put(1, 3, "k", "a", 80, 90),
        append(1, 4, "k", "b", 100, 110),
        get(2, 3, "k", "a,b", 120, 130),
    ]
    assert check_history(history).status == OK
    history.append(get(2, 4, "k", "a,b,c,d", 140, 150))
    assert check_history(history).status == VIOLATION


def test_a_read_must_match_the_whole_state():
    for wrong in ("x", "x,y,", ",x,y", "x,,y", "xx,y", "y,x", "x,y,y", ""):
        history = [append(1, 1, "k", "x", 0, 10), append(1, 2, "k", "y", 20, 30), get(2, 1, "k", wrong, 40, 50)]
        assert check_history(history).status == VIOLATION, wrong


def test_single_append_read_once_is_ok():
    history = [append(1, 1, "k", "x", 0, 50), append(2, 1, "k", "y", 10, 20), get(3, 1, "k", "y,x", 60, 70)]
    assert check_history(history).status == OK


def test_pending_write_assumed_to_have_taken_effect():
    history = [put(1, 1, "k", "a", 0, None), get(2, 1, "k", "a", 50, 60), get(2, 2, "k", "a", 70, 80)]
    assert check_history(history).status == OK


def test_pending_write_takes_effect_only_after_its_invocation():
    history = [get(2, 1, "k", "a", 0, 10), put(1, 1, "k", "a", 20, None)]
    result = check_history(history)
    assert result.status == VIOLATION
    # The read saw 'a' before its only writer was invoked; the writer stays
    # in the evidence because the read observed its value.
    assert result.lines() == ["c2 #1 get k -> 'a'  [0.000ms, 10.000ms]", "c1 #1 put k='a'  [20.000ms, pending]"]
    assert result.minimal


def test_pending_write_assumed_not_to_have_taken_effect():
    # Had the pending append of 'x' taken effect before 'y', the read would
    # show "x,y"; it must be placed after the read, or nowhere.
    history = [
        append(2, 1, "k", "x", 0, None),
        append(1, 1, "k", "y", 10, 20),
        get(3, 1, "k", "y", 30, 40),
        get(3, 2, "k", "y", 50, 60),
    ]
    assert check_history(history).status == OK


def test_pending_write_cannot_take_effect_twice():
    history = [
        append(2, 1, "k", "x", 0, None),
        get(3, 1, "k", "x", 30, 40),
        get(3, 2, "k", "x,x", 50, 60),
    ]
    result = check_history(history)
    assert result.status == VIOLATION
    assert_shrunk(result)


def test_pending_get_constrains_nothing():
    history = [put(1, 1, "k", "a", 0, 10), _operation(2, 1, "get", "k", None, 20, None, "nonsense")]
    result = check_history(history)
    assert result.status == OK


def test_equal_times_are_concurrent():
    # The get is invoked at the instant the put completes: concurrent, so
    # the get may be linearized first and see the absent key.
    history = [put(1, 1, "k", "a", 0, 10), get(2, 1, "k", None, 10, 20)]
    assert check_history(history).status == OK
    # One microsecond later the put precedes it.
    late = [put(1, 1, "k", "a", 0, 10), Operation(2, 1, "get", "k", None, 10 * MS + 1, 20 * MS, None)]
    assert check_history(late).status == VIOLATION


def test_zero_length_operations():
    history = [put(1, 1, "k", "a", 5, 5), get(2, 1, "k", "a", 5, 5), get(2, 2, "k", "a", 6, 6)]
    assert check_history(history).status == OK


def test_only_the_broken_key_is_named():
    history = [
        put(1, 1, "k0", "a", 0, 10),
        get(2, 1, "k0", "a", 20, 30),
        put(1, 2, "k1", "b", 40, 50),
        get(2, 2, "k1", None, 60, 70),  # broken: the put of 'b' completed before
        put(1, 3, "k2", "c", 80, 90),
        get(2, 3, "k2", "c", 100, 110),
    ]
    result = check_history(history)
    assert result.status == VIOLATION
    assert result.key == "k1"
    assert {operation.key for operation in result.operations} == {"k1"}
    assert result.failing_operation_count == 2
    assert result.operation_count == 6


def test_violation_result_converts_to_a_safety_violation():
    history = [put(1, 1, "k", "a", 0, 10), get(2, 1, "k", "b", 20, 30)]
    result = check_history(history)
    violation = result.to_violation()
    assert isinstance(violation, SafetyViolation)
    assert violation.property_name == PROPERTY_NAME
    assert violation.facts["key"] == "k"
    assert violation.signature_facts == ("get",)
    facts = json.loads(json.dumps(result.to_facts()))
    assert facts == result.to_facts()
    assert facts["history"] == ["c2 #1 get k -> 'b'  [20.000ms, 30.000ms]"]
    assert facts["minimal"] is True
    with pytest.raises(ValueError):
        check_history([]).to_violation()


def test_rendering_of_pending_operations_and_absent_reads():
    assert format_operation(put(3, 5, "k1", "c3.5", 120, None)) == "c3 #5 put k1='c3.5'  [120.000ms, pending]"
    assert format_operation(get(3, 6, "k1", None, 120, 131)) == "c3 #6 get k1 -> None  [120.000ms, 131.000ms]"
    assert format_operation(append(1, 2, "k", "x", 0, 1)) == "c1 #2 append k+='x'  [0.000ms, 1.000ms]"
    assert format_operation(Operation(1, 1, "get", "k", None, 1_234_567, 1_234_568)) == \
        "c1 #1 get k -> None  [1234.567ms, 1234.568ms]"


def test_invalid_operations_are_rejected():
    with pytest.raises(ValueError, match="cas"):
        check_history([_operation(1, 1, "cas", "k", "a", 0, 10, None)])
    with pytest.raises(ValueError, match="before it was invoked"):
        check_history([put(1, 1, "k", "a", 10, 5)])
    with pytest.raises(ValueError, match="string value"):
        check_history([put(1, 1, "k", None, 0, 5)])
    with pytest.raises(ValueError, match="budget"):
        check_history([], budget=0)


def test_literal_greedy_shrinking_reduces_a_stale_read_to_a_lone_get():
    # Without the rule that keeps observed writes, shrinking is 1-minimal in
    # the plain sense, and a stale read loses its evidence.
    history = _time_ordered([put(1, 1, "k", "a", 0, 10), put(1, 2, "k", "b", 20, 30), get(2, 1, "k", "a", 40, 50)])
    shrunk, minimal, _ = _minimise(history, 10_000, 100_000, keep_observed_writes=False)
    assert minimal
    assert [operation.op for operation in shrunk] == ["get"]
    assert_shrunk(check_history(shrunk), literal=True)


def test_shrinking_out_of_budget_reports_a_violating_but_unproven_sub_history():
    history = _time_ordered(pathological_history(3, 4) + [get(98, 1, "k", "never", 0, 10)])
    shrunk, minimal, steps = _minimise(history, 10_000, 5)
    assert not minimal
    assert steps <= 5
    assert not brute_force_linearizable(shrunk)


# The budget.

def concurrent_history(clients, operations_per_client, key="k"):
    """Every client's operations overlap every other client's, all writes."""
    history = []
    for client in range(1, clients + 1):
        for seq in range(1, operations_per_client + 1):
            start = seq * 100
            history.append(append(client, seq, key, f"c{client}.{seq}", start, start + 99))
    return history


def pathological_history(clients=6, rounds=20):
    """Linearizable, but the search must try nearly every interleaving.

    Rounds of fully concurrent appends, then one read that saw each round in
    reverse client order. Appends keep the whole order in the state, so the
    memo cannot merge branches, and the search meets the read only after
    linearizing every append: the search space is (clients!) ** rounds."""
    history = concurrent_history(clients, rounds)
    seen = [f"c{client}.{seq}" for seq in range(1, rounds + 1) for client in range(clients, 0, -1)]
    end_ms = (rounds + 1) * 100
    history.append(get(99, 1, "k", ",".join(seen), end_ms, end_ms + 10))
    return history


def test_tiny_budget_gives_unknown_not_violation():
    result = check_history(concurrent_history(6, 20) + [get(99, 1, "k", None, 0, 50)], budget=50)
    assert result.status == UNKNOWN
    assert result.unknown_keys == ("k",)
    assert result.search_steps == 50
    assert "budget" in result.render()


def test_pathological_history_stops_at_the_budget():
    result = check_history(pathological_history())
    assert result.status == UNKNOWN
    assert result.search_steps == DEFAULT_BUDGET
    assert result.to_facts()["unknown_keys"] == ["k"]


def test_unknown_keys_are_sorted_and_a_violation_elsewhere_wins():
    history = concurrent_history(4, 10, key="kz") + concurrent_history(4, 10, key="ka")
    history.append(get(99, 1, "kz", "never", 0, 100_000))
    history.append(get(99, 2, "ka", "never", 0, 100_000))
    result = check_history(history, budget=5)
    assert result.status == UNKNOWN
    assert result.unknown_keys == ("ka", "kz")
    history.append(put(98, 1, "kb", "a", 0, 10))
    history.append(get(98, 2, "kb", None, 20, 30))
    result = check_history(history, budget=5)
    assert result.status == VIOLATION
    assert result.key == "kb"
    assert result.unknown_keys == ("ka",)  # kz, after kb, was not checked


def test_search_on_a_large_linearizable_history_stays_within_the_default_budget():
    history = concurrent_history(3, 300)
    result = check_history(history)
    assert result.status == OK
    assert result.operation_count == 900


# Property tests.

@st.composite
def linearizable_histories(draw, *, max_clients=4, max_operations=6, keys=("k0", "k1")):
    """A history linearizable by construction, with the order that proves it.

    Each client runs operations one after another; each operation takes
    effect at a point inside its interval (a pending write at some point
    after its invocation, or never), and results come from the model applied
    in order of those points. Small times make equal timestamps common.
    """
    effects = []  # (point, tie-break, operation)
    history = []
    for client in range(1, draw(st.integers(1, max_clients)) + 1):
        time = draw(st.integers(0, 5))
        count = draw(st.integers(0, max_operations))
        for seq in range(1, count + 1):
            kind = draw(st.sampled_from(("put", "append", "get")))
            key = draw(st.sampled_from(keys))
            value = None if kind == "get" else f"c{client}.{seq}"
            operation = Operation(client, seq, kind, key, value, time)
            pending = seq == count and draw(st.booleans())
            if pending:
                if kind != "get" and draw(st.booleans()):
                    effects.append((time + draw(st.integers(0, 30)), draw(st.integers(0, 3)), operation))
            else:
                duration = draw(st.integers(0, 12))
                operation.completed_us = time + duration
                effects.append((time + draw(st.integers(0, duration)), draw(st.integers(0, 3)), operation))
                time = operation.completed_us + draw(st.integers(0, 4))
            history.append(operation)
    effects.sort(key=lambda effect: (effect[0], effect[1]))
    state = {}
    for _, _, operation in effects:
        if operation.op == "get":
            operation.result = state.get(operation.key)
        else:
            _, state[operation.key] = apply_operation(operation, state.get(operation.key))
    return history


@st.composite
def small_histories(draw):
    """Arbitrary small one-key histories, linearizable or not: results are
    drawn from the written values and their concatenations."""
    history = []
    written = []
    for client in range(1, draw(st.integers(1, 3)) + 1):
        time = draw(st.integers(0, 4))
        for seq in range(1, draw(st.integers(0, 3)) + 1):
            kind = draw(st.sampled_from(("put", "append", "get")))
            value = None if kind == "get" else f"v{client}{seq}"
            if value is not None:
                written.append(value)
            operation = Operation(client, seq, kind, "k", value, time)
            if draw(st.integers(0, 5)) == 0:
                history.append(operation)
                break  # a pending operation is the client's last
            operation.completed_us = time + draw(st.integers(0, 6))
            time = operation.completed_us + draw(st.integers(0, 3))
            history.append(operation)
    for operation in history:
        if operation.op == "get":
            choices = [None, *written] + [f"{a},{b}" for a, b in itertools.permutations(written, 2)]
            operation.result = draw(st.sampled_from(choices))
    return history


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(linearizable_histories())
def test_linearizable_by_construction_is_never_a_violation(history):
    result = check_history(history)
    assert result.status == OK, result.render()


@FAST
@given(linearizable_histories(), st.data())
def test_a_read_of_a_never_written_value_is_a_violation(history, data):
    reads = [operation for operation in history if operation.op == "get" and operation.completed_us is not None]
    if not reads:
        history.append(Operation(99, 1, "get", "k0", None, 0, 1000))
        reads = history[-1:]
    corrupted = data.draw(st.sampled_from(reads))
    corrupted.result = "fresh"
    result = check_history(history)
    assert result.status == VIOLATION
    assert result.key == corrupted.key
    # The corrupted read alone is the evidence.
    assert result.operations == (corrupted,)
    assert result.minimal


@settings(max_examples=300, deadline=None)
@given(small_histories())
def test_agrees_with_brute_force_and_shrinks_to_a_minimal_violation(history):
    result = check_history(history)
    expected = brute_force_linearizable(history)
    assert result.status == (OK if expected else VIOLATION), result.render()
    if result.status == VIOLATION:
        assert_shrunk(result)


@settings(max_examples=50, deadline=None)
@given(small_histories())
def test_literal_shrinking_is_minimal_in_the_plain_sense(history):
    operations = _time_ordered([operation for operation in history
                                if not (operation.op == "get" and operation.completed_us is None)])
    if _search(operations, 10_000)[0] != _NOT_LINEARIZABLE:
        return
    shrunk, minimal, _ = _minimise(operations, 10_000, 1_000_000, keep_observed_writes=False)
    assert minimal
    assert_shrunk(check_history(shrunk), literal=True)


# Determinism.

def test_same_input_same_result_whatever_the_input_order():
    history = [
        put(1, 1, "k1", "a", 0, 10), put(2, 1, "k1", "b", 0, 10),
        get(3, 1, "k1", "a", 20, 30), get(3, 2, "k1", "b", 40, 50),
        put(1, 2, "k0", "c", 20, 30), get(2, 2, "k0", "d", 40, 50),
    ]
    first = check_history(history)
    assert first.status == VIOLATION
    assert first.key == "k0"  # both keys are broken; the first in sorted order is named
    for order in (list(reversed(history)), history[3:] + history[:3]):
        again = check_history(order)
        assert again.render() == first.render()
        assert again.to_facts() == first.to_facts()


DETERMINISM_SCRIPT = """
from raftfuzz.sim.clients import Operation
from raftfuzz.checks.linearizability import check_history
history = [Operation(c, s, "append", f"k{(c * s) % 3}", f"c{c}.{s}", 10 * s + c, 10 * s + c + 15)
           for c in range(1, 4) for s in range(1, 30)]
history.append(Operation(9, 1, "get", "k1", None, 1000, 1010, "c1.1,c1.1"))
print(check_history(history).render())
"""


def test_same_result_under_any_hash_seed():
    outputs = set()
    for hash_seed in ("0", "1", "12345"):
        environment = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]),
                           PYTHONHASHSEED=hash_seed)
        completed = subprocess.run([sys.executable, "-c", DETERMINISM_SCRIPT], env=environment,
                                   capture_output=True, text=True, timeout=60, check=True)
        outputs.add(completed.stdout)
    assert len(outputs) == 1
    assert "key 'k1'" in outputs.pop()
