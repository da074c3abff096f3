"""What guides the fuzzer: coverage of the target's code, the cluster's state, or both.

``--feedback=code|state|code+state`` (or ``RAFTFUZZ_FEEDBACK``, which
libFuzzer's -jobs/-fork children inherit) picks the signal libFuzzer follows:

- ``code``: atheris instruments the target's module; libFuzzer sees which
  branches of the Raft code ran.
- ``state`` (the default): the target is not instrumented at all, so an
  execution costs half; the core abstracts the cluster after every event
  (roles, spreads of terms, commit indexes and log lengths, crashed / paused
  / cut-off nodes, stale or lagging leaders, the highest term) and bumps one
  counter per abstract state (optionally per transition, and with the event
  and last fault in the state). docs/feedback.md defines the abstraction and
  has the measurements behind the defaults.
- ``code+state``: both.

The state counters live in the C core and are handed to libFuzzer from C
(raftfuzz.core_c.register_feedback_counters); with the Python core they are
counters reserved from atheris and bumped through ``atheris._trace_branch``.
Either way registration happens inside the first TestOneInput, the one place
both mechanisms are known to work (atheris rebinds its functions when Fuzz()
starts), and libFuzzer resets the counters before every input itself.

The feedback only observes: it reads the records the simulator hashes for
the trace hash and never draws from the RNG or changes an event, so trace
hashes, replays and findings are the same whatever the mode.

``RAFTFUZZ_STATE_FEATURES`` (e.g. ``states+transitions+kind``) chooses which
features the state mode emits; it exists to measure the alternatives
(benchmarks/bench_feedback.py), and its default, ``states``, is the measured
best.
"""

import os
import sys

from raftfuzz.core_constants import (
    FEEDBACK_COUNTERS,
    FEEDBACK_EVENT_KIND,
    FEEDBACK_COARSE,
    FEEDBACK_HISTORY,
    FEEDBACK_ONCE,
    FEEDBACK_STATES,
    FEEDBACK_TRANSITIONS,
)
from raftfuzz.core_python import set_feedback_sink
from raftfuzz.harness import SettingsError

MODES = ("code", "state", "code+state")
ENVIRONMENT_VARIABLE = "RAFTFUZZ_FEEDBACK"
# Measured (docs/feedback.md): the lowest median CPU time to the first
# violation on four of five planted bugs, at half the CPU per execution.
DEFAULT_MODE = "state"

FEATURES_ENVIRONMENT_VARIABLE = "RAFTFUZZ_STATE_FEATURES"
FEATURE_NAMES = {"states": FEEDBACK_STATES, "transitions": FEEDBACK_TRANSITIONS,
                 "kind": FEEDBACK_EVENT_KIND, "once": FEEDBACK_ONCE,
                 "history": FEEDBACK_HISTORY, "coarse": FEEDBACK_COARSE}
# Measured against transitions and the event kind (docs/feedback.md): finer
# features flood libFuzzer's corpus with "new" inputs.
DEFAULT_FEATURES = "states"


def feedback_mode(value: str | None = None) -> str:
    """The mode named by value or RAFTFUZZ_FEEDBACK (default DEFAULT_MODE)."""
    mode = value if value is not None else os.environ.get(ENVIRONMENT_VARIABLE) or DEFAULT_MODE
    if mode not in MODES:
        raise SettingsError(f"--feedback={mode} (RAFTFUZZ_FEEDBACK) is not a feedback mode; "
                            f"use one of {', '.join(MODES)}")
    return mode


def uses_code(mode: str) -> bool:
    """True when the target's code is instrumented for coverage."""
    return mode in ("code", "code+state")


def uses_state(mode: str) -> bool:
    """True when the cluster-state counters guide the fuzzer."""
    return mode in ("state", "code+state")


def state_features(value: str | None = None) -> int:
    """The feature bitmask named by value or RAFTFUZZ_STATE_FEATURES, e.g. 'states+kind'."""
    text = value if value is not None else os.environ.get(FEATURES_ENVIRONMENT_VARIABLE) or DEFAULT_FEATURES
    features = 0
    for name in text.split("+"):
        if name not in FEATURE_NAMES:
            raise SettingsError(f"{FEATURES_ENVIRONMENT_VARIABLE}={text} names {name!r}; "
                                f"join some of {', '.join(FEATURE_NAMES)} with '+'")
        features |= FEATURE_NAMES[name]
    if not features & (FEEDBACK_STATES | FEEDBACK_TRANSITIONS):
        raise SettingsError(f"{FEATURES_ENVIRONMENT_VARIABLE}={text} needs 'states' or 'transitions'")
    return features


def register_state_counters(core_name: str) -> str:
    """Hands the state counters to libFuzzer; call inside the first TestOneInput.
    Returns what the start-up line says about them."""
    if core_name == "c":
        from raftfuzz.core_c import register_feedback_counters

        # atheris loads libFuzzer inside this extension, with local symbols, so
        # the C core looks the functions up in it; when Python itself was
        # linked with libFuzzer, atheris loads core_without_libfuzzer and the
        # functions are the main program's.
        module = sys.modules.get("atheris.core_with_libfuzzer")
        count = register_feedback_counters(module.__file__ if module is not None else None)
        return f"{count} cluster-state counters registered with libFuzzer from the C core"
    import atheris

    # Reserved one by one (atheris 3.0.0 offers no range); atheris hands
    # counters reserved during an input to libFuzzer before the next one.
    first = atheris._reserve_counter()
    for offset in range(1, FEEDBACK_COUNTERS):
        if atheris._reserve_counter() != first + offset:
            raise RuntimeError("atheris reserved non-consecutive counters")
    def sink(index: int) -> None:
        # Through the module: Fuzz() rebinds atheris._trace_branch.
        atheris._trace_branch(first + index)

    set_feedback_sink(sink)
    return f"{FEEDBACK_COUNTERS} cluster-state counters reserved from atheris (Python core)"


def startup_line(mode: str, state_note: str | None) -> str:
    """The line a fuzzing process prints when its first input runs."""
    parts = []
    if uses_code(mode):
        parts.append("target code coverage instrumented")
    if state_note is not None:
        parts.append(state_note)
    return f"raftfuzz: feedback={mode}: {'; '.join(parts)}"
