"""The image built and run for real: podman builds the Dockerfile on a
Debian bookworm base made by debootstrap (no image registry is reachable
here, see ARCHITECTURE.md §8), then the image reproduces the committed crash
report with its exit code, fuzzes for a few seconds and stops cleanly at its
budget, and runs as a non-root user.

Everything podman stores lives in a temporary directory of this session
(``--root``/``--runroot``), so nothing is cached outside it and nothing
touches the machine's own images. The base is the least the Dockerfile
promises to build on: python3 with venv and pip and the CA certificates,
but no compiler and no Python headers (python3-dev), which the builder
stage must install itself for the C core (issue 12); the host's CA bundle is
mounted into the build for pip, as a TLS-intercepting proxy requires.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

BASE_PACKAGES = "python3,python3-venv,python3-pip,ca-certificates"
MIRROR = os.environ.get("RAFTFUZZ_DEBIAN_MIRROR", "http://deb.debian.org/debian")
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
CRASH = REPO / "tests" / "data" / "canary-leader-completeness.json"
PYSYNCOBJ_CRASH = REPO / "docs" / "findings" / "pysyncobj-1.crash.json"
# Limits on each step, generous for a 2-core machine under load (measured
# there: debootstrap ~4 min, import ~1 min, build ~6 min).
DEBOOTSTRAP_SECONDS = 1200
BUILD_SECONDS = 1800
RUN_SECONDS = 300


def _missing_tools() -> list[str]:
    return [tool for tool in ("podman", "debootstrap", "runc") if shutil.which(tool) is None]


class Podman:
    def __init__(self, directory: Path) -> None:
        self.base = ["podman", "--storage-driver", "vfs", "--root", str(directory / "storage"),
                     "--runroot", str(directory / "run")]

    def __call__(self, *arguments, timeout=RUN_SECONDS, input=None, check=True) -> subprocess.CompletedProcess:
        result = subprocess.run([*self.base, *arguments], capture_output=True, timeout=timeout, input=input)
        if check and result.returncode != 0:
            raise AssertionError(f"podman {' '.join(arguments[:3])}... exited {result.returncode}:\n"
                                 f"{result.stdout.decode(errors='replace')[-3000:]}\n"
                                 f"{result.stderr.decode(errors='replace')[-3000:]}")
        return result

    def run(self, image: str, *arguments, environment=None, volumes=(), entrypoint=None) -> subprocess.CompletedProcess:
        command = ["--runtime", "runc", "run", "--rm", "--network=none",
                   "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
        for name, value in (environment or {}).items():
            command += ["-e", f"{name}={value}"]
        for volume in volumes:
            command += ["-v", volume]
        if entrypoint is not None:
            command += ["--entrypoint", entrypoint]
        return self(*command, image, *arguments, check=False)


@pytest.fixture(scope="session")
def image(tmp_path_factory):
    missing = _missing_tools()
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (.ci/run installs them)")
    if os.geteuid() != 0:
        pytest.skip("debootstrap and the vfs podman store need root here")
    directory = tmp_path_factory.mktemp("container")
    rootfs = directory / "rootfs"
    completed = subprocess.run(["debootstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", "bookworm",
                                str(rootfs), MIRROR], capture_output=True, timeout=DEBOOTSTRAP_SECONDS)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    podman = Podman(directory)
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    imported = subprocess.run([*podman.base, "import", "-", "localhost/raftfuzz-base:test"], stdin=tar.stdout,
                              capture_output=True, timeout=DEBOOTSTRAP_SECONDS)
    tar.stdout.close()
    assert tar.wait() == 0 and imported.returncode == 0, imported.stderr[-3000:]
    shutil.rmtree(rootfs)  # the image holds it now; half a gigabyte less on disk
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    build = ["build", "--isolation", "chroot", "--build-arg", "BASE_IMAGE=localhost/raftfuzz-base:test",
             "--build-arg", f"RAFTFUZZ_COMMIT={commit or 'unknown'}", "-t", "localhost/raftfuzz:test"]
    if HOST_CA_BUNDLE.exists():
        build += ["-v", f"{HOST_CA_BUNDLE}:/build-ca.crt:ro", "--build-arg", "PIP_CERT=/build-ca.crt"]
    podman(*build, str(REPO), timeout=BUILD_SECONDS)
    yield podman, "localhost/raftfuzz:test", commit
    subprocess.run([*podman.base, "system", "reset", "--force"], capture_output=True, timeout=300)
    shutil.rmtree(directory, ignore_errors=True)


def test_runs_as_non_root(image):
    podman, name, _ = image
    result = podman.run(name, "-c", "id -u; id -g", entrypoint="/bin/sh")
    assert result.returncode == 0, result.stderr
    uid, gid = result.stdout.decode().split()
    assert uid != "0" and uid == "10001" and gid == "10001"


def test_reproduce_the_committed_crash(image):
    podman, name, commit = image
    result = podman.run(name, environment={"FUZZ_MODE": "reproduce", "FUZZ_FILE": "/data/crash.json",
                                           "RAFTFUZZ_LOG": "none"},
                        volumes=[f"{CRASH}:/data/crash.json:ro"])
    output = result.stdout.decode() + result.stderr.decode()
    assert result.returncode == 3, output
    assert "core=c" in output  # the C core was built into the wheel
    assert "safety violation LeaderCompleteness" in output
    assert "reproduced: same property, step and trace hash" in output
    if commit:
        assert f"commit={commit}" in output  # the build argument reached RAFTFUZZ_COMMIT


def test_reproduce_a_pysyncobj_finding(image):
    """The shipped PySyncObj target is in the image (RAFTFUZZ_TARGET)."""
    podman, name, _ = image
    result = podman.run(name, environment={"FUZZ_MODE": "reproduce", "FUZZ_FILE": "/data/crash.json",
                                           "RAFTFUZZ_LOG": "none",
                                           "RAFTFUZZ_TARGET": "raftfuzz.targets.pysyncobj:Node"},
                        volumes=[f"{PYSYNCOBJ_CRASH}:/data/crash.json:ro"])
    output = result.stdout.decode() + result.stderr.decode()
    assert result.returncode == 3, output
    assert "reproduced: same property, step and trace hash" in output


def test_fuzz_stops_cleanly_at_its_budget(image):
    podman, name, _ = image
    result = podman.run(name, environment={"FUZZ_MODE": "fuzz", "FUZZ_SECONDS": "5", "MAX_STEPS": "2000",
                                           "JOB_COMPLETION_INDEX": "3"})
    output = result.stderr.decode()
    assert result.returncode == 0, output[-4000:]
    assert "-index3]: mode=fuzz" in output
    assert output.count("no BUCKET_NAME set") == 1
    assert "budget ended: 0 crash reports" in output, output[-4000:]


def test_a_bad_mode_is_one_line(image):
    podman, name, _ = image
    result = podman.run(name, environment={"FUZZ_MODE": "fuzzing"})
    assert result.returncode == 2
    assert result.stderr.decode().strip() == ("raftfuzz: container: error: FUZZ_MODE='fuzzing' is not a mode; "
                                              "use fuzz, random, reproduce, prune")
