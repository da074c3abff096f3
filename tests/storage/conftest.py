"""Fixtures for the storage tests: one fake-gcs-server for the session, a
fresh bucket per test, and crash reports to upload."""

import base64
import hashlib
import json
import uuid
from pathlib import Path

import pytest

from tests.storage.emulator import Emulator

# Retry budget for in-process stores in these tests: the production default
# (10 s) is proved in test_storage_errors; here a dead emulator should cost
# a couple of seconds, not ten, per test.
TEST_RETRY_SECONDS = "2"


@pytest.fixture(scope="session")
def emulator(tmp_path_factory):
    server = Emulator(tmp_path_factory.mktemp("fake-gcs")).start()
    yield server
    server.stop()


@pytest.fixture
def bucket(emulator):
    return emulator.create_bucket(f"raftfuzz-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def gcs_environment(emulator, bucket, monkeypatch):
    """The emulator's bucket as this process's store; returns the variables
    for subprocesses too."""
    environment = emulator.environment(bucket, prefix="team/raft")
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "RAFTFUZZ_STORE_DIR", "RAFTFUZZ_SYNC"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("RAFTFUZZ_STORAGE_RETRY_SECONDS", TEST_RETRY_SECONDS)
    return environment


@pytest.fixture
def gcs_store(gcs_environment):
    from raftfuzz.run.settings import Settings
    from raftfuzz.store.configured import configured_store

    return configured_store(Settings.load())


def spool_report(template: Path, spool: Path, data: bytes, signature: str | None = None) -> Path:
    """A crash report in ``spool`` for ``data``, copied from a real report
    (``template``) with the input replaced: uploads only look at the input,
    its SHA-1 and the signature."""
    report = json.loads(Path(template).read_text())
    sha1 = hashlib.sha1(data).hexdigest()
    report["input"] = {"sha1": sha1, "length": len(data), "base64": base64.b64encode(data).decode()}
    if signature is not None:
        report["signature"] = signature
    spool.mkdir(parents=True, exist_ok=True)
    (spool / f"crash-{sha1}").write_bytes(data)
    path = spool / f"crash-{sha1}.json"
    path.write_text(json.dumps(report))
    return path
