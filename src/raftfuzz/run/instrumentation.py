"""How the target's code is instrumented for ``--feedback=code`` (and
``code+state``): what atheris adds, and what raftfuzz leaves out.

atheris' ``instrument_imports`` adds a counter at every basic block and
replaces every comparison with a call to ``atheris._trace_cmp`` (for
libFuzzer's value profile and its table of compared values). Three parts
of that are measured choices here (``RAFTFUZZ_CODE_COVERAGE``, a ``+``-joined
list; docs/performance.md has the measurements):

- ``comparisons``: trace comparisons too. Without it only basic blocks are
  counted, and a comparison in the node costs what it costs uninstrumented.
- ``accessors``: instrument the node interface's read accessors too
  (``last_index``, ``term_at``, ``log_start``, and ``id``, ``term``,
  ``role``, ``commit_index`` where a target makes them properties). Without
  it they run uninstrumented: the harness calls them after every event to
  read the node's state, so their counters say only that an event happened,
  and their hit counts grow with the run's length, not with what the node did.
- ``healed``: keep the instrumentation on after the run's final heal. Without
  it, every instrumented function of the target's modules gets its
  uninstrumented code back when the run enters ``Phase.HEALED`` and the
  instrumented code again when the next run starts (``InstrumentedUntilHeal``):
  what happens after the heal is the same few situations in almost every run
  (elections settle, clients catch up), about 43% of a run's events.

``blocks`` (the basic-block counters) is always on: it is code coverage.
Swapping code objects changes no behaviour: a function runs the same
statements either way (tests/test_instrumentation.py compares trace hashes).
"""

import contextlib
import inspect
import sys
import types

from raftfuzz.checks.protocol import Handoff, Phase

COVERAGE_PARTS = ("blocks", "comparisons", "accessors", "healed")
# The node interface's read-only members (raftfuzz.node.interface.Node) that
# the harness and the checkers read after every event.
ACCESSORS = ("last_index", "term_at", "log_start", "id", "term", "role", "commit_index")


def coverage_parts(text: str) -> frozenset[str]:
    """The parts a ``RAFTFUZZ_CODE_COVERAGE`` value names; ValueError with the fix."""
    parts = frozenset(text.split("+"))
    unknown = sorted(parts - set(COVERAGE_PARTS))
    if unknown or "blocks" not in parts:
        raise ValueError(f"names {', '.join(unknown) or 'no blocks'}; join blocks with any of "
                         f"comparisons, accessors, healed using '+' (e.g. blocks+comparisons)")
    return parts


@contextlib.contextmanager
def instrumented_imports(packages, *, comparisons: bool):
    """Instruments the modules of ``packages`` imported inside the block, as
    ``atheris.instrument_imports`` does, with comparisons traced or not
    (atheris 3.0.0 always traces them; its import hook takes the switch)."""
    from atheris.import_hook import HookManager

    top_level = {name.partition(".")[0] for name in packages}
    with HookManager(top_level, set(), enable_loader_override=True, trace_dataflow=comparisons):
        yield


def uninstrument_accessors(node_class: type) -> list[str]:
    """Gives the read accessors of ``node_class`` (and of the classes it
    inherits them from) their uninstrumented code back; returns the
    qualified names restored. The code comes from compiling the class's
    module source again, so the function is exactly what it was before
    atheris patched it."""
    restored = []
    pristine_by_module: dict[str, dict] = {}
    for cls in node_class.__mro__:
        for name in ACCESSORS:
            member = cls.__dict__.get(name)
            function = member.fget if isinstance(member, property) else member
            if not isinstance(function, types.FunctionType) or not _is_instrumented(function.__code__):
                continue
            if cls.__module__ not in pristine_by_module:
                pristine_by_module[cls.__module__] = _pristine_code(sys.modules[cls.__module__])
            original = pristine_by_module[cls.__module__].get(_key(function.__code__))
            if _same_function(original, function.__code__):
                function.__code__ = original
                restored.append(function.__qualname__)
    return restored


class CodeSwitch:
    """Every instrumented function of some modules, with its instrumented
    code and its code from before atheris patched it, to swap between."""

    def __init__(self, module_names) -> None:
        self.swaps: list[tuple[types.FunctionType, types.CodeType, types.CodeType]] = []
        for name in sorted(module_names):
            module = sys.modules[name]
            pristine = _pristine_code(module)
            for function in _functions_of(module):
                code = function.__code__
                original = pristine.get(_key(code))
                if _is_instrumented(code) and _same_function(original, code):
                    self.swaps.append((function, code, original))

    def instrumented(self) -> None:
        for function, instrumented, _ in self.swaps:
            function.__code__ = instrumented

    def uninstrumented(self) -> None:
        for function, _, original in self.swaps:
            function.__code__ = original

    def for_run(self, run) -> "InstrumentedUntilHeal":
        """The observer factory of a run (Harness.observers): every run
        starts instrumented."""
        self.instrumented()
        return InstrumentedUntilHeal(self)


class InstrumentedUntilHeal:
    """A raftfuzz.checks.protocol.Checker that observes nothing but the
    phase: the target's code is instrumented until the run's final heal
    and not after it (``healed`` above)."""

    name = "instrumented until heal"

    def __init__(self, switch: CodeSwitch) -> None:
        self.switch = switch
        self.healed = False

    def handlers(self, phase) -> dict:
        return {} if self.healed else {Handoff.PHASE: self.on_phase}

    def on_phase(self, run, phase) -> None:
        if phase is Phase.HEALED:
            self.healed = True
            self.switch.uninstrumented()

    def finish(self, run) -> None:
        return None


def _functions_of(module):
    """The functions defined in ``module``: module-level, and the methods,
    static and class methods and property accessors of its classes (nested
    classes too). Nested functions and lambdas follow their parent's code."""
    seen = set()
    pending = [vars(module)]
    while pending:
        namespace = pending.pop()
        for value in list(namespace.values()):
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            candidates = [value.fget, value.fset, value.fdel] if isinstance(value, property) else [value]
            for candidate in candidates:
                if (isinstance(candidate, types.FunctionType) and candidate.__module__ == module.__name__
                        and id(candidate) not in seen):
                    seen.add(id(candidate))
                    yield candidate
            if isinstance(value, type) and value.__module__ == module.__name__ and id(value) not in seen:
                seen.add(id(value))
                pending.append(vars(value))


def _is_instrumented(code: types.CodeType) -> bool:
    # atheris marks every code object it patched with this constant.
    return "__ATHERIS_INSTRUMENTED__" in code.co_consts


def _same_function(original: types.CodeType | None, instrumented: types.CodeType) -> bool:
    """Whether ``original`` can stand in for ``instrumented``: found, and
    with the same signature, closure and file (a source file edited since
    the import would not pass)."""
    return original is not None and all(
        getattr(original, field) == getattr(instrumented, field)
        for field in ("co_argcount", "co_kwonlyargcount", "co_posonlyargcount", "co_freevars", "co_filename"))


def _key(code: types.CodeType) -> tuple[str, int]:
    # A qualified name alone is ambiguous: a module may define one function
    # twice under an if (PySyncObj's Python 2 and 3 helpers do).
    return code.co_qualname, code.co_firstlineno


def _pristine_code(module) -> dict[tuple[str, int], types.CodeType]:
    """Every function code object of ``module``'s source, by qualified name
    and first line."""
    try:
        source = inspect.getsource(module)
    except (OSError, TypeError):
        return {}
    found = {}
    pending = [compile(source, module.__file__, "exec", dont_inherit=True)]
    while pending:
        code = pending.pop()
        found[_key(code)] = code
        pending.extend(const for const in code.co_consts if isinstance(const, types.CodeType))
    return found
