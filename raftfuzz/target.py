"""Which Raft node class to fuzz: ``package.module:Class``.

The harness instruments the target's module (and the reference node it may
build on) for coverage, so the target is named as a module path rather than
passed as an object.
"""

import importlib
import os

DEFAULT_TARGET = "raftfuzz.raft:RaftNode"
TARGET_ENV = "RAFTFUZZ_TARGET"


class TargetError(Exception):
    """The target cannot be loaded; the message says why and what to do."""


def target_spec(explicit: str | None = None) -> str:
    return explicit or os.environ.get(TARGET_ENV) or DEFAULT_TARGET


def split_target(spec: str) -> tuple[str, str]:
    module_name, separator, class_name = spec.partition(":")
    if not separator or not module_name or not class_name:
        raise TargetError(f"target {spec!r} is not of the form package.module:Class")
    return module_name, class_name


def load_target(spec: str):
    module_name, class_name = split_target(spec)
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise TargetError(
            f"cannot import target module {module_name!r} ({error}); check the name and that it is on PYTHONPATH"
        ) from None
    node_class = getattr(module, class_name, None)
    if not isinstance(node_class, type):
        raise TargetError(f"module {module_name!r} has no class {class_name!r}")
    missing = [name for name in ("tick", "step", "ready", "advance", "last_index", "term_at")
               if not callable(getattr(node_class, name, None))]
    if missing:
        raise TargetError(f"target {spec} lacks the node interface: {', '.join(missing)}")
    return node_class
