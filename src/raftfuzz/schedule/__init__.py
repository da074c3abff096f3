"""The input format: bytes to fault schedules and back, the fault-verb table, the
structure-aware mutator and the seed schedules.
"""
