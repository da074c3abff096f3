"""The C simulation core behind the contract of docs/core.md.

This is the only module that talks to the compiled `raftfuzz.core._native` library:
the rest of the package goes through raftfuzz.core.contract, which picks this core or
its pure-Python twin. Importing this module raises ImportError when the
extension is not built.

Every method is one crossing into C. The lib functions are module globals
(looked up through Python's global cache) and the core pointer sits in a slot,
so a call costs little more than the C work itself; next_batch returns a whole
batch through one preallocated array and one `ffi.unpack`.
"""

from raftfuzz.core._native import ffi, lib
import sys

from raftfuzz.core.constants import (
    BATCH_CAPACITY,
    ERROR_FEEDBACK_RECORDS,
    EVENT_WIDTH,
    FEEDBACK_MAX_PER_RECORD,
    FEEDBACK_RECORD_WIDTH,
    STATS_FIELDS,
    UINT64_MAX,
    error,
)

_core_new = lib.rf_core_new
_core_free = lib.rf_core_free
_next_u64 = lib.rf_next_u64
_below = lib.rf_below
_ratio = lib.rf_ratio
_push = lib.rf_push
_set_link_faults = lib.rf_set_link_faults
_set_link_state = lib.rf_set_link_state
_send = lib.rf_send
_set_tick_interval = lib.rf_set_tick_interval
_set_node_state = lib.rf_set_node_state
_next_batch = lib.rf_next_batch
_now = lib.rf_now
_pending = lib.rf_pending
_stats = lib.rf_stats
_feedback_begin = lib.rf_feedback_begin
_feedback_observe = lib.rf_feedback_observe
_feedback_register = lib.rf_feedback_register
_NULL = ffi.NULL
_from_buffer = ffi.from_buffer
_RECORD_BYTES = FEEDBACK_RECORD_WIDTH * 8
# The C core reads the simulator's "<9q" records as native int64: this holds
# on every platform atheris ships wheels for (x86_64).
assert sys.byteorder == "little", "the C core's feedback reads little-endian records"
_unpack = ffi.unpack
_BELOW_ERROR = lib.RF_BELOW_ERROR
_ERROR_BELOW = lib.RF_ERROR_BELOW


class CCore:
    """The simulation core in C; see docs/core.md for the contract."""

    __slots__ = ("_pointer", "_batch", "_stats_buffer")

    def __init__(self, seed, endpoint_count, lookahead):
        error_code = ffi.new("int *")
        pointer = _core_new(seed & UINT64_MAX, endpoint_count, lookahead, error_code)
        if pointer == ffi.NULL:
            raise error(error_code[0])
        self._pointer = ffi.gc(pointer, _core_free)
        # Allocated once: every next_batch call writes into this same array.
        self._batch = ffi.new("int64_t[]", BATCH_CAPACITY * EVENT_WIDTH)
        self._stats_buffer = ffi.new("int64_t[]", len(STATS_FIELDS))

    def next_u64(self):
        """One xoshiro256** output, in 0..2**64-1."""
        return _next_u64(self._pointer)

    def below(self, n):
        """A uniform integer in 0..n-1 (Lemire); 1 <= n < 2**64."""
        value = _below(self._pointer, n)
        if value == _BELOW_ERROR:
            raise error(_ERROR_BELOW)
        return value

    def ratio(self, num, den):
        """True with probability num/den; no draw when the answer is certain."""
        # rf_ratio returns a C bool, which cffi hands back as a Python bool.
        return _ratio(self._pointer, num, den)

    def push(self, time, kind, a, b, c):
        """Schedules a user event (kind >= 2) at time >= batch_start + lookahead."""
        code = _push(self._pointer, time, kind, a, b, c)
        if code:
            raise error(code)

    def set_link_faults(self, src, dst, loss_num, dup_num, den, latency_min, latency_max):
        """Sets loss and duplication ratios and the latency range of src->dst."""
        code = _set_link_faults(
            self._pointer, src, dst, loss_num, dup_num, den, latency_min, latency_max
        )
        if code:
            raise error(code)

    def set_link_state(self, now, src, dst, state):
        """Moves src->dst to LINK_UP, LINK_CUT or LINK_HELD (cut and hold undo with up)."""
        code = _set_link_state(self._pointer, now, src, dst, state)
        if code:
            raise error(code)

    def send(self, now, src, dst, message_id):
        """Sends one message through src->dst; returns the copies scheduled (0, 1, 2)."""
        copies = _send(self._pointer, now, src, dst, message_id)
        if copies < 0:
            raise error(copies)
        return copies

    def set_tick_interval(self, node, interval):
        """Sets the tick interval of node (0: no ticks); used from the next tick on."""
        code = _set_tick_interval(self._pointer, node, interval)
        if code:
            raise error(code)

    def set_node_state(self, now, node, state):
        """Moves node to NODE_UP, NODE_DOWN or NODE_PAUSED (crash/restart, pause/resume)."""
        code = _set_node_state(self._pointer, now, node, state)
        if code:
            raise error(code)

    def next_batch(self, end_time):
        """Pops the next batch of due events as a flat [time, kind, a, b, c, ...] list."""
        batch = self._batch
        count = _next_batch(self._pointer, end_time, batch)
        return _unpack(batch, count * EVENT_WIDTH)

    def now(self):
        """The time of the last popped event (0 before any)."""
        return _now(self._pointer)

    def pending(self):
        """The number of events in the queue, stale ticks included."""
        return _pending(self._pointer)

    def stats(self):
        """The counters of docs/core.md as a dict."""
        buffer = self._stats_buffer
        _stats(self._pointer, buffer)
        return dict(zip(STATS_FIELDS, _unpack(buffer, len(STATS_FIELDS))))

    # ------------------------------------------------------------ feedback

    def feedback_begin(self, node_count, features, fault_kind, fault_verbs):
        """Starts the cluster-state abstraction (docs/feedback.md); fault_verbs
        is a bytes object: the verb of each fault event, by position."""
        code = _feedback_begin(self._pointer, node_count, features, fault_kind, fault_verbs,
                               len(fault_verbs))
        if code:
            raise error(code)

    def feedback_observe(self, records, collect=False):
        """Observes packed records (bytes or bytearray of "<9q" records) and
        bumps the feedback counters; returns the number of features, or with
        collect their counter indexes as a list."""
        count, remainder = divmod(len(records), _RECORD_BYTES)
        if remainder:
            raise error(ERROR_FEEDBACK_RECORDS)
        out = ffi.new("int64_t[]", FEEDBACK_MAX_PER_RECORD * count) if collect else _NULL
        # A view of the buffer, no copy; released on leaving the block so the
        # caller may resize its bytearray again.
        with _from_buffer(records) as view:
            emitted = _feedback_observe(self._pointer, view, count, out)
        if emitted < 0:
            raise error(emitted)
        return _unpack(out, emitted) if collect else emitted


def register_feedback_counters(library_path):
    """Hands the C core's feedback counters to libFuzzer in the library at
    library_path (None: the main program); returns how many. Once per process."""
    registered = _feedback_register(_NULL if library_path is None else library_path.encode())
    if registered < 0:
        raise error(registered)
    return registered


def feedback_counter_sum():
    """The sum of all feedback counters (tests: libFuzzer resets them per input)."""
    return lib.rf_feedback_counter_sum()
