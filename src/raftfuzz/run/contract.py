"""What a run that fails outside the checkers becomes: a finding, never a
traceback.

The simulator turns an exception raised inside a node call (constructor,
``tick``, ``step``, ``ready``, ``advance``) into a NodePanic. Everything else
that escapes a run — a ``ready()`` that returned a string, a ``role`` that is
not a ``Role``, a node that called ``sys.exit()``, a message with the wrong
``src`` — is diagnosed here, after the fact, into a ``ContractViolation``
naming the rule of docs/targets.md the target broke (or a NodePanic, when
reading one of the node's attributes raised). The diagnosis reads only the
failed run's state, so it is as deterministic as the run itself and the
report replays like any other.

Checking after the failure, not on every call, keeps the fuzzing loop as
fast as before: a correct target pays nothing.
"""

import traceback
from pathlib import Path

from raftfuzz.node.messages import Entry, Snapshot
from raftfuzz.node.interface import NODE_ATTRIBUTES, NODE_METHODS, Ready, Role
from raftfuzz.run.outcome import HarnessError
from raftfuzz.checks.violations import ContractViolation, Violation, node_panic

NODE_CONTRACT = "NodeContract"
# What the driver and the checkers use of a node (raftfuzz.node.interface.Node).
_MEMBERS = NODE_ATTRIBUTES + NODE_METHODS
_SIMULATOR_FILE = "simulation.py"


def contract_violation(rule: str, message: str, *, nodes=(), where: str | None = None) -> ContractViolation:
    facts = {"rule": rule}
    if where is not None:
        facts["where"] = where
    return ContractViolation(NODE_CONTRACT, f"{message} [rule: {rule}; see docs/targets.md]", nodes=nodes,
                             facts=facts, signature_facts=("rule",) if where is None else ("rule", "where"))


def _where(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "unknown"
    frame = frames[-1]
    return f"{Path(frame.filename).name}:{frame.lineno} in {frame.name}"


def _simulator_locals(error: BaseException, function: str) -> dict:
    """The local variables of the innermost simulator frame running
    ``function`` when ``error`` was raised (empty when there is none)."""
    found: dict = {}
    tb = error.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_name == function and Path(code.co_filename).name == _SIMULATOR_FILE:
            found = tb.tb_frame.f_locals
        tb = tb.tb_next
    return found


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _show(value) -> str:
    text = repr(value)
    return (text if len(text) <= 60 else text[:57] + "...") + f" ({type(value).__name__})"


def diagnose(simulation, error: BaseException) -> Violation:
    """The finding for ``error``, which escaped ``simulation`` (None when the
    cluster was still being built)."""
    if not isinstance(error, Exception):  # SystemExit, GeneratorExit and the like
        node_id = _node_of(error)
        who = "a node" if node_id is None else f"n{node_id}"
        nodes = () if node_id is None else (node_id,)
        if isinstance(error, SystemExit):
            return contract_violation(
                "no-exit", f"{who} raised SystemExit({error.code!r}) ({_where(error)}); a node must never "
                f"end the process: raise an ordinary exception for a state it believes impossible", nodes=nodes)
        return contract_violation(
            "exception-type", f"{who} raised {type(error).__name__} ({_where(error)}), which is not an "
            f"Exception; a node must raise Exception subclasses", nodes=nodes)
    if isinstance(error, HarnessError):
        text = str(error)
        rule = ("message-src" if "sent a message with src" in text
                else "settles" if "ready rounds" in text else "driver")
        return contract_violation(rule, text)
    if simulation is not None:
        found = _check_nodes(simulation) or _check_ready(error)
        if found is not None:
            return found
    return contract_violation(
        "unexpected-error",
        f"the run raised {type(error).__name__}: {error} ({_where(error)}) and no node contract rule was "
        f"found broken; this may be a bug in raftfuzz: please report it with this crash file",
        where=_where(error))


def _node_of(error: BaseException) -> int | None:
    for function in ("_make_node", "_drain", "_handle"):
        node_id = _simulator_locals(error, function).get("node_id")
        if _is_int(node_id) and node_id >= 0:
            return node_id
    return None


def _check_nodes(simulation) -> Violation | None:
    """The first live node whose checker-visible state has the wrong type."""
    for node_id, node in enumerate(simulation.nodes):
        if node is None:
            continue
        try:
            checks = (
                ("id", node.id, lambda v: _is_int(v) and v == node_id, f"the int {node_id}"),
                ("role", node.role, lambda v: isinstance(v, Role), "a raftfuzz.node.interface.Role"),
                ("term", node.term, lambda v: _is_int(v) and v >= 0, "an int >= 0"),
                ("commit_index", node.commit_index, lambda v: _is_int(v) and v >= 0, "an int >= 0"),
                ("last_index()", node.last_index(), lambda v: _is_int(v) and v >= 0, "an int >= 0"),
                ("log_start()", node.log_start(), lambda v: _is_int(v) and v >= 0, "an int >= 0"),
            )
        except AttributeError as raised:
            if raised.obj is node and raised.name in _MEMBERS:  # lost after it loaded: a contract rule
                return contract_violation(f"{raised.name}-missing", f"n{node_id} has no attribute "
                                          f"{raised.name!r}; a node must keep every member of "
                                          f"raftfuzz.node.interface.Node ({', '.join(_MEMBERS)})",
                                          nodes=(node_id,))
            return node_panic(node_id, raised)
        except Exception as raised:  # reading the node raised: the node panicked
            return node_panic(node_id, raised)
        for name, value, valid, expected in checks:
            if not valid(value):
                return contract_violation(f"{name.rstrip('()')}-type",
                                          f"n{node_id}.{name} is {_show(value)}; it must be {expected}",
                                          nodes=(node_id,))
    return None


def _check_ready(error: BaseException) -> Violation | None:
    """The Ready the simulator was carrying out when it failed, if it breaks
    the hand-off's types."""
    frame = _simulator_locals(error, "_drain")
    if "ready" not in frame:
        return None
    ready, node_id = frame["ready"], frame.get("node_id")
    nodes = (node_id,) if _is_int(node_id) else ()
    who = f"n{node_id}.ready()" if nodes else "ready()"
    if not isinstance(ready, Ready):
        return contract_violation("ready-type", f"{who} returned {_show(ready)}; it must return a "
                                  f"raftfuzz.node.interface.Ready or None", nodes=nodes)
    problem = _ready_problem(ready)
    if problem is None:
        return None
    field, value, expected = problem
    return contract_violation(f"ready-{field}", f"{who} returned a Ready whose {field} is {_show(value)}; "
                              f"it must be {expected}", nodes=nodes)


def _sequence_of(value, kind) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(item, kind) for item in value)


def _ready_problem(ready: Ready):
    hard_state = ready.hard_state
    checks = (
        ("snapshot", ready.snapshot, ready.snapshot is None or isinstance(ready.snapshot, Snapshot),
         "None or a Snapshot"),
        ("hard_state", hard_state, hard_state is None or (
            isinstance(hard_state, tuple) and len(hard_state) == 2 and _is_int(hard_state[0])
            and (hard_state[1] is None or _is_int(hard_state[1]))), "None or a (term, voted_for) tuple"),
        ("entries_from", ready.entries_from, ready.entries_from is None or _is_int(ready.entries_from),
         "None or an int"),
        ("entries", ready.entries, _sequence_of(ready.entries, Entry), "a list of Entry"),
        ("must_sync", ready.must_sync, isinstance(ready.must_sync, bool), "a bool"),
        ("messages", ready.messages, isinstance(ready.messages, (list, tuple)) and all(
            _is_int(getattr(message, "src", None)) and _is_int(getattr(message, "dst", None))
            for message in ready.messages), "a list of messages with int src and dst"),
        ("committed", ready.committed, _sequence_of(ready.committed, Entry), "a list of Entry"),
    )
    for field, value, valid, expected in checks:
        if not valid:
            return field, value, expected
    return None
