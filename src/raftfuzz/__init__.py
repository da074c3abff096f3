"""raftfuzz: a coverage-guided fuzzer for Raft implementations.

Every run is a pure function of (input bytes, raftfuzz version): the bytes
decode to a fault schedule, a deterministic simulator runs a Raft cluster
under it, and checkers turn any broken property into a replayable crash.
"""

__version__ = "0.1.0"
