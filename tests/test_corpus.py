"""The committed seed corpus is exactly what raftfuzz.schedule.seeds writes, so a
format change cannot leave stale seeds behind."""

from raftfuzz.schedule.seeds import seed_schedules, write_seed_corpus
from tests.conftest import REPO


def test_committed_corpus_matches_the_seed_script(tmp_path):
    written = {path.name: path.read_bytes() for path in write_seed_corpus(tmp_path)}
    committed = {path.name: path.read_bytes() for path in (REPO / "corpus").iterdir()}
    assert committed == written, "run `make corpus` to regenerate corpus/"


def test_seed_corpus_is_diverse():
    seeds = seed_schedules()
    assert len(seeds) >= 20
    assert {"figure-8", "partition-heal-churn", "crash-restart-storm"} <= set(seeds)
    assert len({schedule.node_count for schedule in seeds.values()}) >= 3
    verbs = {event.verb for schedule in seeds.values() for event in schedule.events}
    from raftfuzz.schedule.codec import Verb

    assert verbs == set(Verb)
