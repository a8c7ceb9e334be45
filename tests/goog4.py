"""Check Google Cloud Storage V4 signed URLs (GOOG4-RSA-SHA256), as GCS would.

fake-gcs-server serves signed URLs without checking them, so the tests check insitu's URLs with
this verifier instead. It follows the public algorithm
(https://cloud.google.com/storage/docs/authentication/signatures), written from the documentation
and not from the SDK it checks: canonical request -> string to sign -> RSA-SHA256 (PKCS#1 v1.5)
signature, verified with the service account's public key.

    verify_signed_url(url, public_key, now=datetime.now(UTC), method="GET") -> SignedGrant
    raises SignatureMismatch (tampered, other key, other method) or URLExpired
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ALGORITHM = "GOOG4-RSA-SHA256"
MAX_EXPIRES = 7 * 24 * 3600
CLOCK_SKEW = timedelta(minutes=15)
_REQUIRED = (
    "X-Goog-Algorithm",
    "X-Goog-Credential",
    "X-Goog-Date",
    "X-Goog-Expires",
    "X-Goog-SignedHeaders",
    "X-Goog-Signature",
)


class GoogV4Error(AssertionError):
    """Not a valid V4 signed URL (an AssertionError so pytest shows it)."""


class SignatureMismatch(GoogV4Error):
    """The signature does not match the URL: tampered, other key or other method."""


class URLExpired(GoogV4Error):
    """The URL is outside its validity window."""


@dataclass(frozen=True)
class SignedGrant:
    """What a valid signed URL grants."""

    method: str
    host: str
    bucket: str
    key: str  # decoded object name
    email: str
    signed_at: datetime
    expires_at: datetime
    signed_headers: tuple[str, ...]


def canonical_query(pairs: list[tuple[str, str]]) -> str:
    """Every parameter but the signature, percent-encoded (RFC 3986), sorted by name."""
    encoded = sorted((quote(name, safe="-_.~"), quote(value, safe="-_.~")) for name, value in pairs)
    return "&".join(f"{name}={value}" for name, value in encoded)


def string_to_sign(url: str, method: str = "GET") -> tuple[str, dict[str, str]]:
    """The string a V4 signature covers for ``url`` requested with ``method``."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = dict(pairs)
    missing = [name for name in _REQUIRED if name not in query]
    if missing:
        raise GoogV4Error(f"not a V4 signed URL: missing {', '.join(missing)}")
    if query["X-Goog-Algorithm"] != ALGORITHM:
        raise GoogV4Error(f"algorithm {query['X-Goog-Algorithm']!r} is not {ALGORITHM}")
    signed_headers = query["X-Goog-SignedHeaders"].split(";")
    headers = {"host": parts.netloc}
    unknown = [name for name in signed_headers if name not in headers]
    if unknown:
        raise GoogV4Error(f"signed headers a browser cannot send: {unknown}")
    canonical_request = "\n".join(
        [
            method,
            quote(unquote(parts.path), safe="/-_.~"),
            canonical_query([(n, v) for n, v in pairs if n != "X-Goog-Signature"]),
            "".join(f"{name}:{headers[name]}\n" for name in signed_headers),
            ";".join(signed_headers),
            "UNSIGNED-PAYLOAD",
        ]
    )
    scope = query["X-Goog-Credential"].split("/", 1)[1]
    text = "\n".join(
        [
            ALGORITHM,
            query["X-Goog-Date"],
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    return text, query


def verify_signed_url(
    url: str,
    public_key: rsa.RSAPublicKey,
    *,
    now: datetime | None = None,
    method: str = "GET",
) -> SignedGrant:
    """Check ``url``'s signature with ``public_key`` and its validity at ``now``."""
    text, query = string_to_sign(url, method)
    email, _, scope = query["X-Goog-Credential"].partition("/")
    date, region, service, terminator = scope.split("/")
    if (region, service, terminator) != ("auto", "storage", "goog4_request"):
        raise GoogV4Error(f"credential scope {scope!r} is not */auto/storage/goog4_request")
    signed_at = datetime.strptime(query["X-Goog-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    if signed_at.strftime("%Y%m%d") != date:
        raise SignatureMismatch("X-Goog-Date and the credential scope name different days")
    try:
        public_key.verify(
            bytes.fromhex(query["X-Goog-Signature"]),
            text.encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except (InvalidSignature, ValueError) as exc:
        raise SignatureMismatch(f"the signature does not match {method} {url}") from exc
    expires = int(query["X-Goog-Expires"])
    if not 1 <= expires <= MAX_EXPIRES:
        raise GoogV4Error(f"X-Goog-Expires={expires} is outside 1..{MAX_EXPIRES}")
    expires_at = signed_at + timedelta(seconds=expires)
    now = now or datetime.now(UTC)
    if now < signed_at - CLOCK_SKEW:
        raise URLExpired(f"signed at {signed_at:%Y-%m-%dT%H:%M:%SZ}, in the future")
    if now >= expires_at:
        raise URLExpired(f"expired at {expires_at:%Y-%m-%dT%H:%M:%SZ}")
    parts = urlsplit(url)
    bucket, _, key = unquote(parts.path).lstrip("/").partition("/")
    return SignedGrant(
        method=method,
        host=parts.netloc,
        bucket=bucket,
        key=key,
        email=email,
        signed_at=signed_at,
        expires_at=expires_at,
        signed_headers=tuple(query["X-Goog-SignedHeaders"].split(";")),
    )
