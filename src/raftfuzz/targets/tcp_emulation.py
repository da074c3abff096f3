"""TCP's guarantees over the simulator's network, for libraries that assume TCP.

The simulated network loses, duplicates, delays and reorders single
messages, and partitions cut links for a while. A library written for TCP
never sees any of that: it sees a byte stream that arrives in order, exactly
once, or a connection that stalls and is eventually declared dead, after
which it reconnects. Running such a library straight over the simulated
network reports bugs TCP would have prevented; this module restores what TCP
promises, so every finding is the library's own.

Model (one ``TcpEmulator`` per node, ``Segment`` on the wire):

- **Connections.** At most one connection per pair of nodes, opened by the
  node with the larger id (PySyncObj's rule: the larger address connects).
  The opener picks a fresh *epoch* (a connection id drawn from the run's
  RNG) and sends SYN until a SYN_ACK for that epoch comes back. The acceptor
  takes a SYN for an epoch it has not seen from that peer as a new
  connection that silently replaces the old one (as a TCP server does when a
  client reconnects), and answers duplicated SYNs of the current epoch again.
  An old duplicate SYN is ignored: the acceptor remembers the epochs it saw.
- **In order, exactly once.** Data segments carry a per-connection sequence
  number and a cumulative acknowledgement; the receiver delivers in sequence
  order, buffers what arrives early and drops duplicates.
- **Loss becomes delay.** Unacknowledged data is retransmitted (oldest first,
  a few segments per timeout, exponential backoff); acknowledgements ride on
  data going the other way, or go alone after a delayed-ACK interval.
- **A stalled connection dies.** When nothing has been *read* on a
  connection for ``timeout_ticks`` and the node tries to send on it (or has
  unacknowledged data), it is declared dropped: the owner hears
  ``on_disconnected`` and the peer gets a best-effort RESET. This is where
  PySyncObj's ``connectionTimeout`` check sits (``tcp_connection.py``: on
  send and on socket events, not on an idle socket).
- **Old epochs are discarded.** Segments of any epoch but the current one
  are dropped (and answered with RESET, so a peer that lost its end, for
  example by crashing and restarting, learns the connection is gone).
- **Reconnect.** The opener tries again at most every ``retry_ticks``.

Everything is driven by the owner: ``now`` (the node's tick count) is set
before each call, ``on_tick`` runs the timers, ``receive`` takes a segment,
``send`` queues data, and ``outbox`` holds the segments to hand to the
simulator. Peers are visited in id order and the only randomness is the
injected RNG, so the emulation is as deterministic as the simulator.

A crashed process's kernel would reset its connections at once; here the
node object is simply dropped, so peers learn of the crash by the timeout or
by the restarted node's RESET, as after a machine crash.
"""

from collections import deque
from typing import Callable, NamedTuple

SYN = 0
SYN_ACK = 1
DATA = 2
ACK = 3
RESET = 4
KIND_NAMES = ("SYN", "SYN_ACK", "DATA", "ACK", "RESET")

# Retransmission timeout in ticks, doubled after each expiry up to the cap.
# The simulated round trip is at most about 10 ticks (two 47 ms latencies);
# spurious retransmissions cost a few events and are dropped as duplicates.
RTO_INITIAL_TICKS = 5
RTO_MAX_TICKS = 40
# Segments resent per timeout: the oldest unacknowledged ones.
RETRANSMIT_BURST = 4
# A standalone ACK goes out when no data carried it for this many ticks.
DELAYED_ACK_TICKS = 2
# Bounds on what one connection buffers. A sender past this many
# unacknowledged segments has a full send buffer; the connection is dropped,
# as a real one would be by the time its peer had been silent that long.
MAX_UNACKED = 512
MAX_OUT_OF_ORDER = 512
EPOCH_RANGE = 1 << 62


class Segment(NamedTuple):
    """One TCP segment. ``seq`` numbers DATA; ``ack`` is the next sequence
    number the sender expects from the receiver (cumulative)."""

    src: int
    dst: int
    epoch: int
    kind: int
    seq: int = 0
    ack: int = 0
    payload: bytes = b""


class _Connection:
    __slots__ = ("epoch", "opener", "established", "next_seq", "unacked", "receive_next",
                 "early", "last_read_tick", "retransmit_at", "backoff", "ack_due_since")

    def __init__(self, epoch: int, opener: bool, now: int) -> None:
        self.epoch = epoch
        self.opener = opener
        self.established = not opener  # the acceptor is connected once it answers
        self.next_seq = 0
        self.unacked: deque[tuple[int, bytes]] = deque()
        self.receive_next = 0
        self.early: dict[int, bytes] = {}
        self.last_read_tick = now
        self.retransmit_at: int | None = None
        self.backoff = RTO_INITIAL_TICKS
        self.ack_due_since: int | None = None


class TcpEmulator:
    def __init__(self, node_id: int, peers: tuple[int, ...], rng, *, timeout_ticks: int, retry_ticks: int,
                 on_connected: Callable[[int], None], on_disconnected: Callable[[int], None],
                 on_data: Callable[[int, bytes], None]) -> None:
        self.node_id = node_id
        self.peers = tuple(sorted(peers))
        self.rng = rng
        self.timeout_ticks = timeout_ticks
        self.retry_ticks = retry_ticks
        self.on_connected = on_connected
        self.on_disconnected = on_disconnected
        self.on_data = on_data
        self.now = 0
        self.connections: dict[int, _Connection] = {}
        self.last_attempt: dict[int, int] = {}
        self.seen_epochs: dict[int, set[int]] = {peer: set() for peer in self.peers}
        self.outbox: list[Segment] = []

    # ------------------------------------------------------------ queries

    def connected(self, peer: int) -> bool:
        connection = self.connections.get(peer)
        return connection is not None and connection.established

    def opens_to(self, peer: int) -> bool:
        return self.node_id > peer

    # ------------------------------------------------------------ sending

    def send(self, peer: int, payload: bytes) -> bool:
        """Queues ``payload`` on the connection to ``peer``; False when there
        is no established connection (or it just timed out)."""
        connection = self.connections.get(peer)
        if connection is None or not connection.established:
            return False
        if self.now - connection.last_read_tick > self.timeout_ticks or len(connection.unacked) >= MAX_UNACKED:
            self.drop(peer)
            return False
        seq = connection.next_seq
        connection.next_seq += 1
        connection.unacked.append((seq, payload))
        if connection.retransmit_at is None:
            connection.retransmit_at = self.now + connection.backoff
        self._emit(peer, connection, DATA, seq, payload)
        return True

    def _emit(self, peer: int, connection: _Connection, kind: int, seq: int = 0, payload: bytes = b"") -> None:
        if kind in (DATA, ACK):
            connection.ack_due_since = None  # the acknowledgement rides along
        self.outbox.append(Segment(self.node_id, peer, connection.epoch, kind, seq, connection.receive_next,
                                   payload))

    # ------------------------------------------------------------- timers

    def on_tick(self) -> None:
        for peer in self.peers:
            connection = self.connections.get(peer)
            if connection is None:
                self._maybe_open(peer)
                continue
            if self.now - connection.last_read_tick > self.timeout_ticks and (
                    connection.unacked or not connection.established):
                self.drop(peer)
                self._maybe_open(peer)
                continue
            if connection.retransmit_at is not None and self.now >= connection.retransmit_at:
                self._retransmit(peer, connection)
            if connection.ack_due_since is not None and self.now - connection.ack_due_since >= DELAYED_ACK_TICKS:
                self._emit(peer, connection, ACK)

    def _retransmit(self, peer: int, connection: _Connection) -> None:
        if not connection.established:
            self._emit(peer, connection, SYN)
        else:
            for position, (seq, payload) in enumerate(connection.unacked):
                if position == RETRANSMIT_BURST:
                    break
                self._emit(peer, connection, DATA, seq, payload)
        connection.backoff = min(connection.backoff * 2, RTO_MAX_TICKS)
        connection.retransmit_at = self.now + connection.backoff

    def _maybe_open(self, peer: int) -> None:
        if not self.opens_to(peer) or peer in self.connections:
            return
        last = self.last_attempt.get(peer)
        if last is not None and self.now - last < self.retry_ticks:
            return
        self.last_attempt[peer] = self.now
        connection = _Connection(1 + self.rng.below(EPOCH_RANGE - 1), True, self.now)
        connection.retransmit_at = self.now + connection.backoff
        self.connections[peer] = connection
        self._emit(peer, connection, SYN)

    def drop(self, peer: int) -> None:
        """Declares the connection to ``peer`` dead: RESET to the peer (best
        effort), then the owner's ``on_disconnected`` if it was established."""
        connection = self.connections.pop(peer, None)
        if connection is None:
            return
        self.outbox.append(Segment(self.node_id, peer, connection.epoch, RESET))
        if connection.established:
            self.on_disconnected(peer)

    # ---------------------------------------------------------- receiving

    def receive(self, segment: Segment) -> None:
        peer = segment.src
        if peer not in self.seen_epochs:
            return
        connection = self.connections.get(peer)
        kind = segment.kind
        if kind == SYN:
            self._receive_syn(peer, connection, segment)
            return
        if connection is None or connection.epoch != segment.epoch:
            if kind != RESET:  # not ours (an old epoch, or our end is gone): tell the peer
                self.outbox.append(Segment(self.node_id, peer, segment.epoch, RESET))
            return
        if kind == RESET:
            self.drop_silently(peer)
            return
        if kind == SYN_ACK:
            if not connection.established:
                connection.established = True
                connection.last_read_tick = self.now
                connection.backoff = RTO_INITIAL_TICKS
                connection.retransmit_at = None
                self.on_connected(peer)
            return
        if not connection.established:
            return
        self._receive_ack(connection, segment.ack)
        if kind == DATA:
            connection.last_read_tick = self.now
            self._receive_data(peer, connection, segment.seq, segment.payload)

    def _receive_syn(self, peer: int, connection: _Connection | None, segment: Segment) -> None:
        if self.opens_to(peer):
            return  # the peer has no business opening to us; ignore it
        if connection is not None and connection.epoch == segment.epoch:
            self._emit(peer, connection, SYN_ACK)  # our SYN_ACK was lost or is late
            return
        if segment.epoch in self.seen_epochs[peer]:
            return  # an old duplicate of a connection already replaced
        self.seen_epochs[peer].add(segment.epoch)
        # A reconnecting peer replaces the old connection without a
        # disconnect (TCPTransport._onIncomingMessageReceived does the same).
        connection = _Connection(segment.epoch, False, self.now)
        self.connections[peer] = connection
        self._emit(peer, connection, SYN_ACK)
        self.on_connected(peer)

    def drop_silently(self, peer: int) -> None:
        """The peer reset the connection: no RESET back."""
        connection = self.connections.pop(peer, None)
        if connection is not None and connection.established:
            self.on_disconnected(peer)
        self._maybe_open(peer)

    def _receive_ack(self, connection: _Connection, ack: int) -> None:
        unacked = connection.unacked
        progressed = False
        while unacked and unacked[0][0] < ack:
            unacked.popleft()
            progressed = True
        if progressed:
            connection.backoff = RTO_INITIAL_TICKS
            connection.retransmit_at = self.now + connection.backoff if unacked else None

    def _receive_data(self, peer: int, connection: _Connection, seq: int, payload: bytes) -> None:
        if connection.ack_due_since is None:
            connection.ack_due_since = self.now
        if seq < connection.receive_next:
            return  # a duplicate
        if seq > connection.receive_next:
            if len(connection.early) < MAX_OUT_OF_ORDER:
                connection.early.setdefault(seq, payload)
            return
        self._deliver(peer, connection, payload)
        while self.connections.get(peer) is connection and connection.receive_next in connection.early:
            self._deliver(peer, connection, connection.early.pop(connection.receive_next))

    def _deliver(self, peer: int, connection: _Connection, payload: bytes) -> None:
        connection.receive_next += 1
        self.on_data(peer, payload)
