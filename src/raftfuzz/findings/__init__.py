"""What happens to a finding: shrink it to a minimal schedule, explain the run
(text, HTML space-time diagram, ShiViz log) and replay findings as regression tests.
"""
