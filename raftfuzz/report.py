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
import os
import re
import subprocess
from pathlib import Path

from raftfuzz import __version__
from raftfuzz.schedule import FORMAT_VERSION

SCHEMA_VERSION = 1
REQUIRED_FIELDS = ("schema", "format_version", "input", "target", "max_steps", "violation")


class ReportError(Exception):
    """A crash file cannot be used; the message names the problem and the fix."""


def input_sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def signature(violation, target: str) -> str:
    """A stable, path-safe name for the bug: kind, property and target class."""
    parts = [violation.kind, violation.property_name, target.rpartition(":")[2],
             *violation.signature_facts]
    return re.sub(r"[^A-Za-z0-9_.-]", "_", ".".join(parts))


_commit_cache: list[str] = []


def source_commit() -> str:
    """The commit this raftfuzz was built from: RAFTFUZZ_COMMIT (set by the
    container build), else git, else "unknown"."""
    if not _commit_cache:
        commit = os.environ.get("RAFTFUZZ_COMMIT")
        if not commit:
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
                 max_steps: int) -> dict:
    violation = result.violation
    return {
        "schema": SCHEMA_VERSION,
        "raftfuzz_version": __version__,
        "commit": source_commit(),
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
    """Writes both files atomically (temp file, then rename) and returns the
    JSON path. Writing the same crash twice leaves the same two files."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stem = directory / f"crash-{input_sha1(data)}"
    _write_atomic(stem, data)
    json_path = stem.with_name(stem.name + ".json")
    _write_atomic(json_path, (json.dumps(report, indent=2, sort_keys=True) + "\n").encode())
    return json_path


def _write_atomic(path: Path, content: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(content)
    os.replace(temporary, path)


def load_report(path: Path) -> tuple[bytes, dict]:
    """Reads a crash JSON and returns (input bytes, report), or raises
    ReportError with a one-line explanation."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file; pass the path of a crash-<sha1>.json report") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ReportError(f"{path}: cannot read it ({error})") from None
    try:
        report = json.loads(text)
    except json.JSONDecodeError as error:
        raise ReportError(
            f"{path}: not valid JSON ({error.msg} at line {error.lineno}); the file is truncated or "
            f"corrupted: fetch it again, or replay the raw crash-<sha1> input beside it"
        ) from None
    if not isinstance(report, dict):
        raise ReportError(f"{path}: not a raftfuzz crash report (expected a JSON object)")
    missing = [name for name in REQUIRED_FIELDS if name not in report]
    if missing:
        raise ReportError(f"{path}: not a raftfuzz crash report (missing {', '.join(missing)})")
    if report["schema"] != SCHEMA_VERSION:
        raise ReportError(
            f"{path}: report schema {report['schema']!r} is not supported (this raftfuzz "
            f"{__version__} reads schema {SCHEMA_VERSION}); replay it with the raftfuzz version "
            f"named in the report ({report.get('raftfuzz_version', 'unknown')})"
        )
    if report["format_version"] != FORMAT_VERSION:
        raise ReportError(
            f"{path}: input format {report['format_version']!r} differs from this raftfuzz's "
            f"{FORMAT_VERSION}, so the input would decode to another schedule; replay it with "
            f"raftfuzz {report.get('raftfuzz_version', 'unknown')} (commit {report.get('commit', 'unknown')})"
        )
    try:
        data = base64.b64decode(report["input"]["base64"], validate=True)
        expected_sha1 = report["input"]["sha1"]
    except (TypeError, KeyError, binascii.Error) as error:
        raise ReportError(f"{path}: the embedded input is unreadable ({error}); the report is corrupted") from None
    if input_sha1(data) != expected_sha1:
        raise ReportError(
            f"{path}: the embedded input does not match its SHA-1 {expected_sha1}; the report is corrupted"
        )
    if not isinstance(report["max_steps"], int) or report["max_steps"] < 1:
        raise ReportError(f"{path}: max_steps {report['max_steps']!r} is not a positive integer")
    return data, report
