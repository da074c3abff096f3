"""The Google Cloud Storage store: the real google-cloud-storage client, with
short timeouts, bounded retries and one-line errors. Its settings (the
variables below) come in a raftfuzz.run.settings.Settings.

Why not the client's defaults: its default retry keeps trying a dead endpoint
for two minutes, so a fuzzer whose bucket is down would stall for minutes per
crash. Here every request has a few seconds to connect and a retry budget of
``RAFTFUZZ_STORAGE_RETRY_SECONDS`` (default 10) with exponential backoff; a
failure after that is ``StorageUnavailable`` and the caller keeps the data in
its local spool.

Credentials: ``GOOGLE_APPLICATION_CREDENTIALS`` (a key file, checked here so
a bad file is reported before any request), else the ambient identity
(Workload Identity on GKE, ``gcloud auth application-default login``).
``STORAGE_EMULATOR_HOST`` points the client at an emulator, which needs no
credentials; a credentials file that is set is still checked, because the
same settings would fail against the real bucket.

Errors never include key material: messages are written here from the kind
of failure, not copied from the exception text of the credentials loader.
"""

import json
import re

from raftfuzz.run.settings import Settings
from raftfuzz.store.objects import TRANSFER_WORKERS, ObjectMissing, StorageError, StorageUnavailable, check_object_name

CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"

# Seconds to open a connection and to wait for a response. Objects here are
# small (inputs of at most a few KiB, reports of tens of KiB), so a healthy
# bucket answers in well under a second; anything slower is treated as down.
CONNECT_TIMEOUT_SECONDS = 3.0
READ_TIMEOUT_SECONDS = 10.0
# Total time one operation may spend retrying transient errors (connection
# refused, timeouts, 429, 5xx): long enough to ride out a blip, short enough
# that a worker whose bucket is gone notices in seconds, not minutes
# (Settings.storage_retry_seconds, default 10).
RETRY_FIRST_DELAY_SECONDS = 0.25
RETRY_MAX_DELAY_SECONDS = 2.0
# GCS returns at most 1000 names per listing page.
LIST_PAGE_SIZE = 1000
# Scope for reading, creating and deleting objects (the prune deletes).
SCOPES = ("https://www.googleapis.com/auth/devstorage.read_write",)
_CREDENTIAL_TYPES = ("service_account", "authorized_user", "external_account",
                     "external_account_authorized_user", "impersonated_service_account",
                     "gdch_service_account")
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")


def load_credentials(settings: Settings):
    """(credentials, description) for the client, or StorageError.

    The description names the identity for error messages (an email or the
    file path), never a key."""
    import google.auth
    from google.auth.credentials import AnonymousCredentials
    from google.auth.exceptions import DefaultCredentialsError, GoogleAuthError

    path = settings.credentials
    emulator = settings.emulator
    if path:
        fix = f"point {CREDENTIALS_ENV} at a service-account key file, or unset it to use the ambient identity"
        try:
            with open(path, encoding="utf-8") as stream:
                info = json.load(stream)
        except FileNotFoundError:
            raise StorageError(f"{CREDENTIALS_ENV}={path}: no such file; {fix}") from None
        except (OSError, UnicodeDecodeError) as error:
            raise StorageError(f"{CREDENTIALS_ENV}={path}: cannot read it "
                               f"({getattr(error, 'strerror', None) or type(error).__name__}); {fix}") from None
        except json.JSONDecodeError:
            raise StorageError(f"{CREDENTIALS_ENV}={path}: not valid JSON (truncated or not a key file); {fix}") from None
        if not isinstance(info, dict) or info.get("type") not in _CREDENTIAL_TYPES:
            raise StorageError(f"{CREDENTIALS_ENV}={path}: not a Google credentials file (no known "
                               f"\"type\"); {fix}")
        try:
            credentials, _ = google.auth.load_credentials_from_file(path, scopes=SCOPES)
        except (GoogleAuthError, ValueError, KeyError, TypeError):
            # The loader's message can quote the file; say only what is wrong.
            raise StorageError(f"{CREDENTIALS_ENV}={path}: the {info['type']} credentials in it are "
                               f"incomplete or their key cannot be loaded; {fix}") from None
        identity = info.get("client_email") or path
        if emulator:
            return AnonymousCredentials(), f"anonymous (emulator; {path} checked)"
        return credentials, identity
    if emulator:
        return AnonymousCredentials(), "anonymous (emulator)"
    try:
        credentials, _ = google.auth.default(scopes=SCOPES)
    except DefaultCredentialsError:
        raise StorageError(
            f"no Google credentials found; set {CREDENTIALS_ENV} to a service-account key file, run "
            f"`gcloud auth application-default login`, or run with Workload Identity"
        ) from None
    return credentials, getattr(credentials, "service_account_email", None) or "the ambient identity"


class GcsStore:
    """A bucket, or a prefix inside one."""

    def __init__(self, bucket_name: str, prefix: str = "", settings: Settings | None = None) -> None:
        """settings: credentials, emulator, CA bundle and retry budget (default:
        the defaults, the real service with the ambient identity)."""
        settings = settings or Settings()
        if not _BUCKET_NAME.match(bucket_name) or ".." in bucket_name:
            raise StorageError(f"BUCKET_NAME={bucket_name!r} is not a bucket name; give the bare name, "
                               f"e.g. my-fuzz-bucket, and put any path in RAFTFUZZ_BUCKET_PREFIX")
        prefix = prefix.strip("/")
        if prefix:
            check_object_name(prefix)
        self.bucket_name = bucket_name
        self.prefix = prefix
        self.endpoint = settings.emulator or "storage.googleapis.com"
        self._retry_seconds = settings.storage_retry_seconds
        self._client, self._bucket, self.identity = self._connect(settings)
        from google.cloud.storage.retry import DEFAULT_RETRY

        self._retry = DEFAULT_RETRY.with_timeout(self._retry_seconds).with_delay(
            initial=RETRY_FIRST_DELAY_SECONDS, maximum=RETRY_MAX_DELAY_SECONDS, multiplier=2.0)
        self._timeout = (CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS)

    def _connect(self, settings: Settings):
        import requests
        from google.auth.transport.requests import AuthorizedSession
        from google.cloud import storage

        credentials, identity = load_credentials(settings)
        # One session shared by the transfer threads, with a connection per
        # thread (twice the default pool, so a caller may ask for more
        # threads): requests keeps 10 per host by default, and the rest
        # would reconnect on every request.
        session = AuthorizedSession(credentials)
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=2 * TRANSFER_WORKERS)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        # requests reads proxy and CA settings from the environment on every
        # request, a scan of os.environ that costs ~15% of the client's CPU
        # per small object; read them once, for the one endpoint used.
        endpoint_url = self.endpoint if "://" in self.endpoint else f"https://{self.endpoint}"
        session.proxies.update(requests.utils.get_environ_proxies(endpoint_url))
        session.verify = settings.ca_bundle or True
        session.trust_env = False
        # The endpoint is given explicitly, so the client goes where the
        # settings say even when its own reading of STORAGE_EMULATOR_HOST in
        # the environment would differ; an emulator takes no project and no
        # authentication (the credentials above are anonymous for it).
        endpoint = {"client_options": {"api_endpoint": settings.emulator},
                    "use_auth_w_custom_endpoint": False} if settings.emulator else {}
        client = storage.Client(project=None, credentials=credentials, _http=session, **endpoint)
        return client, client.bucket(self.bucket_name), identity

    def describe(self) -> str:
        return f"gs://{self.bucket_name}/{self.prefix}".rstrip("/")

    def _full(self, name: str) -> str:
        check_object_name(name)
        return f"{self.prefix}/{name}" if self.prefix else name

    def _relative(self, full_name: str) -> str:
        return full_name[len(self.prefix) + 1:] if self.prefix else full_name

    def check(self) -> None:
        """One cheap listing: proves the endpoint answers, the credentials
        work, the bucket exists and objects may be listed (the permission
        every command needs; buckets.get is not needed and often not granted)."""
        with self._errors("list objects in"):
            list(self._client.list_blobs(self._bucket, prefix=self.prefix or None, max_results=1,
                                         timeout=self._timeout, retry=self._retry))

    def create(self, name: str, data: bytes) -> bool:
        from google.api_core.exceptions import PreconditionFailed

        blob = self._bucket.blob(self._full(name))
        with self._errors("create objects in"):
            try:
                # if_generation_match=0: create only. A 412 means the object
                # exists, possibly because an earlier attempt of this very
                # upload succeeded and only its response was lost.
                blob.upload_from_string(data, content_type="application/octet-stream",
                                        if_generation_match=0, timeout=self._timeout,
                                        retry=self._retry)
                return True
            except PreconditionFailed:
                return False

    def read(self, name: str) -> tuple[bytes, int]:
        from google.api_core.exceptions import NotFound

        blob = self._bucket.blob(self._full(name))
        with self._errors("read objects in"):
            try:
                data = blob.download_as_bytes(timeout=self._timeout, retry=self._retry)
            except NotFound:
                raise ObjectMissing(f"gs://{self.bucket_name}/{blob.name}: no such object") from None
        return data, int(blob.generation or 0)

    def exists(self, name: str) -> bool:
        blob = self._bucket.blob(self._full(name))
        with self._errors("read objects in"):
            return blob.exists(timeout=self._timeout, retry=self._retry)

    def list(self, prefix: str) -> dict[str, int]:
        if prefix.strip("/"):
            check_object_name(prefix.strip("/"))
        full_prefix = (f"{self.prefix}/" if self.prefix else "") + prefix
        with self._errors("list objects in"):
            blobs = self._client.list_blobs(self._bucket, prefix=full_prefix, page_size=LIST_PAGE_SIZE,
                                            fields="items(name,generation),nextPageToken",
                                            timeout=self._timeout, retry=self._retry)
            return {self._relative(blob.name): int(blob.generation or 0) for blob in blobs}

    def delete(self, name: str, generation: int | None = None) -> bool:
        from google.api_core.exceptions import NotFound, PreconditionFailed

        blob = self._bucket.blob(self._full(name))
        with self._errors("delete objects in"):
            try:
                blob.delete(if_generation_match=generation, timeout=self._timeout, retry=self._retry)
                return True
            except (NotFound, PreconditionFailed):
                return False

    def _errors(self, operation: str):
        return _TranslatedErrors(self, operation)


class _TranslatedErrors:
    """Turns the client's exceptions into one-line StorageErrors."""

    def __init__(self, store: GcsStore, operation: str) -> None:
        self.store = store
        self.operation = operation

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if error is None or isinstance(error, StorageError):
            return False
        translated = _translate(self.store, self.operation, error)
        if translated is None:
            return False
        raise translated from None


def _translate(store: GcsStore, operation: str, error: BaseException) -> StorageError | None:
    import requests
    from google.api_core import exceptions as api
    from google.auth import exceptions as auth

    bucket = f"gs://{store.bucket_name}"
    if isinstance(error, api.RetryError):
        error = error.cause or error
        return StorageUnavailable(f"cannot reach {store.endpoint} for {bucket} ({_reason(error)}) after "
                                  f"{store._retry_seconds:g}s of retries; check the network or "
                                  f"STORAGE_EMULATOR_HOST (what is spooled locally goes up with the next "
                                  f"run or `raftfuzz sync`)")
    if isinstance(error, api.NotFound):
        return StorageError(f"bucket {store.bucket_name!r} does not exist at {store.endpoint}; create it "
                            f"(gcloud storage buckets create {bucket}) or fix BUCKET_NAME")
    if isinstance(error, api.Forbidden):
        return StorageError(f"{store.identity} may not {operation} {bucket} (403); grant it "
                            f"roles/storage.objectAdmin on the bucket, or use other credentials")
    if isinstance(error, api.Unauthorized) or isinstance(error, auth.RefreshError):
        return StorageError(f"the credentials of {store.identity} were rejected; renew the key in "
                            f"GOOGLE_APPLICATION_CREDENTIALS or check the Workload Identity binding")
    if isinstance(error, (requests.exceptions.RequestException, auth.TransportError, ConnectionError,
                          TimeoutError)):
        return StorageUnavailable(f"cannot reach {store.endpoint} for {bucket} ({_reason(error)}); check "
                                  f"the network or STORAGE_EMULATOR_HOST")
    if isinstance(error, api.GoogleAPICallError):
        message = " ".join(str(getattr(error, "message", "") or "").split())[:200]
        return StorageError(f"{bucket}: {operation.split()[0]} failed with HTTP {error.code} ({message})")
    if isinstance(error, Exception):
        # Anything else the client raises (a checksum mismatch, a malformed
        # response): the operation failed, and the caller keeps its data.
        message = " ".join(str(error).split())[:200]
        return StorageError(f"{bucket}: {operation.split()[0]} failed ({type(error).__name__}: {message})")
    return None


def _reason(error: BaseException) -> str:
    text = str(error)
    for needle, reason in (("Connection refused", "connection refused"), ("timed out", "timed out"),
                           ("Name or service not known", "unknown host"),
                           ("Temporary failure in name resolution", "DNS failure")):
        if needle in text:
            return reason
    return type(error).__name__
