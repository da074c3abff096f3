"""Which Raft node class to fuzz: ``package.module:Class``, and which of
those raftfuzz is willing to import.

The harness instruments the target's module (and the reference node it may
build on) for coverage, so the target is named as a module path rather than
passed as an object.

Importing a module runs its code, so a target name is trusted only from the
user (``--target`` or ``RAFTFUZZ_TARGET``) or when it names a module shipped
inside the installed ``raftfuzz`` package. A crash report is untrusted input
(anyone who can write the bucket can plant one): the target it names is used
only under that rule, see ``report_target`` and README "What raftfuzz trusts".
"""

import contextlib
import importlib
import os
import sys
from pathlib import Path

import raftfuzz
from raftfuzz.run.moved import current_target



class TargetError(Exception):
    """The target cannot be loaded; the message says why and what to do."""


def split_target(spec) -> tuple[str, str]:
    if not isinstance(spec, str):
        raise TargetError(f"target {spec!r} is not a string; name it as package.module:Class")
    module_name, separator, class_name = spec.partition(":")
    if (not separator or not module_name or not class_name
            or not all(part.isidentifier() for part in module_name.split("."))
            or not class_name.isidentifier()):
        raise TargetError(f"target {spec!r} is not of the form package.module:Class")
    return module_name, class_name


def is_shipped(spec: str) -> bool:
    """True when the target's module is a file inside the installed raftfuzz
    package (public: no part of its name starts with an underscore, which
    also rules out ``raftfuzz.__main__``). Decided from the file system
    alone: nothing is imported to answer."""
    module_name, _ = split_target(spec)
    parts = module_name.split(".")
    if parts[0] != "raftfuzz" or len(parts) < 2 or any(part.startswith("_") for part in parts):
        return False
    package = Path(raftfuzz.__file__).resolve().parent
    location = package.joinpath(*parts[1:])
    return location.with_suffix(".py").is_file() or (location / "__init__.py").is_file()


def report_target(recorded, settings) -> str:
    """The target to replay a report with (settings: raftfuzz.run.settings.Settings).
    ``--target`` wins; otherwise the report's own target, if it equals the
    configured one (``RAFTFUZZ_TARGET``) or is shipped in the package.
    Anything else is refused before anything is imported."""
    if settings.from_flag("target"):
        return settings.target_spec
    if not isinstance(recorded, str) or not recorded.strip():
        raise TargetError(f"the report's target {recorded!r} is not a class name; the report is "
                          f"corrupted (pass --target package.module:Class to replay its input anyway)")
    try:
        split_target(recorded)
    except TargetError:
        raise TargetError(f"the report's target {recorded!r} is not of the form package.module:Class; the "
                          f"report is corrupted (pass --target package.module:Class to replay its input "
                          f"anyway)") from None
    recorded = current_target(recorded)
    if recorded == settings.target or is_shipped(recorded):
        return recorded
    raise TargetError(
        f"the report names target {recorded!r}, which is not shipped with raftfuzz; reports are untrusted "
        f"input, so raftfuzz imports their target only when you name it: pass --target {recorded} "
        f"(or set RAFTFUZZ_TARGET={recorded}) if you trust that code"
    )


@contextlib.contextmanager
def _without_working_directory():
    """sys.path without the working directory that ``python -m`` (or an
    empty PYTHONPATH entry) puts first, so files in the directory a command
    runs from cannot stand in for the modules a shipped target imports."""
    saved = list(sys.path)
    here = os.path.realpath(os.getcwd())
    sys.path[:] = [entry for entry in sys.path if entry and os.path.realpath(entry) != here]
    try:
        yield
    finally:
        sys.path[:] = saved


def load_target(spec: str):
    spec = current_target(spec)
    module_name, class_name = split_target(spec)
    guard = _without_working_directory() if is_shipped(spec) else contextlib.nullcontext()
    with guard:  # the contract check too: it builds a node, which may import more
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise TargetError(
                f"cannot import target module {module_name!r} ({error}); check the name and that it is on PYTHONPATH"
            ) from None
        except SyntaxError as error:
            raise TargetError(f"target module {module_name!r} does not compile ({error.msg}, "
                              f"{Path(error.filename or '?').name} line {error.lineno}); fix the code") from None
        except (Exception, SystemExit) as error:  # the module's own top-level code raised
            raise TargetError(f"importing target module {module_name!r} raised {type(error).__name__}: "
                              f"{error}; fix the module") from None
        node_class = getattr(module, class_name, None)
        if not isinstance(node_class, type):
            raise TargetError(f"module {module_name!r} has no class {class_name!r}")
        missing = missing_members(node_class)
    if missing:
        raise TargetError(f"target {spec} lacks the node interface: {', '.join(missing)} "
                          f"(docs/targets.md lists what a node must have)")
    return node_class


def missing_members(node_class: type) -> list[str]:
    """The members of raftfuzz.node.interface.Node that ``node_class`` lacks:
    methods on the class; attributes, which are usually set in __init__, on
    one node built the way a run builds its first (``_probe``)."""
    # Imported here, not at the top: importing this module must import
    # nothing from the standard library that the working directory could
    # shadow before load_target takes it off sys.path.
    from raftfuzz.node.interface import NODE_ATTRIBUTES, NODE_METHODS

    missing = [name for name in NODE_METHODS if not callable(getattr(node_class, name, None))]
    node = _probe(node_class)
    if node is not None:
        missing += [name for name in NODE_ATTRIBUTES if not _has(node, name)]
    return missing


def _probe(node_class: type):
    """Node 0 of a default three-node run, on a core of its own (so no run's
    RNG is touched), or None when the constructor raises: every run would
    then report that as the finding it is (NodePanic, or NodeContract for
    SystemExit). Nodes of one process must not share state anyway (the
    fuzzer runs thousands of clusters in one), so one more node changes
    nothing a run sees."""
    from raftfuzz.core.twin import PythonCore  # see missing_members
    from raftfuzz.node.interface import PersistentState
    from raftfuzz.schedule.codec import LATENCY_FLOOR_US, Schedule
    from raftfuzz.sim.simulation import node_config

    schedule = Schedule()
    members = (0, 1, 2)
    try:
        return node_class(0, members, node_config(schedule), PythonCore(schedule.seed, len(members), LATENCY_FLOOR_US),
                          PersistentState())
    except KeyboardInterrupt:
        raise
    except BaseException:
        return None


def _has(node, name: str) -> bool:
    try:
        getattr(node, name)
    except AttributeError:
        return False
    except Exception:  # it exists but reading it raised: the run reports the panic
        return True
    return True
