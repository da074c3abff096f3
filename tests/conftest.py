import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_cli(*arguments, env=None, cwd=None, timeout=300):
    """Runs `python -m <arguments>` as a user would, with the repo importable."""
    environment = dict(os.environ, PYTHONPATH=str(REPO))
    environment.pop("RAFTFUZZ_LOG", None)
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", *arguments], env=environment, cwd=cwd or REPO,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def crash_report(tmp_path_factory):
    """A real crash: the first random input on which a planted bug is caught."""
    from raftfuzz.run.harness import Harness
    from raftfuzz.run.random_mode import random_input
    from raftfuzz.node.mutants import VoteWithoutLogCheck

    directory = tmp_path_factory.mktemp("artifacts")
    harness = Harness.from_settings(VoteWithoutLogCheck, target="raftfuzz.node.mutants:VoteWithoutLogCheck",
                                    artifacts=str(directory))
    generator = random.Random(0)
    for _ in range(500):
        data = random_input(generator)
        schedule, result = harness.execute(data)
        if result.violation is not None:
            return harness.save_crash(data, schedule, result), result
    raise AssertionError("no crash found for the planted bug in 500 random inputs")
