"""Who insitu is on Google Cloud for one org: the service account, credentials, signer, client.

The account customers grant comes from the server's settings (template, email or key file).
insitu authenticates with the key file or Application Default Credentials, impersonates the
account when it is another one, and signs URLs with the key or through IAM ``signBlob``.
"""

from __future__ import annotations

import base64
import os
import threading

import google.auth
import google.auth.credentials
import requests
from google.auth import impersonated_credentials
from google.auth.transport.requests import AuthorizedSession, Request
from google.cloud import storage
from google.oauth2 import service_account
from requests.adapters import HTTPAdapter

from insitu.config import Settings
from insitu.errors import InvalidConfiguration
from insitu.storage.gcs.policies import PLACEHOLDER_EMAIL, service_account_email

# google-cloud-storage fetches a bucket's metadata in a background thread on first use, for
# tracing: a bucket GET the customer never granted (objectViewer cannot read buckets), seen
# as a denied call in their audit logs. insitu traces nothing; it turns that off.
os.environ.setdefault("DISABLE_GCS_PYTHON_CLIENT_OTEL_BUCKET_METADATA", "true")

READ_ONLY_SCOPE = "https://www.googleapis.com/auth/devstorage.read_only"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
PUBLIC_ENDPOINT = "https://storage.googleapis.com"
TIMEOUT = (5, 30)  # connect, read


def emulator_host() -> str | None:
    host = os.environ.get("STORAGE_EMULATOR_HOST")
    if not host:
        return None
    return host if "://" in host else f"http://{host}"


class _IamSigner(google.auth.credentials.Signing):
    """Signs as ``email`` through IAM ``signBlob``, authenticated as the platform identity."""

    def __init__(self, identity: Identity, email: str) -> None:
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
            url, json={"payload": base64.b64encode(message).decode()}, timeout=TIMEOUT
        )
        if response.status_code != 200:
            raise SignBlobFailed(self._email, response.status_code, response.text)
        return base64.b64decode(response.json()["signedBlob"])


class _PlainNoRedirects(requests.Session):
    """A plain session (for token requests) that follows no redirect."""

    def get_redirect_target(self, resp: requests.Response) -> None:
        return None


class NoRedirectSession(AuthorizedSession):
    """An authorized session that hands a redirect back as the answer instead of following it.

    A redirect could send a request (and its token) to a host nobody checked; the SDK then
    reports the 3xx as an error, and insitu says the endpoint redirected. Its token requests
    (OAuth, IAM generateAccessToken) follow none either.
    """

    def __init__(self, credentials: google.auth.credentials.Credentials) -> None:
        super().__init__(credentials, auth_request=Request(session=_PlainNoRedirects()))

    def get_redirect_target(self, resp: requests.Response) -> None:
        return None


class SignBlobFailed(Exception):
    def __init__(self, email: str, status: int, body: str) -> None:
        super().__init__(
            f"IAM signBlob as {email} answered HTTP {status}: {' '.join(body.split())}"
        )
        self.email, self.status = email, status


class Identity:
    """Who insitu is for one org (settings + org), with its credentials and cached client."""

    def __init__(self, settings: Settings, org_id: str) -> None:
        self.settings = settings
        self.iam_endpoint = settings.gcs_iam_endpoint.rstrip("/")
        self.emulator = emulator_host()
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
                self._iam_session = NoRedirectSession(base)
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
        credentials = self.data_credentials()
        session = NoRedirectSession(credentials)
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=64)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        client = storage.Client(
            project=project, credentials=credentials, client_options=options, _http=session
        )
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
