"""Which storage errors are worth trying again later: throttling, unavailability, timeouts.

A store that answers ``503 SlowDown``, ``429``, ``500 InternalError`` or drops the connection
has said nothing about the file; a 404 or a 403 has. The SDKs retry each request a few times
already; what still fails after that is transient for the caller (an import batch waits and
tries again) only when this says so. Each provider's SDK error stays the ``__cause__`` of the
error insitu raises, so this looks through the chain, at HTTP statuses and error codes.
"""

from __future__ import annotations

import socket

from insitu.errors import InsituError, StorageUnreachable, StoreTransient

# HTTP statuses a store sends when it is busy or briefly broken, not when the file is wrong.
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Error codes the providers send with them (S3, Azure, GCS), and words SDKs put in messages.
TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "ServiceUnavailable",
        "InternalError",
        "ServerBusy",
        "OperationTimedOut",
        "InternalServerError",
        "TooManyRequests",
        "rateLimitExceeded",
        "backendError",
    }
)
_TRANSIENT_WORDS = ("slow down", "slowdown", "throttl", "connection reset", "timed out")


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the store was busy or unreachable for now."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _says_transient(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _says_transient(exc: BaseException) -> bool:
    if isinstance(
        exc, StoreTransient | StorageUnreachable | TimeoutError | ConnectionError | socket.timeout
    ):
        return True
    if isinstance(exc, InsituError):
        return False  # its status is insitu's own (502 for any store error); its cause tells
    for status in _statuses(exc):
        if status in TRANSIENT_STATUSES:
            return True
    code = _code(exc)
    if code in TRANSIENT_CODES:
        return True
    text = str(exc).lower()
    return any(word in text for word in _TRANSIENT_WORDS)


def _statuses(exc: BaseException) -> list[int]:
    found = []
    for name in ("status_code", "code", "status"):
        value = getattr(exc, name, None)
        if isinstance(value, int) and not isinstance(value, bool):
            found.append(value)
    response = getattr(exc, "response", None)
    if isinstance(response, dict):  # botocore's ClientError
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if isinstance(status, int):
            found.append(status)
    return found


def _code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if isinstance(code, str):
            return code
    code = getattr(exc, "error_code", None)  # Azure
    return code if isinstance(code, str) else None
