"""One Settings object, one Outcome enum, and the package's floor plan:
settings read in one module, exit codes in one enum that README lists, no
import circles."""

import ast
import json
import re
from pathlib import Path

import pytest

from raftfuzz.core import contract as core
from raftfuzz.core.twin import PythonCore
from raftfuzz.run.harness import Harness
from raftfuzz.node.interface import Ready
from raftfuzz.run.outcome import HarnessError, Outcome
from raftfuzz.node.raft import RaftNode
from raftfuzz.run.report import build_report
from raftfuzz.schedule.codec import encode
from raftfuzz.schedule.seeds import seed_schedules
from raftfuzz.run.settings import SETTINGS, Settings, SettingsError
from raftfuzz.checks.violations import ContractViolation, LivenessViolation, SafetyViolation
import raftfuzz
from tests.conftest import REPO, run_cli

PACKAGE = Path(raftfuzz.__file__).parent
README = (REPO / "README.md").read_text()


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    assert len(found) > 40, f"found only {len(found)} modules under {PACKAGE}"  # never vacuous
    return found


# ------------------------------------------------ settings read in one place

def environment_reads(tree: ast.AST) -> list[int]:
    """Lines that read or write the process environment: os.environ,
    os.getenv, os.putenv, os.unsetenv, or importing any of them."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "environb", "getenv", "putenv",
                                                             "unsetenv"):
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "os" and any(
                alias.name in ("environ", "environb", "getenv", "putenv", "unsetenv") for alias in node.names):
            lines.append(node.lineno)
    return lines


def test_only_the_settings_module_touches_the_environment():
    offenders = {name: lines for name, path in modules().items()
                 if name != "raftfuzz.run.settings" and (lines := environment_reads(ast.parse(path.read_text())))}
    assert offenders == {}, f"read the setting in src/raftfuzz/run/settings.py and pass it down: {offenders}"


def test_the_environment_check_can_fail():
    assert environment_reads(ast.parse("import os\nx = os.environ.get('A')\n")) == [2]
    assert environment_reads(ast.parse("from os import getenv\n")) == [1]
    assert environment_reads(ast.parse("import os\nos.getenv('A')\n")) == [2]
    assert environment_reads(ast.parse("x = {}.get('A')\n")) == []


def test_a_flag_beats_the_environment_which_beats_the_default():
    assert Settings.load(environ={}).max_steps == 5000
    assert Settings.load(environ={"MAX_STEPS": "700"}).max_steps == 700
    settings = Settings.load({"max_steps": "900"}, environ={"MAX_STEPS": "700"})
    assert settings.max_steps == 900 and settings.from_flag("max_steps")
    assert not Settings.load(environ={"MAX_STEPS": "700"}).from_flag("max_steps")
    assert Settings.load(environ={"MAX_STEPS": ""}).max_steps == 5000  # empty means unset


def test_every_setting_survives_the_trip_through_a_child_environment():
    """What an entry point exports is what a -jobs/-fork child reads back."""
    environ = {"RAFTFUZZ_TARGET": "raftfuzz.node.mutants:VoteWithoutLogCheck", "MAX_STEPS": "1234",
               "RAFTFUZZ_ARTIFACTS": "/tmp/a", "RAFTFUZZ_CORE": "python", "RAFTFUZZ_FEEDBACK": "code+state",
               "RAFTFUZZ_STATE_FEATURES": "states+kind", "RAFTFUZZ_MUTATOR": "bytes", "RAFTFUZZ_LOG": "trace",
               "RAFTFUZZ_CORPUS": "/tmp/c", "RAFTFUZZ_COMMIT": "abc", "BUCKET_NAME": "b",
               "RAFTFUZZ_BUCKET_PREFIX": "p/q", "RAFTFUZZ_STORE_DIR": "/tmp/s",
               "GOOGLE_APPLICATION_CREDENTIALS": "/k.json", "STORAGE_EMULATOR_HOST": "http://e",
               "REQUESTS_CA_BUNDLE": "/ca.pem", "RAFTFUZZ_STORAGE_RETRY_SECONDS": "2.5", "RAFTFUZZ_SYNC": "0",
               "RAFTFUZZ_SYNC_INTERVAL": "5", "RAFTFUZZ_WORKER": "w1", "FUZZ_MODE": "random",
               "FUZZ_SECONDS": "60", "FUZZ_FILE": "/f.json", "JOB_COMPLETION_INDEX": "3",
               "RAFTFUZZ_SHRINK_SECONDS": "7.5", "RAFTFUZZ_CODE_COVERAGE": "blocks+accessors"}
    assert set(environ) == {setting.variable for setting in SETTINGS}  # every variable is exercised
    settings = Settings.load(environ=environ)
    defaults = Settings()
    for setting in SETTINGS:  # every value was read, none left at its default
        assert getattr(settings, setting.field) != getattr(defaults, setting.field), setting.variable
    assert Settings.load(environ=settings.to_environment()) == settings


def test_the_ca_bundle_falls_back_to_curls_variable():
    assert Settings.load(environ={"CURL_CA_BUNDLE": "/c.pem"}).ca_bundle == "/c.pem"
    assert Settings.load(environ={"CURL_CA_BUNDLE": "/c.pem", "REQUESTS_CA_BUNDLE": "/r.pem"}).ca_bundle == "/r.pem"


@pytest.mark.parametrize("flags, environ, message, outcome", [
    ({}, {"MAX_STEPS": "many"}, "MAX_STEPS='many' is not a whole number", Outcome.USAGE),
    ({"max_steps": "0"}, {}, "--max-steps=0 is outside 1..10000000", Outcome.USAGE),
    ({"core": "fortran"}, {}, "--core='fortran' is not a core; use c, python", Outcome.USAGE),
    ({}, {"RAFTFUZZ_CORE": "fortran"}, "RAFTFUZZ_CORE='fortran' is not a core", Outcome.USAGE),
    ({}, {"RAFTFUZZ_LOG": "loud"}, "RAFTFUZZ_LOG='loud' is not a log level; use none, info, debug, trace",
     Outcome.USAGE),
    ({}, {"FUZZ_MODE": "fuzzz"}, "FUZZ_MODE='fuzzz' is not a mode; use fuzz, random, reproduce, prune",
     Outcome.USAGE),
    ({}, {"RAFTFUZZ_STATE_FEATURES": "kind"}, "needs one of states, transitions, fields, pairs", Outcome.USAGE),
    ({}, {"JOB_COMPLETION_INDEX": "-1"}, "JOB_COMPLETION_INDEX=-1 is outside 0..100000", Outcome.USAGE),
    # A storage setting is a storage misconfiguration, as README says of the bucket's.
    ({}, {"RAFTFUZZ_SYNC_INTERVAL": "soon"}, "RAFTFUZZ_SYNC_INTERVAL='soon' is not a number of seconds",
     Outcome.STORAGE),
    ({}, {"RAFTFUZZ_STORAGE_RETRY_SECONDS": "0"}, "is outside 0..600 seconds", Outcome.STORAGE),
])
def test_a_bad_value_names_its_flag_or_variable(flags, environ, message, outcome):
    with pytest.raises(SettingsError) as raised:
        Settings.load(flags, environ=environ)
    assert message in str(raised.value)
    assert raised.value.outcome == outcome


def test_a_bad_setting_is_one_line_and_its_exit_code_from_every_entry_point(tmp_path):
    for command in (["raftfuzz", "decode", "x"], ["raftfuzz.atheris_main", str(tmp_path), "-runs=1"],
                    ["raftfuzz", "container"]):
        completed = run_cli(*command, env={"RAFTFUZZ_SYNC_INTERVAL": "soon"}, cwd=tmp_path)
        assert completed.returncode == Outcome.STORAGE, (command, completed.stderr)
        assert completed.stderr.strip().count("\n") == 0 and "RAFTFUZZ_SYNC_INTERVAL='soon'" in completed.stderr


def test_export_drops_empty_variables_that_mean_unset(monkeypatch):
    import os

    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "")
    settings = Settings.load()
    assert settings.credentials is None
    environment = settings.child_environment()
    assert "GOOGLE_APPLICATION_CREDENTIALS" not in environment
    assert environment["MAX_STEPS"] == "5000"
    settings.export()
    assert "GOOGLE_APPLICATION_CREDENTIALS" not in os.environ


def test_readme_lists_every_variable_and_no_other():
    rows = [line for line in README.splitlines() if line.startswith("|")]
    listed = {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9]*_[A-Z0-9_]+)", row)}
    variables = {setting.variable for setting in SETTINGS} | {setting.fallback for setting in SETTINGS
                                                             if setting.fallback}
    assert variables - listed == set(), "add these to a settings table in README.md"
    assert listed - variables == set(), "README documents variables raftfuzz does not read"


# ------------------------------------------------------ the core that ran

def test_the_harness_runs_on_the_core_it_names_and_the_report_records_it(monkeypatch):
    monkeypatch.setenv("RAFTFUZZ_CORE", "c")  # ignored: only the settings choose
    made = []
    make_core = core.make_core
    monkeypatch.setattr(core, "make_core", lambda *arguments: made.append(make_core(*arguments)) or made[-1])
    harness = Harness.from_settings(RaftNode, core="python", max_steps=300)
    data = encode(seed_schedules()["crash-restart-storm"])
    schedule, result = harness.execute(data)
    assert [type(made_core) for made_core in made] == [PythonCore]
    result.violation = SafetyViolation("Example", "for the report")
    report = build_report(data, schedule, result, target=harness.target, core_name=harness.core_name,
                          max_steps=harness.max_steps, commit="abc")
    assert (report["core"], report["commit"]) == ("python", "abc")


# --------------------------------------------------------------- outcomes

def test_violations_and_harness_errors_have_their_outcomes():
    assert SafetyViolation("p", "m").exit_code == Outcome.SAFETY == 3
    assert LivenessViolation("p", "m").exit_code == Outcome.LIVENESS == 4
    assert ContractViolation("p", "m").exit_code == Outcome.HARNESS_ERROR == 1
    assert HarnessError("m").outcome == Outcome.HARNESS_ERROR


class NeverSettles(RaftNode):
    """Always has more work: the simulator raises HarnessError after its
    ready rounds."""

    def ready(self):
        return super().ready() or Ready()


def test_a_harness_error_is_a_contract_finding_with_exit_code_1(tmp_path):
    harness = Harness.from_settings(NeverSettles, target="tests.test_settings:NeverSettles",
                                    artifacts=tmp_path, max_steps=500)
    data = encode(seed_schedules()["crash-restart-storm"])
    _, result = harness.execute(data)
    assert isinstance(result.violation, ContractViolation), result.violation
    assert "ready rounds" in result.violation.message and "settles" in result.violation.message
    assert result.violation.exit_code == Outcome.HARNESS_ERROR
    raw = tmp_path / "input"
    raw.write_bytes(data)
    completed = run_cli("raftfuzz", "replay", str(raw), "--target", "tests.test_settings:NeverSettles",
                        "--log-level", "none", cwd=REPO)
    assert completed.returncode == Outcome.HARNESS_ERROR, completed.stdout + completed.stderr
    assert "harness error NodeContract" in completed.stdout


def exit_code_table(readme: str) -> set[int]:
    section = readme[readme.index("### Exit codes"):]
    section = section[:section.index("\n#", 1)]
    return {int(code) for code in re.findall(r"^\| (\d+) \| .* \|$", section, re.MULTILINE)}


def test_readme_exit_code_table_is_the_outcome_enum():
    assert exit_code_table(README) == {outcome.value for outcome in Outcome}


def test_the_exit_code_check_can_fail():
    fake = "### Exit codes\n\n| code | meaning |\n|---|---|\n| 0 | fine |\n| 9 | new |\n\n## Next\n"
    assert exit_code_table(fake) == {0, 9}


# ------------------------------------------------------- the floor plan

def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules ``name`` imports, at module level or inside a
    function (a function-level import closes a circle all the same)."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            for alias in node.names:
                if f"{base}.{alias.name}" in known:
                    found.add(f"{base}.{alias.name}")
                elif base in known:
                    found.add(base)
    found.discard(name)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for other in sorted(graph[module]):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_the_package_has_no_import_circles():
    found = modules()
    graph = {name: imports(name, path, set(found)) for name, path in found.items()}
    assert graph["raftfuzz.cli"] >= {"raftfuzz.atheris_main", "raftfuzz.container", "raftfuzz.run.settings"}
    assert cycles(graph) == []


def test_the_circle_check_can_fail(tmp_path):
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    path = tmp_path / "x.py"
    path.write_text("def f():\n    from raftfuzz import y\n")
    assert imports("raftfuzz.x", path, {"raftfuzz.x", "raftfuzz.y", "raftfuzz"}) == {"raftfuzz.y"}  # lazy counts


def test_the_json_of_outcomes_is_plain_numbers():
    """Outcome is an IntEnum: exit codes, JSON and comparisons see numbers."""
    assert json.dumps({"code": Outcome.STORAGE}) == '{"code": 5}'


# ------------------------------------------------ the container's processes

def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            pass  # the task ended meanwhile
    return found


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_a_syncing_container_worker_is_two_processes(tmp_path):
    """The entrypoint syncs with the store itself and runs libFuzzer as its
    only child, with syncing off: no supervisor in between."""
    import os
    import subprocess
    import sys
    import time

    (tmp_path / "store").mkdir()
    environment = dict(os.environ, PYTHONPATH=str(REPO), FUZZ_SECONDS="20", RAFTFUZZ_STORE_DIR=str(tmp_path / "store"),
                       RAFTFUZZ_CORPUS=str(tmp_path / "corpus"), RAFTFUZZ_ARTIFACTS=str(tmp_path / "artifacts"))
    environment.pop("RAFTFUZZ_SYNC", None)
    worker = subprocess.Popen([sys.executable, "-m", "raftfuzz.container"], env=environment, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not children(worker.pid) and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.2)
        [fuzzer] = children(worker.pid)
        time.sleep(3)  # long enough for a supervisor to start a fuzzer of its own
        command = Path(f"/proc/{fuzzer}/cmdline").read_bytes().split(b"\0")
        assert b"raftfuzz.atheris_main" in command, command
        assert b"RAFTFUZZ_SYNC=0" in Path(f"/proc/{fuzzer}/environ").read_bytes().split(b"\0")
        assert children(fuzzer) == []
    finally:
        worker.terminate()
        output = worker.communicate(timeout=120)[0]
    assert worker.returncode == Outcome.SIGTERM, output[-3000:]
    assert "raftfuzz: sync: pulled" in output, output[-3000:]
