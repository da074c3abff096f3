"""The numbers of the core contract (docs/core.md), in one place.

Both cores import these: the pure-Python core uses them directly, and the C
core's header (csrc/core.h) repeats them, which tests/test_core.py checks
against the compiled library. Error codes and messages live here too so both
cores raise the same exception with the same text for the same mistake.
"""

# Event kinds. User kinds are 2..63; a user kind >= KIND_BARRIER_MIN ends a batch.
KIND_TICK = 0
KIND_DELIVER = 1
KIND_USER_MIN = 2
KIND_BARRIER_MIN = 64

# States of a directed link.
LINK_UP = 0
LINK_CUT = 1
LINK_HELD = 2

# States of an endpoint (a Raft node or a client).
NODE_UP = 0
NODE_DOWN = 1
NODE_PAUSED = 2

# Sixteen endpoints cover a 7-node cluster plus clients, and keep the link
# table (16 x 16 links) small enough to allocate once per run.
MAX_ENDPOINTS = 16
# A Raft cluster under test keeps a few hundred messages in flight; 65536
# pending events is far above that, so hitting it means a runaway schedule,
# which is counted as overflow instead of eating memory.
QUEUE_CAPACITY = 65536
# Messages queued on one held link, and for one paused endpoint: enough for a
# long hold of a busy link, small enough that 256 links stay under 1 MiB.
HELD_CAPACITY = 256
INBOX_CAPACITY = 256
# Events handed to Python per crossing: large enough to amortise the crossing,
# small enough that the output array stays in the L1 cache (10 KiB).
BATCH_CAPACITY = 256

# The largest simulated time or duration, 2**62 - 1 microseconds (146,000
# years). With times and durations both below 2**62, a time plus a duration
# always fits in int64, so neither core can overflow.
TIME_MAX = 2**62 - 1

# Integers per event in a batch: time, kind, a, b, c.
EVENT_WIDTH = 5

# Cluster-state feedback (docs/feedback.md): integers per record the
# simulator hands over (time, kind, a, b, c, term, role, commit_index,
# last_index), the size of the counter region (a power of two: a feature's
# index is the top COUNTER_BITS bits of a 64-bit hash), how many fault verbs
# feedback_begin takes, and the feature sets to or together.
FEEDBACK_RECORD_WIDTH = 9
FEEDBACK_COUNTER_BITS = 16
FEEDBACK_COUNTERS = 1 << FEEDBACK_COUNTER_BITS
FEEDBACK_FAULT_CAPACITY = 256
FEEDBACK_STATES = 1
FEEDBACK_TRANSITIONS = 2
FEEDBACK_EVENT_KIND = 4
FEEDBACK_ONCE = 8
FEEDBACK_HISTORY = 16
FEEDBACK_COARSE = 32
FEEDBACK_FIELDS = 64
FEEDBACK_PAIRS = 128
FEEDBACK_CONFLICTS = 256
# The most fields an abstract state has, and the most features one record
# emits (a state, a transition, a conflict feature, every field, every pair
# of fields).
FEEDBACK_MAX_FIELDS = 15
FEEDBACK_MAX_PER_RECORD = 3 + FEEDBACK_MAX_FIELDS + FEEDBACK_MAX_FIELDS * (FEEDBACK_MAX_FIELDS - 1) // 2

# The counters of stats(), in the order the C core writes them.
STATS_FIELDS = (
    "sent",
    "delivered",
    "dropped_loss",
    "dropped_cut",
    "dropped_down",
    "duplicated",
    "held",
    "overflow",
)

# Arguments are C int64 (and the n of below() a C uint64): a Python int
# outside that range raises OverflowError, as cffi does when converting it.
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1

# Error codes returned by the C functions (csrc/core.h), each with the
# exception both cores raise for it.
ERROR_ENDPOINT_COUNT = -1
ERROR_LOOKAHEAD = -2
ERROR_ENDPOINT = -3
ERROR_STATE = -4
ERROR_TRANSITION = -5
ERROR_KIND = -6
ERROR_TIME = -7
ERROR_NOW = -8
ERROR_RATIO = -9
ERROR_LATENCY = -10
ERROR_INTERVAL = -11
ERROR_BELOW = -12
ERROR_QUEUE_FULL = -13
ERROR_MEMORY = -14
ERROR_FEEDBACK_NODES = -15
ERROR_FEEDBACK_FEATURES = -16
ERROR_FEEDBACK_FAULTS = -17
ERROR_FEEDBACK_OFF = -18
ERROR_FEEDBACK_LIBRARY = -19
ERROR_FEEDBACK_RECORDS = -20

ERRORS = {
    ERROR_ENDPOINT_COUNT: (ValueError, f"endpoint_count must be in 1..{MAX_ENDPOINTS}"),
    ERROR_LOOKAHEAD: (ValueError, "lookahead must be in 1..TIME_MAX"),
    ERROR_ENDPOINT: (ValueError, "endpoint out of range 0..endpoint_count-1"),
    ERROR_STATE: (ValueError, "unknown state (must be 0, 1 or 2)"),
    ERROR_TRANSITION: (ValueError, "a DOWN endpoint cannot be PAUSED"),
    ERROR_KIND: (ValueError, "user event kinds start at 2"),
    ERROR_TIME: (ValueError, "event time before batch_start + lookahead, or beyond TIME_MAX"),
    ERROR_NOW: (ValueError, "now before the current batch start, or beyond TIME_MAX"),
    ERROR_RATIO: (ValueError, "need den >= 1 and 0 <= loss_num, dup_num <= den"),
    ERROR_LATENCY: (ValueError, "need lookahead <= latency_min <= latency_max <= TIME_MAX"),
    ERROR_INTERVAL: (ValueError, "tick interval must be 0 or in lookahead..TIME_MAX"),
    ERROR_BELOW: (ValueError, "below(n) needs 1 <= n < 2**64"),
    ERROR_QUEUE_FULL: (OverflowError, f"event queue full ({QUEUE_CAPACITY} events)"),
    ERROR_MEMORY: (MemoryError, "cannot allocate the core"),
    ERROR_FEEDBACK_NODES: (ValueError, "feedback node_count must be in 1..endpoint_count"),
    ERROR_FEEDBACK_FEATURES: (ValueError, "feedback features must or together at least one of "
                                          "STATES, TRANSITIONS, FIELDS, PAIRS and CONFLICTS, "
                                          "optionally EVENT_KIND, ONCE, HISTORY and COARSE"),
    ERROR_FEEDBACK_FAULTS: (ValueError, f"at most {FEEDBACK_FAULT_CAPACITY} fault verbs"),
    ERROR_FEEDBACK_OFF: (ValueError, "feedback_observe before feedback_begin"),
    ERROR_FEEDBACK_LIBRARY: (RuntimeError, "libFuzzer's __sanitizer_cov_8bit_counters_init and "
                                           "__sanitizer_cov_pcs_init not found in the given library"),
    ERROR_FEEDBACK_RECORDS: (ValueError, f"records must be whole {FEEDBACK_RECORD_WIDTH * 8}-byte records"),
}


def error(code):
    """Returns the exception both cores raise for an error code."""
    exception_type, message = ERRORS[code]
    return exception_type(message)
