"""Crash reports from the local spool to the shared store: nothing lost,
nothing uploaded twice, one report per bug.

The artifacts directory is the spool: ``Harness.save_crash`` writes
``crash-<sha1>`` and ``crash-<sha1>.json`` there (atomically) before anything
touches the network, so a crash survives a bucket that is down. Uploading
one report, every step create-only and therefore safe to repeat:

1. ``crashes/<signature>/occurrences/<sha1>.json`` — a small record of who
   found which input and when, with the input itself (a few hundred bytes),
   so no crashing input is lost even when its full report is not uploaded.
   Named by the input, so a retried upload, or the same input found by two
   workers, is one occurrence.
2. ``crashes/<signature>/signature.json`` — a claim naming the input that
   holds the signature's report. Creating it is atomic, so when many workers
   find one bug at once exactly one of them wins.
3. The winner uploads ``crash-<sha1>`` and ``crash-<sha1>.json``.
4. A marker in ``<artifacts>/.uploaded/`` records that this crash is done,
   so later syncs do not ask the store again.

A crash is done once its occurrence is recorded and its signature has a
report in the store. Until then it stays pending in the spool and every sync
(and every run's start) tries again; a retry after a partial upload finishes
the missing steps, and the create-only writes make the finished ones no-ops.

A raw ``crash-<sha1>`` without its ``.json`` (a kill between the two
writes, a disk that filled up, or libFuzzer's own file for a crash the
harness could not save) is never left behind: its report is rebuilt by
replaying the input with the configured target (``rebuild_report``), and if
that finds nothing, the input is uploaded alone to
``crashes/unreproduced/crash-<sha1>`` and the summary says so.

If a claim's report has not appeared after ``STALE_CLAIM_SECONDS`` (the
claiming worker lost its disk, e.g. a deleted pod), the next worker holding a
crash of that signature takes the claim over: it deletes the claim at the
generation it read, which only one worker can do, and claims again.
"""

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from raftfuzz.run.outcome import Outcome
from raftfuzz.run.report import ReportError, load_report
from raftfuzz.run.settings import Settings
from raftfuzz.store.objects import ObjectMissing, StorageError, check_object_name

CRASHES = "crashes"
CLAIM = "signature.json"
OCCURRENCES = "occurrences"
MARKERS = ".uploaded"
# Raw inputs whose report could not be rebuilt go here, one object each.
UNREPRODUCED = "unreproduced"
_RAW_CRASH = re.compile(r"crash-[0-9a-f]{40}")
# A worker uploads its report seconds after claiming; one whose report is
# still missing after this long is gone (or its bucket has been down that
# long, in which case two reports for one signature is the lesser evil).
STALE_CLAIM_SECONDS = 15 * 60


def signature_folder(signature: str) -> str:
    return f"{CRASHES}/{check_object_name(signature)}"


@dataclass
class SpoolResult:
    reported: int = 0     # this worker's input is now the signature's report
    occurrences: int = 0  # recorded against a signature someone else reported
    pending: int = 0      # the signature's report is not in the store yet; retried later
    broken: list[str] = field(default_factory=list)  # unreadable spool files, left alone
    rebuilt: int = 0      # reports rebuilt from a raw crash-<sha1> left without one
    alone: list[str] = field(default_factory=list)  # "crash-<sha1>: why" of raw inputs uploaded without a report

    def summary(self) -> str:
        text = (f"{self.reported} reported, {self.occurrences} recorded as occurrences, "
                f"{self.pending} pending")
        if self.rebuilt:
            text += f", {self.rebuilt} report{'s' if self.rebuilt != 1 else ''} rebuilt from raw inputs"
        if self.alone:
            text += (f", {len(self.alone)} raw input{'s' if len(self.alone) != 1 else ''} without a report "
                     f"uploaded alone to {CRASHES}/{UNREPRODUCED}/ ({'; '.join(self.alone)})")
        return text + (f", {len(self.broken)} unreadable" if self.broken else "")


def orphans(artifacts: Path, min_age_seconds: float = 0.0) -> list[Path]:
    """Raw ``crash-<sha1>`` files in the spool without their ``.json``, at
    least ``min_age_seconds`` old (a younger one may be between its two
    writes), oldest first."""
    found = []
    now = time.time()
    try:
        entries = list(os.scandir(artifacts))
    except OSError:
        return []
    names = {entry.name for entry in entries}
    for entry in entries:
        if not _RAW_CRASH.fullmatch(entry.name) or f"{entry.name}.json" in names:
            continue
        try:
            if not entry.is_file() or now - entry.stat().st_mtime < min_age_seconds:
                continue
            found.append((entry.stat().st_mtime_ns, entry.name, Path(entry.path)))
        except OSError:
            continue  # removed since the scan
    return [path for _, _, path in sorted(found)]


class RebuildError(Exception):
    """A raw crash's report cannot be rebuilt here; the message says why."""


# A replay takes a fraction of a second at the default step limit; one that
# takes this long hangs, and the input is kept without a report.
REBUILD_TIMEOUT_SECONDS = 300


def rebuild_report(raw: Path, settings: Settings) -> Path | None:
    """Replays a raw crash input with the target of ``settings`` and, when it
    still finds something, writes its report beside it (returning the
    report's path). None when the input finds nothing with this target.

    The replay runs in a child process: the input may be one that crashed
    the fuzzer outright (a deadly signal, which libFuzzer also saves as
    crash-<sha1>), and it must not take the uploader down with it. The child
    gets the settings through its environment, like every raftfuzz child.
    RebuildError when the target cannot be loaded or the replay dies."""
    command = [sys.executable, "-m", "raftfuzz.store.crashes", str(raw)]
    try:
        completed = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env=settings.child_environment(), timeout=REBUILD_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise RebuildError(f"its replay ran longer than {REBUILD_TIMEOUT_SECONDS}s") from None
    sys.stderr.write(completed.stderr)  # the child's one line about what it found
    if completed.returncode == 0:
        path = completed.stdout.strip()
        return Path(path) if path else None
    if completed.returncode < 0:
        raise RebuildError(f"its replay was killed by signal {-completed.returncode}")
    last = (completed.stderr.strip().splitlines() or [f"exit code {completed.returncode}"])[-1]
    raise RebuildError(last.removeprefix("raftfuzz: error: "))


def _rebuild_here(raw: Path, settings: Settings) -> Path | None:
    from raftfuzz.run.harness import Harness
    from raftfuzz.run.target import load_target

    harness = Harness.from_settings(load_target(settings.target_spec), settings, artifacts=raw.parent)
    data = raw.read_bytes()
    schedule, result = harness.execute(data)
    if result.violation is None:
        return None
    return harness.save_crash(data, schedule, result)


def _rebuild_main(argv: list[str]) -> int:
    """``python -m raftfuzz.store.crashes RAW``: the child of
    ``rebuild_report``, an entry point of its own (settings from the
    environment its parent wrote). Prints the report's path (nothing when
    the input finds nothing) and exits 0; a target or setting it cannot use
    is one line and exit code 2."""
    from raftfuzz.run.user_errors import report_error

    try:
        path = _rebuild_here(Path(argv[0]), Settings.load())
    except Exception as error:
        return report_error(error, "raftfuzz")
    print(path or "")
    return Outcome.OK


class CrashUploader:
    def __init__(self, store, artifacts: str | os.PathLike, settings: Settings | None = None,
                 orphan_min_age_seconds: float = 0.0) -> None:
        self.store = store
        self.artifacts = Path(artifacts)
        # What orphaned raw inputs are replayed with (their target, core and
        # step limit) and the worker name occurrence records carry.
        self.settings = settings or Settings()
        self.orphan_min_age_seconds = orphan_min_age_seconds

    def _marker(self, report_path: Path) -> Path:
        return self.artifacts / MARKERS / report_path.name

    def is_uploaded(self, report_path: Path) -> bool:
        """Done for this store (the marker names the store it went to)."""
        try:
            return self._marker(report_path).read_text() == self.store.describe()
        except OSError:
            return False

    def spooled(self) -> list[Path]:
        """Reports in the spool not yet done for this store, oldest first."""
        found = []
        try:
            for entry in os.scandir(self.artifacts):
                if entry.name.startswith("crash-") and entry.name.endswith(".json") and entry.is_file():
                    try:
                        found.append((entry.stat().st_mtime_ns, entry.name, Path(entry.path)))
                    except FileNotFoundError:
                        pass  # removed since the scan
        except FileNotFoundError:
            return []
        return [path for _, _, path in sorted(found) if not self.is_uploaded(path)]

    def has_work(self) -> bool:
        return bool(self.spooled()) or any(not self.is_uploaded(raw) for raw in
                                           orphans(self.artifacts, self.orphan_min_age_seconds))

    def upload(self, report_path: Path) -> str:
        """Uploads one spooled report: "reported", "occurrence" or "pending".
        Raises ReportError for an unreadable report, StorageError when the
        store fails (the report stays spooled either way)."""
        report_path = Path(report_path)
        data, report = load_report(report_path)
        sha1 = report["input"]["sha1"]
        try:
            folder = signature_folder(str(report.get("signature") or "unknown"))
        except StorageError:
            raise ReportError(f"{report_path}: signature {report.get('signature')!r} cannot name a "
                              f"folder; the report was not written by raftfuzz") from None
        self.store.create(f"{folder}/{OCCURRENCES}/{sha1}.json", _occurrence(report, report_path, self.settings.worker_name))
        winner = self._claim(folder, sha1, report)
        if winner == sha1:
            self.store.create(f"{folder}/crash-{sha1}", data)
            self.store.create(f"{folder}/crash-{sha1}.json", report_path.read_bytes())
            outcome = "reported"
        elif self.store.exists(f"{folder}/crash-{winner}.json"):
            outcome = "occurrence"
        else:
            return "pending"
        marker = self._marker(report_path)
        marker.parent.mkdir(exist_ok=True)
        marker.write_text(self.store.describe())
        return outcome

    def _claim(self, folder: str, sha1: str, report: dict) -> str:
        """The input that holds the signature's report (this one if the claim
        is ours, new or taken over)."""
        name = f"{folder}/{CLAIM}"
        claim = json.dumps({"signature": report.get("signature"), "sha1": sha1, "worker": self.settings.worker_name,
                            "claimed_at": time.time()}, sort_keys=True).encode()
        winner = ""
        # Two rounds: claim; or find the claim stale, take it over, claim again.
        for _ in range(2):
            if self.store.create(name, claim):
                return sha1
            try:
                content, generation = self.store.read(name)
            except ObjectMissing:
                continue  # taken over and not yet re-created: claim again
            try:
                existing = json.loads(content)
                winner, claimed_at = str(existing["sha1"]), float(existing["claimed_at"])
            except (ValueError, KeyError, TypeError):
                winner, claimed_at = "", 0.0  # unreadable claim: replace it
            if winner == sha1:
                return sha1
            if winner and (time.time() - claimed_at < STALE_CLAIM_SECONDS
                           or self.store.exists(f"{folder}/crash-{winner}.json")):
                return winner
            self.store.delete(name, generation=generation)
        return winner

    def upload_spool(self) -> SpoolResult:
        """Uploads every pending report. Stops at the first StorageError,
        which it raises: the store is down or refuses, and the rest would
        only wait out their own retries."""
        result = SpoolResult()
        self._recover_orphans(result)
        for path in self.spooled():
            try:
                outcome = self.upload(path)
            except ReportError as error:
                result.broken.append(str(error))
                continue
            if outcome == "reported":
                result.reported += 1
            elif outcome == "occurrence":
                result.occurrences += 1
            else:
                result.pending += 1
        return result

    def _recover_orphans(self, result: SpoolResult) -> None:
        """Raw inputs without a report: rebuilt, or uploaded alone."""
        for raw in orphans(self.artifacts, self.orphan_min_age_seconds):
            marker = self._marker(raw)
            if self.is_uploaded(raw):
                continue
            why = "it did not reproduce"
            try:
                if rebuild_report(raw, self.settings) is not None:
                    result.rebuilt += 1
                    continue
            except RebuildError as error:  # cannot replay here: keep the input all the same
                why = str(error)
            self.store.create(f"{CRASHES}/{UNREPRODUCED}/{raw.name}", raw.read_bytes())
            marker.parent.mkdir(exist_ok=True)
            marker.write_text(self.store.describe())
            result.alone.append(f"{raw.name}: {why}")

    def upload_quietly(self, report_path: Path | None = None) -> None:
        """For a fuzzing loop (``Harness.on_crash``): upload the new report and
        any still pending; on failure say so in one line and keep them
        spooled. Never raises, so the fuzzer goes on."""
        try:
            self.upload_spool()
        except StorageError as error:
            print(f"raftfuzz: crash reports kept in {self.artifacts} for the next sync: {error}",
                  file=sys.stderr)


def _occurrence(report: dict, report_path: Path, worker: str) -> bytes:
    violation = report.get("violation") or {}
    return (json.dumps({
        "sha1": report["input"]["sha1"],
        "input_base64": report["input"]["base64"],
        "signature": report.get("signature"),
        "worker": worker,
        "found_at": report_path.stat().st_mtime,
        "target": report.get("target"),
        "core": report.get("core"),
        "commit": report.get("commit"),
        "raftfuzz_version": report.get("raftfuzz_version"),
        "property": violation.get("property"),
        "step": violation.get("step"),
        "trace_hash": (report.get("run") or {}).get("trace_hash"),
    }, indent=2, sort_keys=True) + "\n").encode()


@dataclass
class SignatureSummary:
    signature: str
    occurrences: int
    reports: list[str]  # crash-<sha1>.json names in the folder (one, unless a stale claim was taken over)


def list_crashes(store) -> list[SignatureSummary]:
    """Every signature in the store, from one listing."""
    folders: dict[str, SignatureSummary] = {}
    for name in store.list(f"{CRASHES}/"):
        parts = name.split("/")
        if len(parts) < 3:
            continue
        summary = folders.setdefault(parts[1], SignatureSummary(parts[1], 0, []))
        if len(parts) == 4 and parts[2] == OCCURRENCES:
            summary.occurrences += 1
        elif len(parts) == 3 and parts[2].startswith("crash-") and parts[2].endswith(".json"):
            summary.reports.append(parts[2])
    return sorted(folders.values(), key=lambda summary: summary.signature)


def fetch_crashes(store, signatures: list[str], destination: Path) -> list[Path]:
    """Downloads each signature's report (both files) to
    ``destination/<signature>/``; all signatures when none are named."""
    summaries = {summary.signature: summary for summary in list_crashes(store)}
    wanted = signatures or sorted(summaries)
    unknown = [signature for signature in wanted if signature not in summaries]
    if unknown:
        raise StorageError(f"no crashes with signature {', '.join(unknown)} in {store.describe()}; "
                           f"`raftfuzz crashes list` shows the signatures")
    written = []
    for signature in wanted:
        folder = destination / signature
        for report_name in summaries[signature].reports:
            for name in (report_name.removesuffix(".json"), report_name):
                data, _ = store.read(f"{signature_folder(signature)}/{name}")
                folder.mkdir(parents=True, exist_ok=True)
                path = folder / name
                path.write_bytes(data)
                written.append(path)
    return written


if __name__ == "__main__":
    sys.exit(_rebuild_main(sys.argv[1:]))
