"""The shipped PySyncObj target (raftfuzz.targets.pysyncobj) in every mode,
its determinism, its TCP emulation, and silence where PySyncObj is right.

The findings themselves (one crash file per PySyncObj bug) are replayed in
tests/test_pysyncobj_findings.py."""

import json
import os
import random
import re
import shutil
import subprocess
import sys

import pytest

from raftfuzz.core import contract as core
from raftfuzz.run.outcome import Outcome
from tests.conftest import REPO, run_cli

pytest.importorskip("pysyncobj")

TARGET = "raftfuzz.targets.pysyncobj:Node"
FINDING = REPO / "docs" / "findings" / "pysyncobj-1.crash.json"
SEEDS = REPO / "corpora" / "pysyncobj"


def quiet_seed(tmp_path):
    """A seed directory holding one seed PySyncObj runs without a violation."""
    from raftfuzz.schedule.codec import encode
    from raftfuzz.schedule.seeds import pysyncobj_seed_schedules

    directory = tmp_path / "seeds"
    directory.mkdir()
    (directory / "quiet").write_bytes(encode(pysyncobj_seed_schedules()["pso-quiet-3"]))
    return directory


# ---------------------------------------------------------------- the target

def test_a_clean_run_replicates_client_writes_through_pysyncobj():
    from raftfuzz.run.harness import Harness
    from raftfuzz.schedule.codec import encode
    from raftfuzz.schedule.seeds import pysyncobj_seed_schedules
    from raftfuzz.run.target import load_target

    harness = Harness.from_settings(load_target(TARGET), target=TARGET)
    _, result = harness.execute(encode(pysyncobj_seed_schedules()["pso-quiet-3"]))
    assert result.violation is None
    done = [operation for operation in result.history if operation.completed_us is not None]
    assert len(done) >= 10
    assert any(operation.op == "get" and operation.result for operation in done)  # reads see writes


def test_a_missing_private_name_is_one_line_naming_it(monkeypatch):
    from pysyncobj.syncobj import SyncObj

    import raftfuzz.targets.pysyncobj as adapter
    from raftfuzz.run.target import TargetError

    monkeypatch.delattr(SyncObj, "_SyncObj__generateRaftTimeout")
    with pytest.raises(TargetError) as raised:
        adapter._check_private_names()
    assert str(raised.value) == ("pysyncobj 0.3.17 lacks _SyncObj__generateRaftTimeout; "
                                 "this target supports 0.3.17")


def test_without_pysyncobj_the_target_is_a_one_line_error():
    script = ("import sys; sys.modules['pysyncobj'] = None; from raftfuzz.cli import main; "
              f"raise SystemExit(main(['random', '--target', '{TARGET}', '--runs', '1']))")
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                               env=dict(os.environ, PYTHONPATH=str(REPO)), cwd=REPO, timeout=120)
    assert completed.returncode == Outcome.USAGE, completed.stderr
    assert completed.stderr.count("\n") == 1
    assert "pip install 'raftfuzz[pysyncobj]'" in completed.stderr


def test_no_wall_clock_or_global_random_reaches_pysyncobj(monkeypatch):
    """Every clock PySyncObj imported is the simulated one, and a run calls
    neither the wall clock nor the random module nor sleep."""
    import time

    import pysyncobj

    import raftfuzz.targets.pysyncobj as adapter

    clocks = {name: module.monotonicTime for name, module in sys.modules.items()
              if name.startswith("pysyncobj.") and hasattr(module, "monotonicTime")}
    assert {"pysyncobj.syncobj", "pysyncobj.transport", "pysyncobj.tcp_connection",
            "pysyncobj.dns_resolver"} <= set(clocks)
    assert set(clocks.values()) == {adapter._simulated_time}
    assert pysyncobj.syncobj.createJournal is adapter._create_journal
    from raftfuzz.run.harness import Harness
    from raftfuzz.schedule.codec import encode
    from raftfuzz.schedule.seeds import pysyncobj_seed_schedules
    from raftfuzz.run.target import load_target

    def forbidden(*args, **kwargs):
        raise AssertionError("wall clock or global randomness used")

    harness = Harness.from_settings(load_target(TARGET), target=TARGET)
    data = encode(pysyncobj_seed_schedules()["pso-crash-after-sync-5"])
    for module, name in ((time, "monotonic"), (time, "time"), (time, "sleep"), (random, "random"),
                         (random, "choice")):
        monkeypatch.setattr(module, name, forbidden)
    _, result = harness.execute(data)
    assert result.steps > 1000


def test_committed_pysyncobj_seeds_are_what_the_seed_script_writes(tmp_path):
    from raftfuzz.schedule.seeds import pysyncobj_seed_schedules, write_seed_corpus

    written = {path.name: path.read_bytes() for path in write_seed_corpus(tmp_path, pysyncobj_seed_schedules())}
    committed = {path.name: path.read_bytes() for path in SEEDS.iterdir()}
    assert committed == written, "run `python -m raftfuzz.schedule.seeds pysyncobj corpora/pysyncobj`"


# ------------------------------------------------------------ TCP emulation

def test_tcp_emulation_delivers_in_order_exactly_once_over_a_lossy_duplicating_reordering_wire():
    from raftfuzz.targets.tcp_emulation import TcpEmulator

    class Rng:
        def __init__(self):
            self.generator = random.Random(5)

        def below(self, n):
            return self.generator.randrange(n)

    wire = random.Random(11)
    received = {0: [], 1: []}
    events = {0: [], 1: []}
    ends = {}
    for node, peer in ((0, 1), (1, 0)):
        ends[node] = TcpEmulator(node, (peer,), Rng(), timeout_ticks=10_000, retry_ticks=5,
                                 on_connected=lambda peer, node=node: events[node].append("up"),
                                 on_disconnected=lambda peer, node=node: events[node].append("down"),
                                 on_data=lambda peer, payload, node=node: received[node].append(payload))
    in_flight = []  # (arrival tick, segment)
    sent = {0: [], 1: []}
    for tick in range(1, 3000):
        for node, end in ends.items():
            end.now = tick
            end.on_tick()
            if tick % 3 == node and end.connected(1 - node) and len(sent[node]) < 400:
                payload = f"{node}:{len(sent[node])}".encode()
                if end.send(1 - node, payload):
                    sent[node].append(payload)
            for segment in end.outbox:
                if wire.random() < 0.3:
                    continue  # lost
                for _ in range(2 if wire.random() < 0.2 else 1):  # duplicated
                    in_flight.append((tick + wire.randrange(1, 8), segment))  # reordered
            end.outbox.clear()
        arrived = [segment for at, segment in in_flight if at <= tick]
        in_flight = [(at, segment) for at, segment in in_flight if at > tick]
        for segment in arrived:
            ends[segment.dst].now = tick
            ends[segment.dst].receive(segment)
    assert events == {0: ["up"], 1: ["up"]}
    assert len(sent[0]) == len(sent[1]) == 400
    assert received[1] == sent[0] and received[0] == sent[1]


def test_tcp_emulation_drops_a_stalled_connection_and_reconnects_with_a_new_epoch():
    from raftfuzz.targets.tcp_emulation import RESET, TcpEmulator

    class Rng:
        def __init__(self):
            self.n = 0

        def below(self, n):
            self.n += 1
            return self.n

    log = []
    opener = TcpEmulator(1, (0,), Rng(), timeout_ticks=20, retry_ticks=30,
                         on_connected=lambda peer: log.append(("up", peer)),
                         on_disconnected=lambda peer: log.append(("down", peer)), on_data=lambda *a: None)
    acceptor = TcpEmulator(0, (1,), Rng(), timeout_ticks=20, retry_ticks=30,
                           on_connected=lambda peer: log.append(("accepted", peer)),
                           on_disconnected=lambda peer: None, on_data=lambda *a: None)

    def exchange(tick, deliver=True):
        for end in (opener, acceptor):
            end.now = tick
        for _ in range(4):
            for source, destination in ((opener, acceptor), (acceptor, opener)):
                segments, source.outbox = source.outbox, []
                if deliver:
                    for segment in segments:
                        destination.receive(segment)

    opener.on_tick()
    exchange(0)
    first_epoch = opener.connections[0].epoch
    assert opener.connected(0) and acceptor.connected(1)
    opener.send(0, b"x")
    for tick in range(1, 25):  # partitioned: nothing is read for longer than the timeout
        opener.now = tick
        opener.on_tick()
        exchange(tick, deliver=False)
    assert ("down", 0) in log and not opener.connected(0)
    for tick in range(25, 60):  # healed: the opener reconnects after retry_ticks
        opener.now = acceptor.now = tick
        opener.on_tick()
        exchange(tick)
    assert opener.connected(0) and opener.connections[0].epoch != first_epoch
    assert acceptor.connections[1].epoch == opener.connections[0].epoch
    # A segment of the old epoch is answered with RESET and changes nothing.
    from raftfuzz.targets.tcp_emulation import DATA, Segment

    acceptor.receive(Segment(1, 0, first_epoch, DATA, 0, 0, b"stale"))
    assert acceptor.outbox[-1].kind == RESET and acceptor.connected(1)


# --------------------------------------------------------------------- modes

def test_random_mode_runs_pysyncobj(tmp_path):
    completed = run_cli("raftfuzz", "random", "--target", TARGET, "--runs", "4", "--seed", "2", "--quiet",
                        "--artifacts", str(tmp_path))
    assert completed.returncode in (Outcome.OK, Outcome.SAFETY), completed.stderr[-2000:]
    assert "4 runs" in completed.stderr


def test_coverage_guided_mode_instruments_pysyncobj_itself(tmp_path):
    (tmp_path / "corpus").mkdir()
    fuzz = run_cli("raftfuzz.atheris_main", f"--target={TARGET}", "--feedback=code", str(tmp_path / "corpus"),
                   str(quiet_seed(tmp_path)), "-runs=6", "-seed=3", f"-artifact_prefix={tmp_path}/artifacts/",
                   timeout=300)
    assert fuzz.returncode in (0, 77), fuzz.stderr[-3000:]
    assert ("raftfuzz: instrumenting the target module raftfuzz.targets.pysyncobj; packages it declares: "
            "pysyncobj") in fuzz.stderr
    assert "INFO: Instrumenting pysyncobj.syncobj" in fuzz.stderr
    assert re.search(r"^#\d+\s+(INITED|DONE|NEW|REDUCE|pulse)", fuzz.stderr, re.MULTILINE)


@pytest.mark.slow
def test_jobs_mode_runs_pysyncobj_in_parallel_jobs(tmp_path):
    (tmp_path / "corpus").mkdir()
    fuzz = run_cli("raftfuzz.atheris_main", f"--target={TARGET}", "--feedback=code", str(tmp_path / "corpus"),
                   str(quiet_seed(tmp_path)), "-jobs=2", "-workers=2", "-runs=4", "-seed=4",
                   f"-artifact_prefix={tmp_path}/artifacts/", cwd=tmp_path, timeout=400)
    logs = sorted(tmp_path.glob("fuzz-*.log"))
    assert len(logs) == 2, fuzz.stderr[-2000:]
    for log in logs:
        text = log.read_text()
        assert "packages it declares: pysyncobj" in text
        assert re.search(r"^Done \d+ runs|ERROR: libFuzzer: fuzz target exited", text, re.MULTILINE), text[-2000:]


def test_replay_from_json_and_from_raw_input_on_both_cores(tmp_path):
    report = json.loads(FINDING.read_text())
    cores = ["python"] + (["c"] if core.c_core_available() else [])
    for core_name in cores:
        environment = {"RAFTFUZZ_CORE": core_name}
        from_json = run_cli("raftfuzz", "replay", str(FINDING), "--log-level", "none", env=environment)
        from_raw = run_cli("raftfuzz", "replay", str(FINDING.with_suffix("")), "--target", TARGET,
                           "--log-level", "none", env=environment)
        for replay in (from_json, from_raw):
            assert replay.returncode == Outcome.SAFETY, replay.stdout + replay.stderr
            assert f"trace={report['run']['trace_hash']}" in replay.stdout
        assert "reproduced: same property, step and trace hash" in from_json.stdout
    with_libfuzzer = run_cli("raftfuzz.atheris_main", f"--target={TARGET}", str(FINDING.with_suffix("")),
                             f"-artifact_prefix={tmp_path}/")
    assert with_libfuzzer.returncode == 77, with_libfuzzer.stderr[-2000:]


def test_container_entrypoint_takes_the_target_from_the_environment(tmp_path):
    environment = {"RAFTFUZZ_TARGET": TARGET, "FUZZ_MODE": "random", "FUZZ_SECONDS": "3",
                   "RAFTFUZZ_ARTIFACTS": str(tmp_path)}
    completed = run_cli("raftfuzz", "container", env=environment, timeout=300)
    assert completed.returncode == Outcome.OK, completed.stderr[-2000:]
    assert f"mode=random target={TARGET}" in completed.stderr
    reproduce = run_cli("raftfuzz", "container", env={"FUZZ_MODE": "reproduce", "FUZZ_FILE": str(FINDING),
                                                      "RAFTFUZZ_LOG": "none"}, timeout=300)
    assert reproduce.returncode == Outcome.SAFETY, reproduce.stdout + reproduce.stderr
    assert "reproduced" in reproduce.stdout


# -------------------------------------------------------------- determinism

HASH_PYSYNCOBJ_RUNS = r"""
import json, random
from raftfuzz.run.harness import Harness
from raftfuzz.schedule.codec import encode, random_input
from raftfuzz.schedule.seeds import pysyncobj_seed_schedules
from raftfuzz.run.settings import Settings
from raftfuzz.run.target import load_target
seeds = pysyncobj_seed_schedules()
inputs = [encode(seeds[name]) for name in ("pso-snapshot-then-crash", "pso-flapping-links", "pso-crash-after-sync-5",
                                           "pso-quiet-5-lossy")]
generator = random.Random(5)
inputs += [random_input(generator) for _ in range(4)]
harness = Harness.from_settings(load_target("raftfuzz.targets.pysyncobj:Node"), Settings.load(), max_steps=3000)
hashes = []
for data in inputs:
    _, result = harness.execute(data)
    hashes.append([result.trace_hash, result.steps, None if result.violation is None else result.violation.property_name])
print(json.dumps({"core": harness.core_name, "hashes": hashes}))
"""


def test_pysyncobj_runs_have_the_same_trace_hash_across_processes_cores_and_hash_seeds():
    cores = ["python"] + (["c"] if core.c_core_available() else [])
    if len(cores) < 2 and os.environ.get("CI"):
        pytest.fail("the C core is not built in CI")
    runs = {}
    for core_name in cores:
        for hash_seed in ("0", "1", "random"):
            environment = dict(os.environ, RAFTFUZZ_CORE=core_name, PYTHONHASHSEED=hash_seed, PYTHONPATH=str(REPO))
            completed = subprocess.run([sys.executable, "-c", HASH_PYSYNCOBJ_RUNS], env=environment,
                                       capture_output=True, text=True, check=True, cwd=REPO, timeout=300)
            runs[(core_name, hash_seed)] = json.loads(completed.stdout)
    assert len({tuple(map(tuple, run["hashes"])) for run in runs.values()}) == 1, runs
    assert {run["core"] for run in runs.values()} == set(cores)
    reference = runs[("python", "0")]["hashes"]
    assert len({entry[0] for entry in reference}) == len(reference)


# ---------------------------------------------------- no false positives

@pytest.mark.slow
def test_pysyncobj_with_the_three_bugs_patched_is_silent_on_random_schedules():
    """FixedNode is PySyncObj with one minimal patch per triaged bug
    (raftfuzz.targets.pysyncobj_fixes): any violation here would be a new
    PySyncObj bug or a false positive of the adapter. The campaign's own
    FixedNode runs are in docs/findings/README.md."""
    from raftfuzz.run.harness import Harness
    from raftfuzz.schedule.codec import random_input
    from raftfuzz.targets.pysyncobj_fixes import FixedNode

    harness = Harness.from_settings(FixedNode, target="raftfuzz.targets.pysyncobj_fixes:FixedNode")
    generator = random.Random(21)
    violations = []
    for _ in range(150):
        data = random_input(generator)
        _, result = harness.execute(data)
        if result.violation is not None:
            violations.append((data.hex(), str(result.violation)))
    assert not violations, violations[:3]


def test_a_compaction_and_a_newer_dump_in_one_tick_restore_exactly():
    """Adapter bug found by the second random run (fixed): when PySyncObj
    compacted its journal to one dump in the tick in which it wrote the next,
    the adapter handed the newer dump to the disk as the snapshot, so a
    restart found the journal's start neither on the disk nor in the dump
    (a NodePanic in restore_journal). The disk now gets the dump the journal
    was compacted to, and the newer one stays an uncompacted dump."""
    from raftfuzz.run.harness import Harness
    from raftfuzz.targets.pysyncobj import Node

    data = (REPO / "tests" / "data" / "pysyncobj-compaction-and-new-dump.bin").read_bytes()
    harness = Harness.from_settings(Node, target=TARGET, max_steps=5000, artifacts="/nonexistent")
    result = harness.execute(data)[1]
    assert result.violation is None, result.violation
    assert result.ended_by == "quiet_end"
