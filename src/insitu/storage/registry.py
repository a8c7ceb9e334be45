"""Providers looked up by name or URI scheme, imported only when first used."""

from __future__ import annotations

import importlib
import re
import sys
from dataclasses import dataclass
from functools import cache

from insitu.errors import EventsUnsupported, InvalidLocation, ProviderUnavailable, UnknownProvider
from insitu.storage.base import EventProvider, Location, Provider


@dataclass(frozen=True)
class _Entry:
    module: str
    schemes: tuple[str, ...]
    install_hint: str | None = None


# The one place that knows which providers exist; each is one module under storage/.
_PROVIDERS: dict[str, _Entry] = {
    "s3": _Entry("insitu.storage.s3", ("s3",)),
    "local": _Entry("insitu.storage.local", ("file",)),
    "azure": _Entry("insitu.storage.azure", ("az", "https"), "pip install 'insitu[azure]'"),
    "gcs": _Entry("insitu.storage.gcs", ("gs",), "pip install 'insitu[gcs]'"),
}


def provider_names() -> list[str]:
    return list(_PROVIDERS)


@cache
def get_provider(name: str) -> Provider:
    """The provider called ``name``; raises InvalidLocation for an unknown one."""
    entry = _PROVIDERS.get(name)
    if entry is None:
        raise UnknownProvider(
            f"unknown storage provider {name!r}",
            fix=f"use one of: {', '.join(_PROVIDERS)}",
        )
    try:
        # Provider packages export PROVIDER lazily: the SDK is imported on this access.
        provider: Provider = importlib.import_module(entry.module).PROVIDER
    except ImportError as exc:
        raise ProviderUnavailable(
            f"the {name} provider needs a package that is not installed ({exc.name})",
            fix=entry.install_hint or "reinstall insitu",
        ) from exc
    return provider


def events_provider(name: str) -> EventProvider:
    """Provider ``name`` as one that delivers storage events; EventsUnsupported if it does not."""
    provider = get_provider(name)
    if not isinstance(provider, EventProvider):
        raise EventsUnsupported(
            f"the {name} provider does not deliver storage events to insitu, so its prefixes "
            "cannot be watched",
            fix="keep the project in line with its bucket by reconciling it (POST "
            "/v1/projects/{id}/reconcile, and on the INSITU_RECONCILE_INTERVAL_SECONDS "
            "schedule); storage events are available for s3 connections",
        )
    return provider


def clear_caches() -> None:
    """Forget every loaded provider's cached credentials and clients."""
    for name, entry in _PROVIDERS.items():
        if entry.module in sys.modules:
            get_provider(name).clear_cache()


def parse_location(uri: str) -> Location:
    """Parse any supported storage URI into a Location, or say which forms are accepted.

    Every provider's locations are held to the same rules here: no NUL, no lone surrogate
    (text no store can hold), no ``.`` or ``..`` path segment (a browser would resolve it in
    a signed URL and fetch another object, or none).
    """
    if not isinstance(uri, str) or "://" not in uri:
        raise InvalidLocation(
            f"{uri!r} is not a storage URI: an absolute path starts with its scheme and "
            "bucket, such as gs://my-bucket/ or s3://my-bucket/",
            fix="write the full path with its scheme and bucket, e.g. " + ", ".join(_examples()),
        )
    scheme = uri.split("://", 1)[0].lower()
    candidates = [name for name, entry in _PROVIDERS.items() if scheme in entry.schemes]
    if not candidates:
        raise InvalidLocation(
            f"{uri!r} uses the unsupported scheme {scheme!r}",
            fix="write it as one of: " + ", ".join(_examples()),
        )
    _refuse_unstorable(uri, what="location")
    location = get_provider(candidates[0]).parse(uri)
    if has_dot_segment(location.key):  # the message is built only then: this runs per file
        refuse_dot_segments(location.key, what=f"location {uri!r}")
    return location


_PLAIN_KEY = re.compile(r"[A-Za-z0-9._~/-]{1,1024}")


def plain_key(key: str) -> bool:
    """Whether ``key`` is one every provider takes as it is and a URL path holds unescaped:
    ASCII letters, digits and ``._~/-``, no longer than GCS's 1,024 bytes (a ``.`` or ``..``
    segment is a matter apart: ``has_dot_segment``)."""
    return _PLAIN_KEY.fullmatch(key) is not None


def check_key(location: Location, key: str) -> None:
    """Refuse ``key`` under ``location`` as ``parse_location`` would refuse its URI. An import
    checks each of millions of files: a plain key is let through without parsing its URI."""
    if not plain_key(key) or has_dot_segment(key):
        parse_location(location.with_key(key).uri)


def check_plain_text(text: str, *, what: str) -> None:
    """Refuse ``text`` (a location or file name a user sent) holding any control character.

    Stores allow some (an S3 key may hold a tab), so objects already listed keep working;
    but a name a person types never holds one, and NUL or a newline in a name is a mistake or
    an attack on whatever later prints or logs it.
    """
    _refuse_unstorable(text, what=what)
    bad = next((char for char in text if _is_control(char)), None)
    if bad is not None:
        raise InvalidLocation(
            f"{what} {text!r} holds the control character {bad!r}",
            fix="remove it; names are plain text, without NUL, tabs, newlines or other "
            "control characters",
        )


def refuse_dot_segments(key: str, *, what: str) -> None:
    """Refuse a key with a ``.`` or ``..`` segment."""
    if has_dot_segment(key):
        raise InvalidLocation(
            f"{what} has a '.' or '..' path segment",
            fix="write the plain path, without '.' or '..', e.g. s3://my-bucket/scans/a.dcm",
        )


def has_dot_segment(key: str) -> bool:
    """Whether ``key`` has a ``.`` or ``..`` segment (between slashes, or at either end)."""
    wrapped = f"/{key}/"
    return "/./" in wrapped or "/../" in wrapped


def _refuse_unstorable(text: str, *, what: str) -> None:
    if "\x00" in text:
        raise InvalidLocation(
            f"{what} {text!r} holds a NUL character", fix="remove the NUL (\\x00) character"
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidLocation(
            f"{what} {text!r} holds a lone UTF-16 surrogate ({text[exc.start]!r}), "
            "which is not text any store can hold",
            fix="send the name as valid UTF-8 / JSON: a \\uD800-\\uDFFF escape must be one "
            "half of a pair",
        ) from exc


def _is_control(char: str) -> bool:
    code = ord(char)
    return code < 0x20 or 0x7F <= code < 0xA0


def _examples() -> list[str]:
    return [
        "s3://bucket/prefix/",
        "az://account/container/prefix/",
        "gs://bucket/prefix/",
        "file:///srv/data/prefix/",
    ]


def addressable(uri: str) -> bool:
    """Whether a URL can name ``uri`` (no "." or ".." segment, no control character): a
    listed key that fails this is refused by imports, so reconciles and events skip it too."""
    key = uri.split("://", 1)[-1]
    if "/./" not in f"/{key}/" and "/../" not in f"/{key}/" and key.isprintable():
        return True  # the common case, without a full parse
    try:
        parse_location(uri)
    except InvalidLocation:
        return False
    return True
