"""The simulation core: event queue, the one RNG, network model, node timers.

The simulator's hot machinery lives here behind one small API (docs/core.md),
implemented twice with bit-identical results: in C (raftfuzz.core.binding, wrapping
the cffi extension built from csrc/core.c) and in pure Python
(raftfuzz.core.twin). make_core() picks one.

Why C at all (ARCHITECTURE.md section 3): a cffi call costs about as much as a
Python call, so a C heap popped once per event is no faster than heapq. The C
core pays off because one crossing does a lot of work: next_batch pops a whole
window of due events, decides every delivery against link and node state,
reschedules timers and hands back a batch through a preallocated array, and
send() makes the loss, duplication and delay draws in one call. Under atheris,
code kept in C is also kept out of the coverage signal, which should describe
the Raft implementation, not the simulator. The Python twin keeps raftfuzz
usable without a compiler and states the contract in readable form.

Which core: the caller names it ("c", "python", or None for C when built),
from ``--core`` / ``RAFTFUZZ_CORE`` (raftfuzz.run.settings); the simulation is
built with the core the harness resolved, and the report records that one.
"""

from typing import Protocol

from raftfuzz.core import constants as core_constants
from raftfuzz.core.constants import *  # noqa: F403 (the constants are part of the core's API, docs/core.md)
from raftfuzz.core.twin import PythonCore
from raftfuzz.run.settings import CORE_NAMES

__all__ = [
    *(name for name in vars(core_constants) if name.isupper()),
    "Core",
    "CoreUnavailable",
    "PythonCore",
    "c_core_available",
    "core_name",
    "make_core",
]

try:
    from raftfuzz.core.binding import CCore
except ImportError:
    CCore = None


class CoreUnavailable(RuntimeError):
    """The requested core cannot be used here; the message says how to fix it."""


class Core(Protocol):
    """The API both cores implement; docs/core.md gives the exact semantics."""

    def push(self, time: int, kind: int, a: int, b: int, c: int) -> None: ...

    def set_link_faults(
        self,
        src: int,
        dst: int,
        loss_num: int,
        dup_num: int,
        den: int,
        latency_min: int,
        latency_max: int,
    ) -> None: ...

    def set_link_state(self, now: int, src: int, dst: int, state: int) -> None: ...

    def send(self, now: int, src: int, dst: int, message_id: int) -> int: ...

    def set_tick_interval(self, node: int, interval: int) -> None: ...

    def set_node_state(self, now: int, node: int, state: int) -> None: ...

    def next_batch(self, end_time: int) -> list[int]: ...

    def now(self) -> int: ...

    def pending(self) -> int: ...

    def stats(self) -> dict[str, int]: ...

    def next_u64(self) -> int: ...

    def below(self, n: int) -> int: ...

    def ratio(self, num: int, den: int) -> bool: ...

    def feedback_begin(self, node_count: int, features: int, fault_kind: int,
                       fault_verbs: bytes) -> None: ...

    def feedback_observe(self, records: bytes | bytearray, collect: bool = False) -> int | list[int]: ...


def c_core_available() -> bool:
    """True when the C extension is built and importable."""
    return CCore is not None


def core_name(requested: str | None = None) -> str:
    """The core make_core(..., requested) builds: "c" or "python"; None
    means C when built. CoreUnavailable when C is asked for and not built."""
    if requested is None:
        return "c" if CCore is not None else "python"
    if requested not in CORE_NAMES:
        raise CoreUnavailable(f"--core={requested!r} (RAFTFUZZ_CORE) is not a core; use 'c' or 'python', or unset it")
    if requested == "c" and CCore is None:
        raise CoreUnavailable(
            "RAFTFUZZ_CORE=c (--core=c) but the C core is not built; "
            "build it with `pip install -e .` (needs a C compiler), or use RAFTFUZZ_CORE=python"
        )
    return requested


def make_core(seed: int, endpoint_count: int, lookahead: int, requested: str | None = None) -> Core:
    """A new core: C or Python as named (see core_name)."""
    if core_name(requested) == "c":
        return CCore(seed, endpoint_count, lookahead)
    return PythonCore(seed, endpoint_count, lookahead)
