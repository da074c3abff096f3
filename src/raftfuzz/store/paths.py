"""Directories a command reads or writes, checked before any work starts.

A crash found after an hour of fuzzing must not be lost because the
artifacts directory turned out to be read-only, and a path that is a regular
file (or a symlink loop) must be one line, not a traceback. So every entry
point checks its directories first: this module says, in one line, what is
wrong and which setting to change.
"""

import os
import stat
import tempfile
from pathlib import Path


class PathError(Exception):
    """A path cannot be used; the message names it and the fix (exit code 2)."""


def os_reason(error: OSError) -> str:
    """The system's words for an OSError, for a one-line message."""
    return error.strerror or type(error).__name__


def writable_directory(path, what: str, setting: str, *, create: bool = True) -> Path:
    """``path`` as a directory this process can write, created if missing
    (unless ``create`` is false); PathError otherwise. ``setting`` names the
    flag or variable that moves it, for the message."""
    path = Path(path)
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except FileExistsError:  # a file, or a symlink that leads nowhere or in a loop
            readable_directory(path, what, setting)
            raise PathError(f"{path}: cannot create {what} (a file of that name is in the way); set "
                            f"{setting} to a directory") from None
        except OSError as error:
            raise PathError(f"{path}: cannot create {what} ({os_reason(error)}); set {setting} to a "
                            f"writable directory") from None
    readable_directory(path, what, setting)
    try:
        descriptor, probe = tempfile.mkstemp(dir=path, prefix=".raftfuzz-write-check-")
        os.close(descriptor)
        os.unlink(probe)
    except OSError as error:
        raise PathError(f"{path}: {what} is not writable ({os_reason(error)}), so nothing could be saved there; "
                        f"mount it read-write, or set {setting} to a writable directory") from None
    return path


def readable_directory(path, what: str, setting: str) -> Path:
    path = Path(path)
    try:
        status = os.stat(path)
    except FileNotFoundError:
        raise PathError(f"{path}: {what} does not exist; create it (mkdir -p {path}) or set {setting}") from None
    except OSError as error:  # a symlink loop, a file used as a directory, no permission
        raise PathError(f"{path}: cannot use it as {what} ({os_reason(error)}); set {setting} to a "
                        f"directory") from None
    if not stat.S_ISDIR(status.st_mode):
        raise PathError(f"{path}: {what} is a file, not a directory; set {setting} to a directory")
    try:
        os.listdir(path)
    except OSError as error:
        raise PathError(f"{path}: cannot read {what} ({os_reason(error)}); set {setting} to a readable "
                        f"directory") from None
    return path


def write_atomic(path: Path, content: bytes) -> None:
    """Writes ``path`` so that a reader sees the old file or the whole new
    one, never half of it: a temporary file beside it, then a rename."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(content)
    os.replace(temporary, path)
