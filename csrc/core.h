/*
 * The simulation core of raftfuzz: event queue, RNG, network model and node
 * timers, behind one opaque struct. docs/core.md is the contract; this C
 * implementation and raftfuzz/core_python.py must give identical results.
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

#endif
