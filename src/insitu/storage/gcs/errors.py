"""GCS JSON API and Google auth errors mapped to insitu's errors, each with the exact fix.

One table maps HTTP statuses to the error classes; a 403's fix names the missing permission and
the ``gcloud`` grant, a credentials failure the impersonation binding the operator must add.

Only the SDKs' own errors are mapped (``SDK_ERRORS``: google-api-core's, google-auth's,
requests', the storage SDK's media errors, and IAM signBlob's answer); callers catch exactly
those, so anything else (a bug in insitu) propagates unchanged and is answered as an internal
error with its traceback logged, not blamed on the customer's bucket.
"""

from __future__ import annotations

import re
from typing import Literal

import google.auth.exceptions
import requests
from google.api_core import exceptions as api_errors
from google.cloud.storage import exceptions as storage_errors

from insitu.errors import (
    AccessDenied,
    ContainerNotFound,
    InsituError,
    InvalidConfiguration,
    ObjectNotFound,
    StorageError,
    StorageUnreachable,
    StoreThrottled,
    StoreUnavailable,
)
from insitu.storage.gcs.identity import Identity, SignBlobFailed
from insitu.storage.gcs.policies import REQUIRED_PERMISSIONS, grant_fix

_REQUEST_PREFIX = re.compile(r"^(?:GET|HEAD|POST|PUT|PATCH|DELETE) \S+: ")
_PERMISSION_IN_MESSAGE = re.compile(
    r"Permission '([\w.]+)' denied|does not have ([\w.]+) access|missing ([\w.]+) permission"
)

# One table from HTTP statuses of the JSON API to insitu's errors; 404 depends on what was asked.
_ERRORS: dict[int, type[StorageError]] = {
    401: AccessDenied,
    403: AccessDenied,
    404: ObjectNotFound,
    412: ObjectNotFound,
    # Transient: retried with backoff by storage.throttle, never a per-file failure.
    408: StoreUnavailable,
    429: StoreThrottled,
    500: StoreUnavailable,
    502: StoreUnavailable,
    503: StoreUnavailable,
    504: StoreUnavailable,
}
# The JSON API's error reasons that say "slow down", whatever the status (a 403 included).
_THROTTLED_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
_UNREACHABLE = (requests.ConnectionError, requests.Timeout, google.auth.exceptions.TransportError)
# Sent, but no (whole) answer came back: the store is there, just failing for now.
_INTERRUPTED = (requests.ReadTimeout, requests.exceptions.ChunkedEncodingError)
# How requests words a connection the server dropped (urllib3's ProtocolError inside).
_DROPPED = ("Connection aborted", "RemoteDisconnected", "Connection reset")
# What callers catch and map; everything else is a bug and propagates as it is.
SDK_ERRORS: tuple[type[Exception], ...] = (
    api_errors.GoogleAPIError,
    google.auth.exceptions.GoogleAuthError,
    requests.RequestException,
    storage_errors.InvalidResponse,
    storage_errors.DataCorruption,
    SignBlobFailed,
)


def missing_permission(message: str) -> str | None:
    """The IAM permission a GCS 403 message names, if any."""
    match = _PERMISSION_IN_MESSAGE.search(message)
    return next((group for group in match.groups() if group), None) if match else None


def map_error(
    exc: Exception,
    what: str,
    identity: Identity,
    bucket: str,
    key: str | None = None,
    *,
    on: Literal["bucket", "object"] = "object",
) -> InsituError:
    """Map an SDK or auth error (one of ``SDK_ERRORS``) to insitu's, with the exact fix."""
    if isinstance(exc, api_errors.RetryError) and isinstance(exc.cause, Exception):
        exc = exc.cause  # retried until the deadline: the last failure says why
    if isinstance(exc, storage_errors.InvalidResponse) and isinstance(
        exc.response, requests.Response
    ):
        # A media download's error (ranged GET) keeps only the response: read its status and
        # JSON error (reason: rateLimitExceeded...) as the API's other errors carry them.
        exc = api_errors.from_http_response(exc.response)
    email, uri = identity.grantee, f"gs://{bucket}/{key or ''}"
    dropped = isinstance(exc, requests.ConnectionError) and any(w in str(exc) for w in _DROPPED)
    if isinstance(exc, _INTERRUPTED) or dropped:
        return StoreUnavailable(
            f"{what} failed: {identity.endpoint} did not answer ({type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:200]})",
            fix=f"retry later; if it persists, check {identity.endpoint} and the network to it",
            bucket=bucket,
            key=key,
        )
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
    if isinstance(exc, google.auth.exceptions.RefreshError | SignBlobFailed):
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
    if isinstance(status, int) and 300 <= status < 400:
        return _redirected(exc, status, what, identity, bucket, key)
    kind = _ERRORS.get(status, StorageError) if isinstance(status, int) else StorageError
    reason = _reason(exc)
    if reason in _THROTTLED_REASONS:
        kind = StoreThrottled
    if status == 404 and (on == "bucket" or "bucket does not exist" in message.lower()):
        kind = ContainerNotFound
    detail = f"{what} failed: HTTP {status or type(exc).__name__} ({message})"
    if reason and issubclass(kind, StoreThrottled | StoreUnavailable):
        detail = f"{what} failed: HTTP {status} {reason} ({message})"
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
    elif issubclass(kind, StoreThrottled | StoreUnavailable):
        fix = (
            f"retry later; if it keeps happening, gs://{bucket} is over its request rate: "
            "lower INSITU_STORE_MAX_IN_FLIGHT or INSITU_IMPORT_CONCURRENCY"
        )
    elif isinstance(exc, api_errors.BadRequest) and "user project" in message.lower():
        return InvalidConfiguration(
            f"{what} failed: gs://{bucket} is a requester-pays bucket ({message})",
            fix="set the connection's user_project to the project to bill for reads",
        )
    else:
        fix = f"retry; if it persists, check {identity.endpoint} and the bucket {bucket!r}"
    return kind(detail, fix=fix, bucket=bucket, key=key)


def _reason(exc: Exception) -> str | None:
    """The JSON API's error reason (``rateLimitExceeded``, ``backendError``...), if given."""
    errors = getattr(exc, "errors", None)
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        reason = errors[0].get("reason")
        return reason if isinstance(reason, str) else None
    return None


def _redirected(
    exc: Exception, status: int, what: str, identity: Identity, bucket: str, key: str | None
) -> StorageError:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    target = headers.get("Location") or "elsewhere"
    return StorageError(
        f"{what} failed: {identity.endpoint} answered HTTP {status} redirecting to {target}, "
        "and insitu does not follow redirects from a storage endpoint",
        fix="the operator points INSITU_GCS_ENDPOINT (or STORAGE_EMULATOR_HOST) at the JSON API "
        "endpoint itself, e.g. https://storage.googleapis.com; a proxy must answer, not redirect",
        bucket=bucket,
        key=key,
    )
