"""Crash reports leave the spool exactly once, one report per signature,
and survive the bucket going away in the middle of an upload."""

import json
import os
import random

import pytest

from raftfuzz.store import crashes as crash_upload
from raftfuzz.store.crashes import CrashUploader, list_crashes
from raftfuzz.run.settings import Settings
from raftfuzz.store.objects import StorageUnavailable, run_parallel
from raftfuzz.store.configured import configured_store
from tests.conftest import run_cli
from tests.storage.conftest import spool_report
from tests.storage.emulator import Emulator

SIGNATURE = "safety.LeaderCompleteness.VoteWithoutLogCheck"


def folder_names(store, signature=SIGNATURE):
    return sorted(name.partition(f"crashes/{signature}/")[2] for name in store.list(f"crashes/{signature}/"))


def test_a_real_crash_goes_up_as_report_occurrence_and_claim(crash_report, gcs_store, tmp_path):
    path, _ = crash_report
    report = json.loads(path.read_text())
    sha1, signature = report["input"]["sha1"], report["signature"]
    uploader = CrashUploader(gcs_store, path.parent)
    assert uploader.upload(path) == "reported"
    assert folder_names(gcs_store, signature) == sorted(
        [f"crash-{sha1}", f"crash-{sha1}.json", "signature.json", f"occurrences/{sha1}.json"])
    assert gcs_store.read(f"crashes/{signature}/crash-{sha1}.json")[0] == path.read_bytes()
    assert gcs_store.read(f"crashes/{signature}/crash-{sha1}")[0] == path.with_suffix("").read_bytes()
    occurrence = json.loads(gcs_store.read(f"crashes/{signature}/occurrences/{sha1}.json")[0])
    assert occurrence["sha1"] == sha1 and occurrence["property"] == report["violation"]["property"]
    # Done: the spool is not asked about again, and asking anyway changes nothing.
    assert uploader.spooled() == []
    generations = gcs_store.list("crashes/")
    assert uploader.upload(path) == "reported"
    assert gcs_store.list("crashes/") == generations


def test_many_inputs_of_one_bug_are_one_report_and_one_occurrence_each(crash_report, gcs_store, tmp_path):
    template, _ = crash_report
    generator = random.Random(1)
    inputs = [generator.randbytes(60) for _ in range(6)]
    uploaders = []
    for worker, data in enumerate(inputs):
        spool = tmp_path / f"worker-{worker}"
        spool_report(template, spool, data, SIGNATURE)
        spool_report(template, spool, data + b"x", SIGNATURE)  # a second input per worker
        uploaders.append(CrashUploader(gcs_store, spool))
    # All workers upload at once: the claim decides, exactly one report.
    results = run_parallel(lambda uploader: uploader.upload_spool(), uploaders, workers=6)
    names = folder_names(gcs_store)
    reports = [name for name in names if name.startswith("crash-") and name.endswith(".json")]
    assert len(reports) == 1
    assert len([name for name in names if name.startswith("crash-")]) == 2
    assert len([name for name in names if name.startswith("occurrences/")]) == 12
    assert sum(result.reported for result in results) == 1
    assert sum(result.reported + result.occurrences + result.pending for result in results) == 12
    # Whatever was pending (the report was still on its way) completes now.
    for uploader in uploaders:
        uploader.upload_spool()
        assert uploader.spooled() == []
    [summary] = list_crashes(gcs_store)
    assert (summary.signature, summary.occurrences, summary.reports) == (SIGNATURE, 12, reports)


def test_a_stale_claim_without_its_report_is_taken_over(crash_report, gcs_store, tmp_path, monkeypatch):
    template, _ = crash_report
    # Another worker claimed the signature and lost its disk before uploading.
    gcs_store.create(f"crashes/{SIGNATURE}/signature.json",
                     json.dumps({"sha1": "0" * 40, "claimed_at": 0.0}).encode())
    path = spool_report(template, tmp_path / "spool", b"found later", SIGNATURE)
    uploader = CrashUploader(gcs_store, path.parent)
    monkeypatch.setattr(crash_upload, "STALE_CLAIM_SECONDS", 10**12)
    assert uploader.upload(path) == "pending"  # a fresh claim is respected
    monkeypatch.setattr(crash_upload, "STALE_CLAIM_SECONDS", 0)
    assert uploader.upload(path) == "reported"
    sha1 = path.stem.removeprefix("crash-")
    assert json.loads(gcs_store.read(f"crashes/{SIGNATURE}/signature.json")[0])["sha1"] == sha1
    assert f"crash-{sha1}.json" in folder_names(gcs_store)


class StopsTheEmulator:
    """A store that lets ``allowed`` creates through, then stops the
    emulator: the bucket disappears in the middle of reporting a crash."""

    def __init__(self, store, emulator, allowed):
        self.store, self.emulator, self.allowed = store, emulator, allowed

    def __getattr__(self, name):
        return getattr(self.store, name)

    def create(self, name, data):
        if self.allowed == 0:
            self.emulator.stop()
        self.allowed -= 1
        return self.store.create(name, data)


def test_emulator_stopped_while_reporting_then_the_next_sync_uploads_exactly_once(
        crash_report, tmp_path, monkeypatch):
    emulator = Emulator(tmp_path / "gcs").start()
    try:
        emulator.create_bucket("faults")
        environment = emulator.environment("faults")
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("RAFTFUZZ_STORAGE_RETRY_SECONDS", "2")
        store = configured_store(Settings.load())
        spool = tmp_path / "artifacts"
        template, _ = crash_report
        path = spool_report(template, spool, b"the crash being reported", SIGNATURE)
        sha1 = path.stem.removeprefix("crash-")
        # The occurrence and the claim go up; then the bucket is gone.
        uploader = CrashUploader(StopsTheEmulator(store, emulator, allowed=2), spool)
        with pytest.raises(StorageUnavailable):
            uploader.upload_spool()
        assert uploader.spooled() == [path]  # still in the spool, on local disk
        assert path.with_suffix("").exists()

        # The fuzzing loop's hook says so in one line and does not raise.
        uploader.upload_quietly(path)

        emulator.start()  # the same port, the same data
        before = store.list("")
        assert sorted(before) == [f"crashes/{SIGNATURE}/occurrences/{sha1}.json",
                                  f"crashes/{SIGNATURE}/signature.json"]
        sync = run_cli("raftfuzz", "sync", "--artifacts", str(spool),
                       env={**environment, "RAFTFUZZ_STORAGE_RETRY_SECONDS": "5"})
        assert sync.returncode == 0, sync.stderr
        assert "1 reported" in sync.stdout
        after = store.list("")
        assert sorted(after) == sorted([*before, f"crashes/{SIGNATURE}/crash-{sha1}",
                                        f"crashes/{SIGNATURE}/crash-{sha1}.json"])
        # What was there before the fault was not written again.
        assert all(after[name] == generation for name, generation in before.items())
        again = run_cli("raftfuzz", "crashes", "push", "--artifacts", str(spool), env=environment)
        assert again.returncode == 0 and "0 reported" in again.stdout
        assert store.list("") == after
    finally:
        emulator.stop()


def test_the_cli_sync_with_the_emulator_down_keeps_the_spool(crash_report, tmp_path):
    emulator = Emulator(tmp_path / "gcs")  # never started: nothing listens on its port
    template, _ = crash_report
    path = spool_report(template, tmp_path / "artifacts", b"kept", SIGNATURE)
    completed = run_cli("raftfuzz", "sync", "--artifacts", str(path.parent),
                        env={**emulator.environment("faults"), "RAFTFUZZ_STORAGE_RETRY_SECONDS": "1"})
    assert completed.returncode == 5
    assert "cannot reach" in completed.stderr and "Traceback" not in completed.stderr
    assert sorted(os.listdir(path.parent)) == sorted([path.name, path.with_suffix("").name])
