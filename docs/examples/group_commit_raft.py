"""A worked example of fuzzing your own Raft (docs/targets.md walks through it).

An fsync per AppendEntries is what makes a Raft follower slow, so this node
"group-commits": appended log entries are written at once, acknowledged at
once, and synced to stable storage with the next write that has to be synced
anyway (a term or a vote). The reasoning is that a crash loses at most a few
uncommitted entries, which the leader will send again.

    PYTHONPATH=docs/examples python -m raftfuzz.atheris_main --target=group_commit_raft:GroupCommitNode \\
        artifacts/corpus corpus
"""

from raftfuzz.node.raft import RaftNode


class GroupCommitNode(RaftNode):
    """The reference node with appended entries acknowledged before they are
    synced."""

    def ready(self):
        ready = super().ready()
        if ready is not None and ready.hard_state is None and ready.snapshot is None:
            ready.must_sync = False  # entries alone: write now, sync later
        return ready
