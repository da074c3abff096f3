"""A deployment canary: the reference node with one planted bug that the
fuzzer finds within seconds.

Fuzzing the reference node finds nothing (that is the point of it), so a new
deployment — an image, a bucket, a Kubernetes Job — cannot show that findings
flow end to end with it. Point a run at this target instead
(``RAFTFUZZ_TARGET=raftfuzz.canary:VoteWithoutLogCheck``): within seconds it
writes a crash report, uploads it to the bucket, and ``FUZZ_MODE=reproduce``
replays it with exit code 3. It ships in the package so that an installed
image can load it; the full set of planted bugs lives in ``tests/mutants.py``,
which is not installed.
"""

from raftfuzz.raft import RaftNode


class VoteWithoutLogCheck(RaftNode):
    """RequestVote granted without the up-to-date check (§5.4.1): a node
    missing committed entries can be elected. Breaks LeaderCompleteness.
    The same bug as ``tests.mutants.VoteWithoutLogCheck``."""

    def log_up_to_date(self, last_log_index: int, last_log_term: int) -> bool:
        return True
