"""The seed corpus, written from code through the encoder.

``raftfuzz seed-corpus corpus/`` regenerates ``corpus/`` so that a change of
the input format changes the seeds with it; a test checks the committed
corpus is what this module writes. Each seed is a scenario a Raft tester
would write by hand; the fuzzer mutates from there.
"""

from pathlib import Path

from raftfuzz.run.report import input_sha1
from raftfuzz.schedule.codec import (
    FaultEvent,
    Schedule,
    Verb,
    earliest_crashed_selector,
    encode,
    leader_selector,
    previous_leader_selector,
)


def _events(*specs) -> tuple[FaultEvent, ...]:
    return tuple(FaultEvent(*spec) for spec in sorted(specs, key=lambda spec: spec[0]))


# Role selectors of a three-node cluster (raftfuzz.schedule.codec).
LEADER, EARLIEST_CRASHED = leader_selector(3), earliest_crashed_selector(3)
PREVIOUS_LEADER = previous_leader_selector(3)


def seed_schedules() -> dict[str, Schedule]:
    base = dict(election_timeout_ticks=6, heartbeat_ticks=2, client_count=2, write_per_256=160,
                key_count=2, client_think_ticks=2)
    seeds = {
        "quiet-3": Schedule(seed=1, **base),
        "quiet-5": Schedule(seed=2, node_count=5, node_options=3, **base),
        "quiet-7-slow-net": Schedule(seed=3, node_count=7, latency_min_us=8_000,
                                     latency_max_us=30_000, **base),
        "lossy-dup-reorder": Schedule(seed=4, node_count=5, loss_per_256=40, duplicate_per_256=40,
                                      latency_min_us=2_000, latency_max_us=25_000, **base),
        "leader-crash-restart": Schedule(seed=5, **base, events=_events(
            (40, Verb.CRASH, 0), (70, Verb.RESTART, 0), (110, Verb.CRASH, 1), (140, Verb.RESTART, 1))),
        # Figure 8 of the Raft paper, for three nodes: entries of old terms
        # are replicated by later leaders while their authors crash and return.
        "figure-8": Schedule(seed=6, election_timeout_ticks=4, heartbeat_ticks=1, client_count=3,
                             write_per_256=255, client_think_ticks=1, events=_events(
            (20, Verb.ISOLATE, 0), (21, Verb.CRASH, 0), (30, Verb.CRASH, 1), (31, Verb.RESTART, 0),
            (32, Verb.HEAL_ALL), (45, Verb.CRASH, 0), (46, Verb.RESTART, 1), (60, Verb.CRASH, 1),
            (61, Verb.RESTART, 0), (75, Verb.CRASH, 0), (76, Verb.RESTART, 1), (90, Verb.RESTART, 0))),
        # Figure 8 again, steered by role rather than by node index: the
        # leader A is cut off with a client write of its own; the next leader
        # B is cut off too, takes a write, and crashes; A returns, wins the
        # next term with the third node's vote and re-replicates its old
        # entry; A crashes and B comes back. Whether B can then win without
        # A's entry depends on the timing, which is the fuzzer's to vary.
        "figure-8-by-role": Schedule(seed=22, election_timeout_ticks=6, heartbeat_ticks=1, client_count=2,
                                     write_per_256=200, client_think_ticks=3, events=_events(
            (20, Verb.ISOLATE, LEADER), (34, Verb.ISOLATE, LEADER), (50, Verb.CRASH, LEADER),
            (51, Verb.HEAL_ALL), (70, Verb.CRASH, LEADER), (71, Verb.RESTART, EARLIEST_CRASHED))),
        "figure-8-five": Schedule(seed=7, node_count=5, election_timeout_ticks=4, heartbeat_ticks=1,
                                  client_count=3, write_per_256=255, client_think_ticks=1, events=_events(
            (20, Verb.SPLIT, 0, 0, 0b00011), (35, Verb.CRASH, 0), (36, Verb.HEAL_ALL),
            (50, Verb.SPLIT, 0, 0, 0b00110), (65, Verb.CRASH, 1), (66, Verb.RESTART, 0),
            (67, Verb.HEAL_ALL), (80, Verb.CRASH, 0), (81, Verb.RESTART, 1), (95, Verb.RESTART, 0))),
        "partition-heal-churn": Schedule(seed=8, node_count=5, **base, events=_events(
            *[(10 + 12 * i, Verb.PARTITION if i % 2 == 0 else Verb.HEAL, i % 5, (i + 2) % 5)
              for i in range(16)])),
        "split-brain-minority-leader": Schedule(seed=9, node_count=5, **base, events=_events(
            (30, Verb.SPLIT, 0, 0, 0b00011), (90, Verb.HEAL_ALL), (120, Verb.SPLIT, 0, 0, 0b11000),
            (180, Verb.HEAL_ALL))),
        "isolate-each": Schedule(seed=10, **base, events=_events(
            (20, Verb.ISOLATE, 0), (50, Verb.HEAL_ALL), (60, Verb.ISOLATE, 1), (90, Verb.HEAL_ALL),
            (100, Verb.ISOLATE, 2), (130, Verb.HEAL_ALL))),
        "one-way-links": Schedule(seed=11, **base, events=_events(
            (20, Verb.ONE_WAY, 0, 1), (21, Verb.ONE_WAY, 0, 2), (60, Verb.HEAL, 0, 1),
            (61, Verb.HEAL, 0, 2), (80, Verb.ONE_WAY, 1, 0), (120, Verb.HEAL, 1, 0))),
        "crash-restart-storm": Schedule(seed=12, node_count=5, **base, events=_events(
            *[(8 + 6 * i, Verb.CRASH if i % 2 == 0 else Verb.RESTART, (i // 2) % 5) for i in range(30)])),
        "crash-majority": Schedule(seed=13, node_count=5, **base, events=_events(
            (30, Verb.CRASH, 0), (31, Verb.CRASH, 1), (32, Verb.CRASH, 2), (80, Verb.RESTART, 0),
            (81, Verb.RESTART, 1), (82, Verb.RESTART, 2))),
        "hold-release": Schedule(seed=14, **base, events=_events(
            (20, Verb.HOLD, 0, 1), (21, Verb.HOLD, 1, 0), (22, Verb.HOLD, 0, 2), (70, Verb.RELEASE, 0, 1),
            (71, Verb.RELEASE, 1, 0), (90, Verb.RELEASE, 0, 2))),
        "pause-resume": Schedule(seed=15, **base, events=_events(
            (30, Verb.PAUSE, 0), (80, Verb.RESUME, 0), (100, Verb.PAUSE, 1), (101, Verb.PAUSE, 2),
            (140, Verb.RESUME, 1), (141, Verb.RESUME, 2))),
        "clock-skew": Schedule(seed=16, **base, events=_events(
            (1, Verb.SKEW, 0, 0, 64), (1, Verb.SKEW, 1, 0, 191), (100, Verb.SKEW, 0, 0, 128),
            (100, Verb.SKEW, 1, 0, 128))),
        "degraded-links": Schedule(seed=17, node_count=5, **base, events=_events(
            (10, Verb.LINK, 0, 1, 0xFF), (10, Verb.LINK, 1, 0, 0xFF), (11, Verb.LINK, 0, 2, 0x87),
            (90, Verb.LINK, 0, 1, 0), (90, Verb.LINK, 1, 0, 0), (91, Verb.LINK, 0, 2, 0))),
        "fast-elections": Schedule(seed=18, election_timeout_ticks=4, heartbeat_ticks=3,
                                   latency_min_us=10_000, latency_max_us=40_000, client_count=1),
        "many-keys-heavy-writes": Schedule(seed=19, client_count=3, client_think_ticks=1, key_count=4,
                                           write_per_256=200, election_timeout_ticks=10, heartbeat_ticks=2),
        "read-mostly": Schedule(seed=20, client_count=3, client_think_ticks=1, key_count=1,
                                write_per_256=30, election_timeout_ticks=8, heartbeat_ticks=2),
        "mixed-faults": Schedule(seed=21, node_count=5, loss_per_256=10, duplicate_per_256=10,
                                 latency_max_us=12_000, **base, events=_events(
            (15, Verb.CRASH, 2), (25, Verb.PARTITION, 0, 1), (35, Verb.HOLD, 3, 4), (45, Verb.PAUSE, 1),
            (55, Verb.RESTART, 2), (65, Verb.RELEASE, 3, 4), (75, Verb.RESUME, 1), (85, Verb.HEAL, 0, 1),
            (95, Verb.SKEW, 4, 0, 90), (105, Verb.ISOLATE, 4), (125, Verb.HEAL_ALL))),
        "restart-while-partitioned": Schedule(seed=22, **base, events=_events(
            (20, Verb.ISOLATE, 0), (30, Verb.CRASH, 0), (40, Verb.RESTART, 0), (80, Verb.HEAL_ALL))),
        # A follower down while the others compact their logs must be caught
        # up with InstallSnapshot.
        "snapshot-catch-up": Schedule(seed=23, snapshot_threshold=4, client_count=3, write_per_256=230,
                                      client_think_ticks=1, election_timeout_ticks=8, heartbeat_ticks=2,
                                      events=_events((10, Verb.CRASH, 2), (120, Verb.RESTART, 2),
                                                     (121, Verb.CRASH, 0), (160, Verb.RESTART, 0))),
        # An isolated leader with CheckQuorum steps down; reads to it must
        # not be served from its stale state.
        "isolated-leader-reads": Schedule(seed=24, node_count=5, node_options=3, client_count=3,
                                          write_per_256=128, key_count=1, client_think_ticks=1,
                                          election_timeout_ticks=8, heartbeat_ticks=2, events=_events(
            (40, Verb.ISOLATE, 5), (120, Verb.HEAL_ALL), (130, Verb.ISOLATE, 5), (200, Verb.HEAL_ALL))),
        "pre-vote-rejoin": Schedule(seed=25, node_options=1, election_timeout_ticks=6, heartbeat_ticks=2,
                                    client_count=2, write_per_256=128, events=_events(
            (30, Verb.ISOLATE, 1), (150, Verb.HEAL_ALL))),
        # Retried writes across leader changes must apply once (sessions).
        "retries-across-leader-changes": Schedule(seed=26, loss_per_256=60, client_count=3,
                                                  write_per_256=255, key_count=1, client_think_ticks=1,
                                                  election_timeout_ticks=5, heartbeat_ticks=1,
                                                  snapshot_threshold=8, events=_events(
            (30, Verb.CRASH, 3), (45, Verb.RESTART, 4), (70, Verb.CRASH, 3), (85, Verb.RESTART, 4),
            (110, Verb.CRASH, 3), (125, Verb.RESTART, 4))),
        "crash-after-sync": Schedule(seed=27, node_count=5, crash_after_sync_per_256=12,
                                     restart_after_ticks=3, node_options=2, snapshot_threshold=12, **base,
                                     events=_events((200, Verb.SKEW, 0, 0, 128))),
        # Elections steered by role: a leader cut off from the other nodes
        # (not from its clients, whose pipelined writes and long retry grow
        # its uncommitted tail) is replaced; it comes back and is made to
        # win again, then the leader it replaced is.
        "steered-elections": Schedule(seed=28, election_timeout_ticks=6, heartbeat_ticks=1, client_count=3,
                                      pipeline_depth=2, client_retry_ticks=70, write_per_256=220,
                                      client_think_ticks=2, key_count=2, events=_events(
            (25, Verb.ISOLATE, LEADER), (45, Verb.HEAL_ALL), (50, Verb.CAMPAIGN, PREVIOUS_LEADER),
            (75, Verb.ISOLATE, LEADER), (95, Verb.HEAL_ALL), (100, Verb.CAMPAIGN, PREVIOUS_LEADER),
            (130, Verb.CAMPAIGN, 1))),
        # Many clients, several writes each in flight, retried fast across
        # leader changes: sessions and duplicate suppression under load.
        "pipelined-clients": Schedule(seed=29, node_count=5, client_count=4, pipeline_depth=2,
                                      client_retry_ticks=8, write_per_256=200,
                                      key_count=3, election_timeout_ticks=6, heartbeat_ticks=1,
                                      client_think_ticks=3,
                                      snapshot_threshold=16, events=_events(
            (30, Verb.CAMPAIGN, 2), (60, Verb.CRASH, leader_selector(5)),
            (70, Verb.RESTART, earliest_crashed_selector(5)), (90, Verb.CAMPAIGN, previous_leader_selector(5)))),
    }
    return seeds


# ------------------------------------------------------ per-target seeds
#
# A target with its own corpus directory (corpora/<name>/, apart from
# corpus/ so that libFuzzer, which reads corpus directories recursively,
# does not mix them). The scenarios are generic, as above; only the timing
# and the snapshot threshold suit the target. Regenerate with
# ``python -m raftfuzz.schedule.seeds pysyncobj corpora/pysyncobj``.

def pysyncobj_seed_schedules() -> dict[str, Schedule]:
    """Seeds for raftfuzz.targets.pysyncobj. PySyncObj drops a silent
    connection after 5 election timeouts and reconnects after 7, so faults
    last long enough for connections to drop and come back; small snapshot
    thresholds make its log compaction (and snapshot transfer) part of
    ordinary runs."""
    base = dict(election_timeout_ticks=6, heartbeat_ticks=1, client_count=2, write_per_256=192,
                key_count=2, client_think_ticks=2, snapshot_threshold=8)
    leader = leader_selector(3)
    return {
        "pso-quiet-3": Schedule(seed=101, **base),
        "pso-quiet-5-lossy": Schedule(seed=102, node_count=5, loss_per_256=24, duplicate_per_256=24,
                                      latency_max_us=12_000, **base),
        "pso-crash-restart-during-replication": Schedule(seed=103, **base, events=_events(
            (30, Verb.CRASH, 2), (60, Verb.RESTART, 2), (90, Verb.CRASH, leader), (120, Verb.RESTART, 0),
            (121, Verb.RESTART, 1), (122, Verb.RESTART, 2), (150, Verb.CRASH, 1), (180, Verb.RESTART, 1))),
        "pso-snapshot-then-crash": Schedule(seed=104, crash_after_sync_per_256=6, restart_after_ticks=8,
                                            **{**base, "snapshot_threshold": 4}, events=_events(
            (100, Verb.CRASH, leader), (130, Verb.RESTART, EARLIEST_CRASHED), (200, Verb.SKEW, 0, 0, 128))),
        "pso-follower-behind-snapshots": Schedule(seed=105, **{**base, "snapshot_threshold": 4}, events=_events(
            (20, Verb.ISOLATE, 2), (120, Verb.HEAL_ALL), (130, Verb.CRASH, leader), (160, Verb.RESTART, EARLIEST_CRASHED))),
        "pso-leader-isolation": Schedule(seed=106, node_count=5, **base, events=_events(
            (30, Verb.ISOLATE, leader_selector(5)), (100, Verb.HEAL_ALL), (130, Verb.ISOLATE, leader_selector(5)),
            (200, Verb.HEAL_ALL))),
        "pso-flapping-links": Schedule(seed=107, **base, events=_events(
            *[(10 + 8 * i, Verb.PARTITION if i % 2 == 0 else Verb.HEAL, i % 3, (i + 1) % 3) for i in range(28)])),
        "pso-one-way-leader": Schedule(seed=108, **base, events=_events(
            (40, Verb.ONE_WAY, leader, 1), (41, Verb.ONE_WAY, leader, 2), (120, Verb.HEAL_ALL))),
        "pso-crash-majority": Schedule(seed=109, node_count=5, **base, events=_events(
            (40, Verb.CRASH, 0), (41, Verb.CRASH, 1), (42, Verb.CRASH, 2), (90, Verb.RESTART, 0),
            (91, Verb.RESTART, 1), (92, Verb.RESTART, 2))),
        "pso-pause-leader": Schedule(seed=110, **base, events=_events(
            (40, Verb.PAUSE, leader), (110, Verb.RESUME, 0), (111, Verb.RESUME, 1), (112, Verb.RESUME, 2))),
        "pso-clock-skew": Schedule(seed=111, **base, events=_events(
            (1, Verb.SKEW, 0, 0, 70), (1, Verb.SKEW, 1, 0, 180), (150, Verb.SKEW, 0, 0, 128),
            (150, Verb.SKEW, 1, 0, 128))),
        "pso-crash-after-sync-5": Schedule(seed=112, node_count=5, crash_after_sync_per_256=4,
                                           restart_after_ticks=6, **base, events=_events((220, Verb.SKEW, 0, 0, 128))),
    }


TARGET_SEEDS = {"pysyncobj": pysyncobj_seed_schedules}


def write_seed_corpus(directory: Path, schedules: dict[str, Schedule] | None = None) -> list[Path]:
    """Writes each seed as ``<sha1>`` (libFuzzer's corpus naming)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for schedule in (seed_schedules() if schedules is None else schedules).values():
        data = encode(schedule)
        path = directory / input_sha1(data)
        path.write_bytes(data)
        paths.append(path)
    return paths


if __name__ == "__main__":  # python -m raftfuzz.schedule.seeds TARGET DIRECTORY
    import sys

    from raftfuzz.run.outcome import Outcome

    if len(sys.argv) != 3 or sys.argv[1] not in TARGET_SEEDS:
        print(f"usage: python -m raftfuzz.schedule.seeds {{{','.join(TARGET_SEEDS)}}} DIRECTORY", file=sys.stderr)
        raise SystemExit(Outcome.USAGE)
    written = write_seed_corpus(Path(sys.argv[2]), TARGET_SEEDS[sys.argv[1]]())
    print(f"wrote {len(written)} seeds to {sys.argv[2]}")
