"""PySyncObj 0.3.17 (PyPI ``pysyncobj``, github.com/bakwc/PySyncObj) as a target.

    --target raftfuzz.targets.pysyncobj:Node            process crashes (default)
    --target raftfuzz.targets.pysyncobj:PowerLossNode   power loss
    pip install 'raftfuzz[pysyncobj]'

Each simulated node is an unmodified ``pysyncobj.SyncObj`` (a key-value
state machine with ``@replicated`` methods) driven with ``autoTick=False``
and ``doTick(0.0)``: once per tick, and once after every delivery, as its
own event loop runs ``_onTick`` after each poll wake-up. What the adapter
puts around it:

- **Clock.** ``monotonicTime`` in ``pysyncobj.syncobj``, ``.transport``,
  ``.tcp_connection`` and ``.dns_resolver`` returns the simulated time of the
  node being driven: its ticks × ``TICK_US``. Clock skew comes with the
  simulator's tick rates. No wall clock is read.
- **Network.** ``SimulatedTransport`` (a ``pysyncobj.transport.Transport``)
  carries PySyncObj's messages, pickled as the TCP transport does, over
  ``raftfuzz.targets.tcp_emulation``: connections opened by the larger id,
  in-order exactly-once delivery, retransmission, ``connectionTimeout``,
  reconnection with a new epoch, connected/disconnected callbacks. PySyncObj
  counts vote messages and truncates on every successful append, so any
  duplicate or reordering TCP would prevent is the adapter's bug, not its.
  The poller does nothing (``createPoller`` is replaced): no socket exists.
- **Randomness.** ``_SyncObj__generateRaftTimeout`` draws from the run's RNG,
  in microseconds; node objects hash to their integer id, so the peer sets
  PySyncObj iterates are in the same order under any ``PYTHONHASHSEED``;
  the dump's gzip header has ``mtime`` 0.
- **Disk.** ``createJournal`` returns a ``SimulatedJournal`` and the full
  dump goes to ``SimulatedFiles`` (``raftfuzz.targets.pysyncobj_storage``
  says how both map onto ``Ready``). ``Node`` models a *process crash*:
  whatever PySyncObj wrote to the operating system survives, so every write
  is synced. ``PowerLossNode`` models *power loss*: only what PySyncObj
  fsyncs survives, and it never fsyncs (upstream issue #84), so a crashed
  node comes back empty; findings there are expected and mostly #84.
- **Clients.** A ``ClientRequest`` calls the ``execute`` ``@replicated``
  method on whichever node it reaches (PySyncObj forwards from followers);
  puts, appends and gets all go through the log, as PySyncObj has no
  linearizable read path. Exactly-once: each client's last sequence number
  and result are part of the replicated state. The callback's outcome
  becomes a ``ClientResponse`` with the node's leader as the hint.
- **Checkers.** Role, term, commit index and log come from PySyncObj's own
  (private ``_SyncObj__*``) state; a granted vote (a ``response_vote`` sent)
  is reported as a ``RequestVoteResponse`` for ``SingleVotePerTerm``;
  entries as PySyncObj applies them are ``Ready.committed``.
- **Configuration.** The schedule's election timeout E ticks maps to
  ``raftMinTimeout`` E and ``raftMaxTimeout`` 2E; ``appendEntriesPeriod`` to
  the heartbeat, capped so ``raftMinTimeout > 3 × appendEntriesPeriod``
  holds; ``connectionTimeout`` 5E and ``connectionRetryTime`` 7E (PySyncObj's
  default ratios to ``raftMaxTimeout``); ``leaderFallbackTimeout`` 2E with
  CheckQuorum, 20E without (its default is about 21 × ``raftMaxTimeout``);
  ``logCompactionMinEntries`` the snapshot threshold. PySyncObj has no
  PreVote, no ReadIndex and no client sessions: ``pre_vote`` is ignored, and
  sessions are the state machine's own.

At import the adapter checks every private name of PySyncObj it relies on
and fails in one line if one is missing (another release).
"""

import functools
import logging
import pickle as std_pickle
from typing import NamedTuple

from raftfuzz.node.messages import ClientRequest, ClientResponse, Command, Entry, RequestVoteResponse
from raftfuzz.node.interface import Ready, Role
from raftfuzz.schedule.codec import TICK_US
from raftfuzz.run.target import TargetError
from raftfuzz.targets import tcp_emulation
from raftfuzz.targets.tcp_emulation import Segment, TcpEmulator

SUPPORTED_VERSION = "0.3.17"
# raftfuzz.atheris_main instruments these packages too (it reads this name
# from the source before importing the module): coverage should describe
# PySyncObj, not only the adapter.
RAFTFUZZ_INSTRUMENT = ("pysyncobj",)

try:
    import pysyncobj
    import pysyncobj.dns_resolver
    import pysyncobj.journal
    import pysyncobj.serializer
    import pysyncobj.syncobj
    import pysyncobj.tcp_connection
    import pysyncobj.transport
    from pysyncobj.version import VERSION as PYSYNCOBJ_VERSION
except ImportError as error:
    raise TargetError(f"cannot import pysyncobj ({error}); install it with pip install 'raftfuzz[pysyncobj]' "
                      f"(this target supports pysyncobj {SUPPORTED_VERSION})") from None

# Module attributes the adapter replaces, and private names it reads.
_PATCHED = {
    pysyncobj.syncobj: ("monotonicTime", "createJournal", "createPoller", "os"),
    pysyncobj.transport: ("monotonicTime",),
    pysyncobj.tcp_connection: ("monotonicTime",),
    pysyncobj.dns_resolver: ("monotonicTime",),
    pysyncobj.serializer: ("atomicReplace", "gzip"),
}
_PRIVATE_METHODS = ("_SyncObj__generateRaftTimeout", "_SyncObj__applyLogEntries", "_SyncObj__getEntries")
_PRIVATE_ATTRIBUTES = ("_SyncObj__raftLog", "_SyncObj__raftState", "_SyncObj__raftLeader",
                       "_SyncObj__raftCurrentTerm", "_SyncObj__raftCommitIndex", "_SyncObj__raftLastApplied",
                       "_SyncObj__conf")


def _check_private_names() -> None:
    from pysyncobj.syncobj import SyncObj

    missing = [name for module, names in _PATCHED.items() for name in names if not hasattr(module, name)]
    missing += [name for name in _PRIVATE_METHODS if not callable(getattr(SyncObj, name, None))]
    init_names = SyncObj.__init__.__code__.co_names
    missing += [name for name in _PRIVATE_ATTRIBUTES if name not in init_names]
    if missing:
        raise TargetError(f"pysyncobj {PYSYNCOBJ_VERSION} lacks {missing[0]}; this target supports "
                          f"{SUPPORTED_VERSION}")


_check_private_names()

from pysyncobj import FAIL_REASON, SyncObjConf, replicated  # noqa: E402
from pysyncobj.node import Node as PySyncObjNode  # noqa: E402
from pysyncobj.pickle import loads as pysyncobj_loads  # noqa: E402
from pysyncobj.syncobj import SyncObj  # noqa: E402
from pysyncobj.transport import Transport  # noqa: E402

from raftfuzz.targets.pysyncobj_storage import (  # noqa: E402
    DUMP_FILE,
    JOURNAL_FILE,
    DumpSnapshot,
    SimulatedFiles,
    SimulatedJournal,
    StoredMeta,
    restore_journal,
)

# PySyncObj logs (a truncation of applied entries is logged as critical);
# the findings say what happened, so its log stays out of the fuzzer's output.
logging.getLogger("pysyncobj").addHandler(logging.NullHandler())
logging.getLogger("pysyncobj").propagate = False

_TICK_SECONDS = TICK_US / 1_000_000
_COMMAND_REGULAR = 0
_COMMAND_NO_OP = 1


# ------------------------------------------------------------ the patches

class _Driving:
    """The node PySyncObj code is running for: its clock and its files."""

    node = None


def _simulated_time() -> float:
    return _Driving.node.ticks * _TICK_SECONDS


def _create_journal(journal_file=None):
    return _Driving.node.journal


class _NoPoller:
    """No sockets, nothing to poll: messages arrive through ``Node.step``."""

    def subscribe(self, descr, callback, eventMask):
        raise AssertionError("the simulated transport opens no sockets")

    def unsubscribe(self, descr):
        pass

    def poll(self, timeout):
        pass


class _SimulatedOs:
    """What ``pysyncobj.syncobj`` uses of ``os``: ``os.path.isfile`` for the dump."""

    class path:
        @staticmethod
        def isfile(path) -> bool:
            return _Driving.node.files.isfile(path)


def _simulated_open(path, mode="r", *args, **kwargs):
    return _Driving.node.files.open(path, mode, *args, **kwargs)


def _simulated_replace(source, destination) -> None:
    _Driving.node.files.replace(source, destination)


class _PinnedGzip:
    """gzip with the header's timestamp pinned: equal dumps are equal bytes."""

    @staticmethod
    def GzipFile(*args, **kwargs):
        import gzip

        kwargs.setdefault("mtime", 0)
        return gzip.GzipFile(*args, **kwargs)


for _module in (pysyncobj.syncobj, pysyncobj.transport, pysyncobj.tcp_connection, pysyncobj.dns_resolver):
    _module.monotonicTime = _simulated_time
pysyncobj.syncobj.createJournal = _create_journal
pysyncobj.syncobj.createPoller = lambda poller_type="auto": _NoPoller()
pysyncobj.syncobj.os = _SimulatedOs
pysyncobj.serializer.open = _simulated_open
pysyncobj.serializer.atomicReplace = _simulated_replace
pysyncobj.serializer.gzip = _PinnedGzip


# --------------------------------------------------- PySyncObj's side

class SimulatedPeer(PySyncObjNode):
    """A PySyncObj node named by the simulator's integer id; it hashes to
    that integer, so sets of nodes iterate in id order whatever the
    ``PYTHONHASHSEED``."""

    def __hash__(self) -> int:
        return self.id

    def __str__(self) -> str:
        return f"n{self.id}"


class KeyValueStore(SyncObj):
    """The replicated state machine: keys to values, and per client the last
    sequence number applied with its result (exactly-once)."""

    def __init__(self, driver: "Node", self_node, other_nodes, conf) -> None:
        # Set before SyncObj.__init__ so that it counts as one of SyncObj's
        # own properties, which the full dump leaves out.
        self._driver = driver
        super().__init__(self_node, other_nodes, conf, transportClass=SimulatedTransport)
        # Set after: the replicated state, which the dump carries.
        self.store = {}
        self.sessions = {}

    @replicated
    def execute(self, client, seq, op, key, value):
        session = self.sessions.get(client)
        if session is not None and seq <= session[0]:
            return session[1]
        if op == "put":
            self.store[key] = value
            result = None
        elif op == "append":
            current = self.store.get(key)
            self.store[key] = value if current is None else f"{current},{value}"
            result = None
        else:
            result = self.store.get(key)
        self.sessions[client] = (seq, result)
        return result

    def _SyncObj__generateRaftTimeout(self):
        driver = self._driver
        spread_us = driver.max_timeout_us - driver.min_timeout_us
        return (driver.min_timeout_us + driver.rng.below(spread_us)) / 1_000_000

    def _SyncObj__applyLogEntries(self):
        # The entries SyncObj.__applyLogEntries is about to apply, read the
        # way it reads them; those it did apply go to Ready.committed.
        before = self.raftLastApplied
        count = self.raftCommitIndex - before
        pending = self._SyncObj__getEntries(before + 1, count) if count > 0 else []
        result = SyncObj._SyncObj__applyLogEntries(self)
        after = self.raftLastApplied
        self._driver.applied.extend(record for record in pending if before < record[1] <= after)
        return result


class SimulatedTransport(Transport):
    """PySyncObj's transport over the TCP emulation of the owning ``Node``."""

    def __init__(self, syncObj, selfNode, otherNodes):
        super().__init__(syncObj, selfNode, otherNodes)
        self._driver = syncObj._driver
        self._driver.transport = self
        self._peers = {node.id: node for node in otherNodes}

    def send(self, node, message):
        return self._driver.send(node, message)


# ---------------------------------------------------------- raftfuzz's side

class LogCommand(NamedTuple):
    """A journal record's command as the checkers see it: ``raw`` is the
    bytes PySyncObj stores (and what equality means), ``text`` says what
    they are, for reports."""

    text: str
    raw: bytes


@functools.lru_cache(maxsize=4096)
def describe_command(raw: bytes) -> LogCommand:
    kind = raw[0]
    if kind == _COMMAND_NO_OP:
        return LogCommand("no-op", raw)
    if kind != _COMMAND_REGULAR:
        return LogCommand(f"command type {kind}", raw)
    call = pysyncobj_loads(raw[1:])
    arguments = call[1] if isinstance(call, tuple) and len(call) > 1 else ()
    if len(arguments) == 5:
        client, seq, op, key, value = arguments
        return LogCommand(f"c{client} #{seq} {op} {key}" + ("" if value is None else f"={value}"), raw)
    return LogCommand(f"call {call!r}", raw)


def gzip_decompress(data: bytes) -> bytes:
    import gzip

    return gzip.decompress(data)


def _dump_entries(dump: bytes):
    """The (L-1, L) journal records a full dump carries."""
    import gzip

    data = pysyncobj_loads(gzip.decompress(dump))
    return [tuple(data[2]), tuple(data[1])]


def _snapshot_of_dump(dump: bytes) -> DumpSnapshot:
    import gzip

    state, last, _, _ = pysyncobj_loads(gzip.decompress(dump))
    fields = state[0] if isinstance(state, list) else state
    store = fields.get("store", {})
    sessions = fields.get("sessions", {})
    snapshot = DumpSnapshot(
        last[1],
        last[2],
        tuple(sorted(store.items())),
        tuple(sorted((client, seq, result) for client, (seq, result) in sessions.items())),
    )
    snapshot.dump = dump
    return snapshot


class Node:
    """The node interface of docs/targets.md around one PySyncObj ``SyncObj``."""

    # Process crash: what PySyncObj handed the operating system survives.
    syncs_writes = True
    store_class = KeyValueStore

    def __init__(self, node_id, members, config, rng, persisted) -> None:
        self.id = node_id
        self.rng = rng
        self.ticks = 0
        e = config.election_timeout_ticks
        heartbeat = max(1, min(config.heartbeat_ticks, (e - 1) // 3))
        self.min_timeout_us = e * TICK_US
        self.max_timeout_us = 2 * e * TICK_US
        self.conf = SyncObjConf(
            autoTick=False,
            raftMinTimeout=e * _TICK_SECONDS,
            raftMaxTimeout=2 * e * _TICK_SECONDS,
            appendEntriesPeriod=heartbeat * _TICK_SECONDS,
            connectionTimeout=5 * e * _TICK_SECONDS,
            connectionRetryTime=7 * e * _TICK_SECONDS,
            leaderFallbackTimeout=(2 if config.check_quorum else 20) * e * _TICK_SECONDS,
            logCompactionMinEntries=max(2, config.snapshot_threshold),
            journalFile=JOURNAL_FILE,
            fullDumpFile=DUMP_FILE,
            useFork=False,
        )
        peers = tuple(member for member in members if member != node_id)
        meta = persisted.voted_for if isinstance(persisted.voted_for, StoredMeta) else None
        snapshot = persisted.snapshot
        dump = meta.newer_dump if meta is not None and meta.newer_dump is not None else (
            snapshot.dump if snapshot is not None else None)
        journal_meta = {} if meta is None else {"currentTerm": persisted.term, "votedForNodeId": meta.voted_for,
                                                "raftCommitIndex": meta.commit_index}
        self.journal = SimulatedJournal(restore_journal(persisted.entries, meta, snapshot, _dump_entries),
                                        journal_meta)
        self.files = SimulatedFiles(dump)
        # A dump renamed into place before the crash, with no compaction after.
        self.files.dump_replaced = meta is not None and meta.newer_dump is not None
        self.persisted_record = None if meta is None else (persisted.term, meta)
        self.applied: list[tuple[bytes, int, int]] = []
        self.outbox: list = []  # client replies and vote reports, after the segments
        self.transport = None  # set by SimulatedTransport
        self.tcp = TcpEmulator(node_id, peers, rng, timeout_ticks=5 * e, retry_ticks=7 * e,
                               on_connected=self._connected, on_disconnected=self._disconnected,
                               on_data=self._data)
        with self._driving():
            self.obj = self.store_class(self, SimulatedPeer(node_id), [SimulatedPeer(peer) for peer in peers],
                                     self.conf)
        self.raft_log = self.obj._SyncObj__raftLog
        assert self.raft_log is self.journal

    # -------------------------------------------------------- the driver

    def _driving(self):
        return _DrivingContext(self)

    def tick(self) -> None:
        self.ticks += 1
        with self._driving():
            self.tcp.now = self.ticks
            self.tcp.on_tick()
            self.obj.doTick(0.0)

    def step(self, message) -> None:
        kind = type(message)
        if kind is RequestVoteResponse:
            return  # a peer's vote report for the checker, not for PySyncObj
        with self._driving():
            self.tcp.now = self.ticks
            if kind is Segment:
                self.tcp.receive(message)
            elif kind is ClientRequest:
                self._submit(message.src, message.command)
            else:
                raise TypeError(f"unexpected message {kind.__name__}")
            self.obj.doTick(0.0)

    def _submit(self, client: int, command: Command) -> None:
        callback = functools.partial(self._reply, client, command.seq)
        self.obj.execute(command.client, command.seq, command.op, command.key, command.value, callback=callback)

    def _reply(self, client: int, seq: int, result, error) -> None:
        ok = error == FAIL_REASON.SUCCESS
        self.outbox.append(ClientResponse(self.id, client, seq, ok, result if ok else None, self._leader_id()))

    def _leader_id(self):
        leader = self.obj._SyncObj__raftLeader
        return None if leader is None else leader.id

    # ---------------------------------------------- PySyncObj's transport

    def send(self, node, message) -> bool:
        if message.get("type") == "response_vote":
            # The vote is decided (and votedFor stored) before it is sent;
            # report the decision whether or not the connection carries it.
            self.outbox.append(RequestVoteResponse(self.id, node.id, message["term"], True))
        return self.tcp.send(node.id, std_pickle.dumps(message, protocol=4))

    def _connected(self, peer: int) -> None:
        self.transport._onNodeConnected(self.transport._peers[peer])

    def _disconnected(self, peer: int) -> None:
        self.transport._onNodeDisconnected(self.transport._peers[peer])

    def _data(self, peer: int, payload: bytes) -> None:
        self.transport._onMessageReceived(self.transport._peers[peer], std_pickle.loads(payload))

    # ------------------------------------------------ the ready hand-off

    def ready(self) -> Ready | None:
        journal = self.journal
        ready = Ready()
        if journal.prefix_changed:
            # Compacted to a dump (or cleared and reloaded from it): that
            # dump is now the snapshot the journal continues. A dump the
            # serializer wrote after it stays a newer, uncompacted dump.
            dump = self.files.dump_starting_at(journal.records[0][1], _dump_entries)
            ready.snapshot = _snapshot_of_dump(dump)
            journal.prefix_changed = False
            self.files.dump_replaced = dump != self.files.dump()
        record = self._stored_record()
        if record != self.persisted_record:
            ready.hard_state = record
            self.persisted_record = record
        if journal.changed_from is not None:
            start = max(journal.changed_from, self.log_start() + 1)
            journal.changed_from = None
            ready.entries_from = start
            ready.entries = [self._entry(record) for record in journal.records[start - self.log_start():]]
        ready.must_sync = self.syncs_writes and (
            ready.snapshot is not None or ready.hard_state is not None or ready.entries_from is not None)
        if self.tcp.outbox:
            ready.messages, self.tcp.outbox = self.tcp.outbox, []
        if self.outbox:
            ready.messages += self.outbox
            self.outbox = []
        if self.applied:
            ready.committed = [self._entry(record) for record in self.applied]
            self.applied = []
        if (ready.snapshot is None and ready.hard_state is None and ready.entries_from is None
                and not ready.messages and not ready.committed):
            return None
        return ready

    def _stored_record(self):
        journal = self.journal
        stored = journal.stored_meta
        newer_dump = self.files.dump() if self.files.dump_replaced else None
        return (stored.get("currentTerm", 0),
                StoredMeta(stored.get("votedForNodeId"), stored.get("raftCommitIndex", 1),
                           journal.records[0][1], newer_dump))

    @staticmethod
    def _entry(record) -> Entry:
        command, index, term = record
        return Entry(index, term, describe_command(command))

    def advance(self, ready: Ready) -> None:
        """Nothing to do: PySyncObj applied the entries itself."""

    # ------------------------------------------------ what checkers read

    @property
    def role(self) -> Role:
        return Role(self.obj._SyncObj__raftState)

    @property
    def term(self) -> int:
        return self.obj.raftCurrentTerm

    @property
    def commit_index(self) -> int:
        return self.obj.raftCommitIndex

    def log_start(self) -> int:
        return self.journal.records[0][1]

    def last_index(self) -> int:
        return self.journal.records[-1][1]

    def term_at(self, index: int) -> int:
        offset = index - self.journal.records[0][1]
        assert offset >= 0, f"entry {index} is below the journal's start"
        return self.journal.records[offset][2]


class PowerLossNode(Node):
    """Power loss: only what PySyncObj fsyncs survives a crash, and it never
    fsyncs (upstream issue #84), so a crashed node restarts with an empty
    disk. Expect findings; they show what #84 costs."""

    syncs_writes = False


class _DrivingContext:
    __slots__ = ("node", "previous")

    def __init__(self, node: Node) -> None:
        self.node = node

    def __enter__(self):
        self.previous = _Driving.node
        _Driving.node = self.node

    def __exit__(self, *exc):
        _Driving.node = self.previous
        return False
