"""The checkers stay silent on the correct node: a false positive is a bug in
a checker. A 100,000-execution campaign lives in benchmarks/soak.py."""

import re
import shutil

import pytest

from tests.conftest import REPO, run_cli


@pytest.mark.slow
def test_reference_node_survives_a_coverage_guided_campaign(tmp_path):
    seeds = tmp_path / "seeds"
    shutil.copytree(REPO / "corpus", seeds)
    (tmp_path / "work").mkdir()
    fuzz = run_cli("raftfuzz.atheris_main", str(tmp_path / "work"), str(seeds), "-runs=800", "-seed=7",
                   f"-artifact_prefix={tmp_path}/artifacts/", timeout=600)
    assert fuzz.returncode == 0, fuzz.stderr[-3000:]
    assert re.search(r"^Done \d+ runs", fuzz.stderr, re.MULTILINE)
    assert not list((tmp_path / "artifacts").glob("crash-*"))


@pytest.mark.slow
def test_reference_node_survives_random_schedules(tmp_path):
    completed = run_cli("raftfuzz", "random", "--runs", "1000", "--seed", "11", "--quiet",
                        "--artifacts", str(tmp_path))
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "1000 runs" in completed.stderr and "0 violations" in completed.stderr
