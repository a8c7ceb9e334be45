"""Which URLs an org may register as a webhook endpoint.

insitu POSTs to these URLs from inside the platform's network, so they pass the same outbound
checks as a connection's storage endpoint (``storage.network``): public addresses only, unless
the operator allowed the host (INSITU_PRIVATE_ENDPOINTS or a grant to the org); link-local
addresses (cloud metadata services) never. Each send checks the address again and connects to
exactly the address it checked (``delivery``), so a name that later resolves elsewhere is still
refused.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from urllib.parse import urlsplit

from insitu.config import Settings
from insitu.errors import InvalidConfiguration, InvalidInput
from insitu.storage.network import allowance, check_endpoint, endpoint_host, resolve

_HTTPS_FIX = "use an https:// URL your receiver serves from a public address"


def check_url(url: str, *, allowed: Sequence[str], settings: Settings) -> str:
    """``url`` as stored, if insitu may POST to it; InvalidInput saying why not otherwise."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise InvalidInput(
            f"the webhook URL {url[:200]!r} is not an http(s) URL", fix=f"{_HTTPS_FIX}, e.g. "
            "https://hooks.example.com/insitu"
        )  # fmt: skip
    if parts.username is not None or parts.password is not None:
        raise InvalidInput(
            "the webhook URL carries a user name or password, which every list of webhooks "
            "would show",
            fix="drop them from the URL; verify the Insitu-Signature header to know a "
            "request came from insitu",
        )
    if parts.fragment:
        raise InvalidInput(
            "the webhook URL has a #fragment, which is never sent to a server",
            fix="drop the part from # on",
        )
    try:
        check_endpoint(url, allowed)
    except InvalidConfiguration as exc:
        raise InvalidConfiguration(
            f"insitu will not send webhooks to {url[:200]}: {exc.detail}",
            fix=f"{_HTTPS_FIX}; a receiver inside your network needs the operator to allow "
            f"it (INSITU_PRIVATE_ENDPOINTS={allowance(url)}, or "
            f"'insitu org allow-endpoint ORG_ID {allowance(url)}')",
        ) from exc
    if parts.scheme == "http" and not _plain_http_allowed(url, allowed, settings):
        raise InvalidInput(
            f"the webhook URL {url[:200]} is plain http: the events it receives (and their "
            "signatures) would cross the internet unencrypted",
            fix=_HTTPS_FIX,
        )
    return url


def _plain_http_allowed(url: str, allowed: Sequence[str], settings: Settings) -> bool:
    """http is for development, and for receivers the operator allowed on a private network
    (the URL passed ``check_endpoint``, so a non-public address of it was allowed)."""
    if settings.environment == "development":
        return True
    host, port = endpoint_host(url)
    if host in allowed or f"{host}:{port}" in allowed or f"[{host}]:{port}" in allowed:
        return True
    addresses = resolve(host, port)
    return not any(ipaddress.ip_address(a.split("%", 1)[0]).is_global for a in addresses)
