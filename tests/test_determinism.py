"""A run is a pure function of the input: the same bytes give the same trace
hash in another process, on either core, under any PYTHONHASHSEED."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from raftfuzz.core import contract as core

REPO = Path(__file__).resolve().parents[1]

HASH_EVERY_INPUT = r"""
import json, random, sys
from raftfuzz.run.harness import Harness
from raftfuzz.node.raft import RaftNode
from raftfuzz.run.random_mode import random_input
from raftfuzz.schedule.seeds import seed_schedules
from raftfuzz.schedule.codec import encode
from raftfuzz.run.settings import Settings
inputs = [encode(s) for s in seed_schedules().values()]
generator = random.Random(99)
inputs += [random_input(generator) for _ in range(10)]
harness = Harness.from_settings(RaftNode, Settings.load(), max_steps=1500)
hashes = []
for data in inputs:
    _, result = harness.execute(data)
    hashes.append([result.trace_hash, result.steps, result.violation is None])
print(json.dumps({"core": harness.core_name, "hashes": hashes}))
"""


def hashes_in_subprocess(core_name: str, hash_seed: str) -> dict:
    environment = dict(os.environ, RAFTFUZZ_CORE=core_name, PYTHONHASHSEED=hash_seed,
                       PYTHONPATH=str(REPO))
    completed = subprocess.run([sys.executable, "-c", HASH_EVERY_INPUT], env=environment,
                               capture_output=True, text=True, check=True, cwd=REPO)
    return json.loads(completed.stdout)


def test_same_trace_hashes_across_processes_cores_and_hash_seeds():
    cores = ["python"] + (["c"] if core.c_core_available() else [])
    if len(cores) < 2 and os.environ.get("CI"):
        pytest.fail("the C core is not built in CI")
    runs = {(name, seed): hashes_in_subprocess(name, seed)
            for name in cores for seed in ("0", "1", "random")}
    reference = runs[("python", "0")]["hashes"]
    assert len({tuple(map(tuple, run["hashes"])) for run in runs.values()}) == 1, {
        key: run["hashes"][:3] for key, run in runs.items()}
    assert {run["core"] for run in runs.values()} == set(cores)
    # The inputs are diverse: distinct runs give distinct hashes.
    assert len({entry[0] for entry in reference}) == len(reference)


def test_same_input_twice_in_one_process_gives_the_same_hash():
    from raftfuzz.run.harness import Harness
    from raftfuzz.node.raft import RaftNode
    from raftfuzz.schedule.codec import encode
    from raftfuzz.schedule.seeds import seed_schedules

    harness = Harness.from_settings(RaftNode, max_steps=2000)
    data = encode(seed_schedules()["crash-restart-storm"])
    first = harness.execute(data)[1]
    second = harness.execute(data)[1]
    assert (first.trace_hash, first.steps) == (second.trace_hash, second.steps)
