"""Google Cloud Storage: read a customer's bucket as the platform's service account.

Identity: customers grant one service account ``roles/storage.objectViewer`` on their bucket.
It is ``INSITU_GCS_SERVICE_ACCOUNT_TEMPLATE`` formatted for the org (one account per org), else
``INSITU_GCS_SERVICE_ACCOUNT_EMAIL``, else the account of ``INSITU_GCS_CREDENTIALS_FILE``. insitu
authenticates with that key file, or Application Default Credentials; when the account to act as
is another one (per-org template) it impersonates it, which needs
``roles/iam.serviceAccountTokenCreator`` on it for the platform identity.

Signed URLs are V4 (GOOG4-RSA-SHA256), GET only, for one object: signed locally with the key
file when it belongs to the account (thousands a second), else through IAM ``signBlob`` (one
call per URL). ``STORAGE_EMULATOR_HOST`` points everything at an emulator (no auth there, as the
SDK does); ``INSITU_GCS_ENDPOINT`` at another JSON API endpoint with auth kept.
"""

from __future__ import annotations

import base64
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal

import google.auth
import google.auth.credentials
import google.auth.exceptions
import requests
from google.api_core import exceptions as api_errors
from google.auth import impersonated_credentials
from google.auth.transport.requests import AuthorizedSession
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY
from google.oauth2 import service_account
from pydantic import field_validator
from requests.adapters import HTTPAdapter

from insitu.config import Settings
from insitu.errors import (
    AccessDenied,
    ContainerNotFound,
    InsituError,
    InvalidConfiguration,
    InvalidLocation,
    ObjectNotFound,
    StorageError,
    StorageUnreachable,
)
from insitu.storage import verify as steps_
from insitu.storage.base import (
    Check,
    CorsAdvice,
    ListPage,
    Location,
    ObjectInfo,
    ProviderConfig,
    ProviderContext,
    SignedURL,
)
from insitu.storage.gcs_policies import (
    CORS_PERMISSION,
    PLACEHOLDER_EMAIL,
    READER_ROLE,
    REQUIRED_PERMISSIONS,
    bucket_problem,
    cors_command,
    cors_configuration,
    cors_reader_fix,
    dumps,
    grant_command,
    grant_fix,
    service_account_email,
)

__all__ = ["PROVIDER", "GcsConfig", "GcsObjectStore", "GcsProvider"]

READ_ONLY_SCOPE = "https://www.googleapis.com/auth/devstorage.read_only"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
PUBLIC_ENDPOINT = "https://storage.googleapis.com"
PERMISSIONS_CHECK = "IAM permissions"
_TIMEOUT = (5, 30)  # connect, read
# The SDK retries transient errors for up to 120 s by default; a verify or an import should
# report an unreachable store well before that.
_RETRY = DEFAULT_RETRY.with_timeout(20.0)
_LIST_FIELDS = "items(name,size,etag,generation,updated),nextPageToken"
_PROJECT = re.compile(r"^(?:[a-z][a-z0-9.-]*:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_REQUEST_PREFIX = re.compile(r"^(?:GET|HEAD|POST|PUT|PATCH|DELETE) \S+: ")
_PERMISSION_IN_MESSAGE = re.compile(
    r"Permission '([\w.]+)' denied|does not have ([\w.]+) access|missing ([\w.]+) permission"
)


class GcsConfig(ProviderConfig):
    """A GCS connection: only the project billed for requester-pays buckets, if any.

    Who insitu is comes from the server's settings, never from a connection.
    """

    user_project: str | None = None

    @field_validator("user_project")
    @classmethod
    def _is_a_project_id(cls, value: str | None) -> str | None:
        if value is not None and not _PROJECT.match(value):
            raise ValueError(
                f"{value!r} is not a Google Cloud project ID; write it like my-project-123"
            )
        return value


def _emulator_host() -> str | None:
    host = os.environ.get("STORAGE_EMULATOR_HOST")
    if not host:
        return None
    return host if "://" in host else f"http://{host}"


# --- identity -----------------------------------------------------------------------------


class _IamSigner(google.auth.credentials.Signing):
    """Signs as ``email`` through IAM ``signBlob``, authenticated as the platform identity."""

    def __init__(self, identity: _Identity, email: str) -> None:
        self._identity, self._email = identity, email

    @property
    def signer_email(self) -> str:
        return self._email

    @property
    def signer(self) -> _IamSigner:
        return self

    @property
    def key_id(self) -> None:
        return None

    def sign(self, message: bytes | str) -> bytes:
        return self.sign_bytes(message)

    def sign_bytes(self, message: bytes | str) -> bytes:
        if isinstance(message, str):
            message = message.encode()
        url = f"{self._identity.iam_endpoint}/v1/projects/-/serviceAccounts/{self._email}:signBlob"
        response = self._identity.iam_session().post(
            url, json={"payload": base64.b64encode(message).decode()}, timeout=_TIMEOUT
        )
        if response.status_code != 200:
            raise _SignBlobFailed(self._email, response.status_code, response.text)
        return base64.b64decode(response.json()["signedBlob"])


class _SignBlobFailed(Exception):
    def __init__(self, email: str, status: int, body: str) -> None:
        super().__init__(
            f"IAM signBlob as {email} answered HTTP {status}: {' '.join(body.split())}"
        )
        self.email, self.status = email, status


class _Identity:
    """Who insitu is for one org (settings + org), with its credentials and cached client."""

    def __init__(self, settings: Settings, org_id: str) -> None:
        self.settings = settings
        self.iam_endpoint = settings.gcs_iam_endpoint.rstrip("/")
        self.emulator = _emulator_host()
        self.key: service_account.Credentials | None = None
        if settings.gcs_credentials_file:
            self.key = _load_key_file(settings.gcs_credentials_file)
        self.email = service_account_email(
            email=settings.gcs_service_account_email,
            template=settings.gcs_service_account_template,
            org_id=org_id,
            key_file_email=self.key.service_account_email if self.key else None,
        )
        # The key file signs and authenticates as itself; any other account is impersonated.
        self.impersonates = self.email is not None and (
            self.key is None or self.key.service_account_email != self.email
        )
        self._lock = threading.Lock()
        self._base: google.auth.credentials.Credentials | None = None
        self._iam_session: AuthorizedSession | None = None
        self._client: storage.Client | None = None

    @property
    def endpoint(self) -> str:
        """Where API calls go (and signed URLs point)."""
        return self.emulator or (self.settings.gcs_endpoint or PUBLIC_ENDPOINT).rstrip("/")

    @property
    def grantee(self) -> str:
        """The account customers grant, or a placeholder when it is not known yet."""
        return self.email or PLACEHOLDER_EMAIL

    @property
    def platform_email(self) -> str:
        """insitu's own account (the one that impersonates), as far as it is known."""
        if self.key is not None:
            return str(self.key.service_account_email)
        email = getattr(self._base, "service_account_email", None)
        return email if email and email != "default" else "PLATFORM_ACCOUNT"

    def base_credentials(self) -> google.auth.credentials.Credentials:
        """The platform's own identity: the key file, else Application Default Credentials."""
        with self._lock:
            if self._base is None:
                if self.key is not None:
                    self._base = self.key.with_scopes([CLOUD_PLATFORM_SCOPE])
                else:
                    self._base, _ = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
            return self._base

    def iam_session(self) -> AuthorizedSession:
        base = self.base_credentials()
        with self._lock:
            if self._iam_session is None:
                self._iam_session = AuthorizedSession(base)
            return self._iam_session

    def data_credentials(self) -> google.auth.credentials.Credentials:
        if self.emulator:
            return google.auth.credentials.AnonymousCredentials()
        if self.impersonates:
            assert self.email is not None
            return impersonated_credentials.Credentials(
                source_credentials=self.base_credentials(),
                target_principal=self.email,
                target_scopes=[READ_ONLY_SCOPE],
                lifetime=3600,
                iam_endpoint_override=(
                    f"{self.iam_endpoint}/v1/projects/-/serviceAccounts/{self.email}"
                    ":generateAccessToken"
                ),
            )
        if self.key is not None:
            return self.key.with_scopes([READ_ONLY_SCOPE])
        return self.base_credentials()

    def signer(self) -> google.auth.credentials.Signing:
        """The key file when it is the account's own, else IAM signBlob as the account."""
        if not self.impersonates and self.key is not None:
            return self.key
        base = self.base_credentials()
        if self.email is None and isinstance(base, google.auth.credentials.Signing):
            return base
        email = self.email or getattr(base, "service_account_email", None)
        if not email or email == "default":
            raise InvalidConfiguration(
                "insitu cannot tell which service account signs GCS URLs",
                fix="set INSITU_GCS_SERVICE_ACCOUNT_EMAIL (or INSITU_GCS_CREDENTIALS_FILE "
                "to that account's key file)",
            )
        return _IamSigner(self, email)

    def client(self) -> storage.Client:
        """One SDK client per identity, with a connection pool sized for concurrent imports."""
        with self._lock:
            client = self._client
        if client is not None:
            return client
        options = None
        if self.settings.gcs_endpoint and not self.emulator:
            options = {"api_endpoint": self.settings.gcs_endpoint.rstrip("/")}
        project = (self.key.project_id if self.key else None) or "<none>"
        client = storage.Client(
            project=project, credentials=self.data_credentials(), client_options=options
        )
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=64)
        client._http.mount("https://", adapter)
        client._http.mount("http://", adapter)
        with self._lock:
            if self._client is None:
                self._client = client
            return self._client


def _load_key_file(path: os.PathLike[str] | str) -> service_account.Credentials:
    try:
        return service_account.Credentials.from_service_account_file(str(path))
    except (OSError, ValueError, KeyError) as exc:
        raise InvalidConfiguration(
            f"INSITU_GCS_CREDENTIALS_FILE {str(path)!r} is not a readable service account key "
            f"file: {exc}",
            fix="create one with: gcloud iam service-accounts keys create key.json "
            "--iam-account=SERVICE_ACCOUNT_EMAIL, or unset the variable to use "
            "Application Default Credentials",
        ) from exc


# --- errors -------------------------------------------------------------------------------

# One table from HTTP statuses of the JSON API to insitu's errors; 404 depends on what was asked.
_ERRORS: dict[int, type[StorageError]] = {
    401: AccessDenied,
    403: AccessDenied,
    404: ObjectNotFound,
    412: ObjectNotFound,
    429: StorageUnreachable,
    500: StorageUnreachable,
    502: StorageUnreachable,
    503: StorageUnreachable,
    504: StorageUnreachable,
}
_UNREACHABLE = (requests.ConnectionError, requests.Timeout, google.auth.exceptions.TransportError)


def missing_permission(message: str) -> str | None:
    """The IAM permission a GCS 403 message names, if any."""
    match = _PERMISSION_IN_MESSAGE.search(message)
    return next((group for group in match.groups() if group), None) if match else None


def _error(
    exc: Exception,
    what: str,
    identity: _Identity,
    bucket: str,
    key: str | None = None,
    *,
    on: Literal["bucket", "object"] = "object",
) -> InsituError:
    """Map an SDK or auth error to insitu's error tree, with the exact fix."""
    if isinstance(exc, InsituError):
        return exc
    if isinstance(exc, api_errors.RetryError) and isinstance(exc.cause, Exception):
        exc = exc.cause  # retried until the deadline: the last failure says why
    email, uri = identity.grantee, f"gs://{bucket}/{key or ''}"
    if isinstance(exc, _UNREACHABLE):
        return StorageUnreachable(
            f"{what} failed: cannot reach {identity.endpoint} ({type(exc).__name__})",
            fix=f"check that {identity.endpoint} is reachable from the insitu servers",
        )
    if isinstance(exc, google.auth.exceptions.DefaultCredentialsError):
        return AccessDenied(
            f"{what} failed: insitu has no Google credentials",
            fix="set INSITU_GCS_CREDENTIALS_FILE to the platform service account's key file, "
            "or run insitu with Application Default Credentials (a GCE/GKE service account, "
            "or GOOGLE_APPLICATION_CREDENTIALS)",
        )
    if isinstance(exc, google.auth.exceptions.RefreshError | _SignBlobFailed):
        message = " ".join(str(exc).split())[:300]
        if identity.impersonates:
            fix = (
                f"the insitu operator must let the platform identity act as {email}: "
                f"gcloud iam service-accounts add-iam-policy-binding {email} "
                f"--member=serviceAccount:{identity.platform_email} "
                "--role=roles/iam.serviceAccountTokenCreator"
            )
        else:
            fix = "the platform's key may be disabled or deleted; the insitu operator must check it"
        return AccessDenied(f"{what} failed: getting credentials for {email}: {message}", fix=fix)
    status = getattr(exc, "code", None)
    message = " ".join(getattr(exc, "message", str(exc)).split())
    message = _REQUEST_PREFIX.sub("", message)[:300]
    kind = _ERRORS.get(status, StorageError) if isinstance(status, int) else StorageError
    if status == 404 and (on == "bucket" or "bucket does not exist" in message.lower()):
        kind = ContainerNotFound
    detail = f"{what} failed: HTTP {status or type(exc).__name__} ({message})"
    if kind is ObjectNotFound:
        fix = (
            f"check that {uri} exists (it may have been moved or deleted): "
            f"gcloud storage objects describe '{uri}'"
        )
    elif kind is ContainerNotFound:
        fix = f"check the bucket name {bucket!r}: gcloud storage buckets describe gs://{bucket}"
    elif kind is AccessDenied:
        permission = missing_permission(message)
        detail = f"{what} failed: {email} is missing {permission or 'a permission'} ({message})"
        fix = grant_fix(bucket, email, [permission] if permission else REQUIRED_PERMISSIONS)
    elif isinstance(exc, api_errors.BadRequest) and "user project" in message.lower():
        return InvalidConfiguration(
            f"{what} failed: gs://{bucket} is a requester-pays bucket ({message})",
            fix="set the connection's user_project to the project to bill for reads",
        )
    else:
        fix = f"retry; if it persists, check {identity.endpoint} and the bucket {bucket!r}"
    return kind(detail, fix=fix, bucket=bucket, key=key)


# --- the store ----------------------------------------------------------------------------


class GcsObjectStore:
    """Read-only access to one bucket; thread-safe; the SDK client is shared per identity."""

    def __init__(self, identity: _Identity, bucket: str, user_project: str | None = None) -> None:
        self.identity = identity
        self.bucket_name = bucket
        self.user_project = user_project
        self._bucket: storage.Bucket | None = None

    @property
    def bucket(self) -> storage.Bucket:
        """The SDK's bucket handle, made on first use (credentials load lazily too)."""
        if self._bucket is None:
            client = self.identity.client()
            self._bucket = client.bucket(self.bucket_name, user_project=self.user_project)
        return self._bucket

    def list_pages(
        self, prefix: str, *, cursor: str | None = None, page_size: int = 1000
    ) -> Iterator[ListPage]:
        """Object pages in name order; the cursor is the page's last name (``startOffset``).

        Folder placeholders (empty objects whose name ends in ``/``) are not files: left out.
        """
        what = f"listing gs://{self.bucket_name}/{prefix}"
        try:
            iterator = self.identity.client().list_blobs(
                self.bucket,
                prefix=prefix or None,
                page_size=page_size,
                start_offset=cursor or None,
                fields=_LIST_FIELDS,
                timeout=_TIMEOUT,
                retry=_RETRY,
            )
            pages = iterator.pages
        except Exception as exc:
            raise _error(exc, what, self.identity, self.bucket_name, on="bucket") from exc
        while True:
            try:
                page = next(pages, None)
                blobs = list(page) if page is not None else []
            except Exception as exc:
                raise _error(exc, what, self.identity, self.bucket_name, on="bucket") from exc
            if page is None:
                return
            # startOffset is inclusive: the cursor's own object was on the page before.
            if cursor is not None:
                blobs = [blob for blob in blobs if blob.name > cursor]
            objects = [
                _info(blob) for blob in blobs if not (blob.name.endswith("/") and not blob.size)
            ]
            more = iterator.next_page_token is not None
            last = blobs[-1].name if blobs else cursor
            yield ListPage(objects, last if more else None)
            if not more:
                return

    def head(self, key: str) -> ObjectInfo:
        """Object metadata: size, ETag, generation (as version), CMEK key."""
        try:
            blob = self.bucket.get_blob(key, timeout=_TIMEOUT, retry=_RETRY)
        except Exception as exc:
            raise self._error(exc, f"getting gs://{self.bucket_name}/{key}", key) from exc
        if blob is None:
            what = f"getting gs://{self.bucket_name}/{key}"
            raise self._error(api_errors.NotFound("No such object"), what, key)
        return _info(blob)

    def get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)``: fewer at the object's end, none past it."""
        if start < 0 or end < start:
            raise ValueError(f"invalid range [{start}, {end})")
        if end == start:
            return b""
        try:
            # end is inclusive in this API; raw: stored bytes, so a Range is always honoured.
            data: bytes = self.bucket.blob(key).download_as_bytes(
                start=start,
                end=end - 1,
                raw_download=True,
                checksum=None,
                timeout=_TIMEOUT,
                retry=_RETRY,
            )
        except api_errors.RequestRangeNotSatisfiable:
            return b""
        except Exception as exc:
            what = f"ranged GET bytes={start}-{end - 1} of gs://{self.bucket_name}/{key}"
            raise self._error(exc, what, key) from exc
        return data

    def sign(self, key: str, *, ttl: timedelta) -> SignedURL:
        """A V4 signed GET for exactly ``key``, as the service account, for ``ttl``."""
        seconds = max(1, int(ttl.total_seconds()))
        now = datetime.now(UTC).replace(microsecond=0)
        try:
            url = self.bucket.blob(key).generate_signed_url(
                version="v4",
                expiration=timedelta(seconds=seconds),
                method="GET",
                credentials=self.identity.signer(),
                api_access_endpoint=self.identity.endpoint,
            )
        except Exception as exc:
            raise self._error(exc, f"signing a URL for gs://{self.bucket_name}/{key}", key) from exc
        return SignedURL(url, now + timedelta(seconds=seconds))

    def close(self) -> None:
        """Nothing to release: the client is pooled per identity for the process."""

    # control plane, for verify

    def test_permissions(self, permissions: Sequence[str]) -> list[str]:
        try:
            granted: list[str] = self.bucket.test_iam_permissions(
                list(permissions), timeout=_TIMEOUT, retry=_RETRY
            )
        except Exception as exc:
            what = f"testIamPermissions on gs://{self.bucket_name}"
            raise _error(exc, what, self.identity, self.bucket_name, on="bucket") from exc
        return granted

    def cors(self) -> list[dict[str, Any]]:
        try:
            self.bucket.reload(timeout=_TIMEOUT, retry=_RETRY)
        except Exception as exc:
            what = f"reading the CORS configuration of gs://{self.bucket_name}"
            raise _error(exc, what, self.identity, self.bucket_name, on="bucket") from exc
        return list(self.bucket.cors or [])

    def _error(self, exc: Exception, what: str, key: str | None) -> InsituError:
        return _error(exc, what, self.identity, self.bucket_name, key)


def _info(blob: storage.Blob) -> ObjectInfo:
    return ObjectInfo(
        key=blob.name,
        size=int(blob.size or 0),
        etag=blob.etag,
        version=str(blob.generation) if blob.generation is not None else None,
        last_modified=blob.updated,
        encryption="cloud-kms" if blob.kms_key_name else None,
        encryption_key=blob.kms_key_name,
    )


# --- the provider -------------------------------------------------------------------------


class GcsProvider:
    """The ``gcs`` provider: ``gs://bucket/prefix/`` locations."""

    name: ClassVar[str] = "gcs"
    schemes: ClassVar[tuple[str, ...]] = ("gs",)
    config_model: ClassVar[type[ProviderConfig]] = GcsConfig
    example_uri: ClassVar[str] = "gs://my-bucket/test-images/"

    def __init__(self, cache_size: int = 1024) -> None:
        self._cache_size = cache_size
        self._identities: OrderedDict[tuple[Any, ...], _Identity] = OrderedDict()
        self._lock = threading.Lock()

    def parse(self, uri: str) -> Location:
        """An absolute ``gs://bucket/prefix/`` or ``gs://bucket/key``; keys are kept raw."""
        example = (
            "write the absolute path with gs:// and the bucket, e.g. gs://my-bucket/test-images/ "
            "(a prefix) or gs://my-bucket/test-images/a.png (one file)"
        )
        if not isinstance(uri, str) or uri[:5].lower() != "gs://":
            raise InvalidLocation(f"{uri!r} is not an absolute gs:// path", fix=example)
        bucket, _, key = uri[5:].partition("/")
        if not bucket:
            raise InvalidLocation(f"{uri!r} names no bucket", fix=example)
        problem = bucket_problem(bucket)
        if problem:
            raise InvalidLocation(
                f"{bucket!r} in {uri!r} is not a valid GCS bucket name: {problem}", fix=example
            )
        if "\r" in key or "\n" in key or len(key.encode()) > 1024:
            raise InvalidLocation(
                f"{uri!r} is not a valid object name (no CR/LF, at most 1024 bytes)", fix=example
            )
        return Location(self.name, "gs", bucket, key)

    def validate_config(self, config: ProviderConfig, context: ProviderContext) -> None:
        """Refuse a connection this server cannot serve: bad account settings or key file."""
        _gcs_config(config)
        self._identity(context)

    def _identity(self, context: ProviderContext) -> _Identity:
        settings = context.settings
        key = (
            context.org_id,
            settings.gcs_service_account_email,
            settings.gcs_service_account_template,
            str(settings.gcs_credentials_file),
            settings.gcs_endpoint,
            settings.gcs_iam_endpoint,
            _emulator_host(),
            os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"),
        )
        with self._lock:
            identity = self._identities.get(key)
            if identity is not None:
                self._identities.move_to_end(key)
                return identity
        identity = _Identity(settings, context.org_id)
        with self._lock:
            self._identities[key] = identity
            if len(self._identities) > self._cache_size:
                self._identities.popitem(last=False)
        return identity

    def open(
        self, config: ProviderConfig, *, location: Location, context: ProviderContext
    ) -> GcsObjectStore:
        """A store on ``location``'s bucket; no network call until it is used."""
        config = _gcs_config(config)
        return GcsObjectStore(self._identity(context), location.bucket, config.user_project)

    def clear_cache(self) -> None:
        """Forget cached identities and clients (tests; rotated platform keys)."""
        with self._lock:
            self._identities.clear()

    def verify(
        self, config: ProviderConfig, *, location: Location, context: ProviderContext
    ) -> list[Check]:
        """testIamPermissions, list, HEAD, ranged GET, signed URL, CORS: each with a fix."""
        config = _gcs_config(config)
        steps = steps_.Steps()
        try:
            identity = _Identity(context.settings, context.org_id)  # fresh: no cached tokens
            store = GcsObjectStore(identity, location.bucket, config.user_project)
        except InsituError as exc:
            steps.add(Check(PERMISSIONS_CHECK, False, exc.detail, exc.fix))
            for name in (steps_.LIST, steps_.HEAD, steps_.RANGE, steps_.SIGNED_URL, steps_.CORS):
                steps.skip(name)
            return steps.checks
        bucket, email = location.bucket, identity.grantee
        granted = steps.add(*_check_permissions(store, email))
        fix = grant_fix(bucket, email)
        sample = steps.run(steps_.LIST, lambda: steps_.list_sample(store, location.key, fix=fix))
        info = steps.run(
            steps_.HEAD, lambda: steps_.head_sample(store, sample.key if sample else "", fix=fix)
        )
        key = info.key if info else ""
        first = steps.run(steps_.RANGE, lambda: steps_.read_first_byte(store, key, fix=fix))
        steps.run(
            steps_.SIGNED_URL,
            lambda: steps_.fetch_signed_url(
                store, key, expected=first, ttl=timedelta(minutes=1),
                fix=f"signed URLs read as {email}: it needs {READER_ROLE} on the bucket "
                f"({grant_command(bucket, email)}) and a key that is not disabled or deleted",
            ),
        )  # fmt: skip
        origins = context.settings.portal_origins
        if granted is not None:
            steps.run_anyway(lambda: _check_cors(store, email, granted, origins))
        else:
            steps.skip(steps_.CORS)
        return steps.checks

    def cors_advice(self, origins: Sequence[str]) -> CorsAdvice:
        """The ``cors.json`` for ``gcloud storage buckets update`` allowing GET and HEAD."""
        return CorsAdvice(self.name, cors_configuration(origins), cors_command())


def _gcs_config(config: ProviderConfig) -> GcsConfig:
    if isinstance(config, GcsConfig):
        return config
    raise InvalidConfiguration(
        f"a gcs connection needs GcsConfig settings, not {type(config).__name__}",
        fix="create the connection with provider 'gcs'",
    )


def _check_permissions(store: GcsObjectStore, email: str) -> tuple[Check, list[str] | None]:
    """testIamPermissions: does ``email`` hold storage.objects.list and .get on the bucket?"""
    bucket = store.bucket_name
    try:
        granted = store.test_permissions([*REQUIRED_PERMISSIONS, CORS_PERMISSION])
    except InsituError as exc:
        return Check(PERMISSIONS_CHECK, False, exc.detail, exc.fix), None
    missing = [name for name in REQUIRED_PERMISSIONS if name not in granted]
    if missing:
        detail = f"{email} is missing {' and '.join(missing)} on gs://{bucket}"
        return Check(PERMISSIONS_CHECK, False, detail, grant_fix(bucket, email, missing)), None
    detail = f"{email} has {' and '.join(REQUIRED_PERMISSIONS)} on gs://{bucket}"
    return Check(PERMISSIONS_CHECK, True, detail), granted


def _check_cors(
    store: GcsObjectStore, email: str, granted: Sequence[str], origins: Sequence[str]
) -> tuple[Check, None]:
    """Read the bucket's CORS entries and compare them with the portal origins."""
    bucket = store.bucket_name
    if origins and CORS_PERMISSION not in granted:
        detail = f"{email} may not read the CORS configuration of gs://{bucket}"
        return Check(steps_.CORS, False, detail, cors_reader_fix(bucket, email)), None
    try:
        existing = store.cors()
    except InsituError as exc:
        return Check(steps_.CORS, False, exc.detail, exc.fix), None
    rules = [steps_.CorsRule.of(e.get("origin", []), e.get("method", [])) for e in existing]
    fix = (
        f"save this as cors.json\n{dumps(cors_configuration(origins, existing))}\n"
        f"then run:\n{cors_command(bucket)}"
    )
    return steps_.check_cors(rules, origins, fix=fix, where=f"bucket gs://{bucket}")


PROVIDER = GcsProvider()
