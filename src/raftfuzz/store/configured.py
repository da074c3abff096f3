"""Which shared store the settings select, if any.

``BUCKET_NAME`` (plus optional ``RAFTFUZZ_BUCKET_PREFIX``) selects Google
Cloud Storage (src/raftfuzz/store/gcs.py); otherwise ``RAFTFUZZ_STORE_DIR``
selects a directory with the bucket's layout (src/raftfuzz/store/objects.py); with
neither, nothing is shared and crashes stay in the local artifacts
directory. Its own module because it is the one place that knows both
stores: each store depends on the common interface in storage.py, never the
other way round.
"""

from raftfuzz.store.gcs import GcsStore
from raftfuzz.run.settings import Settings
from raftfuzz.store.objects import LocalStore, StorageError


def configured_store(settings: Settings):
    """The store the settings select, or None when nothing is shared."""
    if settings.bucket:
        return GcsStore(settings.bucket, settings.bucket_prefix, settings)
    if settings.store_dir:
        return LocalStore(settings.store_dir)
    return None


def required_store(settings: Settings):
    store = configured_store(settings)
    if store is None:
        raise StorageError("no shared storage is configured; set BUCKET_NAME (Google Cloud Storage, "
                           "optionally RAFTFUZZ_BUCKET_PREFIX) or RAFTFUZZ_STORE_DIR (a shared directory)")
    return store
