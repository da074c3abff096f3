"""Hostile but fair input (issue 12), one table per class, so the next kind
of bad input is one more line:

1. a report is untrusted: replay never imports code a report names, unless
   it is shipped in raftfuzz or the user configured it;
2. a finding is never lost: unwritable directories are refused before any
   work, a report that cannot be written leaves its input on stderr, a raw
   crash without its report is rebuilt or uploaded alone, and every way a
   target can fail becomes a finding with a report, in every mode;
3. a file is what its content says, and a bad path is one line;
4. exit codes are the README's.

Every refusal is one line naming the problem and the fix, the documented
exit code, and no traceback.
"""

import base64
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from raftfuzz.run.outcome import Outcome
from raftfuzz.run.target import TargetError, load_target
from tests.broken_targets import LACKING
from tests.conftest import REPO, run_cli

MUTANT = "raftfuzz.node.mutants:VoteWithoutLogCheck"
PLANT = 'open("PWNED", "w").write("ran")\n'


def refused(completed, code=Outcome.USAGE, *needles, container=False):
    """One error line (the container logs its settings first), the code, no traceback."""
    output = completed.stdout + completed.stderr
    assert completed.returncode == code, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    lines = completed.stderr.strip().splitlines()
    errors = [line for line in lines if "error:" in line] if container else lines
    assert len(errors) == 1, lines
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def write_report(directory: Path, template: Path, name: str = "crash.json", **changes) -> Path:
    report = json.loads(template.read_text())
    for dotted, value in changes.items():
        *outer, last = dotted.split("__")
        holder = report
        for key in outer:
            holder = holder[key]
        holder[last] = value
    path = directory / name
    path.write_text(json.dumps(report))
    return path


@pytest.fixture
def planted(tmp_path):
    """A working directory holding a module that leaves PWNED when imported."""
    directory = tmp_path / "work"
    directory.mkdir()
    (directory / "evilmod.py").write_text(PLANT)
    return directory


@pytest.fixture
def read_only_directory(tmp_path):
    """An existing directory that cannot be written, even by root."""
    directory = tmp_path / "read-only"
    directory.mkdir()
    if os.geteuid() != 0:
        directory.chmod(0o555)
        yield directory
        directory.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(directory)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs as root here: {mounted.stderr.decode().strip()}")
    yield directory
    subprocess.run(["umount", str(directory)], capture_output=True)


# ---------------------------------------------------------------- 1. trust

UNTRUSTED_TARGETS = [
    "evilmod:Node",                 # a module in the working directory
    "evilmod.sub:Node",
    "raftfuzz.__main__:Node",       # inside the package, but not a public module (it runs the CLI)
    "raftfuzz.no_such_module:Node",
    "raftfuzz.node.mutants.evilmod:Node",
    "os:system",                    # importable, harmless, still not a target raftfuzz ships
    "../evilmod:Node",
    "evilmod",
]
MALFORMED_TARGETS = ["", "   ", None, 5, True, [], {"module": "evilmod"}]


def replay_in(directory: Path, report: Path, *, container: bool, env=None):
    if container:
        return run_cli("raftfuzz.container", cwd=directory, env={"FUZZ_MODE": "reproduce", "FUZZ_FILE": str(report),
                                                               "RAFTFUZZ_LOG": "none", **(env or {})})
    return run_cli("raftfuzz", "replay", str(report), "--log-level", "none", cwd=directory, env=env)


@pytest.mark.parametrize("container", [False, True], ids=["replay", "container"])
@pytest.mark.parametrize("target", UNTRUSTED_TARGETS)
def test_a_report_never_imports_a_target_nobody_trusted(crash_report, planted, target, container):
    report = write_report(planted, crash_report[0], target=target)
    completed = replay_in(planted, report, container=container)
    line = refused(completed, Outcome.USAGE, container=container)
    assert not (planted / "PWNED").exists(), "the report's module was imported"
    if target.count(":") == 1 and "/" not in target:
        assert f"--target {target}" in line and "RAFTFUZZ_TARGET" in line
    assert "core=" not in completed.stdout  # nothing ran


@pytest.mark.parametrize("target", MALFORMED_TARGETS, ids=repr)
def test_an_empty_or_non_string_target_is_an_error(crash_report, planted, target):
    report = write_report(planted, crash_report[0], target=target)
    refused(replay_in(planted, report, container=False), Outcome.USAGE, "target", "--target")
    # ... which --target can stand in for, as the message says.
    completed = run_cli("raftfuzz", "replay", str(report), "--target", MUTANT, "--log-level", "none", cwd=planted)
    assert completed.returncode == Outcome.SAFETY and "reproduced" in completed.stdout, completed.stderr


def test_a_trusted_target_is_imported_from_where_the_user_said(crash_report, planted):
    """The rule refuses what nobody named, not everything: naming the target
    (here a module that has no such class) imports it."""
    report = write_report(planted, crash_report[0], target="evilmod:Node")
    completed = replay_in(planted, report, container=False,
                          env={"RAFTFUZZ_TARGET": "evilmod:Node", "PYTHONPATH": f"{planted}{os.pathsep}{REPO}"})
    refused(completed, Outcome.USAGE, "has no class 'Node'")
    assert (planted / "PWNED").exists()


def test_a_shipped_target_named_by_a_report_is_replayed(crash_report, planted):
    completed = replay_in(planted, crash_report[0], container=False)
    assert completed.returncode == Outcome.SAFETY, completed.stderr
    assert "reproduced" in completed.stdout


def test_the_working_directory_cannot_shadow_what_a_shipped_target_imports(planted):
    """`python -m` puts the working directory first on sys.path. A shipped
    target is imported without it, so a planted module named like one the
    target imports (here dataclasses, made to be looked up again) is not run."""
    (planted / "dataclasses.py").write_text(PLANT)
    script = ("import os, sys; sys.path.insert(0, os.getcwd()); from raftfuzz.run.target import load_target; "
              "[sys.modules.pop(name, None) for name in ('dataclasses', 'raftfuzz.node.mutants')]; "
              f"load_target({MUTANT!r}); print('loaded')")
    completed = subprocess.run([sys.executable, "-c", script], cwd=planted, capture_output=True, text=True,
                               env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=120)
    assert completed.returncode == 0 and "loaded" in completed.stdout, completed.stderr
    assert not (planted / "PWNED").exists()


# ------------------------------------------------------ 2. nothing is lost

BROKEN_TARGETS = [
    # (class in tests/broken_targets.py, property found, rule or exception in the message, exit code)
    ("ConstructorRaises", "NodePanic", "RuntimeError", Outcome.SAFETY),
    ("ConstructorExits", "NodeContract", "rule: no-exit", Outcome.HARNESS_ERROR),
    ("TickExits", "NodeContract", "rule: no-exit", Outcome.HARNESS_ERROR),
    ("ReadyReturnsText", "NodeContract", "rule: ready-type", Outcome.HARNESS_ERROR),
    ("ReadyWithNumberOfMessages", "NodeContract", "rule: ready-messages", Outcome.HARNESS_ERROR),
    ("RoleIsText", "NodeContract", "rule: role-type", Outcome.HARNESS_ERROR),
    ("TermIsText", "NodeContract", "rule: term-type", Outcome.HARNESS_ERROR),
    ("RoleRaises", "NodePanic", "KeyError", Outcome.SAFETY),
    ("LosesCommitIndex", "NodeContract", "rule: commit_index-missing", Outcome.HARNESS_ERROR),
    ("StepRaisesGeneratorExit", "NodeContract", "rule: exception-type", Outcome.HARNESS_ERROR),
]


@pytest.mark.parametrize("name, found, detail, code", BROKEN_TARGETS)
def test_a_broken_target_is_a_finding_with_a_report_in_random_mode_and_on_replay(tmp_path, name, found, detail, code):
    target = f"tests.broken_targets:{name}"
    random_run = run_cli("raftfuzz", "random", "--target", target, "--runs", "2", "--quiet",
                         "--artifacts", str(tmp_path), cwd=tmp_path)
    assert random_run.returncode == code, random_run.stderr
    assert "Traceback" not in random_run.stderr
    [report_path] = tmp_path.glob("crash-*.json")
    report = json.loads(report_path.read_text())
    assert report["violation"]["property"] == found and detail in report["violation"]["message"]
    for replayed in (
        run_cli("raftfuzz", "replay", str(report_path), "--log-level", "none", env={"RAFTFUZZ_TARGET": target}),
        run_cli("raftfuzz", "replay", str(report_path), "--log-level", "none", env={"RAFTFUZZ_CORE": "python",
                                                                                   "RAFTFUZZ_TARGET": target}),
    ):
        assert replayed.returncode == code, replayed.stdout + replayed.stderr
        assert "reproduced: same property, step and trace hash" in replayed.stdout
        assert "Traceback" not in replayed.stderr


@pytest.mark.parametrize("name, found, detail, code", [BROKEN_TARGETS[1], BROKEN_TARGETS[3]])
def test_a_broken_target_is_a_finding_with_a_report_when_fuzzing(tmp_path, name, found, detail, code):
    (tmp_path / "corpus").mkdir()
    fuzz = run_cli("raftfuzz.atheris_main", f"--target=tests.broken_targets:{name}", str(tmp_path / "corpus"),
                   "-runs=5", f"-artifact_prefix={tmp_path}/", cwd=tmp_path)
    assert fuzz.returncode == 77, fuzz.stderr[-3000:]  # libFuzzer's crash, not exit 0 with nothing
    [report_path] = tmp_path.glob("crash-*.json")
    assert json.loads(report_path.read_text())["violation"]["property"] == found
    assert f"raftfuzz: harness error NodeContract at step" in fuzz.stderr or found == "NodePanic"


@pytest.mark.parametrize("member", sorted(LACKING))
def test_a_target_lacking_a_member_of_the_node_contract_is_refused_when_it_loads(member):
    with pytest.raises(TargetError) as refusal:
        load_target(f"tests.broken_targets:Lacks_{member}")
    assert f"lacks the node interface: {member} (docs/targets.md" in str(refusal.value)


def test_a_target_without_log_start_is_one_line_before_any_run(tmp_path):
    completed = run_cli("raftfuzz", "random", "--target", "tests.broken_targets:Lacks_log_start", "--runs", "1",
                        "--artifacts", str(tmp_path), cwd=tmp_path)
    refused(completed, Outcome.USAGE, "lacks the node interface: log_start", "docs/targets.md")
    assert not list(tmp_path.glob("crash-*"))


UNWRITABLE = [
    # (how the artifacts directory is given, entry point)
    ("flag", "atheris_main"),
    ("environment", "atheris_main"),
    ("flag", "random"),
    ("environment", "container-fuzz"),
    ("environment", "container-random"),
]


def _run_with_artifacts(entry: str, how: str, artifacts: Path, tmp_path: Path):
    environment = {"RAFTFUZZ_ARTIFACTS": str(artifacts)} if how == "environment" else {}
    if entry == "atheris_main":
        (tmp_path / "corpus").mkdir(exist_ok=True)
        flags = [f"-artifact_prefix={artifacts}/"] if how == "flag" else []
        return run_cli("raftfuzz.atheris_main", str(tmp_path / "corpus"), "-runs=1", *flags, env=environment,
                       cwd=tmp_path)
    if entry == "random":
        return run_cli("raftfuzz", "random", "--runs", "1", "--artifacts", str(artifacts), cwd=tmp_path)
    mode = entry.partition("-")[2]
    return run_cli("raftfuzz.container", env={"FUZZ_MODE": mode, "FUZZ_SECONDS": "1", **environment}, cwd=tmp_path)


@pytest.mark.parametrize("how, entry", UNWRITABLE)
def test_an_unwritable_artifacts_directory_is_refused_before_fuzzing(read_only_directory, tmp_path, how, entry):
    completed = _run_with_artifacts(entry, how, read_only_directory, tmp_path)
    refused(completed, Outcome.USAGE, "not writable", container=entry.startswith("container"))
    assert "Running" not in completed.stderr  # libFuzzer never started


@pytest.mark.parametrize("how, entry", UNWRITABLE)
def test_an_artifacts_path_that_is_a_file_is_refused(tmp_path, how, entry):
    afile = tmp_path / "afile"
    afile.write_text("not a directory")
    refused(_run_with_artifacts(entry, how, afile, tmp_path), Outcome.USAGE, "afile",
            container=entry.startswith("container"))


@pytest.mark.parametrize("entry", ["atheris_main", "container"])
def test_an_unwritable_corpus_directory_is_refused_before_fuzzing(read_only_directory, tmp_path, entry):
    if entry == "atheris_main":
        completed = run_cli("raftfuzz.atheris_main", str(read_only_directory), str(REPO / "corpus"), "-runs=1",
                            f"-artifact_prefix={tmp_path}/", cwd=tmp_path)
    else:
        completed = run_cli("raftfuzz.container", env={"RAFTFUZZ_CORPUS": str(read_only_directory),
                                                       "FUZZ_SECONDS": "1"}, cwd=tmp_path)
    refused(completed, Outcome.USAGE, "not writable", str(read_only_directory), container=entry == "container")


def test_a_report_that_cannot_be_written_leaves_its_input_on_stderr(crash_report, read_only_directory, capsys):
    from raftfuzz.run.harness import Harness
    from raftfuzz.node.mutants import VoteWithoutLogCheck

    report = json.loads(crash_report[0].read_text())
    data = base64.b64decode(report["input"]["base64"])
    harness = Harness.from_settings(VoteWithoutLogCheck, target=MUTANT, artifacts=str(read_only_directory))
    schedule, result = harness.execute(data)
    assert harness.save_crash(data, schedule, result) is None
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "cannot be written" in line and str(read_only_directory) in line
    printed = re.search(r"base64: ([A-Za-z0-9+/=]+)", line).group(1)
    assert base64.b64decode(printed) == data


def _raw_only(spool: Path, data: bytes) -> Path:
    spool.mkdir(parents=True, exist_ok=True)
    raw = spool / f"crash-{hashlib.sha1(data).hexdigest()}"
    raw.write_bytes(data)
    return raw


def test_sync_rebuilds_the_report_of_a_raw_crash_left_without_one(crash_report, tmp_path):
    raw = _raw_only(tmp_path / "spool", crash_report[0].with_suffix("").read_bytes())
    store = tmp_path / "store"
    store.mkdir()
    completed = run_cli("raftfuzz", "sync", "--artifacts", str(raw.parent), "--target", MUTANT,
                        env={"RAFTFUZZ_STORE_DIR": str(store)}, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert "1 reported" in completed.stdout and "1 report rebuilt from raw inputs" in completed.stdout
    assert raw.with_name(raw.name + ".json").exists()
    assert list(store.glob(f"crashes/*/{raw.name}.json"))


def test_sync_uploads_a_raw_crash_that_does_not_reproduce_alone_and_says_so(tmp_path):
    raw = _raw_only(tmp_path / "spool", b"\x01\x02 no violation with the reference node")
    store = tmp_path / "store"
    store.mkdir()
    completed = run_cli("raftfuzz", "sync", "--artifacts", str(raw.parent),
                        env={"RAFTFUZZ_STORE_DIR": str(store)}, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert f"uploaded alone to crashes/unreproduced/ ({raw.name}: it did not reproduce)" in completed.stdout
    assert (store / "crashes" / "unreproduced" / raw.name).read_bytes() == raw.read_bytes()
    again = run_cli("raftfuzz", "sync", "--artifacts", str(raw.parent), env={"RAFTFUZZ_STORE_DIR": str(store)},
                    cwd=tmp_path)
    assert "uploaded alone" not in again.stdout  # done once, remembered


def test_a_raw_crash_that_kills_its_replay_is_uploaded_alone_and_the_uploader_survives(tmp_path):
    raw = _raw_only(tmp_path / "spool", b"any input: the target kills its process on the first tick")
    store = tmp_path / "store"
    store.mkdir()
    completed = run_cli("raftfuzz", "sync", "--artifacts", str(raw.parent), "--target",
                        "tests.broken_targets:KillsItself", env={"RAFTFUZZ_STORE_DIR": str(store)}, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert f"uploaded alone to crashes/unreproduced/ ({raw.name}: its replay was killed by signal 9)" \
        in completed.stdout
    assert (store / "crashes" / "unreproduced" / raw.name).exists()


def test_the_container_rebuilds_a_raw_crash_left_without_a_report(crash_report, tmp_path):
    raw = _raw_only(tmp_path / "artifacts", crash_report[0].with_suffix("").read_bytes())
    completed = run_cli("raftfuzz.container", env={"FUZZ_SECONDS": "2", "RAFTFUZZ_TARGET": MUTANT,
                                                   "RAFTFUZZ_ARTIFACTS": str(raw.parent)}, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert raw.with_name(raw.name + ".json").exists(), completed.stderr[-3000:]


def test_the_supervisor_rebuilds_a_raw_crash_left_without_a_report(crash_report, tmp_path, monkeypatch):
    from raftfuzz.store.supervisor import Supervisor
    from raftfuzz.run.settings import Settings
    from raftfuzz.store.objects import LocalStore

    raw = _raw_only(tmp_path / "spool", crash_report[0].with_suffix("").read_bytes())
    (tmp_path / "store").mkdir()
    settings = Settings(target=MUTANT, artifacts=raw.parent)
    supervisor = Supervisor(LocalStore(tmp_path / "store"), settings, None)
    supervisor.upload_crashes(final=True)
    assert raw.with_name(raw.name + ".json").exists()
    assert list((tmp_path / "store").glob(f"crashes/*/{raw.name}.json"))


# ------------------------------------------- 3. a file is what it contains

@pytest.mark.parametrize("name, prefix", [("crash.JSON", b""), ("crash.json.txt", b""), ("crash", b""),
                                          ("report.bin", b""), ("crash.txt", b"\xef\xbb\xbf"),
                                          ("crash.Json", b"  \n")])
@pytest.mark.parametrize("container", [False, True], ids=["replay", "container"])
def test_a_report_is_recognised_by_its_content_not_its_name(crash_report, tmp_path, name, prefix, container):
    path = tmp_path / name
    path.write_bytes(prefix + crash_report[0].read_bytes())
    completed = replay_in(tmp_path, path, container=container)
    assert completed.returncode == Outcome.SAFETY, completed.stdout + completed.stderr
    assert "reproduced: same property, step and trace hash" in completed.stdout


WRONG_STRUCTURE = [
    # (field__nested = value, a word of the message)
    ({"violation": None}, "violation is null"),
    ({"violation": "LeaderCompleteness"}, "violation is str"),
    ({"run": [1, 2]}, "run is list"),
    ({"run__trace_hash": None}, "run.trace_hash is null"),
    ({"violation__step": "1664"}, "violation.step is str"),
    ({"violation__property": 3}, "violation.property is int"),
    ({"max_steps": "5000"}, "max_steps is str"),
    ({"max_steps": True}, "max_steps is bool"),
    ({"max_steps": 0}, "max_steps 0"),
    ({"input": "AAAA"}, "input is str"),
    ({"input__base64": 5}, "input.base64 is int"),
    ({"input__sha1": None}, "input.sha1 is null"),
    ({"input__base64": "!!notbase64"}, "unreadable"),
    ({"schema": "1"}, "schema '1'"),
    ({"format_version": None}, "input format None"),
    ({"signature": ["a"]}, "signature is list"),
    ({"core": 1}, "core is int"),
]


@pytest.mark.parametrize("changes, needle", WRONG_STRUCTURE, ids=lambda value: str(value)[:40])
def test_a_structurally_wrong_report_is_refused_before_anything_runs(crash_report, tmp_path, changes, needle):
    report = write_report(tmp_path, crash_report[0], **changes)
    completed = run_cli("raftfuzz", "replay", str(report), "--log-level", "none", cwd=tmp_path)
    refused(completed, Outcome.USAGE, needle)
    assert "core=" not in completed.stdout


def _special(tmp_path: Path, kind: str) -> str:
    if kind == "symlink loop":
        os.symlink(tmp_path / "b", tmp_path / "a")
        os.symlink(tmp_path / "a", tmp_path / "b")
        return str(tmp_path / "a")
    if kind == "dangling symlink":
        os.symlink(tmp_path / "nowhere", tmp_path / "dangling")
        return str(tmp_path / "dangling")
    if kind == "directory":
        return str(tmp_path)
    if kind == "device":
        return "/dev/null"
    if kind == "through a file":
        (tmp_path / "afile").write_text("x")
        return str(tmp_path / "afile" / "crash")
    return str(tmp_path / "missing")


SPECIAL_PATHS = ["symlink loop", "dangling symlink", "directory", "device", "through a file", "missing"]


@pytest.mark.parametrize("kind", SPECIAL_PATHS)
@pytest.mark.parametrize("command", [("raftfuzz", "replay"), ("raftfuzz", "decode"), ("raftfuzz.atheris_main",)],
                         ids=" ".join)
def test_a_special_file_as_an_input_is_one_line(tmp_path, kind, command):
    path = _special(tmp_path, kind)
    if command == ("raftfuzz.atheris_main",) and kind == "directory":
        pytest.skip("a directory is a corpus for libFuzzer")
    refused(run_cli(*command, path, cwd=tmp_path), Outcome.USAGE)


@pytest.mark.parametrize("kind", ["symlink loop", "through a file", "a file"])
@pytest.mark.parametrize("command", ["seed-corpus", "corpus-env", "atheris-corpus"])
def test_a_directory_argument_that_is_not_a_directory_is_one_line(tmp_path, kind, command):
    if kind == "a file":
        path = tmp_path / "afile"
        path.write_text("x")
    else:
        path = _special(tmp_path, kind)
    if command == "seed-corpus":
        completed = run_cli("raftfuzz", "seed-corpus", str(path), cwd=tmp_path)
    elif command == "corpus-env":
        completed = run_cli("raftfuzz.container", env={"RAFTFUZZ_CORPUS": str(path), "FUZZ_SECONDS": "1"},
                            cwd=tmp_path)
    else:
        completed = run_cli("raftfuzz.atheris_main", str(path), str(REPO / "corpus"), "-runs=1", cwd=tmp_path)
    refused(completed, Outcome.USAGE, container=command == "corpus-env")


def test_decode_reads_the_input_a_report_carries(crash_report):
    completed = run_cli("raftfuzz", "decode", str(crash_report[0]))
    assert completed.returncode == 0, completed.stderr
    printed = json.loads(completed.stdout)
    legend = printed.pop("verbs")  # what each verb used does (raftfuzz.schedule.verbs)
    assert printed == json.loads(crash_report[0].read_text())["schedule"]
    assert set(legend) == {event.split()[1] for event in printed["events"]}


def test_the_fuzzer_refuses_input_files_mixed_with_corpus_directories(tmp_path):
    (tmp_path / "input").write_bytes(b"\x01" * 30)
    refused(run_cli("raftfuzz.atheris_main", str(tmp_path / "input"), str(REPO / "corpus"), "-runs=1", cwd=tmp_path),
            Outcome.USAGE, "not both")


def test_the_fuzzer_refuses_a_report_as_its_input(crash_report):
    refused(run_cli("raftfuzz.atheris_main", str(crash_report[0])), Outcome.USAGE, "raftfuzz replay")


# ------------------------------------------------------------ 4. exit codes

def test_a_missing_corpus_directory_is_bad_usage(tmp_path):
    refused(run_cli("raftfuzz.atheris_main", str(tmp_path / "nope"), "-runs=1", cwd=tmp_path),
            Outcome.USAGE, "mkdir -p")


def test_sigterm_with_a_store_exits_143_as_the_container_does(tmp_path):
    (tmp_path / "store").mkdir()
    (tmp_path / "corpus").mkdir()
    environment = dict(os.environ, PYTHONPATH=str(REPO), RAFTFUZZ_STORE_DIR=str(tmp_path / "store"))
    log = (tmp_path / "stderr").open("w")
    fuzzer = subprocess.Popen([sys.executable, "-m", "raftfuzz.atheris_main", str(tmp_path / "corpus"),
                               str(REPO / "corpus"), "-max_total_time=300", f"-artifact_prefix={tmp_path}/a/"],
                              cwd=tmp_path, env=environment, stderr=log, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while "INITED" not in (tmp_path / "stderr").read_text() and time.monotonic() < deadline:
        assert fuzzer.poll() is None, (tmp_path / "stderr").read_text()[-3000:]
        time.sleep(0.5)
    fuzzer.send_signal(signal.SIGTERM)
    assert fuzzer.wait(timeout=120) == 143, (tmp_path / "stderr").read_text()[-3000:]


def test_sigterm_to_the_container_in_random_mode_exits_143(tmp_path):
    environment = dict(os.environ, PYTHONPATH=str(REPO), FUZZ_MODE="random", FUZZ_SECONDS="300",
                       RAFTFUZZ_ARTIFACTS=str(tmp_path / "artifacts"))
    log = (tmp_path / "stderr").open("w")
    worker = subprocess.Popen([sys.executable, "-m", "raftfuzz.container"], cwd=tmp_path, env=environment,
                              stderr=log, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while "no BUCKET_NAME set" not in (tmp_path / "stderr").read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=60) == 143, (tmp_path / "stderr").read_text()[-3000:]


def test_the_readme_lists_every_exit_code_a_user_can_see():
    text = (REPO / "README.md").read_text()
    table = text[text.index("### Exit codes"):text.index("### Crash files")]
    listed = set(re.findall(r"^\| (\d+) \|", table, re.MULTILINE))
    assert {"0", "1", "2", "3", "4", "5", "72", "77", "130", "143"} <= listed, listed


def test_two_node_panics_of_one_target_keep_apart_by_exception_and_line():
    """The signature holds the facts' values, not their names, so two bugs in
    one target are two signatures in the bucket, not one."""
    from raftfuzz.run.report import signature
    from raftfuzz.checks.violations import node_panic

    def panic(error):
        try:
            raise error
        except Exception as raised:
            return node_panic(0, raised)

    first, second = panic(IndexError("a")), panic(KeyError("b"))
    assert signature(first, MUTANT) != signature(second, MUTANT)
    assert "IndexError" in signature(first, MUTANT) and "test_hostile_input.py" in signature(first, MUTANT)
