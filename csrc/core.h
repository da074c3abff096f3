/*
 * The simulation core of raftfuzz: event queue, RNG, network model and node
 * timers, behind one opaque struct. docs/core.md is the contract; this C
 * implementation and src/raftfuzz/core/twin.py must give identical results.
 *
 * Every value that crosses the boundary is a 64-bit integer. Functions that
 * can reject their arguments return an int: 0 (or a count) on success, a
 * negative RF_ERROR_* code otherwise; the Python wrapper turns the code into
 * the exception named next to it. No function here allocates except
 * rf_core_new: all capacities are fixed so a run can never grow without bound.
 */
#ifndef RAFTFUZZ_CORE_H
#define RAFTFUZZ_CORE_H

#include <stdbool.h>
#include <stdint.h>

/* Event kinds. User kinds are 2..63; kinds >= RF_KIND_BARRIER_MIN end a batch. */
#define RF_KIND_TICK 0
#define RF_KIND_DELIVER 1
#define RF_KIND_BARRIER_MIN 64

/* States of a directed link. */
#define RF_LINK_UP 0
#define RF_LINK_CUT 1
#define RF_LINK_HELD 2

/* States of an endpoint (node or client). */
#define RF_NODE_UP 0
#define RF_NODE_DOWN 1
#define RF_NODE_PAUSED 2

/* Capacities; docs/core.md says why each one has the size it has. */
#define RF_MAX_ENDPOINTS 16
#define RF_QUEUE_CAPACITY 65536
#define RF_HELD_CAPACITY 256
#define RF_INBOX_CAPACITY 256
#define RF_BATCH_CAPACITY 256

/*
 * The largest simulated time and duration, 2**62 - 1. Keeping both below
 * 2**62 means a time plus a duration always fits in int64, so no sum in the
 * core can overflow.
 */
#define RF_TIME_MAX 4611686018427387903

/* Integers per event in a batch: time, kind, a, b, c. */
#define RF_EVENT_WIDTH 5

/* Counters written by rf_stats, in this order. */
#define RF_STATS_COUNT 8

/* rf_below returns this for n == 0; a valid call always returns less than n. */
#define RF_BELOW_ERROR UINT64_MAX

/* Error codes. All map to ValueError except the three noted. */
#define RF_ERROR_ENDPOINT_COUNT (-1)
#define RF_ERROR_LOOKAHEAD (-2)
#define RF_ERROR_ENDPOINT (-3)
#define RF_ERROR_STATE (-4)
#define RF_ERROR_TRANSITION (-5)
#define RF_ERROR_KIND (-6)
#define RF_ERROR_TIME (-7)
#define RF_ERROR_NOW (-8)
#define RF_ERROR_RATIO (-9)
#define RF_ERROR_LATENCY (-10)
#define RF_ERROR_INTERVAL (-11)
#define RF_ERROR_BELOW (-12)
#define RF_ERROR_QUEUE_FULL (-13) /* OverflowError */
#define RF_ERROR_MEMORY (-14)     /* MemoryError */
#define RF_ERROR_FEEDBACK_NODES (-15)
#define RF_ERROR_FEEDBACK_FEATURES (-16)
#define RF_ERROR_FEEDBACK_FAULTS (-17)
#define RF_ERROR_FEEDBACK_OFF (-18)
#define RF_ERROR_FEEDBACK_LIBRARY (-19) /* RuntimeError */
#define RF_ERROR_FEEDBACK_RECORDS (-20)

/*
 * Cluster-state feedback (docs/feedback.md). The simulator hands over the
 * records it hashes, RF_FEEDBACK_RECORD_WIDTH little-endian int64 each:
 * time, kind, a, b, c, term, role, commit_index, last_index (the last four
 * of the node that handled the event, zeros otherwise). The core abstracts
 * the cluster after every record and bumps a counter per abstract state
 * and per transition in one process-wide array of RF_FEEDBACK_COUNTERS
 * uint8 counters, which rf_feedback_register hands to libFuzzer.
 */
#define RF_FEEDBACK_RECORD_WIDTH 9
#define RF_FEEDBACK_COUNTER_BITS 16
#define RF_FEEDBACK_COUNTERS (1 << RF_FEEDBACK_COUNTER_BITS)
#define RF_FEEDBACK_FAULT_CAPACITY 256
/* Feature sets, or-ed together: at least one of STATES, TRANSITIONS, FIELDS,
 * PAIRS and CONFLICTS. */
#define RF_FEEDBACK_STATES 1
#define RF_FEEDBACK_TRANSITIONS 2
#define RF_FEEDBACK_EVENT_KIND 4
/* Each counter at most once per run: libFuzzer sees which states a run
 * reached, not how often. */
#define RF_FEEDBACK_ONCE 8
/* The leadership history in the state: how many terms the leader has led. */
#define RF_FEEDBACK_HISTORY 16
/* A coarser state: fewer values per field, no highest term (docs/feedback.md). */
#define RF_FEEDBACK_COARSE 32
/* Features of the state's single fields, and of pairs of its fields, in
 * place of (or beside) the whole state: a bounded set that saturates. */
#define RF_FEEDBACK_FIELDS 64
#define RF_FEEDBACK_PAIRS 128
/* The run's conflict history: one feature per record for which logs were
 * truncated so far (a node's last index went down within one life) and by
 * whom, with the event node's role and the number of leaders. */
#define RF_FEEDBACK_CONFLICTS 256
/* The most fields a state has (with event kind and history), and the most
 * features one record emits: a state, a transition, a conflict feature,
 * every field, every pair. */
#define RF_FEEDBACK_MAX_FIELDS 15
#define RF_FEEDBACK_MAX_PER_RECORD \
    (3 + RF_FEEDBACK_MAX_FIELDS + RF_FEEDBACK_MAX_FIELDS * (RF_FEEDBACK_MAX_FIELDS - 1) / 2)

struct rf_core;

/* Returns NULL and sets *error when the arguments are invalid or memory is short. */
struct rf_core *rf_core_new(uint64_t seed, int64_t endpoint_count,
                            int64_t lookahead, int *error);
void rf_core_free(struct rf_core *core);

uint64_t rf_next_u64(struct rf_core *core);
uint64_t rf_below(struct rf_core *core, uint64_t n);
bool rf_ratio(struct rf_core *core, int64_t num, int64_t den);

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

/* Writes RF_EVENT_WIDTH integers per event into out (room for
 * RF_BATCH_CAPACITY events) and returns the number of events. */
int rf_next_batch(struct rf_core *core, int64_t end_time, int64_t *out);

int64_t rf_now(const struct rf_core *core);
int64_t rf_pending(const struct rf_core *core);
void rf_stats(const struct rf_core *core, int64_t *out);

/* Starts the abstraction over the first node_count endpoints (the Raft
 * nodes); records of kind fault_kind name fault_verbs[c]. Call it after the
 * initial node and link states are set, before the first batch. */
int rf_feedback_begin(struct rf_core *core, int64_t node_count, int64_t features,
                      int64_t fault_kind, const uint8_t *fault_verbs, int64_t fault_count);
/* Observes count records (see above); every record up to a barrier must
 * be handed over before the next batch is popped, because a barrier's
 * record is judged against the node and link states after it. Returns the
 * number of features emitted and, when out is not NULL, writes their
 * counter indexes there (room for RF_FEEDBACK_MAX_PER_RECORD * count). */
int64_t rf_feedback_observe(struct rf_core *core, const char *records, int64_t count,
                            int64_t *out);
/* Hands the counter array to libFuzzer, once per process: dlopen()s the
 * already loaded library (RTLD_NOLOAD) and calls its
 * __sanitizer_cov_8bit_counters_init and __sanitizer_cov_pcs_init.
 * Returns the number of counters registered. */
int64_t rf_feedback_register(const char *library_path);
/* The sum of all counters, for tests of libFuzzer's reset between inputs. */
int64_t rf_feedback_counter_sum(void);

#endif
