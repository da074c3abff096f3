"""The pure-Python simulation core: the twin of csrc/core.c.

It exists so raftfuzz runs (more slowly) where the C extension is not built,
and so the C core has an independent, readable statement of what it must do:
tests/test_core_differential.py drives both with the same random operations
and demands equal results, bit for bit. docs/core.md is the contract; a change
to either core must be made in both.

Arguments follow the C core's types: a Python int that does not fit int64 (or
uint64 for below) raises OverflowError before anything else is checked, as
cffi does when converting it; a value that fits but breaks a rule raises the
ValueError of raftfuzz.core_constants.ERRORS, checked in the C code's order.
"""

from heapq import heappop, heappush

from raftfuzz.core_constants import (
    BATCH_CAPACITY,
    ERROR_BELOW,
    ERROR_ENDPOINT,
    ERROR_ENDPOINT_COUNT,
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
