"""Providers looked up by name or URI scheme, imported only when first used."""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from functools import cache

from insitu.errors import InvalidLocation, ProviderUnavailable, UnknownProvider
from insitu.storage.base import Location, Provider


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


def clear_caches() -> None:
    """Forget every loaded provider's cached credentials and clients."""
    for name, entry in _PROVIDERS.items():
        if entry.module in sys.modules:
            get_provider(name).clear_cache()


def parse_location(uri: str) -> Location:
    """Parse any supported storage URI into a Location, or say which forms are accepted."""
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
    return get_provider(candidates[0]).parse(uri)


def _examples() -> list[str]:
    return [
        "s3://bucket/prefix/",
        "az://account/container/prefix/",
        "gs://bucket/prefix/",
        "file:///srv/data/prefix/",
    ]
