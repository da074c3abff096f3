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


def _reason(error: OSError) -> str:
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
            raise PathError(f"{path}: cannot create {what} ({_reason(error)}); set {setting} to a "
                            f"writable directory") from None
    readable_directory(path, what, setting)
    try:
        descriptor, probe = tempfile.mkstemp(dir=path, prefix=".raftfuzz-write-check-")
        os.close(descriptor)
        os.unlink(probe)
    except OSError as error:
        raise PathError(f"{path}: {what} is not writable ({_reason(error)}), so nothing could be saved there; "
                        f"mount it read-write, or set {setting} to a writable directory") from None
    return path


def readable_directory(path, what: str, setting: str) -> Path:
    path = Path(path)
    try:
        status = os.stat(path)
    except FileNotFoundError:
        raise PathError(f"{path}: {what} does not exist; create it (mkdir -p {path}) or set {setting}") from None
    except OSError as error:  # a symlink loop, a file used as a directory, no permission
        raise PathError(f"{path}: cannot use it as {what} ({_reason(error)}); set {setting} to a "
                        f"directory") from None
    if not stat.S_ISDIR(status.st_mode):
        raise PathError(f"{path}: {what} is a file, not a directory; set {setting} to a directory")
    try:
        os.listdir(path)
    except OSError as error:
        raise PathError(f"{path}: cannot read {what} ({_reason(error)}); set {setting} to a readable "
                        f"directory") from None
    return path


def check_fuzzer_paths(libfuzzer_arguments: list[str], artifacts: str, *, pulled: bool = False) -> None:
    """What ``raftfuzz.atheris_main`` checks before libFuzzer starts: the
    artifacts directory is writable; every file or directory argument
    exists; the first directory (where libFuzzer writes new corpus entries,
    or the -merge=1 output) is writable; a crash report given as an input is
    pointed at ``raftfuzz replay`` (libFuzzer would run its JSON text as raw
    bytes and find nothing). With ``pulled`` (a shared store), the first
    directory may be missing: the corpus pull creates it."""
    from raftfuzz.report import ReportError, looks_like_report, read_crash_file

    writable_directory(artifacts, "the artifacts directory", "-artifact_prefix (or RAFTFUZZ_ARTIFACTS)")
    positional = [argument for argument in libfuzzer_arguments if not argument.startswith("-")]
    first_directory = True
    for position, argument in enumerate(positional):
        try:
            status = os.stat(argument)
        except FileNotFoundError:
            if pulled and position == 0:
                writable_directory(argument, "the corpus directory (new entries go there)", "the first "
                                   "corpus argument")
                first_directory = False
                continue
            raise PathError(f"{argument}: no such corpus directory or input file; create the directory "
                            f"(mkdir -p {argument}) or check the path") from None
        except OSError as error:
            raise PathError(f"{argument}: cannot use it as a corpus directory or input ({_reason(error)})") from None
        if stat.S_ISDIR(status.st_mode):
            if first_directory:
                writable_directory(argument, "the corpus directory (new entries go there)", "the first "
                                   "corpus argument", create=False)
            else:
                readable_directory(argument, "a corpus directory", "the corpus arguments")
            first_directory = False
            continue
        try:
            content = read_crash_file(Path(argument))
        except ReportError as error:
            raise PathError(str(error)) from None
        if len(positional) > 1 and any(os.path.isdir(other) for other in positional):
            raise PathError(f"{argument}: is a file, but other arguments are directories; libFuzzer takes "
                            f"either input files to run or corpus directories, not both")
        if looks_like_report(Path(argument), content):
            raise PathError(f"{argument}: is a crash report, not a raw input; replay it with `raftfuzz replay "
                            f"{argument}`, or pass the raw crash-<sha1> file beside it")
