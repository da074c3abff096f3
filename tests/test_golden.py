"""Golden transcripts (etcd datadriven style): the debug trace of a few small
runs, committed under tests/golden/. Any change in behaviour — node, network,
RNG, schedule decoding — shows up as a readable diff. After an intended
change, regenerate with `UPDATE_GOLDEN=1 make test` and review the diff."""

import os

import pytest

from raftfuzz.node.raft import RaftNode
from raftfuzz.schedule.seeds import seed_schedules
from raftfuzz.sim.simulation import Simulation
from tests.conftest import REPO

GOLDEN = REPO / "tests" / "golden"
CASES = {"quiet-3": 150, "leader-crash-restart": 700, "hold-release": 300}


def transcript(name: str, max_steps: int) -> str:
    lines: list[str] = []
    simulation = Simulation(seed_schedules()[name], RaftNode, max_steps=max_steps,
                            log_level="debug", log=lines.append)
    result = simulation.run()
    lines.append(f"end: steps={result.steps} ended_by={result.ended_by} trace={result.trace_hash}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("name", sorted(CASES))
def test_transcript_matches_golden(name):
    actual = transcript(name, CASES[name])
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(actual)
    assert actual == path.read_text(), f"{path} differs; see the module docstring"
