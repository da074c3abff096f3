"""What a user sees when the store cannot be used: one line naming the
problem and the fix, exit code 5, no traceback, and never key material."""

import json
import time

import pytest

from raftfuzz.run.outcome import Outcome
from tests.conftest import REPO, run_cli
from tests.storage.emulator import Emulator, free_port

KEY_MARKER = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcSECRETKEYMATERIAL"


def assert_one_line_storage_error(completed, *needles):
    assert completed.returncode == Outcome.STORAGE, (completed.returncode, completed.stderr[-2000:])
    assert "Traceback" not in completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert KEY_MARKER not in completed.stdout + completed.stderr
    return lines[0]


@pytest.fixture
def missing_bucket_environment(emulator):
    return emulator.environment("no-such-bucket-here")


def test_missing_bucket(missing_bucket_environment):
    line = assert_one_line_storage_error(run_cli("raftfuzz", "crashes", "list", env=missing_bucket_environment),
                                         "no-such-bucket-here", "does not exist", "BUCKET_NAME")
    assert "gcloud storage buckets create" in line


def test_missing_bucket_stops_the_fuzzer_before_it_starts(missing_bucket_environment, tmp_path):
    completed = run_cli("raftfuzz.atheris_main", str(tmp_path / "corpus"), "-runs=10",
                        f"-artifact_prefix={tmp_path}/", env=missing_bucket_environment, cwd=tmp_path)
    assert_one_line_storage_error(completed, "does not exist")


def test_emulator_down_fails_in_seconds_with_the_default_retry_budget(tmp_path):
    environment = Emulator(tmp_path, port=free_port()).environment("bucket")  # nothing listens there
    started = time.monotonic()
    completed = run_cli("raftfuzz", "corpus", "pull", str(tmp_path / "corpus"), env=environment)
    elapsed = time.monotonic() - started
    assert_one_line_storage_error(completed, "cannot reach", "connection refused", "STORAGE_EMULATOR_HOST")
    assert elapsed < 40, elapsed  # the budget is 10 s of retries; the rest is start-up on a busy machine


def test_emulator_down_stops_random_mode_before_it_starts(tmp_path):
    environment = Emulator(tmp_path, port=free_port()).environment("bucket")
    completed = run_cli("raftfuzz", "random", "--runs", "5", "--quiet", "--artifacts", str(tmp_path),
                        env={**environment, "RAFTFUZZ_STORAGE_RETRY_SECONDS": "1"})
    assert_one_line_storage_error(completed, "cannot reach")


SERVICE_ACCOUNT = {
    "type": "service_account",
    "project_id": "raftfuzz-test",
    "private_key_id": "0123456789abcdef",
    "private_key": f"-----BEGIN PRIVATE KEY-----\n{KEY_MARKER}\n-----END PRIVATE KEY-----\n",
    "client_email": "fuzzer@raftfuzz-test.iam.gserviceaccount.com",
    "client_id": "1",
    "token_uri": "https://oauth2.googleapis.com/token",
}


@pytest.mark.parametrize("content, needle", [
    (None, "no such file"),
    ('{"type": "service_account", "private_key": "' + KEY_MARKER, "not valid JSON"),
    (json.dumps({"private_key": KEY_MARKER}), "not a Google credentials file"),
    (json.dumps(SERVICE_ACCOUNT), "key cannot be loaded"),
])
def test_bad_credentials_file(emulator, bucket, tmp_path, content, needle):
    path = tmp_path / "key.json"
    if content is not None:
        path.write_text(content)
    environment = {**emulator.environment(bucket), "GOOGLE_APPLICATION_CREDENTIALS": str(path)}
    assert_one_line_storage_error(run_cli("raftfuzz", "crashes", "list", env=environment),
                                  "GOOGLE_APPLICATION_CREDENTIALS", str(path), needle)


def test_no_credentials_at_all(tmp_path):
    environment = {"BUCKET_NAME": "some-bucket", "STORAGE_EMULATOR_HOST": "", "HOME": str(tmp_path),
                   "CLOUDSDK_CONFIG": str(tmp_path), "GOOGLE_APPLICATION_CREDENTIALS": "",
                   # No metadata server either (as on GKE without Workload Identity).
                   "GCE_METADATA_HOST": "127.0.0.1:9", "GCE_METADATA_IP": "127.0.0.1:9"}
    assert_one_line_storage_error(run_cli("raftfuzz", "crashes", "list", env=environment),
                                  "no Google credentials found", "GOOGLE_APPLICATION_CREDENTIALS")


def test_bucket_name_that_is_a_url(emulator):
    environment = emulator.environment("gs://bucket/path")
    assert_one_line_storage_error(run_cli("raftfuzz", "corpus", "push", str(REPO / "corpus"), env=environment),
                                  "RAFTFUZZ_BUCKET_PREFIX")


def test_no_store_configured(tmp_path):
    environment = {"BUCKET_NAME": "", "RAFTFUZZ_STORE_DIR": ""}
    assert_one_line_storage_error(run_cli("raftfuzz", "corpus", "pull", str(tmp_path), env=environment),
                                  "BUCKET_NAME", "RAFTFUZZ_STORE_DIR")


def test_refusals_the_emulator_cannot_produce_are_one_line_too(gcs_store):
    """fake-gcs-server has no IAM, so 403 and 401 are fed to the translation
    directly, as the client raises them."""
    from google.api_core.exceptions import Forbidden, Unauthorized
    from google.auth.exceptions import RefreshError

    from raftfuzz.store.gcs import _translate

    forbidden = str(_translate(gcs_store, "create objects in", Forbidden("caller lacks storage.objects.create")))
    assert "may not create objects in gs://" in forbidden and "roles/storage.objectAdmin" in forbidden
    for error in (Unauthorized("invalid credentials"), RefreshError("invalid_grant: " + KEY_MARKER)):
        message = str(_translate(gcs_store, "list objects in", error))
        assert "were rejected" in message and "GOOGLE_APPLICATION_CREDENTIALS" in message
        assert KEY_MARKER not in message
    assert "\n" not in forbidden
