"""Findings as regression tests: replay every crash report in a directory.

``raftfuzz regress DIR`` (or ``gs://BUCKET/PREFIX``: the crash reports
under it are downloaded first) replays each report with its own target (or
``--target``) and step limit and prints one line per report:

- ``still failing``: the run ends in the report's finding (same signature,
  computed with the report's target name so that ``--target`` a fixed
  class compares like with like); "exact" when it also takes the report's
  path (same step and trace hash);
- ``fixed``: the run ends without a violation;
- ``different``: the run ends in another finding (its signature is shown);
- ``unreadable``: the report cannot be used (the reason is shown).

Exit code: with the default ``--expect fixed``, 0 when every report is
fixed and 1 when any still fails or fails differently — a CI job that keeps
a team's findings fails as soon as one comes back; with ``--expect
failing``, 0 when every report still fails (a bug catalogue's reports
against the buggy code). 2 for bad usage or a report that cannot be read.
A JSON file in the directory that is not a crash report (a bucket's
``signature.json``, an occurrence record) is skipped.
"""

import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from raftfuzz.run.outcome import Outcome
from raftfuzz.run.report import REQUIRED_FIELDS, ReportError, load_report, signature
from raftfuzz.run.settings import Settings, SettingsError

STILL_FAILING = "still failing"
FIXED = "fixed"
DIFFERENT = "different"
UNREADABLE = "unreadable"


@dataclass
class Verdict:
    path: Path
    outcome: str
    detail: str

    def line(self, root: Path) -> str:
        try:
            name = self.path.relative_to(root)
        except ValueError:
            name = self.path
        return f"{self.outcome:<13} {name}  {self.detail}"


def report_paths(directory: Path) -> list[Path]:
    """Every crash report under ``directory``, in name order."""
    found = []
    for path in sorted(directory.rglob("*.json")):
        try:
            value = json.loads(path.read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError, ValueError):
            found.append(path)  # looks meant as a report: load_report says why it is not one
            continue
        if isinstance(value, dict) and all(name in value for name in REQUIRED_FIELDS):
            found.append(path)
    return found


def regress_one(path: Path, target: str | None = None, settings: Settings | None = None) -> Verdict:
    """One report replayed: against ``target`` if given (as --target would
    give it), else against the report's own target."""
    from raftfuzz.run.replay import report_run
    from raftfuzz.run.target import TargetError

    try:
        data, report, harness = report_run(path, (settings or Settings()).override(target=target))
    except (ReportError, TargetError, SettingsError) as error:
        return Verdict(path, UNREADABLE, str(error))
    _, result = harness.execute(data)
    violation = result.violation
    recorded = report.get("signature") or signature_from_fields(report)
    if violation is None:
        return Verdict(path, FIXED, f"no violation in {result.steps} steps (report: {recorded})")
    found = signature(violation, report["target"])
    if found != recorded:
        return Verdict(path, DIFFERENT, f"{found} at step {violation.step} (report: {recorded})")
    exact = (violation.step == report["violation"].get("step")
             and result.trace_hash == report["run"].get("trace_hash"))
    how = "exact replay" if exact else (f"another path: step {violation.step} (report: step "
                                        f"{report['violation'].get('step')}), another trace")
    return Verdict(path, STILL_FAILING, f"{found} ({how})")


def signature_from_fields(report: dict) -> str:
    """A report without a signature field: kind.property.Class, as signature() names it."""
    violation = report["violation"]
    return ".".join([str(violation.get("kind")), str(violation.get("property")), str(report["target"]).rpartition(":")[2]])


def regress(paths: list[Path], settings: Settings, *, out=sys.stdout, root: Path | None = None) -> list[Verdict]:
    verdicts = []
    for path in paths:
        verdict = regress_one(path, settings=settings)
        verdicts.append(verdict)
        print(verdict.line(root or path.parent), file=out, flush=True)
    return verdicts


def exit_code(verdicts: list[Verdict], expect: str) -> int:
    if any(verdict.outcome == UNREADABLE for verdict in verdicts):
        return Outcome.USAGE
    wanted = FIXED if expect == "fixed" else STILL_FAILING
    return Outcome.OK if all(verdict.outcome == wanted for verdict in verdicts) else Outcome.HARNESS_ERROR


def run_regress(arguments, settings: Settings) -> int:
    """``raftfuzz regress DIR|gs://BUCKET/PREFIX [--target T] [--expect fixed|failing]``."""
    source = arguments.source
    if source.startswith("gs://"):
        with tempfile.TemporaryDirectory(prefix="raftfuzz-regress-") as temporary:
            return _regress_directory(download_reports(source, Path(temporary), settings), arguments, settings, label=source)
    directory = Path(source)
    if not directory.is_dir():
        print(f"raftfuzz regress: error: {source}: not a directory; pass a directory of crash-<sha1>.json "
              f"reports or gs://BUCKET/PREFIX", file=sys.stderr)
        return Outcome.USAGE
    return _regress_directory(directory, arguments, settings, label=source)


def _regress_directory(directory: Path, arguments, settings: Settings, *, label: str) -> int:
    paths = report_paths(directory)
    if not paths:
        print(f"raftfuzz regress: error: {label}: no crash reports in it (crash-<sha1>.json)", file=sys.stderr)
        return Outcome.USAGE
    verdicts = regress(paths, settings, root=directory)
    counts = {outcome: sum(1 for verdict in verdicts if verdict.outcome == outcome)
              for outcome in (STILL_FAILING, FIXED, DIFFERENT, UNREADABLE)}
    code = exit_code(verdicts, arguments.expect)
    print(f"regress: {len(verdicts)} reports: " + ", ".join(f"{count} {outcome}" for outcome, count in counts.items())
          + f"; expected all {arguments.expect}: {'yes' if code == Outcome.OK else 'no'}", file=sys.stderr)
    return code


def download_reports(url: str, directory: Path, settings: Settings) -> Path:
    """The crash reports under gs://BUCKET/PREFIX, as files in ``directory``."""
    from raftfuzz.store.gcs import GcsStore
    from raftfuzz.store.objects import run_parallel

    bucket, _, prefix = url.removeprefix("gs://").partition("/")
    store = GcsStore(bucket, prefix, settings)
    names = [name for name in sorted(store.list("")) if name.rpartition("/")[2].startswith("crash-")
             and name.endswith(".json")]

    def fetch(name: str) -> None:
        data, _ = store.read(name)
        target = directory / name  # store.read has refused names with '..' (check_object_name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    run_parallel(fetch, names)
    return directory
