"""raftfuzz shrink: a simpler schedule with the same finding, which replays.

The crash is a real one (the session's planted-bug crash from conftest and
the committed canary); every shrunk report is replayed the way a user
would, on both cores.
"""

import json
from dataclasses import replace

import pytest

from raftfuzz.run.harness import Harness
from raftfuzz.node.mutants import VoteWithoutLogCheck
from raftfuzz.run.report import load_report
from raftfuzz.schedule.codec import FaultEvent, Schedule, Verb, decode, encode
from raftfuzz.findings.shrink import Shrinker, ShrinkError, _with_node_count, simplicity
from raftfuzz.run.outcome import Outcome
from tests.conftest import REPO, run_cli

CANARY = REPO / "tests" / "data" / "canary-leader-completeness.json"
TARGET = "raftfuzz.node.mutants:VoteWithoutLogCheck"


def _harness() -> Harness:
    return Harness.from_settings(VoteWithoutLogCheck, target=TARGET)


@pytest.fixture(scope="module")
def shrunk(crash_report, tmp_path_factory):
    path, _ = crash_report
    out = tmp_path_factory.mktemp("shrunk") / "shrunk.json"
    completed = run_cli("raftfuzz", "shrink", str(path), "-o", str(out), "--seconds", "50")
    assert completed.returncode == Outcome.OK, completed.stdout + completed.stderr
    return path, out, completed


def test_the_shrunk_report_keeps_the_signature_and_is_simpler(shrunk):
    path, out, completed = shrunk
    original = json.loads(path.read_text())
    report = json.loads(out.read_text())
    assert report["signature"] == original["signature"]
    assert len(report["schedule"]["events"]) <= len(original["schedule"]["events"])
    assert report["run"]["steps"] <= original["run"]["steps"]
    assert report["shrunk_from"]["sha1"] == original["input"]["sha1"]
    assert "shrink:" in completed.stderr  # the progress line
    assert "faults" in completed.stdout


def test_the_shrunk_report_and_its_raw_input_replay_on_both_cores(shrunk):
    _, out, _ = shrunk
    for core in ("c", "python"):
        completed = run_cli("raftfuzz", "replay", str(out), "--log-level", "none", "--core", core)
        assert completed.returncode == Outcome.SAFETY, completed.stdout + completed.stderr
        assert "reproduced: same property, step and trace hash" in completed.stdout
    report = json.loads(out.read_text())
    raw = out.with_name("shrunk")
    assert decode(raw.read_bytes()).describe() == report["schedule"]
    assert encode(decode(raw.read_bytes())) == raw.read_bytes()  # canonical bytes
    completed = run_cli("raftfuzz", "replay", str(raw), "--target", TARGET, "--log-level", "none")
    assert completed.returncode == Outcome.SAFETY
    assert report["run"]["trace_hash"] in completed.stdout


def test_shrinking_is_deterministic_and_reaches_a_fixed_point():
    data, report = load_report(CANARY)
    results = []
    for _ in range(2):
        shrinker = Shrinker(_harness(), data, report["max_steps"], expected_signature=report["signature"],
                            seconds=120)
        results.append(shrinker.shrink())
    first, second = results
    assert first.complete and second.complete
    assert first.best.data == second.best.data
    assert first.best.candidate.max_steps == second.best.candidate.max_steps
    assert first.best.result.trace_hash == second.best.result.trace_hash
    assert first.runs == second.runs
    # Shrinking the result again finds nothing simpler: a fixed point.
    again = Shrinker(_harness(), first.best.data, first.best.candidate.max_steps,
                     expected_signature=report["signature"], seconds=120).shrink()
    assert again.best.data == first.best.data


def test_the_run_budget_bounds_a_shrink_and_what_it_returns_still_fails():
    data, report = load_report(CANARY)
    shrinker = Shrinker(_harness(), data, report["max_steps"], seconds=60, max_runs=3)
    result = shrinker.shrink()
    assert result.runs <= 3
    assert not result.complete
    assert result.best.result.violation is not None


def test_an_input_that_no_longer_fails_is_refused_with_one_line(tmp_path):
    completed = run_cli("raftfuzz", "shrink", str(CANARY), "--target", "raftfuzz.node.raft:RaftNode",
                        "-o", str(tmp_path))
    assert completed.returncode == Outcome.HARNESS_ERROR
    assert "Traceback" not in completed.stderr
    assert len(completed.stderr.strip().splitlines()) == 1
    assert "nothing to shrink" in completed.stderr
    assert not list(tmp_path.iterdir())
    with pytest.raises(ShrinkError):
        data, report = load_report(CANARY)
        Shrinker(Harness.from_settings(__import__("raftfuzz.node.raft", fromlist=["RaftNode"]).RaftNode,
                                       target="raftfuzz.node.raft:RaftNode"), data, report["max_steps"])


def test_bad_arguments_are_one_line_and_exit_2(tmp_path):
    missing = run_cli("raftfuzz", "shrink", str(tmp_path / "nope.json"))
    assert missing.returncode == Outcome.USAGE and "no such file" in missing.stderr
    assert "Traceback" not in missing.stderr
    seconds = run_cli("raftfuzz", "shrink", str(CANARY), "--seconds", "0")
    assert seconds.returncode == Outcome.USAGE and "--seconds" in seconds.stderr


def test_a_smaller_cluster_keeps_roles_as_roles_and_stays_encodable():
    schedule = Schedule(node_count=5, events=(
        FaultEvent(1, Verb.CRASH, 4), FaultEvent(2, Verb.PARTITION, 5, 3),  # 5 = leader on 5 nodes
        FaultEvent(3, Verb.SPLIT, value=0b10110), FaultEvent(4, Verb.CAMPAIGN, 7)))  # 7 = previous-leader
    smaller = _with_node_count(schedule, 3)
    assert smaller.node_count == 3
    assert [event.describe(3) for event in smaller.events] == [
        "t=1 crash n1", "t=2 partition leader n0", "t=3 split mask=0x06", "t=4 campaign previous-leader"]
    assert decode(encode(smaller)) == smaller


def test_the_order_of_simplicity_puts_fewer_faults_first():
    class Result:
        def __init__(self, steps, history=()):
            self.steps, self.history = steps, list(history)

    many = Schedule(events=(FaultEvent(1, Verb.CRASH), FaultEvent(2, Verb.RESTART)))
    one_late = Schedule(node_count=7, events=(FaultEvent(200, Verb.CRASH),), loss_per_256=60)
    assert simplicity(one_late, Result(5000), 5000) < simplicity(many, Result(10), 10)
    earlier = replace(many, events=(FaultEvent(1, Verb.CRASH), FaultEvent(1, Verb.RESTART)))
    assert simplicity(earlier, Result(10), 10) < simplicity(many, Result(10), 10)
    assert simplicity(many, Result(9), 10) < simplicity(many, Result(10), 10)


@pytest.mark.slow
def test_fuzz_mode_shrinks_a_new_crash_and_keeps_the_original(tmp_path):
    import shutil

    seeds = tmp_path / "seeds"
    shutil.copytree(REPO / "corpus", seeds)
    (tmp_path / "work").mkdir()
    artifacts = tmp_path / "artifacts"
    fuzz = run_cli("raftfuzz.atheris_main", f"--target={TARGET}", "--shrink-seconds=5", str(tmp_path / "work"),
                   str(seeds), "-max_total_time=300", "-seed=1", f"-artifact_prefix={artifacts}/", timeout=420)
    assert fuzz.returncode != 0, fuzz.stderr[-2000:]
    reports = [json.loads(path.read_text()) for path in sorted(artifacts.glob("crash-*.json"))]
    shrunk = [report for report in reports if "shrunk_from" in report]
    originals = [report for report in reports if "shrunk_from" not in report]
    assert len(shrunk) <= 1 and len(originals) == 1, [report["input"]["sha1"] for report in reports]
    if shrunk:  # the shrink found something simpler within its 5 s
        assert shrunk[0]["shrunk_from"]["sha1"] == originals[0]["input"]["sha1"]
        assert shrunk[0]["signature"] == originals[0]["signature"]
    for path in artifacts.glob("crash-*.json"):
        replay = run_cli("raftfuzz", "replay", str(path), "--log-level", "none")
        assert replay.returncode == Outcome.SAFETY and "reproduced" in replay.stdout


def test_a_bad_shrink_seconds_setting_is_one_line(tmp_path):
    completed = run_cli("raftfuzz.atheris_main", "--shrink-seconds=soon", str(tmp_path), "-runs=1")
    assert completed.returncode == Outcome.USAGE
    assert "--shrink-seconds" in completed.stderr and "Traceback" not in completed.stderr


def test_random_mode_shrinks_its_crashes_when_asked(tmp_path):
    completed = run_cli("raftfuzz", "random", "--target", TARGET, "--runs", "200", "--stop-on-violation",
                        "--quiet", "--shrink-seconds", "5", "--artifacts", str(tmp_path))
    assert completed.returncode == Outcome.SAFETY, completed.stderr
    reports = [json.loads(path.read_text()) for path in tmp_path.glob("crash-*.json")]
    assert 1 <= len(reports) <= 2
    assert len({report["signature"] for report in reports}) == 1


def test_the_same_report_shrinks_to_the_same_bytes_under_any_hash_seed_and_core(tmp_path):
    outputs = []
    for hash_seed, core in (("0", "c"), ("12345", "python")):
        out = tmp_path / f"shrunk-{hash_seed}.json"
        completed = run_cli("raftfuzz", "shrink", str(CANARY), "-o", str(out), "--seconds", "120",
                            "--core", core, env={"PYTHONHASHSEED": hash_seed})
        assert completed.returncode == Outcome.OK, completed.stderr
        report = json.loads(out.read_text())
        assert report["shrunk_from"]["fixed_point"] is True
        outputs.append((report["input"]["sha1"], report["run"]["trace_hash"], report["max_steps"]))
    assert outputs[0] == outputs[1]
