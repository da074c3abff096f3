"""Fuzzing workers sharing one emulated bucket, as Kubernetes pods do: the
bucket ends up with the union of every worker's corpus, each crash
signature is one folder with one report, and SIGTERM still pushes."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

from raftfuzz.store.corpus import corpus_prefix
from raftfuzz.store.crashes import list_crashes
from raftfuzz.run.outcome import Outcome
from tests.conftest import REPO, run_cli
from tests.storage.emulator import Emulator

REFERENCE = "raftfuzz.node.raft:RaftNode"
MUTANT = "raftfuzz.node.mutants:VoteWithoutLogCheck"
FUZZ_SECONDS = 20
SYNC_MODULES = ("fuzz_supervisor.py", "crash_upload.py", "corpus_sync.py", "gcs_store.py", "storage.py")


def contents(directory):
    return {hashlib.sha1(path.read_bytes()).hexdigest() for path in directory.iterdir()
            if path.is_file() and not path.name.startswith(".")}


def seeds_that_crash(target):
    """The seeds on which the planted bug is caught at once (libFuzzer runs
    the seeds first, so a worker given one crashes in its first second)."""
    from raftfuzz.run.harness import Harness
    from raftfuzz.run.target import load_target

    harness = Harness.from_settings(load_target(target), target=target)
    return [path for path in sorted((REPO / "corpus").iterdir())
            if harness.execute(path.read_bytes())[1].violation is not None]


def start_worker(directory, target, seeds, seed, environment):
    directory.mkdir()
    (directory / "corpus").mkdir()
    log = open(directory / "worker.log", "w")
    command = [sys.executable, "-m", "raftfuzz.atheris_main", f"--target={target}",
               str(directory / "corpus"), str(seeds), f"-max_total_time={FUZZ_SECONDS}", f"-seed={seed}",
               f"-artifact_prefix={directory / 'artifacts'}/",
               # libFuzzer deletes an entry it replaces by a smaller one; the
               # bucket keeps it (only a prune deletes). Keeping the files makes
               # "the bucket is the union of the local corpora" exact.
               "-reduce_inputs=0"]
    return subprocess.Popen(command, cwd=directory, stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ, PYTHONPATH=str(REPO), **environment))


def test_four_workers_share_one_bucket(emulator, bucket, tmp_path):
    environment = {**emulator.environment(bucket, prefix="campaign"), "RAFTFUZZ_SYNC_INTERVAL": "5"}
    # Two workers fuzz the reference node for the whole time (pushing every
    # 5 s); two fuzz the planted bug, each from seeds holding a different
    # crashing input, so one signature is found twice, at the same moment.
    crashing = seeds_that_crash(MUTANT)
    plain = tmp_path / "seeds"
    shutil.copytree(REPO / "corpus", plain, ignore=lambda _, names: [p.name for p in crashing])
    mutant_seeds = []
    for index in range(2):
        seeds = tmp_path / f"mutant-seeds-{index}"
        shutil.copytree(plain, seeds)
        if crashing:
            chosen = crashing[0] if index == 0 else crashing[-1]
            shutil.copy(chosen, seeds / chosen.name)
        mutant_seeds.append(seeds)
    plan = [(REFERENCE, plain), (REFERENCE, plain), (MUTANT, mutant_seeds[0]), (MUTANT, mutant_seeds[1])]
    workers = [(tmp_path / f"worker-{index}", target,
                start_worker(tmp_path / f"worker-{index}", target, seeds, index + 1, environment))
               for index, (target, seeds) in enumerate(plan)]
    for directory, target, process in workers:
        process.wait(timeout=FUZZ_SECONDS + 150)
        log = (directory / "worker.log").read_text()
        # A crash is reported by atheris with the violation's traceback; the
        # sync machinery itself must never show one.
        assert log.count("Traceback") == (0 if target == REFERENCE else log.count("Uncaught Python exception"))
        assert not any(module in log for module in SYNC_MODULES), log[-3000:]
        assert process.returncode == (0 if target == REFERENCE else 77) or not crashing, log[-3000:]
        assert "raftfuzz: sync: pulled" in log

    store = _store(environment)
    # The corpus: exactly the union of what each worker holds locally.
    for target in (REFERENCE, MUTANT):
        prefix = corpus_prefix(target)
        in_bucket = {name[len(prefix):] for name in store.list(prefix)}
        union = set().union(*(contents(directory / "corpus") for directory, t, _ in workers if t == target))
        assert in_bucket == union, (target, len(in_bucket), len(union))
    assert store.list(corpus_prefix(REFERENCE)), "the reference workers found no new coverage"

    # The crashes: one folder per signature, one report in it, and one
    # occurrence record per distinct crashing input any worker holds.
    local = {}
    for directory, _, _ in workers:
        for path in (directory / "artifacts").glob("crash-*.json"):
            report = json.loads(path.read_text())
            local.setdefault(report["signature"], set()).add(report["input"]["sha1"])
    summaries = list_crashes(store)
    assert {summary.signature for summary in summaries} == set(local)
    for summary in summaries:
        assert len(summary.reports) == 1, summary
        assert summary.occurrences == len(local[summary.signature])
        names = store.list(f"crashes/{summary.signature}/occurrences/")
        assert {name.rpartition("/")[2].removesuffix(".json") for name in names} == local[summary.signature]
    if crashing:
        assert local, "the planted bug was not found"
        if len(crashing) > 1:
            assert any(len(inputs) > 1 for inputs in local.values())

    # A signature's report replays straight from the bucket.
    for summary in summaries:
        url = f"gs://{bucket}/campaign/crashes/{summary.signature}/{summary.reports[0]}"
        replay = run_cli("raftfuzz", "replay", url, "--log-level", "none", env=environment)
        assert replay.returncode == Outcome.SAFETY, replay.stdout + replay.stderr
        assert "reproduced" in replay.stdout

    listing = run_cli("raftfuzz", "crashes", "list", env=environment)
    assert listing.returncode == 0
    fetched = run_cli("raftfuzz", "crashes", "fetch", "--dest", str(tmp_path / "fetched"), env=environment)
    assert fetched.returncode == 0, fetched.stderr
    for summary in summaries:
        assert f"occurrences={summary.occurrences}" in listing.stdout
        assert (tmp_path / "fetched" / summary.signature / summary.reports[0]).exists()


def test_sigterm_pushes_the_corpus_before_exit(emulator, bucket, tmp_path):
    environment = {**emulator.environment(bucket), "RAFTFUZZ_SYNC_INTERVAL": "3600"}
    worker = tmp_path / "worker"
    process = start_worker(worker, REFERENCE, REPO / "corpus", 7, environment)
    log = worker / "worker.log"
    deadline = time.monotonic() + 120
    # Wait until the fuzzer has written corpus entries of its own.
    while time.monotonic() < deadline and (process.poll() is None) and len(contents(worker / "corpus")) < 3:
        time.sleep(0.5)
    assert process.poll() is None, log.read_text()[-3000:]
    process.send_signal(signal.SIGTERM)  # what Kubernetes sends a pod
    process.wait(timeout=60)
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
    store = _store(environment)
    prefix = corpus_prefix(REFERENCE)
    assert {name[len(prefix):] for name in store.list(prefix)} == contents(worker / "corpus")
    assert "raftfuzz: sync: pushed" in text


def test_a_bucket_that_dies_mid_run_costs_log_lines_not_crashes(crash_report, tmp_path):
    """The emulator goes away while a worker fuzzes and a crash report
    appears in its spool (as a -jobs child would write it): the fuzzer runs
    to the end with its own exit code, the report stays on disk, and once
    the bucket is back one `raftfuzz sync` uploads report and corpus."""
    from tests.storage.conftest import spool_report

    emulator = Emulator(tmp_path / "gcs").start()
    try:
        emulator.create_bucket("dies")
        environment = {**emulator.environment("dies"), "RAFTFUZZ_SYNC_INTERVAL": "3",
                       "RAFTFUZZ_STORAGE_RETRY_SECONDS": "1"}
        worker = tmp_path / "worker"
        process = start_worker(worker, REFERENCE, REPO / "corpus", 3, environment)
        log = worker / "worker.log"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "raftfuzz: feedback=" not in log.read_text():
            time.sleep(0.2)
        emulator.stop()
        template, _ = crash_report
        report = spool_report(template, worker / "artifacts", b"found while the bucket was down",
                              "safety.LeaderCompleteness.VoteWithoutLogCheck")
        process.wait(timeout=FUZZ_SECONDS + 120)
        text = log.read_text()
        assert process.returncode == 0, text[-3000:]
        assert "Traceback" not in text, text[-3000:]
        assert "crash reports kept in" in text and "corpus entries kept in" in text
        assert report.exists() and report.with_suffix("").exists()

        emulator.start()
        sync = run_cli("raftfuzz", "sync", str(worker / "corpus"), "--artifacts", str(worker / "artifacts"),
                       env=environment)
        assert sync.returncode == 0, sync.stderr
        assert "1 reported" in sync.stdout
        store = _store(environment)
        sha1 = report.stem.removeprefix("crash-")
        assert store.exists(f"crashes/safety.LeaderCompleteness.VoteWithoutLogCheck/crash-{sha1}.json")
        prefix = corpus_prefix(REFERENCE)
        assert {name[len(prefix):] for name in store.list(prefix)} == contents(worker / "corpus")
    finally:
        emulator.stop()


def test_random_mode_uploads_its_crash_reports(emulator, bucket, tmp_path):
    environment = emulator.environment(bucket)
    completed = run_cli("raftfuzz", "random", "--target", MUTANT, "--runs", "500", "--seed", "0",
                        "--stop-on-violation", "--quiet", "--artifacts", str(tmp_path), env=environment)
    assert completed.returncode == Outcome.SAFETY, completed.stderr[-2000:]
    [path] = tmp_path.glob("crash-*.json")
    report = json.loads(path.read_text())
    [summary] = list_crashes(_store(environment))
    assert summary.signature == report["signature"]
    assert summary.reports == [path.name]
    assert "Traceback" not in completed.stderr


def _store(environment):
    from raftfuzz.run.settings import Settings
    from raftfuzz.store.configured import configured_store

    return configured_store(Settings.load(environ={**os.environ, **environment}))
