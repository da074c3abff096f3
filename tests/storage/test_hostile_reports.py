"""A report planted in the bucket is untrusted input (issue 12): replaying
it straight from gs://, or through the container's reproduce mode, never
imports a module it names that nobody configured."""

import json

import pytest

from tests.conftest import run_cli

PLANT = 'open("PWNED", "w").write("ran")\n'


@pytest.mark.parametrize("container", [False, True], ids=["replay", "container"])
def test_a_planted_report_in_the_bucket_imports_nothing(crash_report, gcs_store, gcs_environment, bucket,
                                                        tmp_path, container):
    (tmp_path / "evilmod.py").write_text(PLANT)
    report = json.loads(crash_report[0].read_text())
    report["target"] = "evilmod:Node"
    name = f"crashes/planted/crash-{report['input']['sha1']}.json"
    gcs_store.create(name, json.dumps(report).encode())
    url = f"gs://{bucket}/team/raft/{name}"
    if container:
        completed = run_cli("raftfuzz.container", env={**gcs_environment, "FUZZ_MODE": "reproduce",
                                                       "FUZZ_FILE": url}, cwd=tmp_path)
    else:
        completed = run_cli("raftfuzz", "replay", url, env=gcs_environment, cwd=tmp_path)
    assert completed.returncode == 2, completed.stdout + completed.stderr
    assert "Traceback" not in completed.stderr
    [line] = [line for line in completed.stderr.splitlines() if "error:" in line]
    assert "--target evilmod:Node" in line
    assert not (tmp_path / "PWNED").exists()
