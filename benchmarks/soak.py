"""The long no-false-positive campaign: the reference node under the real
coverage-guided fuzzer for at least 100,000 executions (not run in CI).

    python benchmarks/soak.py [--executions 100000] [--jobs 2] [--target ...]

Runs `python -m raftfuzz.atheris_main` with -jobs/-workers, each job doing
executions/jobs runs on a shared corpus, then reports the executions done and
every crash file written. Exit code 0 only if there was none.
"""

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--target", default="raftfuzz.node.raft:RaftNode")
    parser.add_argument("--workdir", type=Path, default=None, help="keep logs and corpus here")
    arguments = parser.parse_args()

    workdir = arguments.workdir or Path(tempfile.mkdtemp(prefix="raftfuzz-soak-"))
    corpus, artifacts = workdir / "corpus", workdir / "artifacts"
    corpus.mkdir(parents=True, exist_ok=True)
    artifacts.mkdir(exist_ok=True)
    per_job = -(-arguments.executions // arguments.jobs)
    started = time.time()
    subprocess.run(
        [sys.executable, "-m", "raftfuzz.atheris_main", f"--target={arguments.target}", str(corpus),
         str(REPO / "corpus"), f"-runs={per_job}", f"-jobs={arguments.jobs}", f"-workers={arguments.jobs}",
         f"-artifact_prefix={artifacts}/"],
        cwd=workdir, check=False)
    elapsed = time.time() - started
    executions = 0
    for log in sorted(workdir.glob("fuzz-*.log")):
        done = re.findall(r"^Done (\d+) runs", log.read_text(), re.MULTILINE)
        executions += int(done[-1]) if done else 0
    crashes = sorted(path.name for path in artifacts.glob("crash-*") if path.suffix != ".json")
    print(f"soak: {executions} executions of {arguments.target} in {elapsed:.0f} s "
          f"({executions / elapsed:.1f} exec/s over {arguments.jobs} jobs), {len(crashes)} crashes; "
          f"logs in {workdir}")
    for name in crashes:
        print(f"  {artifacts / name}")
    return 0 if not crashes and executions >= arguments.executions else 1


if __name__ == "__main__":
    sys.exit(main())
