"""Shipped targets: adapters that put a Raft library nobody here wrote under
the simulator (``--target raftfuzz.targets.<module>:<Class>``).

Each adapter presents the sans-IO node interface of docs/targets.md around
the library's unmodified code: simulated clock, simulated network (with the
transport semantics the library assumes), simulated disk and the injected
RNG. ``tcp_emulation`` is the library-neutral part: TCP's guarantees over
the simulator's lossy, duplicating, reordering network.
"""
