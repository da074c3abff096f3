"""The shared corpus: workers only add, a pull brings what is missing, and a
prune shrinks the corpus without deleting what others add meanwhile."""

import hashlib
import shutil

from raftfuzz.run.settings import Settings
from raftfuzz.store import corpus as corpus_sync
from raftfuzz.store.corpus import CorpusSync, corpus_prefix, prune, target_folder
from raftfuzz.schedule.codec import FORMAT_VERSION
from tests.conftest import REPO, run_cli

TARGET = "raftfuzz.node.raft:RaftNode"


def contents(directory):
    return {hashlib.sha1(path.read_bytes()).hexdigest() for path in directory.iterdir()
            if path.is_file() and not path.name.startswith(".")}


def remote(store, target=TARGET):
    prefix = corpus_prefix(target)
    return {name[len(prefix):] for name in store.list(prefix)}


def write_entries(directory, entries):
    directory.mkdir(parents=True, exist_ok=True)
    for data in entries:
        (directory / hashlib.sha1(data).hexdigest()).write_bytes(data)


def test_push_then_pull_gives_every_worker_the_union(gcs_store, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    write_entries(first, [b"a", b"b", b"shared"])
    write_entries(second, [b"c", b"shared"])
    (first / "named-by-hand").write_bytes(b"d")  # any name: the store names it by content
    (first / ".partial.tmp").write_bytes(b"ignored")
    one, two = CorpusSync(gcs_store, TARGET), CorpusSync(gcs_store, TARGET)
    assert one.push([first]).moved == 4
    pushed = two.push([second])
    assert (pushed.moved, pushed.present) == (1, 1)  # "shared" was already there
    union = contents(first) | contents(second)
    assert remote(gcs_store) == union
    # Its listing (taken before its push) already held the first's entries.
    pulled = two.pull(second)
    assert (pulled.moved, pulled.present) == (3, 2)
    assert contents(second) == union
    # The first listed before the second pushed: only a new listing shows "c".
    assert one.pull(first).moved == 0
    assert CorpusSync(gcs_store, TARGET).pull(first).moved == 1
    assert contents(first) == union
    # A periodic push sends only what is new since the last one.
    write_entries(first, [b"new"])
    assert one.push([first]).moved == 1
    assert one.push([first]).moved == 0


def test_pull_refuses_an_entry_whose_content_does_not_match_its_name(gcs_store, tmp_path):
    prefix = corpus_prefix(TARGET)
    gcs_store.create(prefix + hashlib.sha1(b"good").hexdigest(), b"good")
    gcs_store.create(prefix + "0" * 40, b"not what the name says")
    result = CorpusSync(gcs_store, TARGET).pull(tmp_path / "local")
    assert (result.moved, result.skipped) == (1, 1)
    assert contents(tmp_path / "local") == {hashlib.sha1(b"good").hexdigest()}


def test_the_corpus_path_names_the_input_format(gcs_store, tmp_path):
    assert corpus_prefix(TARGET) == f"corpus/v{FORMAT_VERSION}/raftfuzz.node.raft_RaftNode/"
    sha1 = lambda data: hashlib.sha1(data).hexdigest()  # noqa: E731
    # Inputs of another format, or stored before the format was in the path,
    # would decode to other schedules: a worker never pulls them.
    gcs_store.create(corpus_prefix(TARGET, FORMAT_VERSION + 1) + sha1(b"next"), b"next")
    gcs_store.create(f"corpus/{target_folder(TARGET)}/" + sha1(b"unversioned"), b"unversioned")
    gcs_store.create(corpus_prefix(TARGET) + sha1(b"this format"), b"this format")
    CorpusSync(gcs_store, TARGET).pull(tmp_path / "local")
    assert contents(tmp_path / "local") == {sha1(b"this format")}
    write_entries(tmp_path / "mine", [b"pushed"])
    CorpusSync(gcs_store, TARGET).push([tmp_path / "mine"])
    assert gcs_store.exists(corpus_prefix(TARGET) + sha1(b"pushed"))


def test_targets_have_separate_corpora(gcs_store, tmp_path):
    write_entries(tmp_path / "a", [b"a"])
    CorpusSync(gcs_store, "raftfuzz.node.mutants:VoteWithoutLogCheck").push([tmp_path / "a"])
    assert remote(gcs_store) == set()
    assert remote(gcs_store, "raftfuzz.node.mutants:VoteWithoutLogCheck") == contents(tmp_path / "a")


def test_prune_merges_to_a_minimal_set_and_keeps_entries_added_meanwhile(gcs_store, tmp_path, monkeypatch):
    seeds = tmp_path / "seeds"
    shutil.copytree(REPO / "corpus", seeds)
    # Duplicates in coverage terms: the seeds with a byte appended.
    redundant = [path.read_bytes() + b"\0" for path in sorted(seeds.iterdir())[:10]]
    write_entries(seeds, redundant)
    CorpusSync(gcs_store, TARGET).push([seeds])
    before = remote(gcs_store)
    added_meanwhile = b"pushed by another worker during the prune"
    real_merge = corpus_sync._merge

    def merge_while_a_worker_pushes(*arguments):
        real_merge(*arguments)
        gcs_store.create(corpus_prefix(TARGET) + hashlib.sha1(added_meanwhile).hexdigest(), added_meanwhile)

    monkeypatch.setattr(corpus_sync, "_merge", merge_while_a_worker_pushes)
    result = prune(gcs_store, Settings(target=TARGET), work_directory=tmp_path)
    after = remote(gcs_store)
    assert result.listed == len(before)
    assert 0 < result.kept < len(before)
    assert result.deleted == len(before) - result.kept
    assert hashlib.sha1(added_meanwhile).hexdigest() in after
    assert after - {hashlib.sha1(added_meanwhile).hexdigest()} <= before
    assert len(after) == result.kept + 1


def test_a_failed_merge_deletes_nothing(gcs_store, tmp_path):
    write_entries(tmp_path / "local", [b"a", b"b"])
    CorpusSync(gcs_store, "no.such.module:Node").push([tmp_path / "local"])
    before = gcs_store.list("")
    completed = run_cli("raftfuzz", "corpus", "prune", "--target", "no.such.module:Node")
    assert completed.returncode == 5
    assert "nothing was deleted" in completed.stderr
    assert gcs_store.list("") == before


def test_cli_push_pull(gcs_store, tmp_path):
    write_entries(tmp_path / "mine", [b"x", b"y"])
    push = run_cli("raftfuzz", "corpus", "push", str(tmp_path / "mine"))
    assert push.returncode == 0, push.stderr
    assert "pushed 2 entries" in push.stdout
    pull = run_cli("raftfuzz", "corpus", "pull", str(tmp_path / "theirs"))
    assert pull.returncode == 0 and "pulled 2 entries" in pull.stdout
    assert contents(tmp_path / "theirs") == contents(tmp_path / "mine")


def test_a_shared_directory_works_as_the_store_without_a_bucket(tmp_path):
    store = tmp_path / "shared"
    store.mkdir()
    write_entries(tmp_path / "mine", [b"x", b"y"])
    environment = {"BUCKET_NAME": "", "RAFTFUZZ_STORE_DIR": str(store)}
    assert run_cli("raftfuzz", "corpus", "push", str(tmp_path / "mine"), env=environment).returncode == 0
    pull = run_cli("raftfuzz", "corpus", "pull", str(tmp_path / "theirs"), env=environment)
    assert pull.returncode == 0, pull.stderr
    assert contents(tmp_path / "theirs") == contents(tmp_path / "mine")
    assert contents(store / corpus_prefix(TARGET)) == contents(tmp_path / "mine")
