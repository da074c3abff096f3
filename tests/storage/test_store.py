"""The store contract, against the real google-cloud-storage client talking
HTTP to fake-gcs-server and against the local directory store: writes are
create-only (a second create is "already there", never an overwrite), even
when many threads race for one name."""

import threading

import pytest

from raftfuzz.run.settings import Settings
from raftfuzz.store.objects import LocalStore, ObjectMissing, StorageError, run_parallel
from raftfuzz.store.configured import configured_store


@pytest.fixture(params=["gcs", "local"])
def store(request, tmp_path):
    if request.param == "gcs":
        return request.getfixturevalue("gcs_store")
    return LocalStore(tmp_path)


def test_create_is_create_only(store):
    assert store.create("corpus/t/a", b"first") is True
    assert store.create("corpus/t/a", b"second") is False
    data, generation = store.read("corpus/t/a")
    assert data == b"first"
    assert generation > 0


def test_list_names_objects_under_a_prefix_with_their_generation(store):
    for name in ("corpus/t/a", "corpus/t/b", "corpus/u/c", "crashes/s/x"):
        store.create(name, name.encode())
    listed = store.list("corpus/t/")
    assert sorted(listed) == ["corpus/t/a", "corpus/t/b"]
    assert listed["corpus/t/a"] == store.read("corpus/t/a")[1]
    assert sorted(store.list("")) == ["corpus/t/a", "corpus/t/b", "corpus/u/c", "crashes/s/x"]


def test_read_and_exists_of_a_missing_object(store):
    assert store.exists("corpus/t/missing") is False
    with pytest.raises(ObjectMissing):
        store.read("corpus/t/missing")


def test_delete(store):
    store.create("corpus/t/a", b"a")
    _, generation = store.read("corpus/t/a")
    assert store.delete("corpus/t/a", generation=generation) is True
    assert store.delete("corpus/t/a") is False
    assert not store.exists("corpus/t/a")


def test_names_cannot_escape_the_root(store):
    for name in ("../x", "corpus/../../x", "/abs", "a//b", ""):
        with pytest.raises(StorageError):
            store.create(name, b"x")


def test_racing_creates_have_exactly_one_winner(store):
    barrier = threading.Barrier(16)

    def create(index):
        barrier.wait()
        return store.create("crashes/sig/signature.json", str(index).encode())

    winners = [index for index, created in enumerate(run_parallel(create, range(16), workers=16)) if created]
    assert len(winners) == 1
    assert store.read("crashes/sig/signature.json")[0] == str(winners[0]).encode()


def test_prefix_keeps_stores_apart(gcs_environment, monkeypatch):
    first = configured_store(Settings.load())
    monkeypatch.setenv("RAFTFUZZ_BUCKET_PREFIX", "other")
    second = configured_store(Settings.load())
    first.create("corpus/t/a", b"a")
    assert second.list("") == {}
    assert first.describe().endswith("/team/raft") and second.describe().endswith("/other")
