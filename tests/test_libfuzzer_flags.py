"""libFuzzer flags that re-run the entry point in child processes work:
atheris re-runs argv[0] through a shell, so the harness must hand it
`python -m raftfuzz.atheris_main` (ARCHITECTURE.md §8)."""

import re
import shutil

from tests.conftest import REPO, run_cli


def test_merge_copies_the_corpus_into_an_empty_directory(tmp_path):
    seeds, merged = tmp_path / "seeds", tmp_path / "merged"
    shutil.copytree(REPO / "corpus", seeds)
    merged.mkdir()
    completed = run_cli("raftfuzz.atheris_main", "-merge=1", str(merged), str(seeds), cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert len(list(merged.iterdir())) > 0
    assert "MERGE-OUTER: " in completed.stderr


def test_jobs_run_parallel_workers_that_each_log(tmp_path):
    (tmp_path / "work").mkdir()
    completed = run_cli("raftfuzz.atheris_main", str(tmp_path / "work"), str(REPO / "corpus"),
                        "-jobs=2", "-workers=2", "-runs=10", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr[-2000:]
    for job in (0, 1):
        assert re.search(r"^Done \d+ runs", (tmp_path / f"fuzz-{job}.log").read_text(), re.MULTILINE)


def test_fork_mode_runs_child_jobs(tmp_path):
    (tmp_path / "work").mkdir()
    completed = run_cli("raftfuzz.atheris_main", str(tmp_path / "work"), str(REPO / "corpus"),
                        "-fork=1", "-runs=20", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "fuzzed for" in completed.stderr


def test_minimize_crash_reruns_the_crash_in_children(crash_report, tmp_path):
    path, _ = crash_report
    completed = run_cli("raftfuzz.atheris_main", "--target=raftfuzz.node.mutants:VoteWithoutLogCheck",
                        "-minimize_crash=1", "-runs=20", f"-artifact_prefix={tmp_path}/",
                        str(path.with_suffix("")), cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "caused a crash" in completed.stderr
