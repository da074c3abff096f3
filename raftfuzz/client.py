"""Simulated clients: a closed-loop key-value workload and its history.

Fault model. Clients are endpoints of the simulated network like the nodes,
so their requests and replies suffer the same loss, duplication and delay
(partitions, holds and crashes are node faults and leave clients alone). Each
client has at most one operation outstanding: it sends it to the node it
believes is leader, follows redirects, and on silence for
``RETRY_TIMEOUT_TICKS`` tries the next node with the same operation. That
retry is what makes duplicate execution possible (client sessions exist to
prevent it), which is why the history records every invocation and every
completion with simulated times. Operations are puts, appends and gets.
"""

from dataclasses import dataclass

from raftfuzz.messages import ClientRequest, ClientResponse, Command

# Long enough for a request to reach a leader and commit under typical
# latencies, short enough that a lost request is retried within the run.
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


class Client:
    def __init__(self, endpoint: int, node_count: int, think_ticks: int, key_count: int,
                 write_per_256: int, rng) -> None:
        self.endpoint = endpoint
        self.node_count = node_count
        self.think_ticks = think_ticks
        self.key_count = key_count
        self.write_per_256 = write_per_256
        self.rng = rng
        self.leader_guess = endpoint % node_count
        self.seq = 0
        self.current: Operation | None = None
        self.idle_ticks = 0
        self.waited_ticks = 0
        # Set by a refusal: resend at the next tick rather than at once, so a
        # cluster without a leader is not flooded with redirects.
        self.resend_at_tick = False

    def tick(self, now_us: int, history: list[Operation]) -> list[ClientRequest]:
        if self.current is None:
            self.idle_ticks += 1
            if self.idle_ticks < self.think_ticks:
                return []
            return [self._invoke(now_us, history)]
        if self.resend_at_tick:
            return [self._request()]
        self.waited_ticks += 1
        if self.waited_ticks < RETRY_TIMEOUT_TICKS:
            return []
        self.leader_guess = (self.leader_guess + 1) % self.node_count
        return [self._request()]

    def receive(self, message: ClientResponse, now_us: int) -> list[ClientRequest]:
        current = self.current
        if current is None or message.client_seq != current.seq:
            return []  # a late or duplicated reply to an operation already done
        if message.ok:
            current.completed_us = now_us
            current.result = message.result
            self.current = None
            self.idle_ticks = 0
            return []
        if message.leader_hint is not None and message.leader_hint != message.src:
            self.leader_guess = message.leader_hint
        else:
            self.leader_guess = (message.src + 1) % self.node_count
        self.resend_at_tick = True
        return []

    def _invoke(self, now_us: int, history: list[Operation]) -> ClientRequest:
        self.seq += 1
        key = f"k{self.rng.below(self.key_count)}"
        if self.rng.below(256) < self.write_per_256:
            # Appends make a duplicated write visible to later reads; puts
            # make lost and reordered writes visible.
            op = "append" if self.rng.below(2) else "put"
            operation = Operation(self.endpoint, self.seq, op, key, f"c{self.endpoint}.{self.seq}", now_us)
        else:
            operation = Operation(self.endpoint, self.seq, "get", key, None, now_us)
        history.append(operation)
        self.current = operation
        return self._request()

    def _request(self) -> ClientRequest:
        operation = self.current
        self.waited_ticks = 0
        self.resend_at_tick = False
        command = Command(operation.client, operation.seq, operation.op, operation.key, operation.value)
        return ClientRequest(self.endpoint, self.leader_guess, command)
