"""A page's Content-Security-Policy that lets it load media from exactly the buckets it shows.

The portal's pages may load images only from insitu itself. A page that shows files straight
from customers' buckets names the origins of the signed URLs it renders, and no other: a
wildcard would let any injected ``<img>`` call anywhere. The URLs come from insitu's own
signers, but each origin is still checked to be a bare ``scheme://host[:port]`` before it is
written into the header.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from insitu.api.headers import HTML_POLICY

_ORIGIN = re.compile(r"^https?://([A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$")


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of ``url``, or None if it is not a plain http(s) URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    origin = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}".lower()
    return origin if _ORIGIN.match(origin) else None


def media_origins(urls: Iterable[str]) -> list[str]:
    """The distinct origins of ``urls``, sorted (so the header is the same for the same page)."""
    return sorted({origin for origin in map(origin_of, urls) if origin})


def policy_for_media(origins: Iterable[str]) -> str:
    """The HTML pages' policy, with ``origins`` added to img-src and media-src."""
    extra = "".join(f" {origin}" for origin in origins)
    directives = []
    for part in (part.strip() for part in HTML_POLICY.split(";")):
        if part.startswith("img-src"):
            directives += [part + extra, "media-src 'self'" + extra]
        else:
            directives.append(part)
    return "; ".join(directives)
