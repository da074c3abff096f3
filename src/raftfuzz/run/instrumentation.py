"""How the target's code is instrumented for ``--feedback=code`` (and
``code+state``): what atheris adds, and what raftfuzz leaves out.

atheris' ``instrument_imports`` adds a counter at every basic block and
replaces every comparison with a call to ``atheris._trace_cmp`` (for
libFuzzer's value profile and its table of compared values). Two parts of
that are measured choices here (``RAFTFUZZ_CODE_COVERAGE``, a ``+``-joined
list; docs/performance.md has the measurements):

- ``comparisons``: trace comparisons too. Without it only basic blocks are
  counted, and a comparison in the node costs what it costs uninstrumented.
- ``accessors``: instrument the node interface's read accessors too
  (``last_index``, ``term_at``, ``log_start``, and ``id``, ``term``,
  ``role``, ``commit_index`` where a target makes them properties). Without
  it they run uninstrumented: the harness calls them after every event to
  read the node's state, so their counters say only that an event happened,
  and their hit counts grow with the run's length, not with what the node did.

``blocks`` (the basic-block counters) is always on: it is code coverage.
"""

import contextlib
import dis
import inspect
import sys
import types

COVERAGE_PARTS = ("blocks", "comparisons", "accessors")
# The node interface's read-only members (raftfuzz.node.interface.Node) that
# the harness and the checkers read after every event.
ACCESSORS = ("last_index", "term_at", "log_start", "id", "term", "role", "commit_index")


def coverage_parts(text: str) -> frozenset[str]:
    """The parts a ``RAFTFUZZ_CODE_COVERAGE`` value names; ValueError with the fix."""
    parts = frozenset(text.split("+"))
    unknown = sorted(parts - set(COVERAGE_PARTS))
    if unknown or "blocks" not in parts:
        raise ValueError(f"names {', '.join(unknown) or 'no blocks'}; join blocks with any of "
                         f"comparisons, accessors using '+' (e.g. blocks+comparisons)")
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
    pristine_by_module: dict[str, dict[str, types.CodeType]] = {}
    for cls in node_class.__mro__:
        module = sys.modules.get(cls.__module__)
        for name in ACCESSORS:
            member = cls.__dict__.get(name)
            function = member.fget if isinstance(member, property) else member
            if not isinstance(function, types.FunctionType) or not _is_instrumented(function.__code__):
                continue
            if cls.__module__ not in pristine_by_module:
                pristine_by_module[cls.__module__] = _pristine_code(module)
            original = pristine_by_module[cls.__module__].get(function.__code__.co_qualname)
            if original is not None and original.co_freevars == function.__code__.co_freevars:
                function.__code__ = original
                restored.append(function.__qualname__)
    return restored


def _is_instrumented(code: types.CodeType) -> bool:
    # atheris marks every code object it patched with this constant.
    return "__ATHERIS_INSTRUMENTED__" in code.co_consts


def _pristine_code(module) -> dict[str, types.CodeType]:
    """Every function code object of ``module``'s source, by qualified name."""
    try:
        source = inspect.getsource(module)
    except (OSError, TypeError):
        return {}
    found = {}
    pending = [compile(source, module.__file__, "exec", dont_inherit=True)]
    while pending:
        code = pending.pop()
        found[code.co_qualname] = code
        pending.extend(const for const in code.co_consts if isinstance(const, types.CodeType))
    return found


def has_branches(code: types.CodeType) -> bool:
    """Whether the code has a jump (tests: what an accessor looks like)."""
    jumps = set(dis.hasjrel) | set(dis.hasjabs)
    return any(instruction.opcode in jumps for instruction in dis.get_instructions(code))
