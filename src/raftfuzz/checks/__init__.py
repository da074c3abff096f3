"""What watches a run: the checker protocol and run phases, the safety, liveness
and linearizability checkers, the state feedback, and what a violation is.
"""
