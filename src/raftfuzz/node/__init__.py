"""What a Raft node is to raftfuzz: the sans-IO node interface, the messages, the
reference node and the catalogue of planted bugs.
"""
