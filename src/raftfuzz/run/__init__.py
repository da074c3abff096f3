"""One execution and what frames it: settings, outcomes, the target loader, the
harness, crash reports, failure diagnosis and random mode.
"""
