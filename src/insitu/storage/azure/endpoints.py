"""Which account endpoints insitu calls for a connection: its cloud's blob hosts, or allowed ones.

insitu sends its Entra ID tokens for the customer's tenant to a connection's ``account_url``,
so an org must not point it at a host of its choosing (a server that keeps the token, the
platform's own network). It must be ``https://ACCOUNT.blob.<suffix>`` on the default port, the
suffix being that of the Azure cloud insitu signs in to (``INSITU_AZURE_AUTHORITY_HOST``), or a
non-public endpoint the operator listed (``INSITU_PRIVATE_ENDPOINTS``) or granted to the org
(``insitu org allow-endpoint``): Azure Stack, an emulator.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from insitu.errors import InvalidConfiguration
from insitu.storage.network import check_endpoint

if TYPE_CHECKING:
    from insitu.config import Settings

# Entra ID sign-in host -> the storage endpoint suffix of the same cloud.
BLOB_SUFFIXES = {
    "login.microsoftonline.com": "core.windows.net",
    "login.microsoftonline.us": "core.usgovcloudapi.net",
    "login.chinacloudapi.cn": "core.chinacloudapi.cn",
    "login.partner.microsoftonline.cn": "core.chinacloudapi.cn",
}
PUBLIC_SUFFIX = "core.windows.net"
_HOST = re.compile(r"^(?P<account>[a-z0-9]{3,24})\.blob\.(?P<suffix>[a-z0-9.-]+)$")


def blob_suffix(settings: Settings) -> str:
    """The blob endpoint suffix of the configured cloud (the public cloud's for other hosts)."""
    authority = urlsplit(settings.azure_authority_host).hostname or ""
    return BLOB_SUFFIXES.get(authority.lower(), PUBLIC_SUFFIX)


def is_listed(account_url: str, allowed: Sequence[str]) -> bool:
    """Whether the URL's host (or host:port, or its IP within a network) is in ``allowed``."""
    parts = urlsplit(account_url)
    host = (parts.hostname or "").lower()
    port = parts.port or 443
    if host in allowed or f"{host}:{port}" in allowed:
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    for entry in allowed:
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue  # a host or host:port entry, compared above
    return False


def check_account_url(account_url: str, settings: Settings, allowed: Sequence[str]) -> None:
    """Refuse an ``account_url`` that is neither this cloud's blob endpoint nor allowed."""
    suffix = blob_suffix(settings)
    if is_listed(account_url, allowed):
        check_endpoint(account_url, allowed)
        return
    parts = urlsplit(account_url)
    host = (parts.hostname or "").lower()
    match = _HOST.match(host)
    if match is None:
        why = f"its host {host!r} is not an Azure blob endpoint (ACCOUNT.blob.{suffix})"
    elif match["suffix"] != suffix:
        why = (
            f"blob.{match['suffix']} is not this server's Azure cloud, which signs in at "
            f"{settings.azure_authority_host} and reads blob.{suffix}"
        )
    elif parts.port not in (None, 443):
        why = f"Azure blob endpoints answer on https's default port, not {parts.port}"
    elif parts.scheme != "https" or parts.path.strip("/"):
        why = "it must be the account endpoint alone, over https"
    else:
        check_endpoint(account_url, allowed)
        return
    raise InvalidConfiguration(
        f"account_url {account_url!r} is not one insitu may call: {why}",
        fix=f"use the storage account's blob endpoint, e.g. https://mystorage.blob.{suffix} "
        "(az storage account show --name ACCOUNT --query primaryEndpoints.blob); an on-premises "
        "or emulator endpoint must first be allowed by the operator "
        "(INSITU_PRIVATE_ENDPOINTS=HOST:PORT, or insitu org allow-endpoint ORG HOST:PORT)",
    )
