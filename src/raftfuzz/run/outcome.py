"""Every exit code raftfuzz can end with, in one enum.

Scripts and Kubernetes Jobs tell outcomes apart by the exit code alone, so
each code means one thing whichever command returns it. README's "Exit
codes" table is checked against this enum (tests/test_settings.py): a code
added here without a line there, or the other way round, fails the suite.

Codes 70-77 are libFuzzer's own; raftfuzz never returns them itself but
passes them through from ``raftfuzz.atheris_main``, so they are listed here
to keep the table complete. A signal ends a process with 128 + its number.
"""

import enum


class Outcome(enum.IntEnum):
    OK = 0                # no violation; a container worker whose budget ended
    HARNESS_ERROR = 1     # the target broke the driver's contract, raftfuzz failed, or a replay did not reproduce
    USAGE = 2             # bad usage or input: a flag, setting, path, crash file or target
    SAFETY = 3            # safety violation (NodePanic included)
    LIVENESS = 4          # liveness violation
    STORAGE = 5           # shared storage misconfigured or unreachable
    LIBFUZZER_TIMEOUT = 70  # libFuzzer: an input ran longer than -timeout
    LIBFUZZER_OOM = 71      # libFuzzer: an input exceeded -rss_limit_mb / -malloc_limit_mb
    LIBFUZZER_INTERRUPTED = 72  # libFuzzer: stopped by SIGINT or SIGTERM on its own
    LIBFUZZER_CRASH = 77    # libFuzzer: found a crash (-error_exitcode)
    SIGINT = 130          # stopped by SIGINT (Ctrl-C)
    SIGTERM = 143         # stopped by SIGTERM (what Kubernetes sends)

    @classmethod
    def for_signal(cls, signum: int) -> int:
        """128 + the signal's number, as a shell reports a process it stopped."""
        return 128 + signum


class HarnessError(Exception):
    """The target broke the driver's contract, found by the simulator itself
    (an unknown event kind, a node that never settles, a message with a
    forged source); not a Raft property. raftfuzz.run.contract turns it into a
    ``NodeContract`` finding, which exits with this code."""

    outcome = Outcome.HARNESS_ERROR
