"""Target names that changed: old reports, corpora and settings keep working.

Imported by the settings and by the target loader, so it imports nothing:
the target loader must not pull in modules a planted file in the working
directory could shadow (tests/test_hostile_input.py).
"""

# Modules that moved when the package was split into component subpackages.
# Reports, corpora and settings written before name the old paths; they mean
# the same classes.
MOVED_MODULES = {"raftfuzz.raft": "raftfuzz.node.raft", "raftfuzz.mutants": "raftfuzz.node.mutants"}


def current_target(spec: str) -> str:
    """``spec`` with a moved module's old path replaced by its current one."""
    module, colon, name = spec.partition(":")
    return MOVED_MODULES.get(module, module) + colon + name
