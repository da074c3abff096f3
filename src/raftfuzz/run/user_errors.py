"""The one line an entry point prints for an error the user can fix.

Every entry point (cli, atheris_main, container, crash_upload's child)
reports errors the same way: one line naming the problem and the fix, and
the exit code of the error's Outcome. An exception that is none of these is
a bug in raftfuzz and keeps its traceback. Its own module so that the entry
points share it without importing one another.
"""

import sys

from raftfuzz.core.contract import CoreUnavailable
from raftfuzz.run.outcome import Outcome
from raftfuzz.store.paths import PathError
from raftfuzz.run.report import ReportError
from raftfuzz.run.settings import SettingsError
from raftfuzz.store.objects import StorageError
from raftfuzz.run.target import TargetError


def describe_error(error: BaseException) -> tuple[str, Outcome] | None:
    """The message and exit code for an error a user can fix, or None for a bug."""
    if isinstance(error, (StorageError, SettingsError)):
        return str(error), error.outcome
    if isinstance(error, (ReportError, TargetError, PathError, CoreUnavailable)):
        return str(error), Outcome.USAGE
    if isinstance(error, FileNotFoundError):
        return f"{error.filename}: no such file", Outcome.USAGE
    if isinstance(error, IsADirectoryError):
        return f"{error.filename}: is a directory, expected a file", Outcome.USAGE
    if isinstance(error, PermissionError):
        return f"{error.filename}: permission denied", Outcome.USAGE
    if isinstance(error, OSError) and error.filename is not None:  # a symlink loop, a file used as a directory
        return f"{error.filename}: {error.strerror or type(error).__name__}", Outcome.USAGE
    return None


def report_error(error: Exception, prefix: str) -> Outcome:
    """Prints the one line for an error the user can fix and returns its exit
    code: 5 for the shared store, 2 for a setting, file or target. Any other
    exception is a bug in raftfuzz and is raised again, traceback and all."""
    described = describe_error(error)
    if described is None:
        raise error
    message, outcome = described
    print(f"{prefix}: error: {message}", file=sys.stderr)
    return outcome
