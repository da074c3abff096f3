"""The container entrypoint as an Indexed Kubernetes Job runs it: several
workers, each with its own JOB_COMPLETION_INDEX, sharing one (emulated)
bucket. Local processes stand in for pods; the bucket must end up with the
union of their corpora and one report per crash signature."""

import hashlib
import json
import os
import subprocess
import sys

import random

import pytest

from raftfuzz.store.corpus import corpus_prefix
from raftfuzz.store.crashes import list_crashes
from raftfuzz.run.random_mode import random_input
from raftfuzz.run.settings import Settings
from raftfuzz.store.configured import configured_store
from tests.conftest import REPO

REFERENCE = "raftfuzz.node.raft:RaftNode"
CANARY = "raftfuzz.node.mutants:VoteWithoutLogCheck"
FUZZ_SECONDS = 15


def start_worker(directory, index, target, environment):
    directory.mkdir()
    # What an earlier run left in the pod's corpus directory: a few entries
    # of its own, distinct per index. A worker pushes its local corpus, so
    # these must reach the bucket whether or not libFuzzer finds new
    # coverage in the short budget on a busy machine.
    (directory / "corpus").mkdir()
    generator = random.Random(index)
    for _ in range(3):
        data = random_input(generator)
        (directory / "corpus" / hashlib.sha1(data).hexdigest()).write_bytes(data)
    log = open(directory / "worker.log", "w")
    worker_environment = dict(os.environ, PYTHONPATH=str(REPO), **environment,
                              FUZZ_MODE="fuzz", FUZZ_SECONDS=str(FUZZ_SECONDS), RAFTFUZZ_TARGET=target,
                              JOB_COMPLETION_INDEX=str(index))
    for name in ("RAFTFUZZ_WORKER", "RAFTFUZZ_CORPUS", "RAFTFUZZ_ARTIFACTS", "RAFTFUZZ_SYNC",
                 "GOOGLE_APPLICATION_CREDENTIALS", "RAFTFUZZ_STORE_DIR"):
        worker_environment.pop(name, None)
    return subprocess.Popen([sys.executable, "-m", "raftfuzz.container"], cwd=directory, stdout=log,
                            stderr=subprocess.STDOUT, env=worker_environment)


def local_corpus(directory):
    return {hashlib.sha1(path.read_bytes()).hexdigest() for path in (directory / "corpus").iterdir()
            if path.is_file() and not path.name.startswith(".")}


@pytest.mark.slow
def test_indexed_workers_share_one_bucket(emulator, bucket, tmp_path, monkeypatch):
    environment = {**emulator.environment(bucket, prefix="indexed"), "RAFTFUZZ_SYNC_INTERVAL": "5",
                   "RAFTFUZZ_STORAGE_RETRY_SECONDS": "2"}
    # Indexes 0 and 1 fuzz the reference node (the corpus grows, no crash);
    # 2 and 3 fuzz the canary, which crashes on a seed at once, so both
    # find the same signature at the same moment.
    plan = [REFERENCE, REFERENCE, CANARY, CANARY]
    workers = [(tmp_path / f"pod-{index}", start_worker(tmp_path / f"pod-{index}", index, target, environment))
               for index, target in enumerate(plan)]
    logs = []
    for directory, process in workers:
        code = process.wait(timeout=FUZZ_SECONDS + 240)
        log = (directory / "worker.log").read_text()
        logs.append(log)
        assert code == 0, log[-4000:]
    for index, log in enumerate(logs):
        assert f"-index{index}]: mode=fuzz" in log, log[-2000:]
        assert "budget ended" in log, log[-2000:]
        assert "no BUCKET_NAME" not in log

    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    store = configured_store(Settings.load())

    # The corpus: every entry any reference worker holds is in the bucket.
    # (libFuzzer deletes an entry it replaces by a smaller one after having
    # pushed it, so the bucket may hold more than the union, never less.)
    remote = {name.rpartition("/")[2] for name in store.list(corpus_prefix(REFERENCE))}
    union = local_corpus(workers[0][0]) | local_corpus(workers[1][0])
    assert len(union) >= 6 and union <= remote, sorted(union - remote)

    # The crashes: one signature, one report, found by both canary workers.
    summaries = list_crashes(store)
    assert len(summaries) == 1, summaries
    summary = summaries[0]
    assert len(summary.reports) == 1, summary
    report = json.loads(store.read(f"crashes/{summary.signature}/{summary.reports[0]}")[0])
    assert report["target"] == CANARY and report["violation"]["property"] == "LeaderCompleteness"
    occurrence_names = [name for name in store.list(f"crashes/{summary.signature}/occurrences/")]
    assert occurrence_names
    workers_named = {json.loads(store.read(name)[0])["worker"] for name in occurrence_names}
    assert all("-index2" in worker or "-index3" in worker for worker in workers_named), workers_named
    for directory, _ in workers[2:]:
        assert list((directory / "artifacts").glob("crash-*.json")), "the spool keeps the local copy"
