"""Every error insitu raises on purpose, with its code, HTTP status and fix.

Each error says what failed (``detail``) and how to put it right (``fix``); the API renders
them all as ``{"error": code, "detail": ..., "fix": ...}`` with the class's status::

    InsituError                      500 internal_error
    ├── InvalidInput                 422 invalid_input
    │   ├── InvalidLocation          422 invalid_location    a URI insitu cannot parse
    │   ├── UnknownProvider          422 unknown_provider
    │   ├── InvalidConfiguration     422 invalid_configuration
    │   └── EventsUnsupported        422 events_unsupported  a watch where no events can come
    ├── Unauthenticated              401 unauthenticated     no key, or a bad or expired one
    ├── Forbidden                    403 forbidden           the key's scope does not allow it
    ├── OperatorOnly                 403 operator_only       needs the platform operator
    ├── NotFound                     404 not_found           also for another org's objects
    ├── Conflict                     409 conflict
    ├── RateLimited                  429 rate_limited        too many requests; see Retry-After
    ├── StorageUnavailable           503 storage_unavailable the connection's health is failing
    └── StorageError                 502 storage_error       the customer's store failed us
        ├── ObjectNotFound           404 object_not_found    (also a FileNotFoundError)
        ├── ContainerNotFound        404 bucket_not_found
        ├── AccessDenied             403 access_denied       (also a PermissionError)
        │   └── KeyAccessDenied      403 kms_access_denied   a KMS key refuses to decrypt
        ├── ProviderUnavailable      501 provider_unavailable  SDK not installed
        ├── StorageUnreachable       502 storage_unreachable
        └── StoreTransient           503 (transient: retried, then raised; try again later)
            ├── StoreThrottled       503 storage_throttled     503 SlowDown / 429, retries spent
            └── StoreUnavailable     503 storage_unavailable   timeouts, resets, 5xx, retries spent
"""

from __future__ import annotations

import math
from typing import Any, ClassVar


class InsituError(Exception):
    """Base of every deliberate insitu error."""

    code: ClassVar[str] = "internal_error"
    status_code: ClassVar[int] = 500

    def __init__(self, detail: str, *, fix: str | None = None, **context: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fix = fix
        self.context = context

    @property
    def headers(self) -> dict[str, str]:
        """HTTP headers the API sends with this error."""
        return {}

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "detail": self.detail, "fix": self.fix}
        body.update(self.context)
        return body


class InvalidInput(InsituError):
    code = "invalid_input"
    status_code = 422


class InvalidLocation(InvalidInput):
    code = "invalid_location"


class UnknownProvider(InvalidInput):
    code = "unknown_provider"


class InvalidConfiguration(InvalidInput):
    code = "invalid_configuration"


class EventsUnsupported(InvalidInput):
    """A watch asked of a provider or connection that delivers no storage events."""

    code = "events_unsupported"


class Unauthenticated(InsituError):
    code = "unauthenticated"
    status_code = 401


class Forbidden(InsituError):
    code = "forbidden"
    status_code = 403


class OperatorOnly(InsituError):
    code = "operator_only"
    status_code = 403


class NotFound(InsituError):
    code = "not_found"
    status_code = 404


class Conflict(InsituError):
    code = "conflict"
    status_code = 409


class RateLimited(InsituError):
    """Too many requests (or failed authentications) from one key or address."""

    code = "rate_limited"
    status_code = 429

    def __init__(self, detail: str, *, retry_after: float, fix: str | None = None) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(detail, fix=fix, retry_after=self.retry_after)

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class StorageUnavailable(InsituError):
    """The asset's connection failed its last health check: no URL until its fix is applied.

    Not a StorageError: insitu refuses before asking the store, from what it already knows.
    """

    code = "storage_unavailable"
    status_code = 503


class QueueUnreachable(InsituError):
    """The job broker refused work whose change was already committed: saved, not handed out."""

    code = "queue_unreachable"
    status_code = 503


class StorageError(InsituError):
    code = "storage_error"
    status_code = 502


class ObjectNotFound(StorageError, FileNotFoundError):
    code = "object_not_found"
    status_code = 404


class ContainerNotFound(StorageError):
    code = "bucket_not_found"
    status_code = 404


class AccessDenied(StorageError, PermissionError):
    code = "access_denied"
    status_code = 403


class KeyAccessDenied(AccessDenied):
    code = "kms_access_denied"


class ProviderUnavailable(StorageError):
    code = "provider_unavailable"
    status_code = 501


class StorageUnreachable(StorageError):
    code = "storage_unreachable"
    status_code = 502


class StoreTransient(StorageError):
    """The store failed for a while, not for this file: retried with backoff until the
    retries ran out. Work that hits it should be tried again later, not recorded as a
    per-file failure (an import's batch is requeued)."""

    code = "storage_transient"
    status_code = 503

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": "30"}


class StoreThrottled(StoreTransient):
    """The store kept answering "slow down" (S3 503 SlowDown, HTTP 429) after every retry."""

    code = "storage_throttled"


class StoreUnavailable(StoreTransient):
    """The store kept timing out, resetting connections or answering 5xx after every retry."""

    code = "storage_unavailable"
