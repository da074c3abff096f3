/*
 * The simulation core in C. docs/core.md is the contract, and
 * raftfuzz/core_python.py is a line-by-line twin: any change here must be made
 * there too, or the differential test fails.
 *
 * Why C: one cffi crossing costs about as much as a Python call, so the core
 * only pays off when one crossing does much work. next_batch therefore pops a
 * whole window of due events, judges every delivery against the network and
 * node state, reschedules timers, and hands back only what Python must see.
 *
 * Assertions check internal invariants only; user input is validated and
 * rejected with an error code, never asserted.
 */
#include "core.h"

#include <assert.h>
#include <stdlib.h>

/* Indices of the counters in rf_core.stats, in the order of rf_stats. */
enum {
    STAT_SENT,
    STAT_DELIVERED,
    STAT_DROPPED_LOSS,
    STAT_DROPPED_CUT,
    STAT_DROPPED_DOWN,
    STAT_DUPLICATED,
    STAT_HELD,
    STAT_OVERFLOW,
};

struct rf_event {
    int64_t time;
    /* Push counter: equal times pop in push order. */
    uint64_t sequence;
    int64_t kind;
    int64_t a;
    int64_t b;
    int64_t c;
};

struct rf_link {
    int64_t state;
    int64_t loss_num;
    int64_t dup_num;
    int64_t den;
    int64_t latency_min;
    int64_t latency_max;
    /* Messages waiting in rf_core.held while the link is held. */
    int64_t held_count;
};

struct rf_inbox_entry {
    int64_t src;
    int64_t message_id;
};

struct rf_endpoint {
    int64_t state;
    int64_t tick_interval;
    /* Bumped on crash and restart so ticks of an earlier life are stale. */
    int64_t generation;
    /* Messages in rf_core.inbox that arrived while the endpoint was paused. */
    int64_t inbox_count;
};

struct rf_core {
    uint64_t rng[4];
    int64_t endpoint_count;
    int64_t lookahead;
    /* Time of the last popped event. */
    int64_t now;
    /* Time of the first event of the current batch; 0 before any batch. */
    int64_t batch_start;
    /* Earliest time push accepts: 0 before any batch, then batch_start + lookahead. */
    int64_t time_floor;
    uint64_t sequence;
    int64_t queue_length;
    int64_t stats[RF_STATS_COUNT];
    struct rf_endpoint endpoints[RF_MAX_ENDPOINTS];
    struct rf_link links[RF_MAX_ENDPOINTS * RF_MAX_ENDPOINTS];
    /*
     * Storage below is only ever read below a count that writes raised, so
     * rf_core_new leaves it uninitialised: a new core then costs a few pages
     * of set-up instead of zeroing 3.6 MiB. Held queues and inboxes are only
     * appended to and then released or discarded whole, so they need no
     * ring buffer.
     */
    int64_t held[RF_MAX_ENDPOINTS * RF_MAX_ENDPOINTS][RF_HELD_CAPACITY];
    struct rf_inbox_entry inbox[RF_MAX_ENDPOINTS][RF_INBOX_CAPACITY];
    struct rf_event queue[RF_QUEUE_CAPACITY];
};

/* ------------------------------------------------------------------ RNG */

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static inline uint64_t rotate_left(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

uint64_t rf_next_u64(struct rf_core *core) {
    uint64_t *s = core->rng;
    const uint64_t result = rotate_left(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotate_left(s[3], 45);
    return result;
}

/* A 128-bit product is what makes Lemire's method cheap; gcc and clang have it. */
__extension__ typedef unsigned __int128 uint128;

/* Lemire's multiply-shift; n must be at least 1. */
static uint64_t below_unchecked(struct rf_core *core, uint64_t n) {
    assert(n >= 1);
    uint128 m = (uint128)rf_next_u64(core) * n;
    uint64_t low = (uint64_t)m;
    if (low < n) {
        /* (2**64 - n) % n, computed in 64 bits. */
        const uint64_t threshold = (0 - n) % n;
        while (low < threshold) {
            m = (uint128)rf_next_u64(core) * n;
            low = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

uint64_t rf_below(struct rf_core *core, uint64_t n) {
    if (n == 0) {
        return RF_BELOW_ERROR;
    }
    return below_unchecked(core, n);
}

bool rf_ratio(struct rf_core *core, int64_t num, int64_t den) {
    if (num <= 0) {
        return false;
    }
    if (num >= den) {
        return true;
    }
    /* Here 0 < num < den, so den >= 2 and the cast is exact. */
    return below_unchecked(core, (uint64_t)den) < (uint64_t)num;
}

/* ---------------------------------------------------------------- queue */

static inline int event_before(const struct rf_event *x, const struct rf_event *y) {
    if (x->time != y->time) {
        return x->time < y->time;
    }
    return x->sequence < y->sequence;
}

/* Pushes one event; returns 0, or -1 when the queue is full. */
static int queue_push(struct rf_core *core, int64_t time, int64_t kind,
                      int64_t a, int64_t b, int64_t c) {
    if (core->queue_length >= RF_QUEUE_CAPACITY) {
        return -1;
    }
    assert(time >= 0);
    assert(time <= RF_TIME_MAX);
    struct rf_event event = {time, core->sequence, kind, a, b, c};
    core->sequence += 1;
    struct rf_event *queue = core->queue;
    int64_t hole = core->queue_length;
    core->queue_length += 1;
    while (hole > 0) {
        const int64_t parent = (hole - 1) / 2;
        if (!event_before(&event, &queue[parent])) {
            break;
        }
        queue[hole] = queue[parent];
        hole = parent;
    }
    queue[hole] = event;
    return 0;
}

static struct rf_event queue_pop(struct rf_core *core) {
    assert(core->queue_length > 0);
    struct rf_event *queue = core->queue;
    const struct rf_event top = queue[0];
    core->queue_length -= 1;
    const int64_t length = core->queue_length;
    if (length > 0) {
        const struct rf_event last = queue[length];
        int64_t hole = 0;
        for (;;) {
            int64_t child = 2 * hole + 1;
            if (child >= length) {
                break;
            }
            if (child + 1 < length && event_before(&queue[child + 1], &queue[child])) {
                child += 1;
            }
            if (!event_before(&queue[child], &last)) {
                break;
            }
            queue[hole] = queue[child];
            hole = child;
        }
        queue[hole] = last;
    }
    return top;
}

/* Schedules an internal event, counting it as overflow when it cannot be. */
static void schedule_or_count(struct rf_core *core, int64_t time, int64_t kind,
                              int64_t a, int64_t b, int64_t c) {
    if (time > RF_TIME_MAX || queue_push(core, time, kind, a, b, c) != 0) {
        core->stats[STAT_OVERFLOW] += 1;
    }
}

/* ------------------------------------------------------------- helpers */

static inline int valid_endpoint(const struct rf_core *core, int64_t endpoint) {
    return endpoint >= 0 && endpoint < core->endpoint_count;
}

static inline int valid_now(const struct rf_core *core, int64_t now) {
    return now >= core->batch_start && now <= RF_TIME_MAX;
}

static inline int valid_state(int64_t state) {
    return state >= 0 && state <= 2;
}

static inline int64_t link_index(int64_t src, int64_t dst) {
    return src * RF_MAX_ENDPOINTS + dst;
}

/* Appends to the held queue of src->dst, or counts overflow when it is full. */
static void hold_message(struct rf_core *core, int64_t src, int64_t dst, int64_t message_id) {
    const int64_t index = link_index(src, dst);
    struct rf_link *link = &core->links[index];
    if (link->held_count >= RF_HELD_CAPACITY) {
        core->stats[STAT_OVERFLOW] += 1;
        return;
    }
    core->held[index][link->held_count] = message_id;
    link->held_count += 1;
    core->stats[STAT_HELD] += 1;
}

/* --------------------------------------------------------- construction */

struct rf_core *rf_core_new(uint64_t seed, int64_t endpoint_count,
                            int64_t lookahead, int *error) {
    if (endpoint_count < 1 || endpoint_count > RF_MAX_ENDPOINTS) {
        *error = RF_ERROR_ENDPOINT_COUNT;
        return NULL;
    }
    if (lookahead < 1 || lookahead > RF_TIME_MAX) {
        *error = RF_ERROR_LOOKAHEAD;
        return NULL;
    }
    struct rf_core *core = malloc(sizeof(struct rf_core));
    if (core == NULL) {
        *error = RF_ERROR_MEMORY;
        return NULL;
    }
    uint64_t splitmix_state = seed;
    for (int i = 0; i < 4; i++) {
        core->rng[i] = splitmix64(&splitmix_state);
    }
    core->endpoint_count = endpoint_count;
    core->lookahead = lookahead;
    core->now = 0;
    core->batch_start = 0;
    core->time_floor = 0;
    core->sequence = 0;
    core->queue_length = 0;
    for (int i = 0; i < RF_STATS_COUNT; i++) {
        core->stats[i] = 0;
    }
    for (int64_t i = 0; i < RF_MAX_ENDPOINTS; i++) {
        core->endpoints[i] = (struct rf_endpoint){
            .state = RF_NODE_DOWN, .tick_interval = 0, .generation = 0, .inbox_count = 0};
    }
    for (int64_t i = 0; i < RF_MAX_ENDPOINTS * RF_MAX_ENDPOINTS; i++) {
        core->links[i] = (struct rf_link){.state = RF_LINK_UP,
                                          .loss_num = 0,
                                          .dup_num = 0,
                                          .den = 1,
                                          .latency_min = lookahead,
                                          .latency_max = lookahead,
                                          .held_count = 0};
    }
    *error = 0;
    return core;
}

void rf_core_free(struct rf_core *core) {
    free(core);
}

/* ------------------------------------------------------------- commands */

int rf_push(struct rf_core *core, int64_t time, int64_t kind, int64_t a,
            int64_t b, int64_t c) {
    if (kind < 2) {
        return RF_ERROR_KIND;
    }
    if (time < core->time_floor || time > RF_TIME_MAX) {
        return RF_ERROR_TIME;
    }
    if (queue_push(core, time, kind, a, b, c) != 0) {
        return RF_ERROR_QUEUE_FULL;
    }
    return 0;
}

int rf_set_link_faults(struct rf_core *core, int64_t src, int64_t dst,
                       int64_t loss_num, int64_t dup_num, int64_t den,
                       int64_t latency_min, int64_t latency_max) {
    if (!valid_endpoint(core, src) || !valid_endpoint(core, dst)) {
        return RF_ERROR_ENDPOINT;
    }
    if (den < 1 || loss_num < 0 || loss_num > den || dup_num < 0 || dup_num > den) {
        return RF_ERROR_RATIO;
    }
    if (latency_min < core->lookahead || latency_max < latency_min ||
        latency_max > RF_TIME_MAX) {
        return RF_ERROR_LATENCY;
    }
    struct rf_link *link = &core->links[link_index(src, dst)];
    link->loss_num = loss_num;
    link->dup_num = dup_num;
    link->den = den;
    link->latency_min = latency_min;
    link->latency_max = latency_max;
    return 0;
}

int rf_set_link_state(struct rf_core *core, int64_t now, int64_t src,
                      int64_t dst, int64_t state) {
    if (!valid_endpoint(core, src) || !valid_endpoint(core, dst)) {
        return RF_ERROR_ENDPOINT;
    }
    if (!valid_state(state)) {
        return RF_ERROR_STATE;
    }
    if (!valid_now(core, now)) {
        return RF_ERROR_NOW;
    }
    const int64_t index = link_index(src, dst);
    struct rf_link *link = &core->links[index];
    const int64_t previous = link->state;
    if (previous == state) {
        return 0;
    }
    link->state = state;
    if (state == RF_LINK_CUT) {
        core->stats[STAT_DROPPED_CUT] += link->held_count;
    } else if (state == RF_LINK_UP && previous == RF_LINK_HELD) {
        for (int64_t i = 0; i < link->held_count; i++) {
            schedule_or_count(core, now + core->lookahead, RF_KIND_DELIVER, src, dst,
                              core->held[index][i]);
        }
    }
    if (state != RF_LINK_HELD) {
        link->held_count = 0;
    }
    return 0;
}

int rf_send(struct rf_core *core, int64_t now, int64_t src, int64_t dst,
            int64_t message_id) {
    if (!valid_endpoint(core, src) || !valid_endpoint(core, dst)) {
        return RF_ERROR_ENDPOINT;
    }
    if (!valid_now(core, now)) {
        return RF_ERROR_NOW;
    }
    struct rf_link *link = &core->links[link_index(src, dst)];
    core->stats[STAT_SENT] += 1;
    if (link->state == RF_LINK_CUT) {
        core->stats[STAT_DROPPED_CUT] += 1;
        return 0;
    }
    if (rf_ratio(core, link->loss_num, link->den)) {
        core->stats[STAT_DROPPED_LOSS] += 1;
        return 0;
    }
    int copies = 1;
    if (rf_ratio(core, link->dup_num, link->den)) {
        copies = 2;
        core->stats[STAT_DUPLICATED] += 1;
    }
    for (int copy = 0; copy < copies; copy++) {
        if (link->state == RF_LINK_HELD) {
            hold_message(core, src, dst, message_id);
        } else {
            /* latency_max - latency_min + 1 <= RF_TIME_MAX, so it fits. */
            const uint64_t spread = (uint64_t)(link->latency_max - link->latency_min) + 1;
            const int64_t delay = link->latency_min + (int64_t)below_unchecked(core, spread);
            schedule_or_count(core, now + delay, RF_KIND_DELIVER, src, dst, message_id);
        }
    }
    return copies;
}

int rf_set_tick_interval(struct rf_core *core, int64_t node, int64_t interval) {
    if (!valid_endpoint(core, node)) {
        return RF_ERROR_ENDPOINT;
    }
    if (interval != 0 && (interval < core->lookahead || interval > RF_TIME_MAX)) {
        return RF_ERROR_INTERVAL;
    }
    core->endpoints[node].tick_interval = interval;
    return 0;
}

int rf_set_node_state(struct rf_core *core, int64_t now, int64_t node,
                      int64_t state) {
    if (!valid_endpoint(core, node)) {
        return RF_ERROR_ENDPOINT;
    }
    if (!valid_state(state)) {
        return RF_ERROR_STATE;
    }
    if (!valid_now(core, now)) {
        return RF_ERROR_NOW;
    }
    struct rf_endpoint *endpoint = &core->endpoints[node];
    const int64_t previous = endpoint->state;
    if (previous == state) {
        return 0;
    }
    if (state == RF_NODE_PAUSED && previous == RF_NODE_DOWN) {
        return RF_ERROR_TRANSITION;
    }
    endpoint->state = state;
    if (state == RF_NODE_DOWN) {
        endpoint->generation += 1;
        core->stats[STAT_DROPPED_DOWN] += endpoint->inbox_count;
    } else if (state == RF_NODE_UP && previous == RF_NODE_DOWN) {
        endpoint->generation += 1;
        if (endpoint->tick_interval > 0) {
            schedule_or_count(core, now + endpoint->tick_interval, RF_KIND_TICK, node, 0,
                              endpoint->generation);
        }
    } else if (state == RF_NODE_UP && previous == RF_NODE_PAUSED) {
        for (int64_t i = 0; i < endpoint->inbox_count; i++) {
            const struct rf_inbox_entry *entry = &core->inbox[node][i];
            schedule_or_count(core, now + core->lookahead, RF_KIND_DELIVER, entry->src,
                              node, entry->message_id);
        }
    }
    if (state != RF_NODE_PAUSED) {
        endpoint->inbox_count = 0;
    }
    return 0;
}

/* -------------------------------------------------------------- batching */

/* Judges one popped event; returns 1 when it must be handed to Python. */
static int judge_event(struct rf_core *core, const struct rf_event *event) {
    if (event->kind == RF_KIND_TICK) {
        struct rf_endpoint *endpoint = &core->endpoints[event->a];
        if (event->c != endpoint->generation || endpoint->state == RF_NODE_DOWN) {
            return 0;
        }
        if (endpoint->tick_interval > 0) {
            /* The pop just freed a slot, so only the time limit can refuse this. */
            schedule_or_count(core, event->time + endpoint->tick_interval, RF_KIND_TICK,
                              event->a, 0, event->c);
        }
        return endpoint->state != RF_NODE_PAUSED;
    }
    if (event->kind == RF_KIND_DELIVER) {
        struct rf_endpoint *destination = &core->endpoints[event->b];
        const struct rf_link *link = &core->links[link_index(event->a, event->b)];
        if (destination->state == RF_NODE_DOWN) {
            core->stats[STAT_DROPPED_DOWN] += 1;
            return 0;
        }
        if (link->state == RF_LINK_CUT) {
            core->stats[STAT_DROPPED_CUT] += 1;
            return 0;
        }
        if (link->state == RF_LINK_HELD) {
            hold_message(core, event->a, event->b, event->c);
            return 0;
        }
        if (destination->state == RF_NODE_PAUSED) {
            if (destination->inbox_count >= RF_INBOX_CAPACITY) {
                core->stats[STAT_OVERFLOW] += 1;
            } else {
                struct rf_inbox_entry *entry =
                    &core->inbox[event->b][destination->inbox_count];
                entry->src = event->a;
                entry->message_id = event->c;
                destination->inbox_count += 1;
            }
            return 0;
        }
        core->stats[STAT_DELIVERED] += 1;
        return 1;
    }
    return 1;
}

int rf_next_batch(struct rf_core *core, int64_t end_time, int64_t *out) {
    int emitted = 0;
    /* A window whose events were all swallowed emits nothing; the loop then
     * opens the next window, so an empty result always means nothing is due. */
    while (emitted == 0 && core->queue_length > 0 && core->queue[0].time <= end_time) {
        const int64_t window_start = core->queue[0].time;
        const int64_t window_end = window_start + core->lookahead;
        assert(window_start >= core->batch_start);
        core->batch_start = window_start;
        core->time_floor = window_end;
        while (emitted < RF_BATCH_CAPACITY && core->queue_length > 0) {
            const int64_t time = core->queue[0].time;
            if (time >= window_end || time > end_time) {
                break;
            }
            const struct rf_event event = queue_pop(core);
            assert(event.time >= core->now);
            core->now = event.time;
            if (!judge_event(core, &event)) {
                continue;
            }
            int64_t *slot = out + (int64_t)emitted * RF_EVENT_WIDTH;
            slot[0] = event.time;
            slot[1] = event.kind;
            slot[2] = event.a;
            slot[3] = event.b;
            slot[4] = event.c;
            emitted += 1;
            if (event.kind >= RF_KIND_BARRIER_MIN) {
                return emitted;
            }
        }
    }
    return emitted;
}

/* ------------------------------------------------------------- queries */

int64_t rf_now(const struct rf_core *core) {
    return core->now;
}

int64_t rf_pending(const struct rf_core *core) {
    return core->queue_length;
}

void rf_stats(const struct rf_core *core, int64_t *out) {
    for (int i = 0; i < RF_STATS_COUNT; i++) {
        out[i] = core->stats[i];
    }
}
