/*
 * The simulation core in C. docs/core.md is the contract, and
 * src/raftfuzz/core/twin.py is a line-by-line twin: any change here must be made
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
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

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

/* What the feedback abstraction remembers between records (docs/feedback.md). */
struct rf_feedback {
    bool begun;
    int64_t node_count;
    int64_t features;
    int64_t fault_kind;
    int64_t fault_count;
    uint8_t fault_verbs[RF_FEEDBACK_FAULT_CAPACITY];
    /* The last state each node reported: term, role, commit index, last index. */
    int64_t term[RF_MAX_ENDPOINTS];
    int64_t role[RF_MAX_ENDPOINTS];
    int64_t commit[RF_MAX_ENDPOINTS];
    int64_t last_index[RF_MAX_ENDPOINTS];
    /* Leadership history: the last term each node was seen leading, and in
     * how many terms it has led (kept across crashes: it is the run's past). */
    int64_t led_term[RF_MAX_ENDPOINTS];
    int64_t leaderships[RF_MAX_ENDPOINTS];
    /* Conflict history (RF_FEEDBACK_CONFLICTS), the run's past like the
     * leaderships: whether last_index holds a value of the node's current
     * life (false until it reports, and again once it is seen crashed),
     * whether its log was ever truncated, the run's truncation count when
     * it last began leading, and whether it then came back as leader after
     * a truncation since its previous leadership began. */
    bool life_seen[RF_MAX_ENDPOINTS];
    bool truncated[RF_MAX_ENDPOINTS];
    int64_t lead_mark[RF_MAX_ENDPOINTS];
    bool returned[RF_MAX_ENDPOINTS];
    /* Truncations in the run so far, and whether one hit a former leader. */
    int64_t truncations;
    bool former_leader_truncated;
    /* Crashed, paused and cut-off counts, packed, as of the last barrier. */
    uint64_t liveness;
    /* Code of the last fault-like barrier: 0 none, 1 + verb, or 129 + kind offset. */
    uint64_t last_fault;
    /* The abstract state after the previous record. */
    uint64_t previous;
    /* With RF_FEEDBACK_FIELDS or PAIRS: where each field of the state lies. */
    int64_t field_count;
    uint8_t field_shift[RF_FEEDBACK_MAX_FIELDS];
    uint8_t field_width[RF_FEEDBACK_MAX_FIELDS];
    /* With RF_FEEDBACK_ONCE: the counters this run has bumped, one bit each. */
    uint64_t bumped[RF_FEEDBACK_COUNTERS / 64];
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
    struct rf_feedback feedback;
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
    core->feedback.begun = false;
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

/* ------------------------------------------------------------- feedback */

/*
 * The counters libFuzzer reads, one array per process (libFuzzer takes each
 * module once). It resets them before every input itself. The PC table has
 * one zeroed {pc, flags} pair per counter: libFuzzer only counts coverage
 * (`cov:`) when the tables' sizes match the counters'.
 */
static uint8_t feedback_counters[RF_FEEDBACK_COUNTERS] __attribute__((aligned(4096)));
static uintptr_t feedback_pcs[2 * RF_FEEDBACK_COUNTERS] __attribute__((aligned(4096)));
static bool feedback_registered = false;

enum {
    /* Event classes (bits 29..36 of the state, with RF_FEEDBACK_EVENT_KIND). */
    CLASS_NODE_TICK = 0,
    CLASS_NODE_DELIVERY = 1,
    CLASS_CLIENT_TICK = 2,
    CLASS_CLIENT_DELIVERY = 3,
    CLASS_USER_KIND = 4, /* + (kind & 0x7F) */
};

#define ROLE_FOLLOWER 0
#define ROLE_CANDIDATE 1
#define ROLE_LEADER 2
#define ROLE_PRE_CANDIDATE 3

/* Distinct salts keep a transition, a field or a pair from landing where a
 * state lands (the next hex digits of pi each). */
#define SALT_STATE UINT64_C(0x243F6A8885A308D3)
#define SALT_TRANSITION UINT64_C(0x13198A2E03707344)
#define SALT_FIELD UINT64_C(0xA4093822299F31D0)
#define SALT_PAIR UINT64_C(0x082EFA98EC4E6C89)
#define SALT_CONFLICT UINT64_C(0x452821E638D01377)

/* The splitmix64 finaliser: a stable 64-bit mix, the same in every process. */
static inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* 0, 1, 2, 3 exactly, then one bucket per power of two up to 32+ (3 bits). */
static inline uint64_t bucket(uint64_t x) {
    if (x < 4) {
        return x;
    }
    const uint64_t bits = 64 - (uint64_t)__builtin_clzll(x);
    return bits + 1 < 7 ? bits + 1 : 7;
}

/* 0, 1-3, 4-15, 16+ (2 bits): the coarse state's spreads. */
static inline uint64_t coarse_bucket(uint64_t x) {
    return x == 0 ? 0 : x < 4 ? 1 : x < 16 ? 2 : 3;
}

static inline uint64_t cap2(uint64_t x) {
    return x < 2 ? x : 2;
}

static inline uint64_t cap3(uint64_t x) {
    return x < 3 ? x : 3;
}

static inline uint64_t cap7(uint64_t x) {
    return x < 7 ? x : 7;
}

/* 1 when every link from (outgoing) or to (incoming) the other nodes is not UP. */
static int cut_off(const struct rf_core *core, int64_t node, int64_t node_count) {
    if (node_count < 2) {
        return 0;
    }
    int outgoing_up = 0;
    int incoming_up = 0;
    for (int64_t other = 0; other < node_count; other++) {
        if (other == node) {
            continue;
        }
        outgoing_up |= core->links[link_index(node, other)].state == RF_LINK_UP;
        incoming_up |= core->links[link_index(other, node)].state == RF_LINK_UP;
    }
    return !outgoing_up || !incoming_up;
}

/* Crashed, paused and cut-off node counts, 3 bits each. */
static uint64_t liveness_now(const struct rf_core *core) {
    const int64_t node_count = core->feedback.node_count;
    uint64_t down = 0;
    uint64_t paused = 0;
    uint64_t isolated = 0;
    for (int64_t node = 0; node < node_count; node++) {
        const int64_t state = core->endpoints[node].state;
        if (state == RF_NODE_DOWN) {
            down += 1;
            continue;
        }
        paused += state == RF_NODE_PAUSED;
        isolated += (uint64_t)cut_off(core, node, node_count);
    }
    return cap7(down) | cap7(paused) << 3 | cap7(isolated) << 6;
}

/* The abstract state of the cluster; docs/feedback.md lists the fields. */
static uint64_t abstract_state(const struct rf_core *core, uint64_t event_class) {
    const struct rf_feedback *feedback = &core->feedback;
    uint64_t leaders = 0;
    uint64_t candidates = 0;
    uint64_t pre_candidates = 0;
    int any = 0;
    int64_t term_min = 0, term_max = 0, commit_min = 0, commit_max = 0;
    int64_t last_min = 0, last_max = 0;
    for (int64_t node = 0; node < feedback->node_count; node++) {
        if (core->endpoints[node].state == RF_NODE_DOWN) {
            continue;
        }
        const int64_t role = feedback->role[node];
        leaders += role == ROLE_LEADER;
        candidates += role == ROLE_CANDIDATE;
        pre_candidates += role == ROLE_PRE_CANDIDATE;
        const int64_t term = feedback->term[node];
        const int64_t commit = feedback->commit[node];
        const int64_t last = feedback->last_index[node];
        if (!any) {
            term_min = term_max = term;
            commit_min = commit_max = commit;
            last_min = last_max = last;
            any = 1;
            continue;
        }
        term_min = term < term_min ? term : term_min;
        term_max = term > term_max ? term : term_max;
        commit_min = commit < commit_min ? commit : commit_min;
        commit_max = commit > commit_max ? commit : commit_max;
        last_min = last < last_min ? last : last_min;
        last_max = last > last_max ? last : last_max;
    }
    /* A leader of an old term, and a leader missing entries another node has. */
    uint64_t stale_leader = 0;
    uint64_t leader_behind = 0;
    int64_t leaderships = 0;
    for (int64_t node = 0; node < feedback->node_count; node++) {
        if (core->endpoints[node].state == RF_NODE_DOWN || feedback->role[node] != ROLE_LEADER) {
            continue;
        }
        stale_leader |= feedback->term[node] < term_max;
        leader_behind |= feedback->last_index[node] < last_max;
        leaderships = feedback->leaderships[node] > leaderships ? feedback->leaderships[node] : leaderships;
    }
    /* Differences in uint64: exact for any int64 pair, and never undefined. */
    const uint64_t term_spread = (uint64_t)term_max - (uint64_t)term_min;
    const uint64_t commit_spread = (uint64_t)commit_max - (uint64_t)commit_min;
    const uint64_t last_spread = (uint64_t)last_max - (uint64_t)last_min;
    uint64_t state;
    if (feedback->features & RF_FEEDBACK_COARSE) {
        /* Only what changes what Raft may do next, in few values each. */
        const uint64_t down = feedback->liveness & 7;
        const uint64_t paused = feedback->liveness >> 3 & 7;
        const uint64_t isolated = feedback->liveness >> 6 & 7;
        state = cap2(leaders) | (uint64_t)(candidates + pre_candidates > 0) << 2 | cap2(down) << 3 |
                (uint64_t)(paused > 0) << 5 | cap2(isolated) << 6 | cap2(term_spread) << 8 |
                coarse_bucket(commit_spread) << 10 | coarse_bucket(last_spread) << 12 |
                stale_leader << 14 | leader_behind << 15;
    } else {
        state = cap3(leaders) | cap3(candidates) << 2 | cap3(pre_candidates) << 4 |
                feedback->liveness << 6 | bucket(term_spread) << 15 | bucket(commit_spread) << 18 |
                bucket(last_spread) << 21 | stale_leader << 24 | leader_behind << 25 |
                bucket(term_max > 0 ? (uint64_t)term_max : 0) << 26;
    }
    if (feedback->features & RF_FEEDBACK_EVENT_KIND) {
        state |= event_class << 29 | feedback->last_fault << 37;
    }
    if (feedback->features & RF_FEEDBACK_HISTORY) {
        /* A leader back for a second or third term: the situation every bug
         * that needs a history across terms passes through. */
        state |= cap3((uint64_t)leaderships) << 46;
    }
    return state;
}

/* The conflict word (RF_FEEDBACK_CONFLICTS, docs/feedback.md): the run's
 * truncation history with the event node's role and the leaders up. node is
 * the event's node or -1; cut says whether this record truncated its log. */
static uint64_t conflict_word(const struct rf_core *core, int64_t node, bool cut) {
    const struct rf_feedback *feedback = &core->feedback;
    uint64_t leaders = 0;
    uint64_t truncated_nodes = 0;
    uint64_t returned = 0;
    uint64_t stale_leader = 0;
    int any = 0;
    int64_t term_max = 0;
    for (int64_t other = 0; other < feedback->node_count; other++) {
        truncated_nodes += feedback->truncated[other];
        if (core->endpoints[other].state == RF_NODE_DOWN) {
            continue;
        }
        term_max = !any || feedback->term[other] > term_max ? feedback->term[other] : term_max;
        any = 1;
    }
    for (int64_t other = 0; other < feedback->node_count; other++) {
        if (core->endpoints[other].state == RF_NODE_DOWN || feedback->role[other] != ROLE_LEADER) {
            continue;
        }
        leaders += 1;
        returned |= feedback->returned[other];
        stale_leader |= feedback->term[other] < term_max;
    }
    const uint64_t role = node >= 0 ? (uint64_t)feedback->role[node] : 4;
    const uint64_t node_truncated = node >= 0 ? feedback->truncated[node] : 0;
    return role | cap2(leaders) << 3 | cap3((uint64_t)feedback->truncations) << 5 |
           cap3(truncated_nodes) << 7 | node_truncated << 9 | (uint64_t)cut << 10 | returned << 11 |
           (uint64_t)feedback->former_leader_truncated << 12 | stale_leader << 13;
}

/* Where the fields of abstract_state's word lie, {shift, width} each, in
 * docs/feedback.md's order: the full state's, or the coarse state's. */
static const uint8_t FULL_FIELDS[][2] = {{0, 2},  {2, 2},  {4, 2},  {6, 3},  {9, 3},  {12, 3},
                                         {15, 3}, {18, 3}, {21, 3}, {24, 1}, {25, 1}, {26, 3}};
static const uint8_t COARSE_FIELDS[][2] = {{0, 2}, {2, 1},  {3, 2},  {5, 1},  {6, 2},
                                           {8, 2}, {10, 2}, {12, 2}, {14, 1}, {15, 1}};
/* Event kind and last fault (RF_FEEDBACK_EVENT_KIND), leaderships (HISTORY). */
static const uint8_t KIND_FIELDS[][2] = {{29, 8}, {37, 9}};
static const uint8_t HISTORY_FIELD[2] = {46, 2};

static void add_field(struct rf_feedback *feedback, const uint8_t field[2]) {
    feedback->field_shift[feedback->field_count] = field[0];
    feedback->field_width[feedback->field_count] = field[1];
    feedback->field_count += 1;
}

/* The fields the feature set puts in the state: only those can vary. */
static void lay_out_fields(struct rf_feedback *feedback) {
    feedback->field_count = 0;
    const bool coarse = (feedback->features & RF_FEEDBACK_COARSE) != 0;
    const size_t base = coarse ? sizeof COARSE_FIELDS / sizeof COARSE_FIELDS[0]
                               : sizeof FULL_FIELDS / sizeof FULL_FIELDS[0];
    for (size_t i = 0; i < base; i++) {
        add_field(feedback, coarse ? COARSE_FIELDS[i] : FULL_FIELDS[i]);
    }
    if (feedback->features & RF_FEEDBACK_EVENT_KIND) {
        add_field(feedback, KIND_FIELDS[0]);
        add_field(feedback, KIND_FIELDS[1]);
    }
    if (feedback->features & RF_FEEDBACK_HISTORY) {
        add_field(feedback, HISTORY_FIELD);
    }
}

static inline uint64_t field_value(const struct rf_feedback *feedback, uint64_t state, int64_t field) {
    return state >> feedback->field_shift[field] & ((UINT64_C(1) << feedback->field_width[field]) - 1);
}

static inline void bump(struct rf_feedback *feedback, uint64_t hash, int64_t *out,
                        int64_t *emitted) {
    const uint64_t index = hash >> (64 - RF_FEEDBACK_COUNTER_BITS);
    if (feedback->features & RF_FEEDBACK_ONCE) {
        const uint64_t bit = UINT64_C(1) << (index & 63);
        if (feedback->bumped[index >> 6] & bit) {
            return;
        }
        feedback->bumped[index >> 6] |= bit;
    }
    uint8_t *counter = &feedback_counters[index];
    /* Saturate instead of wrapping: 256 visits must not look like none. */
    if (*counter != UINT8_MAX) {
        *counter += 1;
    }
    if (out != NULL) {
        out[*emitted] = (int64_t)index;
    }
    *emitted += 1;
}

/* One feature per field and value (FIELDS), one per pair of fields and
 * their values (PAIRS): like a program's edges, a bounded set that
 * saturates, where a state's hash is one of as many as the fields' product. */
static void bump_fields(struct rf_feedback *feedback, uint64_t state, int64_t *out,
                        int64_t *emitted) {
    uint64_t values[RF_FEEDBACK_MAX_FIELDS];
    const int64_t count = feedback->field_count;
    for (int64_t field = 0; field < count; field++) {
        values[field] = field_value(feedback, state, field);
    }
    if (feedback->features & RF_FEEDBACK_FIELDS) {
        for (int64_t field = 0; field < count; field++) {
            bump(feedback, mix64(((uint64_t)field << 32 | values[field]) ^ SALT_FIELD), out, emitted);
        }
    }
    if (feedback->features & RF_FEEDBACK_PAIRS) {
        for (int64_t first = 0; first < count; first++) {
            const uint64_t high = (uint64_t)first << 40 | values[first] << 16;
            for (int64_t second = first + 1; second < count; second++) {
                const uint64_t key = high | (uint64_t)second << 32 | values[second];
                bump(feedback, mix64(key ^ SALT_PAIR), out, emitted);
            }
        }
    }
}

int rf_feedback_begin(struct rf_core *core, int64_t node_count, int64_t features,
                      int64_t fault_kind, const uint8_t *fault_verbs, int64_t fault_count) {
    if (node_count < 1 || node_count > core->endpoint_count) {
        return RF_ERROR_FEEDBACK_NODES;
    }
    const int64_t emitters = RF_FEEDBACK_STATES | RF_FEEDBACK_TRANSITIONS | RF_FEEDBACK_FIELDS |
                             RF_FEEDBACK_PAIRS | RF_FEEDBACK_CONFLICTS;
    const int64_t all = emitters | RF_FEEDBACK_EVENT_KIND | RF_FEEDBACK_ONCE | RF_FEEDBACK_HISTORY |
                        RF_FEEDBACK_COARSE;
    if ((features & ~all) != 0 || (features & emitters) == 0) {
        return RF_ERROR_FEEDBACK_FEATURES;
    }
    if (fault_kind < 2) {
        return RF_ERROR_KIND;
    }
    if (fault_count < 0 || fault_count > RF_FEEDBACK_FAULT_CAPACITY) {
        return RF_ERROR_FEEDBACK_FAULTS;
    }
    struct rf_feedback *feedback = &core->feedback;
    feedback->node_count = node_count;
    feedback->features = features;
    feedback->fault_kind = fault_kind;
    feedback->fault_count = fault_count;
    if (fault_count > 0) {
        memcpy(feedback->fault_verbs, fault_verbs, (size_t)fault_count);
    }
    for (int64_t node = 0; node < RF_MAX_ENDPOINTS; node++) {
        feedback->term[node] = 0;
        feedback->role[node] = ROLE_FOLLOWER;
        feedback->commit[node] = 0;
        feedback->last_index[node] = 0;
        feedback->led_term[node] = -1;
        feedback->leaderships[node] = 0;
        feedback->life_seen[node] = false;
        feedback->truncated[node] = false;
        feedback->lead_mark[node] = 0;
        feedback->returned[node] = false;
    }
    feedback->truncations = 0;
    feedback->former_leader_truncated = false;
    memset(feedback->bumped, 0, sizeof feedback->bumped);
    feedback->liveness = liveness_now(core);
    feedback->last_fault = 0;
    feedback->previous = abstract_state(core, CLASS_NODE_TICK);
    lay_out_fields(feedback);
    feedback->begun = true;
    return 0;
}

int64_t rf_feedback_observe(struct rf_core *core, const char *records, int64_t count,
                            int64_t *out) {
    struct rf_feedback *feedback = &core->feedback;
    if (!feedback->begun) {
        return RF_ERROR_FEEDBACK_OFF;
    }
    if (count < 0) {
        return RF_ERROR_FEEDBACK_RECORDS;
    }
    const int64_t node_count = feedback->node_count;
    int64_t emitted = 0;
    for (int64_t i = 0; i < count; i++) {
        int64_t record[RF_FEEDBACK_RECORD_WIDTH];
        /* memcpy: the records are a byte string with no alignment promise. */
        memcpy(record, records + i * RF_FEEDBACK_RECORD_WIDTH * 8, sizeof record);
        const int64_t kind = record[1];
        const int64_t a = record[2];
        const int64_t b = record[3];
        const int64_t c = record[4];
        int64_t node = -1;
        uint64_t event_class;
        if (kind == RF_KIND_TICK) {
            node = a >= 0 && a < node_count ? a : -1;
            event_class = node >= 0 ? CLASS_NODE_TICK : CLASS_CLIENT_TICK;
        } else if (kind == RF_KIND_DELIVER) {
            node = b >= 0 && b < node_count ? b : -1;
            event_class = node >= 0 ? CLASS_NODE_DELIVERY : CLASS_CLIENT_DELIVERY;
        } else {
            event_class = CLASS_USER_KIND + ((uint64_t)kind & 0x7F);
        }
        bool cut = false;
        if (node >= 0) {
            const int64_t role = record[6];
            /* A log truncation: the last index went down within one life
             * (a crash may lose a tail that was never synced; that is not one). */
            if (feedback->life_seen[node] && record[8] < feedback->last_index[node]) {
                cut = true;
                feedback->truncations += 1;
                feedback->truncated[node] = true;
                feedback->former_leader_truncated |= feedback->leaderships[node] > 0;
            }
            feedback->life_seen[node] = true;
            feedback->term[node] = record[5];
            /* A role outside the interface's four counts as a follower. */
            feedback->role[node] = role >= 0 && role <= 3 ? role : ROLE_FOLLOWER;
            feedback->commit[node] = record[7];
            feedback->last_index[node] = record[8];
            if (feedback->role[node] == ROLE_LEADER && record[5] != feedback->led_term[node]) {
                feedback->led_term[node] = record[5];
                feedback->leaderships[node] += 1;
                /* Leading again after a truncation since it last began leading. */
                feedback->returned[node] =
                    feedback->leaderships[node] > 1 && feedback->truncations > feedback->lead_mark[node];
                feedback->lead_mark[node] = feedback->truncations;
            }
        }
        if (kind == feedback->fault_kind) {
            const uint64_t verb = c >= 0 && c < feedback->fault_count ? feedback->fault_verbs[c] : 0x7F;
            feedback->last_fault = 1 + (verb & 0x7F);
        } else if (kind >= RF_KIND_BARRIER_MIN) {
            feedback->last_fault = 129 + ((uint64_t)(kind - RF_KIND_BARRIER_MIN) & 0x7F);
        }
        if (kind >= RF_KIND_BARRIER_MIN) {
            /* Only a barrier changes node and link states, and it ends its
             * batch: its record is the first to see the new ones. A crashed
             * node forgets its volatile state (role, commit index). */
            feedback->liveness = liveness_now(core);
            for (int64_t down = 0; down < node_count; down++) {
                if (core->endpoints[down].state == RF_NODE_DOWN) {
                    feedback->role[down] = ROLE_FOLLOWER;
                    feedback->commit[down] = 0;
                    feedback->life_seen[down] = false;
                }
            }
        }
        const uint64_t state = abstract_state(core, event_class);
        if (feedback->features & RF_FEEDBACK_STATES) {
            bump(feedback, mix64(state ^ SALT_STATE), out, &emitted);
        }
        if ((feedback->features & RF_FEEDBACK_TRANSITIONS) && state != feedback->previous) {
            bump(feedback, mix64(mix64(feedback->previous) ^ state ^ SALT_TRANSITION), out, &emitted);
        }
        if (feedback->features & (RF_FEEDBACK_FIELDS | RF_FEEDBACK_PAIRS)) {
            bump_fields(feedback, state, out, &emitted);
        }
        if (feedback->features & RF_FEEDBACK_CONFLICTS) {
            bump(feedback, mix64(conflict_word(core, node, cut) ^ SALT_CONFLICT), out, &emitted);
        }
        feedback->previous = state;
    }
    return emitted;
}

typedef void (*counters_init_function)(uint8_t *start, uint8_t *stop);
typedef void (*pcs_init_function)(const uintptr_t *start, const uintptr_t *stop);

int64_t rf_feedback_register(const char *library_path) {
    if (feedback_registered) {
        return RF_FEEDBACK_COUNTERS;
    }
    /* RTLD_NOLOAD: only a library already in the process (atheris loaded it
     * with RTLD_LOCAL, so its symbols are not global). NULL means the main
     * program, for a Python linked with libFuzzer. */
    void *library = library_path == NULL ? dlopen(NULL, RTLD_NOW)
                                         : dlopen(library_path, RTLD_NOW | RTLD_NOLOAD);
    if (library == NULL) {
        return RF_ERROR_FEEDBACK_LIBRARY;
    }
    counters_init_function counters_init;
    pcs_init_function pcs_init;
    /* POSIX's way to turn dlsym's void * into a function pointer. */
    *(void **)&counters_init = dlsym(library, "__sanitizer_cov_8bit_counters_init");
    *(void **)&pcs_init = dlsym(library, "__sanitizer_cov_pcs_init");
    if (counters_init == NULL || pcs_init == NULL) {
        dlclose(library);
        return RF_ERROR_FEEDBACK_LIBRARY;
    }
    memset(feedback_counters, 0, sizeof feedback_counters);
    /* Counters, then their PC table: libFuzzer pairs the n-th of each. */
    counters_init(feedback_counters, feedback_counters + RF_FEEDBACK_COUNTERS);
    pcs_init(feedback_pcs, feedback_pcs + 2 * RF_FEEDBACK_COUNTERS);
    /* The library stays loaded: Python holds it; this drops our reference only. */
    dlclose(library);
    feedback_registered = true;
    return RF_FEEDBACK_COUNTERS;
}

int64_t rf_feedback_counter_sum(void) {
    int64_t sum = 0;
    for (int64_t i = 0; i < RF_FEEDBACK_COUNTERS; i++) {
        sum += feedback_counters[i];
    }
    return sum;
}
