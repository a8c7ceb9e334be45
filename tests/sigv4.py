"""Check AWS Signature Version 4 presigned (query-string) URLs, as S3 would.

moto serves presigned URLs without checking their signature or expiry, so the tests check
insitu's URLs with this verifier instead. It recomputes the signature from the public algorithm
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html):
canonical request -> string to sign -> key derived from the secret, date, region and service.

    verify_presigned_url(url, secret_key="...", now=datetime.now(UTC)) -> PresignedURL
    raises SignatureMismatch (tampered or wrong key) or URLExpired (too early or too late)
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, quote, unquote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_EXPIRES = 7 * 24 * 3600
CLOCK_SKEW = timedelta(minutes=15)
_REQUIRED = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)


class SigV4Error(AssertionError):
    """The URL is not a valid SigV4 presigned URL (an AssertionError so pytest shows it)."""


class SignatureMismatch(SigV4Error):
    """The signature does not match the URL: tampered, or signed with another key."""


class URLExpired(SigV4Error):
    """The URL is outside its validity window."""


@dataclass(frozen=True)
class PresignedURL:
    """What a valid presigned URL grants."""

    method: str
    host: str
    path: str  # decoded: for path-style S3 URLs, /bucket/key
    access_key: str
    region: str
    service: str
    signed_at: datetime
    expires_at: datetime
    query: dict[str, str]


def _uri_encode(value: str, *, keep_slash: bool = False) -> str:
    # AWS's UriEncode: every byte but A-Z a-z 0-9 - _ . ~ is %XX-encoded (uppercase hex).
    return quote(value, safe="-_.~/" if keep_slash else "-_.~")


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    """The SigV4 signing key for one day, region and service."""
    key = _hmac(("AWS4" + secret_key).encode(), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, "aws4_request")


def canonical_request(
    method: str, path: str, query: list[tuple[str, str]], headers: Mapping[str, str], signed: str
) -> str:
    """The canonical request for a presigned URL (payload unsigned)."""
    canonical_query = "&".join(
        f"{n}={v}" for n, v in sorted((_uri_encode(n), _uri_encode(v)) for n, v in query)
    )
    names = signed.split(";")
    canonical_headers = "".join(f"{n}:{' '.join(headers[n].split())}\n" for n in names)
    return "\n".join(
        [
            method,
            _uri_encode(path, keep_slash=True) or "/",
            canonical_query,
            canonical_headers,
            signed,
            "UNSIGNED-PAYLOAD",
        ]
    )


def verify_presigned_url(
    url: str,
    *,
    secret_key: str,
    now: datetime | None = None,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
) -> PresignedURL:
    """Check ``url``'s SigV4 signature with ``secret_key`` and its expiry at ``now``.

    ``headers`` gives values of signed headers other than ``host`` (taken from the URL).
    Raises SignatureMismatch, URLExpired or SigV4Error; returns what the URL grants.
    """
    now = now or datetime.now(UTC)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SigV4Error(f"not an http(s) URL: {url!r}")
    pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise SigV4Error(f"query parameter {name} appears twice")
        params[name] = value
    missing = [name for name in _REQUIRED if name not in params]
    if missing:
        raise SigV4Error(f"not a presigned SigV4 URL: missing {', '.join(missing)}")
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise SigV4Error(f"unsupported algorithm {params['X-Amz-Algorithm']!r}")

    try:
        access_key, date, region, service, terminator = params["X-Amz-Credential"].split("/")
    except ValueError as exc:
        raise SigV4Error(f"malformed X-Amz-Credential {params['X-Amz-Credential']!r}") from exc
    if terminator != "aws4_request":
        raise SigV4Error("X-Amz-Credential does not end with aws4_request")
    try:
        signed_at = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        expires = int(params["X-Amz-Expires"])
    except ValueError as exc:
        raise SigV4Error("malformed X-Amz-Date or X-Amz-Expires") from exc
    if params["X-Amz-Date"][:8] != date:
        raise SignatureMismatch("X-Amz-Date is not the credential scope's date")
    if not 1 <= expires <= MAX_EXPIRES:
        raise SigV4Error(f"X-Amz-Expires {expires} is outside 1..{MAX_EXPIRES}")

    signed = params["X-Amz-SignedHeaders"]
    all_headers = {"host": parts.netloc.lower()}
    all_headers.update({k.lower(): v for k, v in (headers or {}).items()})
    if "host" not in signed.split(";"):
        raise SigV4Error("the host header is not signed")
    unknown = [name for name in signed.split(";") if name not in all_headers]
    if unknown:
        raise SigV4Error(f"values of signed headers {unknown} were not given")

    path = unquote(parts.path)
    query = [(n, v) for n, v in pairs if n != "X-Amz-Signature"]
    request = canonical_request(method, path, query, all_headers, signed)
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        [ALGORITHM, params["X-Amz-Date"], scope, hashlib.sha256(request.encode()).hexdigest()]
    )
    key = signing_key(secret_key, date, region, service)
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, params["X-Amz-Signature"]):
        raise SignatureMismatch(f"signature mismatch for {method} {parts.netloc}{path}")

    expires_at = signed_at + timedelta(seconds=expires)
    if now < signed_at - CLOCK_SKEW:
        raise URLExpired(f"URL signed at {signed_at.isoformat()} is not valid yet at {now}")
    if now >= expires_at:
        raise URLExpired(f"URL expired at {expires_at.isoformat()} (now {now.isoformat()})")
    return PresignedURL(
        method, parts.netloc, path, access_key, region, service, signed_at, expires_at, params
    )
