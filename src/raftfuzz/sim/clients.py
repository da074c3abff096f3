"""Simulated clients: a closed-loop key-value workload and its history.

Fault model. Clients are endpoints of the simulated network like the nodes,
so their requests and replies suffer the same loss, duplication and delay
(partitions, holds and crashes are node faults and leave clients alone).

A client has up to ``pipeline_depth`` operations in flight, each in its own
*session*: a network endpoint with its own sequence numbers and at most one
operation outstanding. That is what a Raft client session guarantees
exactly-once for (Raft thesis §6.3: a session that pipelines needs the
"lowest outstanding sequence number" extension, which a target need not
have), so a deeper pipeline never turns a correct target into a false
positive. The client's first session carries its clock; the others only
send and receive. All sessions of a client share its guess of the leader.

Each session sends its operation to that guess, follows redirects, and on
silence for ``retry_ticks`` tries the next node with the same operation.
That retry is what makes duplicate execution possible (client sessions exist
to prevent it), which is why the history records every invocation and every
completion with simulated times. Operations are puts, appends and gets; an
operation's ``client`` in the history is its session's endpoint.
"""

from dataclasses import dataclass

from raftfuzz.node.messages import ClientRequest, ClientResponse, Command

# Format 1's fixed retry timeout, still the default: long enough for a
# request to reach a leader and commit under typical latencies, short enough
# that a lost request is retried within the run.
RETRY_TIMEOUT_TICKS = 20


@dataclass
class Operation:
    """One client operation. ``completed_us`` is None while it is pending."""

    client: int
    seq: int
    op: str
    key: str
    value: str | None
    invoked_us: int
    completed_us: int | None = None
    result: str | None = None


class _Session:
    """One endpoint of a client, with at most one operation outstanding."""

    def __init__(self, endpoint: int) -> None:
        self.endpoint = endpoint
        self.seq = 0
        self.current: Operation | None = None
        self.idle_ticks = 0
        self.waited_ticks = 0
        self.sent_to = -1  # the node the outstanding request last went to
        # Set by a refusal: resend at the next tick rather than at once, so a
        # cluster without a leader is not flooded with redirects.
        self.resend_at_tick = False


class Client:
    def __init__(self, endpoints: tuple[int, ...], node_count: int, think_ticks: int, key_count: int,
                 write_per_256: int, rng, *, retry_ticks: int = RETRY_TIMEOUT_TICKS) -> None:
        self.endpoints = tuple(endpoints)
        self.endpoint = self.endpoints[0]  # the session whose timer drives the client
        self.node_count = node_count
        self.think_ticks = think_ticks
        self.key_count = key_count
        self.write_per_256 = write_per_256
        self.retry_ticks = retry_ticks
        self.rng = rng
        self.leader_guess = self.endpoint % node_count
        self.sessions = {endpoint: _Session(endpoint) for endpoint in self.endpoints}

    def tick(self, now_us: int, history: list[Operation]) -> list[ClientRequest]:
        """One tick of the client's clock: every session in endpoint order."""
        requests = []
        for session in self.sessions.values():
            request = self._tick_session(session, now_us, history)
            if request is not None:
                requests.append(request)
        return requests

    def _tick_session(self, session: _Session, now_us: int, history) -> ClientRequest | None:
        if session.current is None:
            session.idle_ticks += 1
            if session.idle_ticks < self.think_ticks:
                return None
            return self._invoke(session, now_us, history)
        if session.resend_at_tick:
            return self._request(session)
        session.waited_ticks += 1
        if session.waited_ticks < self.retry_ticks:
            return None
        if session.sent_to == self.leader_guess:
            # Silence from the node we guessed: guess the next one. (Another
            # session may already have moved the guess on.)
            self.leader_guess = (self.leader_guess + 1) % self.node_count
        return self._request(session)

    def receive(self, message: ClientResponse, now_us: int) -> list[ClientRequest]:
        session = self.sessions[message.dst]
        current = session.current
        if current is None or message.client_seq != current.seq:
            return []  # a late or duplicated reply to an operation already done
        if message.ok:
            current.completed_us = now_us
            current.result = message.result
            session.current = None
            session.idle_ticks = 0
            return []
        if message.leader_hint is not None and message.leader_hint != message.src:
            self.leader_guess = message.leader_hint
        else:
            self.leader_guess = (message.src + 1) % self.node_count
        session.resend_at_tick = True
        return []

    def _invoke(self, session: _Session, now_us: int, history: list[Operation]) -> ClientRequest:
        session.seq += 1
        endpoint, seq = session.endpoint, session.seq
        key = f"k{self.rng.below(self.key_count)}"
        if self.rng.below(256) < self.write_per_256:
            # Appends make a duplicated write visible to later reads; puts
            # make lost and reordered writes visible.
            op = "append" if self.rng.below(2) else "put"
            operation = Operation(endpoint, seq, op, key, f"c{endpoint}.{seq}", now_us)
        else:
            operation = Operation(endpoint, seq, "get", key, None, now_us)
        history.append(operation)
        session.current = operation
        return self._request(session)

    def _request(self, session: _Session) -> ClientRequest:
        operation = session.current
        session.waited_ticks = 0
        session.resend_at_tick = False
        session.sent_to = self.leader_guess
        command = Command(operation.client, operation.seq, operation.op, operation.key, operation.value)
        return ClientRequest(session.endpoint, self.leader_guess, command)
