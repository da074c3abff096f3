"""Crash reports: ``crash-<sha1>`` (the raw input) and ``crash-<sha1>.json``.

The JSON alone is enough to replay: it carries the input (base64), the target,
the step limit and the core, and records what the run found (property, step,
trace hash) so a replay can say whether it reproduced. The signature groups
reports of the same bug: the violated property and the target, never the
input hash, so a thousand inputs that hit one bug share one signature.
"""

import base64
import binascii
import hashlib
import json
import re
import stat
import subprocess
from pathlib import Path

from raftfuzz import __version__
from raftfuzz.store.paths import write_atomic
from raftfuzz.schedule.codec import FORMAT_VERSION, READABLE_FORMATS, decode, encode

SCHEMA_VERSION = 1
REQUIRED_FIELDS = ("schema", "format_version", "input", "target", "max_steps", "violation")


class ReportError(Exception):
    """A crash file cannot be used; the message names the problem and the fix."""


def input_sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def signature(violation, target: str) -> str:
    """A stable, path-safe name for the bug: kind, property and target class."""
    # signature_facts name facts (NodePanic: "exception", "where"), whose
    # values tell bugs apart; a name that is no fact stands for itself.
    parts = [violation.kind, violation.property_name, target.rpartition(":")[2],
             *(str(violation.facts.get(name, name)) for name in violation.signature_facts)]
    return re.sub(r"[^A-Za-z0-9_.-]", "_", ".".join(parts))


_commit_cache: list[str] = []


def source_commit(configured: str | None = None) -> str:
    """The commit this raftfuzz was built from: ``configured`` (RAFTFUZZ_COMMIT,
    set by the container build), else git, else "unknown"."""
    if configured:
        return configured
    if not _commit_cache:
        try:
            commit = subprocess.run(
                ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                capture_output=True, text=True, timeout=5, check=True,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            commit = "unknown"
        _commit_cache.append(commit or "unknown")
    return _commit_cache[0]


def build_report(data: bytes, schedule, result, *, target: str, core_name: str,
                 max_steps: int, commit: str | None = None) -> dict:
    violation = result.violation
    return {
        "schema": SCHEMA_VERSION,
        "raftfuzz_version": __version__,
        "commit": source_commit(commit),
        "format_version": FORMAT_VERSION,
        "core": core_name,
        "target": target,
        "max_steps": max_steps,
        "input": {
            "sha1": input_sha1(data),
            "length": len(data),
            "base64": base64.b64encode(data).decode("ascii"),
        },
        "signature": signature(violation, target),
        "violation": violation.to_dict(),
        "run": {
            "steps": result.steps,
            "time_us": result.time_us,
            "trace_hash": result.trace_hash,
            "network": result.network,
        },
        "schedule": schedule.describe(),
        "trace_tail": result.trace_tail,
    }


def write_crash(directory: Path, data: bytes, report: dict) -> Path:
    """Writes crash-<sha1> and crash-<sha1>.json into ``directory`` and
    returns the JSON path. Writing the same crash twice leaves the same two files."""
    return write_crash_files(Path(directory) / f"crash-{input_sha1(data)}.json", data, report)


def write_crash_files(json_path: Path, data: bytes, report: dict) -> Path:
    """Writes the report to ``json_path`` and the raw input beside it (the
    same name without ``.json``), both atomically (temp file, then rename)."""
    json_path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(json_path.with_name(json_path.name[:-len(".json")]), data)
    write_atomic(json_path, (json.dumps(report, indent=2, sort_keys=True) + "\n").encode())
    return json_path


# What a report must hold, and of which type: every field replay, upload and
# the messages read. A wrong type is a one-line ReportError before anything
# runs, never a traceback halfway through a simulation. (int excludes bool.)
# The target is checked where it is used (raftfuzz.run.target.report_target), so
# that --target can stand in for a broken one.
_TOP_LEVEL = {"input": dict, "max_steps": int, "violation": dict, "run": dict}
_NESTED = {("input", "base64"): str, ("input", "sha1"): str, ("violation", "kind"): str,
           ("violation", "property"): str, ("violation", "step"): int, ("run", "trace_hash"): str}
_OPTIONAL = {"core": str, "commit": str, "signature": str, "raftfuzz_version": str}
# A crash report is tens of kilobytes and a raw input a few; anything this big
# is not a crash file (and reading /dev/zero must not fill the memory).
MAX_CRASH_FILE_BYTES = 64 * 1024 * 1024
_BOM = b"\xef\xbb\xbf"


def _has_type(value, wanted: type) -> bool:
    return isinstance(value, wanted) and not (wanted is int and isinstance(value, bool))


def _type_name(value) -> str:
    return "null" if value is None else type(value).__name__


def read_crash_file(path: Path) -> bytes:
    """The bytes of a crash file or raw input; ReportError (one line) for
    anything that is not a readable regular file."""
    path = Path(path)
    try:
        status = path.stat()
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file; pass the path of a crash-<sha1>.json report or a raw input") from None
    except OSError as error:  # a symlink loop, a path through a regular file, no permission
        raise ReportError(f"{path}: cannot read it ({error.strerror or error}); pass a regular file") from None
    if stat.S_ISDIR(status.st_mode):
        raise ReportError(f"{path}: is a directory; pass a crash-<sha1>.json report or a raw input file")
    if not stat.S_ISREG(status.st_mode):
        raise ReportError(f"{path}: not a regular file (a device, pipe or socket); copy the input to a file first")
    if status.st_size > MAX_CRASH_FILE_BYTES:
        raise ReportError(f"{path}: {status.st_size} bytes is too large for a crash file or input "
                          f"(at most {MAX_CRASH_FILE_BYTES})")
    try:
        return path.read_bytes()
    except OSError as error:
        raise ReportError(f"{path}: cannot read it ({error.strerror or error})") from None


def looks_like_report(path: Path, content: bytes) -> bool:
    """Decided by content, not by name: a JSON object with any of a report's
    fields is a report, whatever the file is called. A file named *.json (in
    any case) is meant as a report, so it is read as one and must be valid."""
    if Path(path).name.lower().endswith(".json"):
        return True
    if not content.removeprefix(_BOM).lstrip()[:1] == b"{":
        return False
    try:
        value = json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False
    return isinstance(value, dict) and any(name in value for name in REQUIRED_FIELDS)


def load_report(path: Path, content: bytes | None = None) -> tuple[bytes, dict]:
    """Reads a crash JSON and returns (input bytes, report), or raises
    ReportError with a one-line explanation."""
    path = Path(path)
    if content is None:
        content = read_crash_file(path)
    try:
        text = content.decode("utf-8-sig")  # a byte-order mark is no reason to refuse a report
    except UnicodeDecodeError as error:
        raise ReportError(f"{path}: not a crash report (not UTF-8 text: {error.reason}); a raw input "
                          f"is replayed with --target, a report must be the crash-<sha1>.json file") from None
    try:
        report = json.loads(text)
    except json.JSONDecodeError as error:
        raise ReportError(
            f"{path}: not valid JSON ({error.msg} at line {error.lineno}); the file is truncated or "
            f"corrupted: fetch it again, or replay the raw crash-<sha1> input beside it"
        ) from None
    except RecursionError:
        raise ReportError(f"{path}: not a raftfuzz crash report (JSON nested too deeply)") from None
    return _validated(path, report)


def _formats() -> str:
    first, last = READABLE_FORMATS[0], READABLE_FORMATS[-1]
    return f"format {last}" if first == last else f"formats {first} to {last}"


def current_format_input(data: bytes, report: dict) -> bytes:
    """The report's input in this raftfuzz's format: an input of an older
    readable format is decoded by its own rules and written canonically, so
    it runs the schedule it ran when it was found."""
    if report["format_version"] == FORMAT_VERSION:
        return data
    return encode(decode(data, report["format_version"]))


def _validated(path: Path, report) -> tuple[bytes, dict]:
    if not isinstance(report, dict):
        raise ReportError(f"{path}: not a raftfuzz crash report (expected a JSON object)")
    missing = [name for name in REQUIRED_FIELDS if name not in report]
    if missing:
        raise ReportError(f"{path}: not a raftfuzz crash report (missing {', '.join(missing)})")
    version = report.get("raftfuzz_version", "unknown")
    if not _has_type(report["schema"], int) or report["schema"] != SCHEMA_VERSION:
        raise ReportError(
            f"{path}: report schema {report['schema']!r} is not supported (this raftfuzz "
            f"{__version__} reads schema {SCHEMA_VERSION}); replay it with the raftfuzz version "
            f"named in the report ({version!r})"
        )
    if not _has_type(report["format_version"], int) or report["format_version"] not in READABLE_FORMATS:
        raise ReportError(
            f"{path}: input format {report['format_version']!r} is not one this raftfuzz reads "
            f"({_formats()}), so the input would decode to another schedule; replay it with "
            f"raftfuzz {version!r} (commit {report.get('commit', 'unknown')!r})"
        )
    wrong = [f"{name} is {_type_name(report[name])}, expected {wanted.__name__}"
             for name, wanted in _TOP_LEVEL.items() if not _has_type(report[name], wanted)]
    wrong += [f"{name} is {_type_name(report[name])}, expected str"
              for name, wanted in _OPTIONAL.items() if name in report and not _has_type(report[name], wanted)]
    if not wrong:
        for (outer, inner), wanted in _NESTED.items():
            value = report[outer].get(inner)
            if not _has_type(value, wanted):
                wrong.append(f"{outer}.{inner} is {_type_name(value)}, expected {wanted.__name__}")
    if wrong:
        raise ReportError(f"{path}: not a valid raftfuzz crash report ({'; '.join(wrong)}); the report is "
                          f"corrupted or was not written by raftfuzz")
    try:
        data = base64.b64decode(report["input"]["base64"], validate=True)
    except (ValueError, binascii.Error) as error:
        raise ReportError(f"{path}: the embedded input is unreadable ({error}); the report is corrupted") from None
    expected_sha1 = report["input"]["sha1"]
    if input_sha1(data) != expected_sha1:
        raise ReportError(
            f"{path}: the embedded input does not match its SHA-1 {expected_sha1}; the report is corrupted"
        )
    if report["max_steps"] < 1:
        raise ReportError(f"{path}: max_steps {report['max_steps']!r} is not a positive integer")
    return data, report
