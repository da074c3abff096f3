"""The pure-Python simulation core: the twin of csrc/core.c.

It exists so raftfuzz runs (more slowly) where the C extension is not built,
and so the C core has an independent, readable statement of what it must do:
tests/test_core_differential.py drives both with the same random operations
and demands equal results, bit for bit. docs/core.md is the contract; a change
to either core must be made in both.

Arguments follow the C core's types: a Python int that does not fit int64 (or
uint64 for below) raises OverflowError before anything else is checked, as
cffi does when converting it; a value that fits but breaks a rule raises the
ValueError of raftfuzz.core.constants.ERRORS, checked in the C code's order.
"""

from heapq import heappop, heappush
from struct import Struct

from raftfuzz.core.constants import (
    BATCH_CAPACITY,
    ERROR_BELOW,
    ERROR_ENDPOINT,
    ERROR_ENDPOINT_COUNT,
    ERROR_FEEDBACK_FAULTS,
    ERROR_FEEDBACK_FEATURES,
    ERROR_FEEDBACK_NODES,
    ERROR_FEEDBACK_OFF,
    ERROR_FEEDBACK_RECORDS,
    ERROR_INTERVAL,
    ERROR_KIND,
    ERROR_LATENCY,
    ERROR_LOOKAHEAD,
    ERROR_NOW,
    ERROR_QUEUE_FULL,
    ERROR_RATIO,
    ERROR_STATE,
    ERROR_TIME,
    ERROR_TRANSITION,
    FEEDBACK_COUNTER_BITS,
    FEEDBACK_EVENT_KIND,
    FEEDBACK_FAULT_CAPACITY,
    FEEDBACK_FIELDS,
    FEEDBACK_COARSE,
    FEEDBACK_CONFLICTS,
    FEEDBACK_HISTORY,
    FEEDBACK_ONCE,
    FEEDBACK_PAIRS,
    FEEDBACK_RECORD_WIDTH,
    FEEDBACK_STATES,
    FEEDBACK_TRANSITIONS,
    HELD_CAPACITY,
    INBOX_CAPACITY,
    INT64_MAX,
    INT64_MIN,
    KIND_BARRIER_MIN,
    KIND_DELIVER,
    KIND_TICK,
    KIND_USER_MIN,
    LINK_CUT,
    LINK_HELD,
    LINK_UP,
    MAX_ENDPOINTS,
    NODE_DOWN,
    NODE_PAUSED,
    NODE_UP,
    QUEUE_CAPACITY,
    STATS_FIELDS,
    TIME_MAX,
    UINT64_MAX,
    error,
)

_MASK = UINT64_MAX
_TWO_TO_64 = 2**64

# Feedback (docs/feedback.md): the twin of the feedback section of csrc/core.c.
_RECORD = Struct(f"<{FEEDBACK_RECORD_WIDTH}q")
_INDEX_SHIFT = 64 - FEEDBACK_COUNTER_BITS
_CLASS_NODE_TICK, _CLASS_NODE_DELIVERY, _CLASS_CLIENT_TICK, _CLASS_CLIENT_DELIVERY = 0, 1, 2, 3
_CLASS_USER_KIND = 4
_ROLE_FOLLOWER, _ROLE_CANDIDATE, _ROLE_LEADER, _ROLE_PRE_CANDIDATE = 0, 1, 2, 3
_SALT_STATE = 0x243F6A8885A308D3
_SALT_TRANSITION = 0x13198A2E03707344
_SALT_FIELD = 0xA4093822299F31D0
_SALT_PAIR = 0x082EFA98EC4E6C89
_SALT_CONFLICT = 0x452821E638D01377
# Where the fields of _abstract_state's word lie, (shift, width) each, as in
# csrc/core.c: the full state's, the coarse state's, event kind and last
# fault (FEEDBACK_EVENT_KIND), leaderships (FEEDBACK_HISTORY).
_FULL_FIELDS = ((0, 2), (2, 2), (4, 2), (6, 3), (9, 3), (12, 3), (15, 3), (18, 3), (21, 3), (24, 1), (25, 1),
                (26, 3))
_COARSE_FIELDS = ((0, 2), (2, 1), (3, 2), (5, 1), (6, 2), (8, 2), (10, 2), (12, 2), (14, 1), (15, 1))
_KIND_FIELDS = ((29, 8), (37, 9))
_HISTORY_FIELD = (46, 2)

# Where the Python core's features go: a callable taking a counter index
# (raftfuzz.checks.feedback points it at atheris._trace_branch), or None.
_feedback_sink = None


def set_feedback_sink(sink):
    """Sends every feature the Python core emits to sink(index); None drops them."""
    global _feedback_sink
    _feedback_sink = sink


def _mix64(z):
    """The splitmix64 finaliser, as in csrc/core.c."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def _bucket(x):
    """0, 1, 2, 3 exactly, then one bucket per power of two up to 32+."""
    if x < 4:
        return x
    return min(x.bit_length() + 1, 7)


def _field_layout(features):
    """The (shift, width) of each field the feature set puts in the state."""
    layout = list(_COARSE_FIELDS if features & FEEDBACK_COARSE else _FULL_FIELDS)
    if features & FEEDBACK_EVENT_KIND:
        layout.extend(_KIND_FIELDS)
    if features & FEEDBACK_HISTORY:
        layout.append(_HISTORY_FIELD)
    return tuple(layout)


def _field_indexes(state, layout, features):
    """The counter indexes of a state's fields (FEEDBACK_FIELDS) and pairs of
    fields (FEEDBACK_PAIRS), in the C core's order."""
    values = [state >> shift & ((1 << width) - 1) for shift, width in layout]
    indexes = []
    if features & FEEDBACK_FIELDS:
        indexes.extend(_mix64((field << 32 | value) ^ _SALT_FIELD) >> _INDEX_SHIFT
                       for field, value in enumerate(values))
    if features & FEEDBACK_PAIRS:
        count = len(values)
        for first in range(count):
            high = first << 40 | values[first] << 16
            indexes.extend(_mix64((high | second << 32 | values[second]) ^ _SALT_PAIR) >> _INDEX_SHIFT
                           for second in range(first + 1, count))
    return indexes


def _coarse_bucket(x):
    """0, 1-3, 4-15, 16+: the coarse state's spreads."""
    return 0 if x == 0 else 1 if x < 4 else 2 if x < 16 else 3


def _require_int64(*values):
    """Raises OverflowError, as cffi would, when a value does not fit int64."""
    for value in values:
        if not INT64_MIN <= value <= INT64_MAX:
            raise OverflowError("int does not fit int64_t")


def _splitmix64(state):
    """One splitmix64 step: returns (new state, output)."""
    state = (state + 0x9E3779B97F4A7C15) & _MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return state, z ^ (z >> 31)


class _Link:
    """One directed link: its state, fault ratios, latency range and held queue."""

    __slots__ = ("state", "loss_num", "dup_num", "den", "latency_min", "latency_max", "held")

    def __init__(self, lookahead):
        self.state = LINK_UP
        self.loss_num = 0
        self.dup_num = 0
        self.den = 1
        self.latency_min = lookahead
        self.latency_max = lookahead
        # Message ids, in arrival order; released or discarded whole.
        self.held = []


class _Endpoint:
    """One endpoint: its state, tick interval, timer generation and inbox."""

    __slots__ = ("state", "tick_interval", "generation", "inbox")

    def __init__(self):
        self.state = NODE_DOWN
        self.tick_interval = 0
        self.generation = 0
        # (src, message_id) pairs that arrived while the endpoint was paused.
        self.inbox = []


class PythonCore:
    """The simulation core in pure Python; see docs/core.md for the contract."""

    def __init__(self, seed, endpoint_count, lookahead):
        seed &= _MASK
        _require_int64(endpoint_count, lookahead)
        if not 1 <= endpoint_count <= MAX_ENDPOINTS:
            raise error(ERROR_ENDPOINT_COUNT)
        if not 1 <= lookahead <= TIME_MAX:
            raise error(ERROR_LOOKAHEAD)
        rng = []
        for _ in range(4):
            seed, output = _splitmix64(seed)
            rng.append(output)
        self._rng = rng
        self._endpoint_count = endpoint_count
        self._lookahead = lookahead
        self._now = 0
        self._batch_start = 0
        # Earliest time push accepts: 0 before any batch, then batch_start + lookahead.
        self._time_floor = 0
        self._sequence = 0
        # Entries are (time, sequence, kind, a, b, c); sequence is unique, so
        # tuple comparison never reaches kind.
        self._heap = []
        self._endpoints = [_Endpoint() for _ in range(endpoint_count)]
        # Indexed src * endpoint_count + dst.
        self._links = [_Link(lookahead) for _ in range(endpoint_count * endpoint_count)]
        self._sent = 0
        self._delivered = 0
        self._dropped_loss = 0
        self._dropped_cut = 0
        self._dropped_down = 0
        self._duplicated = 0
        self._held = 0
        self._overflow = 0
        self._feedback = None

    # ------------------------------------------------------------------ RNG

    def next_u64(self):
        """One xoshiro256** output, in 0..2**64-1."""
        rng = self._rng
        s0, s1, s2, s3 = rng
        x = (s1 * 5) & _MASK
        result = ((((x << 7) | (x >> 57)) & _MASK) * 9) & _MASK
        t = (s1 << 17) & _MASK
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        rng[0] = s0
        rng[1] = s1
        rng[2] = s2
        rng[3] = ((s3 << 45) | (s3 >> 19)) & _MASK
        return result

    def _below(self, n):
        """Lemire's multiply-shift; n must be at least 1."""
        m = self.next_u64() * n
        low = m & _MASK
        if low < n:
            threshold = (_TWO_TO_64 - n) % n
            while low < threshold:
                m = self.next_u64() * n
                low = m & _MASK
        return m >> 64

    def below(self, n):
        """A uniform integer in 0..n-1 (Lemire); 1 <= n < 2**64."""
        if not 0 < n <= _MASK:
            if n == 0:
                raise error(ERROR_BELOW)
            raise OverflowError("int does not fit uint64_t")
        return self._below(n)

    def ratio(self, num, den):
        """True with probability num/den; no draw when the answer is certain."""
        if not (INT64_MIN <= num <= INT64_MAX and INT64_MIN <= den <= INT64_MAX):
            raise OverflowError("int does not fit int64_t")
        return self._ratio(num, den)

    def _ratio(self, num, den):
        if num <= 0:
            return False
        if num >= den:
            return True
        return self._below(den) < num

    # ---------------------------------------------------------------- queue

    def _schedule_or_count(self, time, kind, a, b, c):
        """Schedules an internal event, counting it as overflow when it cannot be."""
        heap = self._heap
        if time > TIME_MAX or len(heap) >= QUEUE_CAPACITY:
            self._overflow += 1
            return
        heappush(heap, (time, self._sequence, kind, a, b, c))
        self._sequence += 1

    def _hold_message(self, link, message_id):
        """Appends to a held queue, or counts overflow when it is full."""
        if len(link.held) >= HELD_CAPACITY:
            self._overflow += 1
            return
        link.held.append(message_id)
        self._held += 1

    def _valid_endpoint(self, endpoint):
        return 0 <= endpoint < self._endpoint_count

    def _valid_now(self, now):
        return self._batch_start <= now <= TIME_MAX

    # ------------------------------------------------------------- commands

    def push(self, time, kind, a, b, c):
        """Schedules a user event (kind >= 2) at time >= batch_start + lookahead."""
        _require_int64(time, kind, a, b, c)
        if kind < KIND_USER_MIN:
            raise error(ERROR_KIND)
        if not self._time_floor <= time <= TIME_MAX:
            raise error(ERROR_TIME)
        heap = self._heap
        if len(heap) >= QUEUE_CAPACITY:
            raise error(ERROR_QUEUE_FULL)
        heappush(heap, (time, self._sequence, kind, a, b, c))
        self._sequence += 1

    def set_link_faults(self, src, dst, loss_num, dup_num, den, latency_min, latency_max):
        """Sets loss and duplication ratios and the latency range of src->dst."""
        _require_int64(src, dst, loss_num, dup_num, den, latency_min, latency_max)
        if not (self._valid_endpoint(src) and self._valid_endpoint(dst)):
            raise error(ERROR_ENDPOINT)
        if den < 1 or not 0 <= loss_num <= den or not 0 <= dup_num <= den:
            raise error(ERROR_RATIO)
        if not self._lookahead <= latency_min <= latency_max <= TIME_MAX:
            raise error(ERROR_LATENCY)
        link = self._links[src * self._endpoint_count + dst]
        link.loss_num = loss_num
        link.dup_num = dup_num
        link.den = den
        link.latency_min = latency_min
        link.latency_max = latency_max

    def set_link_state(self, now, src, dst, state):
        """Moves src->dst to LINK_UP, LINK_CUT or LINK_HELD (cut and hold undo with up)."""
        _require_int64(now, src, dst, state)
        if not (self._valid_endpoint(src) and self._valid_endpoint(dst)):
            raise error(ERROR_ENDPOINT)
        if not 0 <= state <= 2:
            raise error(ERROR_STATE)
        if not self._valid_now(now):
            raise error(ERROR_NOW)
        link = self._links[src * self._endpoint_count + dst]
        previous = link.state
        if previous == state:
            return
        link.state = state
        if state == LINK_CUT:
            self._dropped_cut += len(link.held)
        elif state == LINK_UP and previous == LINK_HELD:
            release_time = now + self._lookahead
            for message_id in link.held:
                self._schedule_or_count(release_time, KIND_DELIVER, src, dst, message_id)
        if state != LINK_HELD:
            link.held.clear()

    def send(self, now, src, dst, message_id):
        """Sends one message through src->dst; returns the copies scheduled (0, 1, 2)."""
        count = self._endpoint_count
        if not (
            0 <= src < count
            and 0 <= dst < count
            and self._batch_start <= now <= TIME_MAX
            and INT64_MIN <= message_id <= INT64_MAX
        ):
            _require_int64(now, src, dst, message_id)
            if not (self._valid_endpoint(src) and self._valid_endpoint(dst)):
                raise error(ERROR_ENDPOINT)
            raise error(ERROR_NOW)
        link = self._links[src * count + dst]
        self._sent += 1
        if link.state == LINK_CUT:
            self._dropped_cut += 1
            return 0
        if self._ratio(link.loss_num, link.den):
            self._dropped_loss += 1
            return 0
        copies = 1
        if self._ratio(link.dup_num, link.den):
            copies = 2
            self._duplicated += 1
        for _ in range(copies):
            if link.state == LINK_HELD:
                self._hold_message(link, message_id)
            else:
                spread = link.latency_max - link.latency_min + 1
                delay = link.latency_min + self._below(spread)
                self._schedule_or_count(now + delay, KIND_DELIVER, src, dst, message_id)
        return copies

    def set_tick_interval(self, node, interval):
        """Sets the tick interval of node (0: no ticks); used from the next tick on."""
        _require_int64(node, interval)
        if not self._valid_endpoint(node):
            raise error(ERROR_ENDPOINT)
        if interval != 0 and not self._lookahead <= interval <= TIME_MAX:
            raise error(ERROR_INTERVAL)
        self._endpoints[node].tick_interval = interval

    def set_node_state(self, now, node, state):
        """Moves node to NODE_UP, NODE_DOWN or NODE_PAUSED (crash/restart, pause/resume)."""
        _require_int64(now, node, state)
        if not self._valid_endpoint(node):
            raise error(ERROR_ENDPOINT)
        if not 0 <= state <= 2:
            raise error(ERROR_STATE)
        if not self._valid_now(now):
            raise error(ERROR_NOW)
        endpoint = self._endpoints[node]
        previous = endpoint.state
        if previous == state:
            return
        if state == NODE_PAUSED and previous == NODE_DOWN:
            raise error(ERROR_TRANSITION)
        endpoint.state = state
        if state == NODE_DOWN:
            endpoint.generation += 1
            self._dropped_down += len(endpoint.inbox)
        elif state == NODE_UP and previous == NODE_DOWN:
            endpoint.generation += 1
            if endpoint.tick_interval > 0:
                self._schedule_or_count(
                    now + endpoint.tick_interval, KIND_TICK, node, 0, endpoint.generation
                )
        elif state == NODE_UP and previous == NODE_PAUSED:
            release_time = now + self._lookahead
            for src, message_id in endpoint.inbox:
                self._schedule_or_count(release_time, KIND_DELIVER, src, node, message_id)
        if state != NODE_PAUSED:
            endpoint.inbox.clear()

    # -------------------------------------------------------------- batching

    def next_batch(self, end_time):
        """Pops the next batch of due events as a flat [time, kind, a, b, c, ...] list."""
        if not INT64_MIN <= end_time <= INT64_MAX:
            raise OverflowError("int does not fit int64_t")
        heap = self._heap
        endpoints = self._endpoints
        links = self._links
        endpoint_count = self._endpoint_count
        lookahead = self._lookahead
        out = []
        emitted = 0
        # A window whose events were all swallowed emits nothing; the loop then
        # opens the next window, so an empty result always means nothing is due.
        while emitted == 0 and heap and heap[0][0] <= end_time:
            window_end = heap[0][0] + lookahead
            self._batch_start = heap[0][0]
            self._time_floor = window_end
            while emitted < BATCH_CAPACITY and heap:
                time = heap[0][0]
                if time >= window_end or time > end_time:
                    break
                _, _, kind, a, b, c = heappop(heap)
                self._now = time
                if kind == KIND_TICK:
                    endpoint = endpoints[a]
                    if c != endpoint.generation or endpoint.state == NODE_DOWN:
                        continue
                    if endpoint.tick_interval > 0:
                        # The pop just freed a slot, so only the time limit can refuse this.
                        self._schedule_or_count(
                            time + endpoint.tick_interval, KIND_TICK, a, 0, c
                        )
                    if endpoint.state == NODE_PAUSED:
                        continue
                elif kind == KIND_DELIVER:
                    destination = endpoints[b]
                    link = links[a * endpoint_count + b]
                    if destination.state == NODE_DOWN:
                        self._dropped_down += 1
                        continue
                    if link.state == LINK_CUT:
                        self._dropped_cut += 1
                        continue
                    if link.state == LINK_HELD:
                        self._hold_message(link, c)
                        continue
                    if destination.state == NODE_PAUSED:
                        if len(destination.inbox) >= INBOX_CAPACITY:
                            self._overflow += 1
                        else:
                            destination.inbox.append((a, c))
                        continue
                    self._delivered += 1
                out.extend((time, kind, a, b, c))
                emitted += 1
                if kind >= KIND_BARRIER_MIN:
                    return out
        return out

    # ------------------------------------------------------------- queries

    def now(self):
        """The time of the last popped event (0 before any)."""
        return self._now

    def pending(self):
        """The number of events in the queue, stale ticks included."""
        return len(self._heap)

    def stats(self):
        """The counters of docs/core.md as a dict."""
        values = (
            self._sent,
            self._delivered,
            self._dropped_loss,
            self._dropped_cut,
            self._dropped_down,
            self._duplicated,
            self._held,
            self._overflow,
        )
        return dict(zip(STATS_FIELDS, values))

    # ------------------------------------------------------------ feedback

    def feedback_begin(self, node_count, features, fault_kind, fault_verbs):
        """Starts the cluster-state abstraction (docs/feedback.md); fault_verbs
        is a bytes object: the verb of each fault event, by position."""
        _require_int64(node_count, features, fault_kind)
        if not 1 <= node_count <= self._endpoint_count:
            raise error(ERROR_FEEDBACK_NODES)
        emitters = FEEDBACK_STATES | FEEDBACK_TRANSITIONS | FEEDBACK_FIELDS | FEEDBACK_PAIRS | FEEDBACK_CONFLICTS
        all_features = emitters | FEEDBACK_EVENT_KIND | FEEDBACK_ONCE | FEEDBACK_HISTORY | FEEDBACK_COARSE
        if features & ~all_features or not features & emitters:
            raise error(ERROR_FEEDBACK_FEATURES)
        if fault_kind < KIND_USER_MIN:
            raise error(ERROR_KIND)
        if len(fault_verbs) > FEEDBACK_FAULT_CAPACITY:
            raise error(ERROR_FEEDBACK_FAULTS)
        self._feedback = _Feedback(node_count, features, fault_kind, bytes(fault_verbs))
        feedback = self._feedback
        feedback.liveness = self._liveness_now()
        feedback.previous = self._abstract_state(_CLASS_NODE_TICK)

    def feedback_observe(self, records, collect=False):
        """Observes packed records (bytes or bytearray of "<9q" records) and
        emits features to the sink; returns their number, or with collect
        their counter indexes as a list."""
        feedback = self._feedback
        if feedback is None:
            raise error(ERROR_FEEDBACK_OFF)
        if len(records) % _RECORD.size:
            raise error(ERROR_FEEDBACK_RECORDS)
        node_count = feedback.node_count
        emit_states = feedback.features & FEEDBACK_STATES
        emit_transitions = feedback.features & FEEDBACK_TRANSITIONS
        emit_fields = feedback.features & (FEEDBACK_FIELDS | FEEDBACK_PAIRS)
        emit_conflicts = feedback.features & FEEDBACK_CONFLICTS
        layout = _field_layout(feedback.features)
        sink = _feedback_sink
        endpoints = self._endpoints
        indexes = []
        for _, kind, a, b, c, term, role, commit, last in _RECORD.iter_unpack(records):
            node = -1
            if kind == KIND_TICK:
                node = a if 0 <= a < node_count else -1
                event_class = _CLASS_NODE_TICK if node >= 0 else _CLASS_CLIENT_TICK
            elif kind == KIND_DELIVER:
                node = b if 0 <= b < node_count else -1
                event_class = _CLASS_NODE_DELIVERY if node >= 0 else _CLASS_CLIENT_DELIVERY
            else:
                event_class = _CLASS_USER_KIND + (kind & 0x7F)
            cut = False
            if node >= 0:
                # A log truncation: the last index went down within one life
                # (a crash may lose a tail that was never synced; that is not one).
                if feedback.life_seen[node] and last < feedback.last_index[node]:
                    cut = True
                    feedback.truncations += 1
                    feedback.truncated[node] = True
                    feedback.former_leader_truncated |= feedback.leaderships[node] > 0
                feedback.life_seen[node] = True
                feedback.term[node] = term
                # A role outside the interface's four counts as a follower.
                feedback.role[node] = role if 0 <= role <= 3 else _ROLE_FOLLOWER
                feedback.commit[node] = commit
                feedback.last_index[node] = last
                if feedback.role[node] == _ROLE_LEADER and term != feedback.led_term[node]:
                    feedback.led_term[node] = term
                    feedback.leaderships[node] += 1
                    # Leading again after a truncation since it last began leading.
                    feedback.returned[node] = (feedback.leaderships[node] > 1
                                               and feedback.truncations > feedback.lead_mark[node])
                    feedback.lead_mark[node] = feedback.truncations
            if kind == feedback.fault_kind:
                verb = feedback.fault_verbs[c] if 0 <= c < len(feedback.fault_verbs) else 0x7F
                feedback.last_fault = 1 + (verb & 0x7F)
            elif kind >= KIND_BARRIER_MIN:
                feedback.last_fault = 129 + ((kind - KIND_BARRIER_MIN) & 0x7F)
            if kind >= KIND_BARRIER_MIN:
                # Only a barrier changes node and link states, and it ends its
                # batch: its record is the first to see the new ones. A crashed
                # node forgets its volatile state (role, commit index).
                feedback.liveness = self._liveness_now()
                for down in range(node_count):
                    if endpoints[down].state == NODE_DOWN:
                        feedback.role[down] = _ROLE_FOLLOWER
                        feedback.commit[down] = 0
                        feedback.life_seen[down] = False
            state = self._abstract_state(event_class)
            if emit_states:
                indexes.append(_mix64(state ^ _SALT_STATE) >> _INDEX_SHIFT)
            if emit_transitions and state != feedback.previous:
                indexes.append(_mix64(_mix64(feedback.previous) ^ state ^ _SALT_TRANSITION) >> _INDEX_SHIFT)
            if emit_fields:
                indexes.extend(_field_indexes(state, layout, feedback.features))
            if emit_conflicts:
                indexes.append(_mix64(self._conflict_word(node, cut) ^ _SALT_CONFLICT) >> _INDEX_SHIFT)
            feedback.previous = state
        if feedback.features & FEEDBACK_ONCE:
            bumped = feedback.bumped
            fresh = []
            for index in indexes:
                if index not in bumped:
                    bumped.add(index)
                    fresh.append(index)
            indexes = fresh
        if sink is not None:
            for index in indexes:
                sink(index)
        return indexes if collect else len(indexes)

    def _cut_off(self, node, node_count):
        """True when every link from (outgoing) or to (incoming) the other nodes is not UP."""
        if node_count < 2:
            return False
        links = self._links
        count = self._endpoint_count
        outgoing_up = incoming_up = False
        for other in range(node_count):
            if other != node:
                outgoing_up |= links[node * count + other].state == LINK_UP
                incoming_up |= links[other * count + node].state == LINK_UP
        return not outgoing_up or not incoming_up

    def _liveness_now(self):
        """Crashed, paused and cut-off node counts, 3 bits each."""
        node_count = self._feedback.node_count
        down = paused = isolated = 0
        for node in range(node_count):
            state = self._endpoints[node].state
            if state == NODE_DOWN:
                down += 1
                continue
            paused += state == NODE_PAUSED
            isolated += self._cut_off(node, node_count)
        return min(down, 7) | min(paused, 7) << 3 | min(isolated, 7) << 6

    def _abstract_state(self, event_class):
        """The abstract state of the cluster; docs/feedback.md lists the fields."""
        feedback = self._feedback
        endpoints = self._endpoints
        up = [node for node in range(feedback.node_count) if endpoints[node].state != NODE_DOWN]
        roles = [feedback.role[node] for node in up]
        terms = [feedback.term[node] for node in up] or [0]
        commits = [feedback.commit[node] for node in up] or [0]
        lasts = [feedback.last_index[node] for node in up] or [0]
        term_max, last_max = max(terms), max(lasts)
        leaders = [node for node in up if feedback.role[node] == _ROLE_LEADER]
        # A leader of an old term, and a leader missing entries another node has.
        stale_leader = any(feedback.term[node] < term_max for node in leaders)
        leader_behind = any(feedback.last_index[node] < last_max for node in leaders)
        if feedback.features & FEEDBACK_COARSE:
            # Only what changes what Raft may do next, in few values each.
            liveness = feedback.liveness
            state = (min(len(leaders), 2)
                     | (roles.count(_ROLE_CANDIDATE) + roles.count(_ROLE_PRE_CANDIDATE) > 0) << 2
                     | min(liveness & 7, 2) << 3
                     | (liveness >> 3 & 7 > 0) << 5
                     | min(liveness >> 6 & 7, 2) << 6
                     | min(term_max - min(terms), 2) << 8
                     | _coarse_bucket(max(commits) - min(commits)) << 10
                     | _coarse_bucket(last_max - min(lasts)) << 12
                     | stale_leader << 14
                     | leader_behind << 15)
        else:
            state = (min(len(leaders), 3)
                     | min(roles.count(_ROLE_CANDIDATE), 3) << 2
                     | min(roles.count(_ROLE_PRE_CANDIDATE), 3) << 4
                     | feedback.liveness << 6
                     | _bucket(term_max - min(terms)) << 15
                     | _bucket(max(commits) - min(commits)) << 18
                     | _bucket(last_max - min(lasts)) << 21
                     | stale_leader << 24
                     | leader_behind << 25
                     | _bucket(max(term_max, 0)) << 26)
        if feedback.features & FEEDBACK_EVENT_KIND:
            state |= event_class << 29 | feedback.last_fault << 37
        if feedback.features & FEEDBACK_HISTORY:
            # A leader back for a second or third term.
            state |= min(max((feedback.leaderships[node] for node in leaders), default=0), 3) << 46
        return state

    def _conflict_word(self, node, cut):
        """The conflict word (FEEDBACK_CONFLICTS, docs/feedback.md): the run's
        truncation history with the event node's role and the leaders up."""
        feedback = self._feedback
        endpoints = self._endpoints
        up = [other for other in range(feedback.node_count) if endpoints[other].state != NODE_DOWN]
        term_max = max((feedback.term[other] for other in up), default=0)
        leaders = [other for other in up if feedback.role[other] == _ROLE_LEADER]
        returned = any(feedback.returned[other] for other in leaders)
        stale_leader = any(feedback.term[other] < term_max for other in leaders)
        role = feedback.role[node] if node >= 0 else 4
        node_truncated = feedback.truncated[node] if node >= 0 else False
        return (role
                | min(len(leaders), 2) << 3
                | min(feedback.truncations, 3) << 5
                | min(sum(feedback.truncated), 3) << 7
                | node_truncated << 9
                | cut << 10
                | returned << 11
                | feedback.former_leader_truncated << 12
                | stale_leader << 13)


class _Feedback:
    """What the feedback abstraction remembers between records."""

    __slots__ = ("node_count", "features", "fault_kind", "fault_verbs", "term", "role", "commit",
                 "last_index", "led_term", "leaderships", "life_seen", "truncated", "lead_mark", "returned",
                 "truncations", "former_leader_truncated", "liveness", "last_fault", "previous", "bumped")

    def __init__(self, node_count, features, fault_kind, fault_verbs):
        self.node_count = node_count
        self.features = features
        self.fault_kind = fault_kind
        self.fault_verbs = fault_verbs
        # The last state each node reported.
        self.term = [0] * node_count
        self.role = [_ROLE_FOLLOWER] * node_count
        self.commit = [0] * node_count
        self.last_index = [0] * node_count
        # Leadership history: the last term each node was seen leading, and
        # in how many terms it has led (kept across crashes).
        self.led_term = [-1] * node_count
        self.leaderships = [0] * node_count
        # Conflict history (FEEDBACK_CONFLICTS), the run's past: whether
        # last_index holds a value of the node's current life, whether its
        # log was ever truncated, the run's truncation count when it last
        # began leading, and whether it then came back as leader after a
        # truncation since its previous leadership began.
        self.life_seen = [False] * node_count
        self.truncated = [False] * node_count
        self.lead_mark = [0] * node_count
        self.returned = [False] * node_count
        # Truncations in the run so far, and whether one hit a former leader.
        self.truncations = 0
        self.former_leader_truncated = False
        # Crashed, paused and cut-off counts, packed, as of the last barrier.
        self.liveness = 0
        # Code of the last fault-like barrier: 0 none, 1 + verb, or 129 + kind offset.
        self.last_fault = 0
        # The abstract state after the previous record.
        self.previous = 0
        # With FEEDBACK_ONCE: the counter indexes this run has emitted.
        self.bumped = set()
