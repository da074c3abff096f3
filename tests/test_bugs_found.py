"""The real fuzzer finds each planted bug within a bounded budget, and the
crash it writes replays to the same violation.

This runs `python -m raftfuzz.atheris_main` exactly as a user would, starting
from the committed seed corpus. libFuzzer's -seed is fixed so a CI run is
repeatable; the budget is a ceiling, not the expected time (docs/bugs.md has
the measured times, from benchmarks/bench_bugs.py).
"""

import json
import shutil

import pytest

from raftfuzz.node.mutants import CATALOGUE
from raftfuzz.run.outcome import Outcome
from tests.conftest import REPO, run_cli

BUDGET_SECONDS = 400


@pytest.mark.slow
@pytest.mark.parametrize("mutant", list(CATALOGUE))
def test_atheris_finds_the_planted_bug_and_the_crash_replays(mutant, tmp_path):
    seeds = tmp_path / "seeds"
    shutil.copytree(REPO / "corpus", seeds)
    (tmp_path / "work").mkdir()
    artifacts = tmp_path / "artifacts"
    target = f"raftfuzz.node.mutants:{mutant}"
    fuzz = run_cli("raftfuzz.atheris_main", f"--target={target}", str(tmp_path / "work"), str(seeds),
                   f"-max_total_time={BUDGET_SECONDS}", "-seed=1", f"-artifact_prefix={artifacts}/",
                   timeout=BUDGET_SECONDS + 120)
    assert fuzz.returncode != 0, f"{mutant} not found in {BUDGET_SECONDS}s:\n{fuzz.stderr[-2000:]}"
    [report_path] = artifacts.glob("crash-*.json")
    report = json.loads(report_path.read_text())
    assert report["target"] == target
    assert report["violation"]["property"] in CATALOGUE[mutant].breaks
    exit_code = Outcome.LIVENESS if report["violation"]["kind"] == "liveness" else Outcome.SAFETY
    # libFuzzer wrote the same raw input under the same name.
    assert report_path.with_suffix("").exists()

    replay = run_cli("raftfuzz", "replay", str(report_path), "--log-level", "none")
    assert replay.returncode == exit_code, replay.stdout + replay.stderr
    assert "reproduced" in replay.stdout
