"""What guides the fuzzer: coverage of the target's code, the cluster's state, or both.

``--feedback=code|state|code+state`` (or ``RAFTFUZZ_FEEDBACK``, which
libFuzzer's -jobs/-fork children inherit; read and checked in
src/raftfuzz/run/settings.py with the rest) picks the signal libFuzzer follows:

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
(raftfuzz.core.binding.register_feedback_counters); with the Python core they are
counters reserved from atheris and bumped through ``atheris._trace_branch``.
Either way registration happens inside the first TestOneInput, the one place
both mechanisms are known to work (atheris rebinds its functions when Fuzz()
starts), and libFuzzer resets the counters before every input itself.

The feedback only observes: it reads the records the simulator hashes for
the trace hash (handed over by raftfuzz.checks.state_feedback, a checker without
findings) and never draws from the RNG or changes an event, so trace
hashes, replays and findings are the same whatever the mode.

``RAFTFUZZ_STATE_FEATURES`` (e.g. ``states+transitions+kind``) chooses which
features the state mode emits; it exists to measure the alternatives
(benchmarks/bench_feedback.py), and its default, ``states``, is the measured
best (measured against transitions and the event kind: finer features
flood libFuzzer's corpus with "new" inputs; and against features of single
fields and pairs of fields, which stop the flood with ``once`` but guide no
better on the deep bugs).
"""

import sys

from raftfuzz.core.constants import FEEDBACK_COUNTERS
from raftfuzz.core.twin import set_feedback_sink


def uses_code(mode: str) -> bool:
    """True when the target's code is instrumented for coverage."""
    return mode in ("code", "code+state")


def uses_state(mode: str) -> bool:
    """True when the cluster-state counters guide the fuzzer."""
    return mode in ("state", "code+state")


def register_state_counters(core_name: str) -> str:
    """Hands the state counters to libFuzzer; call inside the first TestOneInput.
    Returns what the start-up line says about them."""
    if core_name == "c":
        from raftfuzz.core.binding import register_feedback_counters

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
