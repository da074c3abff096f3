"""cffi builder for `raftfuzz._core`, the compiled simulation core.

API (out-of-line) mode: cffi writes a C wrapper that includes csrc/core.h and
compiles it with csrc/core.c, so every declaration below is checked by the C
compiler against the real header. The `#define NAME ...` lines let Python read
the header's constants, which tests compare with raftfuzz/core_constants.py.

setup.py runs this through `cffi_modules`: `pip install -e .` builds the
extension, and `python setup.py build_ext --inplace` rebuilds it in place
while editing the C code.
"""

import cffi

# Paths stay relative to the project root: setuptools refuses absolute source paths.
CSRC = "csrc"

CDEF = """
#define RF_KIND_TICK ...
#define RF_KIND_DELIVER ...
#define RF_KIND_BARRIER_MIN ...
#define RF_LINK_UP ...
#define RF_LINK_CUT ...
#define RF_LINK_HELD ...
#define RF_NODE_UP ...
#define RF_NODE_DOWN ...
#define RF_NODE_PAUSED ...
#define RF_MAX_ENDPOINTS ...
#define RF_QUEUE_CAPACITY ...
#define RF_HELD_CAPACITY ...
#define RF_INBOX_CAPACITY ...
#define RF_BATCH_CAPACITY ...
#define RF_TIME_MAX ...
#define RF_EVENT_WIDTH ...
#define RF_STATS_COUNT ...
#define RF_BELOW_ERROR ...
#define RF_ERROR_ENDPOINT_COUNT ...
#define RF_ERROR_LOOKAHEAD ...
#define RF_ERROR_ENDPOINT ...
#define RF_ERROR_STATE ...
#define RF_ERROR_TRANSITION ...
#define RF_ERROR_KIND ...
#define RF_ERROR_TIME ...
#define RF_ERROR_NOW ...
#define RF_ERROR_RATIO ...
#define RF_ERROR_LATENCY ...
#define RF_ERROR_INTERVAL ...
#define RF_ERROR_BELOW ...
#define RF_ERROR_QUEUE_FULL ...
#define RF_ERROR_MEMORY ...

struct rf_core;

struct rf_core *rf_core_new(uint64_t seed, int64_t endpoint_count,
                            int64_t lookahead, int *error);
void rf_core_free(struct rf_core *core);

uint64_t rf_next_u64(struct rf_core *core);
uint64_t rf_below(struct rf_core *core, uint64_t n);
_Bool rf_ratio(struct rf_core *core, int64_t num, int64_t den);

int rf_push(struct rf_core *core, int64_t time, int64_t kind, int64_t a,
            int64_t b, int64_t c);
int rf_set_link_faults(struct rf_core *core, int64_t src, int64_t dst,
                       int64_t loss_num, int64_t dup_num, int64_t den,
                       int64_t latency_min, int64_t latency_max);
int rf_set_link_state(struct rf_core *core, int64_t now, int64_t src,
                      int64_t dst, int64_t state);
int rf_send(struct rf_core *core, int64_t now, int64_t src, int64_t dst,
            int64_t message_id);
int rf_set_tick_interval(struct rf_core *core, int64_t node, int64_t interval);
int rf_set_node_state(struct rf_core *core, int64_t now, int64_t node,
                      int64_t state);

int rf_next_batch(struct rf_core *core, int64_t end_time, int64_t *out);

int64_t rf_now(const struct rf_core *core);
int64_t rf_pending(const struct rf_core *core);
void rf_stats(const struct rf_core *core, int64_t *out);
"""

# cffi releases the GIL around every call into C. For the core that is pure
# cost: its calls take well under a microsecond, never block and never call
# back into Python, so releasing and retaking the GIL would cost more than
# the work it frees. The wrappers cffi generates use the two standard macros,
# and this preamble comes after Python.h and before them, so redefining the
# macros keeps the GIL held. Holding the GIL is always safe; if cffi stopped
# using the macros, calls would simply release it again.
PREAMBLE = """
#include "core.h"

#undef Py_BEGIN_ALLOW_THREADS
#undef Py_END_ALLOW_THREADS
#define Py_BEGIN_ALLOW_THREADS {
#define Py_END_ALLOW_THREADS }
"""

ffibuilder = cffi.FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "raftfuzz._core",
    PREAMBLE,
    sources=[f"{CSRC}/core.c"],
    include_dirs=[CSRC],
    # Python's own CFLAGS carry -DNDEBUG; -UNDEBUG keeps the core's assertions
    # on, because an invariant broken inside the simulator must stop the run.
    extra_compile_args=["-O2", "-std=c11", "-UNDEBUG"],
    # Passed on to the setuptools Extension: an optional extension that failed
    # to build is skipped when an editable install copies extensions back
    # into the source tree (setup.py turns the failure into a warning).
    optional=True,
)
