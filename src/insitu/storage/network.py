"""Customer-supplied endpoints: insitu calls them only if they are public, or allowed.

A connection may name its own endpoint (an S3-compatible store, an Azure account URL).
insitu sends signed requests, sometimes with bearer tokens, to it, so a customer must not
point it at the platform's own network (metadata services, databases, other tenants'
on-prem stores). Hosts resolving to loopback, private, link-local or otherwise non-public
addresses are refused unless the operator lists them in INSITU_PRIVATE_ENDPOINTS.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

from insitu.errors import InvalidConfiguration

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def check_endpoint(url: str, allowed: Sequence[str]) -> None:
    """Refuse ``url`` unless its host is public or the operator allowed it."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if host in allowed or f"{host}:{port}" in allowed:
        return
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return  # nothing to reach: the first request fails as storage_unreachable
    for address in sorted({str(info[4][0]) for info in infos}):
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if _public(ip) or _in_allowed_networks(ip, allowed):
            continue
        fix = "use the store's public endpoint"
        if not ip.is_link_local:  # cloud metadata services live there: never to be allowed
            fix += (
                f", or have the operator allow it with INSITU_PRIVATE_ENDPOINTS={host}:{port} "
                "(on-prem stores, emulators)"
            )
        raise InvalidConfiguration(
            f"the endpoint {host}:{port} resolves to {ip}, a non-public address that insitu "
            "does not call on a connection's behalf",
            fix=fix,
        )


def _public(ip: IPAddress) -> bool:
    return ip.is_global and not ip.is_multicast


def _in_allowed_networks(ip: IPAddress, allowed: Sequence[str]) -> bool:
    for entry in allowed:
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue  # a host or host:port entry, matched by name above
    return False
