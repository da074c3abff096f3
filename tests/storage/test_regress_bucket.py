"""raftfuzz regress gs://BUCKET/PREFIX: the crash reports under a bucket
prefix (as `raftfuzz crashes` lays them out) are downloaded and replayed;
the other records there (signature.json, occurrences) are left alone."""

import json

from raftfuzz.run.outcome import Outcome
from tests.conftest import REPO, run_cli

CANARY = REPO / "tests" / "data" / "canary-leader-completeness.json"


def test_regress_replays_the_reports_under_a_bucket_prefix(gcs_store, gcs_environment):
    report = json.loads(CANARY.read_text())
    signature, sha1 = report["signature"], report["input"]["sha1"]
    gcs_store.create(f"crashes/{signature}/crash-{sha1}.json", CANARY.read_bytes())
    gcs_store.create(f"crashes/{signature}/signature.json", json.dumps({"sha1": sha1}).encode())
    gcs_store.create(f"crashes/{signature}/occurrences/{sha1}.json", json.dumps({"sha1": sha1}).encode())
    url = f"gs://{gcs_environment['BUCKET_NAME']}/{gcs_environment['RAFTFUZZ_BUCKET_PREFIX']}"
    failing = run_cli("raftfuzz", "regress", url, "--expect", "failing", env=gcs_environment)
    assert failing.returncode == Outcome.OK, failing.stdout + failing.stderr
    [line] = failing.stdout.strip().splitlines()
    assert line.startswith("still failing") and f"crash-{sha1}.json" in line and "exact replay" in line
    fixed = run_cli("raftfuzz", "regress", url, "--target", "raftfuzz.node.raft:RaftNode", env=gcs_environment)
    assert fixed.returncode == Outcome.OK and fixed.stdout.startswith("fixed")
    assert run_cli("raftfuzz", "regress", url, env=gcs_environment).returncode == Outcome.HARNESS_ERROR
