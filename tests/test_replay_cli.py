"""Replaying crash files, and what a user sees when a file or setting is bad:
one line naming the problem, a non-zero exit, never a traceback."""

import base64
import json

from raftfuzz import __version__
from raftfuzz.run.outcome import Outcome
from raftfuzz.schedule.codec import FORMAT_VERSION
from tests.conftest import run_cli


def assert_one_line_error(completed, *needles):
    assert completed.returncode == Outcome.USAGE, completed.stderr
    assert "Traceback" not in completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    for needle in needles:
        assert needle in lines[0]


def test_replay_from_the_json_alone_reproduces_step_and_trace(crash_report):
    path, result = crash_report
    completed = run_cli("raftfuzz", "replay", str(path), "--log-level", "none")
    assert completed.returncode == Outcome.SAFETY, completed.stdout + completed.stderr
    assert "reproduced: same property, step and trace hash" in completed.stdout
    assert result.trace_hash in completed.stdout


def test_replay_of_the_raw_input_reaches_the_same_violation(crash_report):
    path, result = crash_report
    raw = path.with_suffix("")
    completed = run_cli("raftfuzz", "replay", str(raw), "--target", "raftfuzz.node.mutants:VoteWithoutLogCheck",
                        "--log-level", "none")
    assert completed.returncode == Outcome.SAFETY
    assert f"at step {result.steps}" in completed.stdout
    assert result.trace_hash in completed.stdout


def test_replay_on_the_python_core_gives_the_same_trace(crash_report):
    path, result = crash_report
    completed = run_cli("raftfuzz", "replay", str(path), "--log-level", "none",
                        env={"RAFTFUZZ_CORE": "python"})
    assert completed.returncode == Outcome.SAFETY
    assert "reproduced" in completed.stdout


def test_atheris_entry_point_replays_a_crash_file_with_libfuzzer_semantics(crash_report, tmp_path):
    path, result = crash_report
    completed = run_cli("raftfuzz.atheris_main", "--target=raftfuzz.node.mutants:VoteWithoutLogCheck",
                        str(path.with_suffix("")), f"-artifact_prefix={tmp_path}/")
    assert completed.returncode != 0
    assert result.violation.property_name in completed.stderr
    assert f"at step {result.steps} (trace {result.trace_hash})" in completed.stderr


def test_log_levels_show_more_detail(crash_report):
    path, _ = crash_report
    info = run_cli("raftfuzz", "replay", str(path)).stdout
    debug = run_cli("raftfuzz", "replay", str(path), "--log-level", "debug").stdout
    trace = run_cli("raftfuzz", "replay", str(path), env={"RAFTFUZZ_LOG": "trace"}).stdout
    assert "fault" in info and "deliver" not in info
    assert "deliver" in debug and "tick n" not in debug
    assert "tick n" in trace
    assert len(info) < len(debug) < len(trace)


def test_truncated_report(crash_report, tmp_path):
    path, _ = crash_report
    broken = tmp_path / "crash-truncated.json"
    broken.write_text(path.read_text()[:200])
    assert_one_line_error(run_cli("raftfuzz", "replay", str(broken)), "not valid JSON", "truncated")


def test_corrupted_embedded_input(crash_report, tmp_path):
    path, _ = crash_report
    report = json.loads(path.read_text())
    data = bytearray(base64.b64decode(report["input"]["base64"]))
    data[0] ^= 0xFF
    report["input"]["base64"] = base64.b64encode(bytes(data)).decode()
    broken = tmp_path / "crash-corrupted.json"
    broken.write_text(json.dumps(report))
    assert_one_line_error(run_cli("raftfuzz", "replay", str(broken)), "SHA-1", "corrupted")


def test_wrong_schema_version(crash_report, tmp_path):
    path, _ = crash_report
    report = json.loads(path.read_text())
    report["schema"] = 99
    broken = tmp_path / "crash-future.json"
    broken.write_text(json.dumps(report))
    assert_one_line_error(run_cli("raftfuzz", "replay", str(broken)), "schema 99")


def test_wrong_input_format_version(crash_report, tmp_path):
    path, _ = crash_report
    report = json.loads(path.read_text())
    report["format_version"] = 0
    broken = tmp_path / "crash-old.json"
    broken.write_text(json.dumps(report))
    assert_one_line_error(run_cli("raftfuzz", "replay", str(broken)), "input format 0",
                          "is not one this raftfuzz reads", f"replay it with raftfuzz {__version__!r}")


def test_the_report_records_the_input_format(crash_report):
    path, _ = crash_report
    assert json.loads(path.read_text())["format_version"] == FORMAT_VERSION


def test_not_a_report(tmp_path):
    broken = tmp_path / "crash-list.json"
    broken.write_text("[1, 2]")
    assert_one_line_error(run_cli("raftfuzz", "replay", str(broken)), "not a raftfuzz crash report")


def test_missing_file(tmp_path):
    assert_one_line_error(run_cli("raftfuzz", "replay", str(tmp_path / "crash-nope.json")), "no such file")
    assert_one_line_error(run_cli("raftfuzz", "replay", str(tmp_path / "crash-nope")), "no such file")


def test_bad_settings_are_named(crash_report):
    path, _ = crash_report
    assert_one_line_error(run_cli("raftfuzz", "replay", str(path), env={"RAFTFUZZ_LOG": "loud"}), "RAFTFUZZ_LOG")
    raw = str(path.with_suffix(""))
    assert_one_line_error(run_cli("raftfuzz", "replay", raw, env={"MAX_STEPS": "lots"}), "MAX_STEPS")
    assert_one_line_error(run_cli("raftfuzz", "replay", raw, "--target", "nowhere:Node"), "nowhere")
    assert_one_line_error(run_cli("raftfuzz", "replay", raw, "--target", "raftfuzz.node.raft"), "package.module:Class")
    assert_one_line_error(run_cli("raftfuzz", "replay", raw, env={"RAFTFUZZ_CORE": "rust"}), "RAFTFUZZ_CORE")


def test_report_contents(crash_report):
    path, result = crash_report
    report = json.loads(path.read_text())
    assert report["violation"]["property"] == result.violation.property_name
    assert report["violation"]["step"] == result.steps
    assert report["signature"].startswith("safety.")
    assert report["run"]["trace_hash"] == result.trace_hash
    assert report["trace_tail"] and report["schedule"]["node_count"] >= 3
    assert path.with_suffix("").read_bytes() == base64.b64decode(report["input"]["base64"])
