"""Linearizability of the client history against a sequential key-value model.

The checker is the Wing–Gong algorithm as refined by Lowe ("Testing for
linearizability", 2017) and used by Porcupine: walk the time-ordered list of
call and return entries, tentatively linearize any operation whose call comes
before the first outstanding return, backtrack when a return is reached whose
operation has not been linearized, and remember every (set of linearized
operations, model state) pair already explored so that no configuration is
searched twice. The set is an int bitmask over the key's operations.

Keys are independent in the model, so each key's sub-history is checked on
its own (P-compositionality, Herlihy & Wing): the history is linearizable iff
every key's sub-history is, and the cost is a sum of small searches instead
of one search over their product.

Sequential model, per key. The state is None (absent) or a string.

- ``put(value)``: the state becomes ``value``.
- ``append(value)``: the state becomes ``value`` if it was None, else
  ``state + "," + value``.
- ``get``: returns the state, which is unchanged.

Writes return nothing, so their results are not checked; a completed get must
return exactly the state at its linearization point.

Time. An operation A precedes B iff ``A.completed_us < B.invoked_us``; equal
times are concurrent, so at equal times every call entry is placed before
every return entry. An operation with ``completed_us`` None never completed:
it may have taken effect at any time after its invocation, or never. A
pending get constrains nothing and is dropped. A pending write has a call
entry and no return entry, so the search may linearize it anywhere after its
invocation, and the history counts as linearized once every *completed*
operation is — leaving a pending write out is the same as placing it last.

Verdicts are exact: "violation" means no linearization exists, proven by an
exhausted search, and "unknown" means the per-key step budget ran out first.
A budget that runs out is never reported as a violation.

Shrinking. A violation is reported with a small sub-history of the failing
key that is still non-linearizable: pending operations are dropped first,
then chunks of operations, then single ones, keeping each drop the search
proves harmless to the verdict. A write whose value a kept get returned is
never dropped, so a stale read is shown with the write it saw and the write
it missed rather than as a lone read of a value nobody wrote.

The simulator runs it as a raftfuzz.checks.protocol.Checker
(``LinearizabilityChecker``): it watches nothing during the run and checks
the whole history when the run finishes without another violation::

    result = check_history(history)
    if result.status == VIOLATION:
        raise result.to_violation()
"""

from dataclasses import dataclass

from raftfuzz.checks.protocol import Phase, Run
from raftfuzz.checks.violations import SafetyViolation

PROPERTY_NAME = "Linearizability"

OK = "ok"
VIOLATION = "violation"
UNKNOWN = "unknown"

# A hard cap on search steps for one key's sub-history, so a pathological
# history (many long overlapping operations) cannot stall a fuzz execution:
# the search is exponential in the worst case. A step is one visit of an
# entry in the call/return list and costs one to three microseconds. The
# histories the simulator produces (three clients, each with one operation
# outstanding) need about two steps per operation (benchmarks/
# bench_linearizability.py: 1000 operations on one key, about 2 000 steps),
# so 100 000 steps leaves a wide margin for normal runs and bounds the worst
# case near a quarter of a second per key.
DEFAULT_BUDGET = 100_000

# A cap on the search steps spent, in total, shrinking a failing key's
# history to a small non-linearizable sub-history. Shrinking re-runs the
# search once per candidate, and it runs only when a violation has been
# found, so it may cost more than a check (up to a few seconds) — but it
# must still end. When the cap is reached the sub-history found so far is
# reported; it is always non-linearizable, it is just not proven minimal.
MINIMISE_BUDGET = 1_000_000

WRITE_OPERATIONS = ("put", "append")
READ_OPERATIONS = ("get",)

# Results of the search on one sub-history, internal to this module.
_LINEARIZABLE = 0
_NOT_LINEARIZABLE = 1
_OUT_OF_BUDGET = 2

# Index of the sentinel at the head of the entry list.
_HEAD = 0
_END = -1


def apply_operation(operation, state: str | None) -> tuple[bool, str | None]:
    """One step of the sequential model: (result matches, state after)."""
    kind = operation.op
    if kind == "get":
        return operation.result == state, state
    if kind == "put":
        return True, operation.value
    if kind == "append":
        return True, operation.value if state is None else f"{state},{operation.value}"
    raise ValueError(f"operation kind {kind!r} is not in the key-value model")


def format_operation(operation) -> str:
    """One line per operation, for reports: ``c3 #5 put k1='c3.5'  [120.000ms, 131.000ms]``."""
    kind = operation.op
    if kind == "put":
        action = f"put {operation.key}={operation.value!r}"
    elif kind == "append":
        action = f"append {operation.key}+={operation.value!r}"
    elif operation.completed_us is None:
        action = f"get {operation.key} -> ?"
    else:
        action = f"get {operation.key} -> {operation.result!r}"
    completed = "pending" if operation.completed_us is None else _format_time(operation.completed_us)
    return f"c{operation.client} #{operation.seq} {action}  [{_format_time(operation.invoked_us)}, {completed}]"


def _format_time(time_us: int) -> str:
    # Integer arithmetic, so the text is the same on every machine.
    sign = "-" if time_us < 0 else ""
    magnitude = abs(time_us)
    return f"{sign}{magnitude // 1000}.{magnitude % 1000:03d}ms"


@dataclass(frozen=True)
class LinearizabilityResult:
    """The verdict on a history, with what is needed to understand it.

    ``status`` is OK, VIOLATION or UNKNOWN. For a violation, ``key`` is the
    failing key (the first in sorted order if several fail; checking stops
    there) and ``operations`` its shrunk sub-history, time-ordered, which is
    itself non-linearizable. Shrinking never drops a write whose value a kept
    get returned, so a stale read keeps the write it saw and the write it
    missed; ``minimal`` says whether dropping any other one operation was
    verified to make the sub-history linearizable. ``unknown_keys`` lists
    the keys whose search ran out of budget (sorted); with no violation they
    make the status UNKNOWN.
    """

    status: str
    key: str | None = None
    operations: tuple = ()
    minimal: bool = False
    unknown_keys: tuple[str, ...] = ()
    keys_checked: int = 0
    # Operations in the input, and in the failing key's sub-history before
    # shrinking (pending gets, which constrain nothing, not counted there).
    operation_count: int = 0
    failing_operation_count: int = 0
    search_steps: int = 0
    minimise_steps: int = 0

    def lines(self) -> list[str]:
        """The shrunk sub-history, one line per operation."""
        return [format_operation(operation) for operation in self.operations]

    def pattern(self) -> str:
        """The shrunk sub-history's operation kinds in order, e.g. "put-put-get".

        It names the shape of the anomaly rather than this run's values, so it
        suits a crash signature."""
        return "-".join(operation.op for operation in self.operations)

    def message(self) -> str:
        if self.status == VIOLATION:
            return (f"key {self.key!r}: no linearization of these {len(self.operations)} operations "
                    f"(shrunk from {self.failing_operation_count})")
        if self.status == UNKNOWN:
            keys = ", ".join(repr(key) for key in self.unknown_keys)
            return f"search budget exhausted for key(s) {keys}; linearizability not decided"
        return f"linearizable: {self.keys_checked} key(s), {self.operation_count} operations"

    def render(self) -> str:
        """The message, then the sub-history if there is one, as readable text."""
        return "\n".join([self.message(), *("  " + line for line in self.lines())])

    def to_facts(self) -> dict:
        """A JSON-serialisable summary for the crash report."""
        return {
            "status": self.status,
            "key": self.key,
            "history": self.lines(),
            "pattern": self.pattern(),
            "minimal": self.minimal,
            "unknown_keys": list(self.unknown_keys),
            "keys_checked": self.keys_checked,
            "operation_count": self.operation_count,
            "failing_operation_count": self.failing_operation_count,
            "search_steps": self.search_steps,
            "minimise_steps": self.minimise_steps,
        }

    def to_violation(self) -> SafetyViolation:
        """The SafetyViolation for a VIOLATION result, ready to raise."""
        if self.status != VIOLATION:
            raise ValueError(f"a {self.status!r} result is not a violation")
        return SafetyViolation(PROPERTY_NAME, self.message(), facts=self.to_facts(),
                               signature_facts=(self.pattern(),))


class LinearizabilityChecker:
    """A raftfuzz.checks.protocol.Checker over the run's client history."""

    name = "linearizability"

    @classmethod
    def for_run(cls, run: Run) -> "LinearizabilityChecker":
        return cls()

    def handlers(self, phase: Phase) -> dict:
        return {}  # the history is judged whole, once

    def finish(self, run: Run) -> str:
        result = check_history(run.history)
        if result.status == VIOLATION:
            raise result.to_violation()
        return result.status


def check_history(operations, *, budget: int = DEFAULT_BUDGET) -> LinearizabilityResult:
    """Decides whether a client history is linearizable, key by key.

    ``operations`` are objects with the fields of ``raftfuzz.sim.clients.Operation``
    in any order. ``budget`` caps the search steps per key (and per candidate
    while shrinking). Raises ValueError for an operation the model does not
    know or with times that run backwards.
    """
    if budget < 1:
        raise ValueError(f"budget must be at least 1, not {budget}")
    operations = list(operations)
    by_key: dict[str, list] = {}
    for operation in operations:
        _validate(operation)
        if operation.op in READ_OPERATIONS and operation.completed_us is None:
            continue  # a pending get returned nothing, so it constrains nothing
        by_key.setdefault(operation.key, []).append(operation)

    search_steps = 0
    unknown_keys = []
    keys_checked = 0
    # Sorted keys: which key is reported, and the counts, must not depend on
    # the order of the input or on string hashing.
    for key in sorted(by_key):
        key_operations = _time_ordered(by_key[key])
        verdict, steps = _search(key_operations, budget)
        search_steps += steps
        keys_checked += 1
        if verdict == _OUT_OF_BUDGET:
            unknown_keys.append(key)
        elif verdict == _NOT_LINEARIZABLE:
            shrunk, minimal, minimise_steps = _minimise(key_operations, budget, MINIMISE_BUDGET)
            return LinearizabilityResult(
                status=VIOLATION, key=key, operations=tuple(shrunk), minimal=minimal,
                unknown_keys=tuple(unknown_keys), keys_checked=keys_checked,
                operation_count=len(operations), failing_operation_count=len(key_operations),
                search_steps=search_steps, minimise_steps=minimise_steps)
    return LinearizabilityResult(
        status=UNKNOWN if unknown_keys else OK, unknown_keys=tuple(unknown_keys),
        keys_checked=keys_checked, operation_count=len(operations), search_steps=search_steps)


def _validate(operation) -> None:
    if operation.op not in WRITE_OPERATIONS and operation.op not in READ_OPERATIONS:
        raise ValueError(f"operation kind {operation.op!r} is not in the key-value model: "
                         f"{format_operation(operation)}")
    if operation.op in WRITE_OPERATIONS and not isinstance(operation.value, str):
        raise ValueError(f"a {operation.op} needs a string value: {format_operation(operation)}")
    if operation.completed_us is not None and operation.completed_us < operation.invoked_us:
        raise ValueError(f"operation completed before it was invoked: {format_operation(operation)}")


def _time_ordered(operations) -> list:
    # Ties broken by client and sequence number and finally by input
    # position, so the order (and so the bit numbering and the search) is a
    # function of the history alone.
    indexed = sorted(range(len(operations)),
                     key=lambda i: (operations[i].invoked_us, operations[i].client, operations[i].seq, i))
    return [operations[i] for i in indexed]


_ABSENT = 0
_NO_PARENT = -1


class _StateTable:
    """Model states as small ints, each a value appended to a parent state.

    The memo holds one (linearized set, state) pair per search step, and
    states built by appends grow with the history: kept as strings, a
    budget's worth of them could take hundreds of megabytes. Here a state
    costs one table row however long its string is, and a get compares its
    result against the chain without building the string. Equal chains get
    equal numbers; equal strings built differently (a put of "a,b" and a
    put of "a" then an append of "b") get different numbers, which costs the
    memo a merge but never soundness, since one number is one string.
    """

    def __init__(self) -> None:
        self.parent = [_NO_PARENT]  # state 0 is absent
        self.value: list[str | None] = [None]
        self.number: dict[tuple[int, str], int] = {}

    def write(self, state: int, kind: str, value: str) -> int:
        parent = state if kind == "append" and state != _ABSENT else _NO_PARENT
        number = self.number.get((parent, value))
        if number is None:
            number = len(self.value)
            self.number[(parent, value)] = number
            self.parent.append(parent)
            self.value.append(value)
        return number

    def reads(self, state: int, result: str | None) -> bool:
        """Whether a get linearized in ``state`` may return ``result``."""
        if state == _ABSENT or result is None:
            return state == _ABSENT and result is None
        end = len(result)
        while True:
            value = self.value[state]
            start = end - len(value)
            if start < 0 or not result.startswith(value, start, end):
                return False
            state = self.parent[state]
            if state == _NO_PARENT:
                return start == 0
            if start == 0 or result[start - 1] != ",":
                return False
            end = start - 1


def _search(operations, budget: int) -> tuple[int, int]:
    """WGL with memoisation on one key's sub-history: (verdict, steps used).

    ``operations`` must not contain pending gets. Bit i of the linearized set
    stands for ``operations[i]``.
    """
    count = len(operations)
    # Entries are list nodes 1..; node 0 is the head sentinel. Sorting by
    # (time, 0 for a call / 1 for a return) puts calls before returns at equal
    # times, which is what makes equal times concurrent.
    entries = []
    for index, operation in enumerate(operations):
        entries.append((operation.invoked_us, 0, index))
        if operation.completed_us is not None:
            entries.append((operation.completed_us, 1, index))
    entries.sort()

    node_count = len(entries) + 1
    next_node = [_END] * node_count
    previous_node = [_END] * node_count
    node_operation = [-1] * node_count
    node_is_call = [False] * node_count
    call_node = [_END] * count
    return_node = [_END] * count
    for position, (_, is_return, index) in enumerate(entries):
        node = position + 1
        node_operation[node] = index
        node_is_call[node] = not is_return
        if is_return:
            return_node[index] = node
        else:
            call_node[index] = node
        previous_node[node] = node - 1
        next_node[node - 1] = node
    next_node[node_count - 1] = _END

    def unlink(node: int) -> None:
        following = next_node[node]
        next_node[previous_node[node]] = following
        if following != _END:
            previous_node[following] = previous_node[node]

    def relink(node: int) -> None:
        # Dancing links: the node kept its own pointers, and everything
        # unlinked after it has been relinked already (stack discipline).
        following = next_node[node]
        next_node[previous_node[node]] = node
        if following != _END:
            previous_node[following] = node

    states = _StateTable()
    remaining = sum(1 for operation in operations if operation.completed_us is not None)
    linearized = 0
    state = _ABSENT
    explored: set[tuple[int, int]] = set()
    stack: list[tuple[int, int]] = []
    entry = next_node[_HEAD]
    steps = 0
    while remaining:
        steps += 1
        if steps > budget:
            return _OUT_OF_BUDGET, budget
        # A return entry (of a completed, not yet linearized operation) is
        # always reached before the end of the list while any remain.
        assert entry != _END, "walked past the last return entry"
        index = node_operation[entry]
        if node_is_call[entry]:
            operation = operations[index]
            if operation.op == "get":
                matches = states.reads(state, operation.result)
                state_after = state
            else:
                matches = True
                state_after = states.write(state, operation.op, operation.value)
            if matches:
                linearized_after = linearized | (1 << index)
                configuration = (linearized_after, state_after)
                if configuration not in explored:
                    explored.add(configuration)
                    stack.append((index, state))
                    linearized = linearized_after
                    state = state_after
                    unlink(entry)
                    if return_node[index] != _END:
                        unlink(return_node[index])
                        remaining -= 1
                    entry = next_node[_HEAD]
                    continue
            entry = next_node[entry]
        else:
            # The operation that returns here has not been linearized, so the
            # last choice was wrong: undo it and try the next candidate.
            if not stack:
                return _NOT_LINEARIZABLE, steps
            index, state = stack.pop()
            linearized &= ~(1 << index)
            if return_node[index] != _END:
                relink(return_node[index])
                remaining += 1
            relink(call_node[index])
            entry = next_node[call_node[index]]
    return _LINEARIZABLE, steps


def _minimise(operations, budget: int, steps_max: int, *,
              keep_observed_writes: bool = True) -> tuple[list, bool, int]:
    """Shrinks a non-linearizable sub-history greedily: (shrunk, minimal, steps).

    Pending operations are dropped first (all at once, else one by one), then
    chunks of halving size (delta debugging, so a long history shrinks in
    a logarithmic number of checks), then single operations until a full pass
    drops none. A drop is kept only if the search proves the rest still
    non-linearizable; a check that runs out of budget keeps the operation.

    With ``keep_observed_writes`` a write is not dropped while a kept get
    returned its value (alone or as one part of an appended list). Without
    that rule every stale read would shrink to a lone get of a value that,
    in the shrunk history, nobody wrote: still non-linearizable, but the
    evidence — which write it saw, and which later write it missed — would be
    gone. ``minimal`` is then relative to the rule: dropping any one
    operation either makes the history linearizable or drops an observed
    write.
    """
    spent = 0
    undecided = False
    written_values = {operation.value for operation in operations if operation.op in WRITE_OPERATIONS}

    def admissible(candidate) -> bool:
        if not keep_observed_writes:
            return True
        kept_values = {operation.value for operation in candidate if operation.op in WRITE_OPERATIONS}
        for operation in candidate:
            if operation.op in READ_OPERATIONS and operation.result is not None:
                for part in (operation.result, *operation.result.split(",")):
                    if part in written_values and part not in kept_values:
                        return False
        return True

    def still_fails(candidate) -> bool:
        nonlocal spent, undecided
        if not candidate or not admissible(candidate):
            return False
        if spent >= steps_max:
            undecided = True
            return False
        verdict, steps = _search(candidate, min(budget, steps_max - spent))
        spent += steps
        if verdict == _OUT_OF_BUDGET:
            undecided = True
        return verdict == _NOT_LINEARIZABLE

    current = list(operations)
    if any(operation.completed_us is None for operation in current):
        completed = [operation for operation in current if operation.completed_us is not None]
        if still_fails(completed):
            current = completed
        else:
            position = 0
            while position < len(current):
                candidate = current[:position] + current[position + 1:]
                if current[position].completed_us is None and still_fails(candidate):
                    current = candidate
                else:
                    position += 1

    chunk = max(1, len(current) // 2)
    while True:
        undecided = False
        dropped = False
        position = 0
        while position < len(current):
            candidate = current[:position] + current[position + chunk:]
            if still_fails(candidate):
                current = candidate
                dropped = True
            else:
                position += chunk
        if chunk > 1:
            chunk //= 2
        elif not dropped:
            # A full single-drop pass removed nothing: minimal, unless some
            # check in it could not be decided.
            return current, not undecided, spent
