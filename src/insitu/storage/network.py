"""Customer-supplied endpoints: insitu calls them only if they are public, or allowed.

A connection may name its own endpoint (an S3-compatible store, an Azure account URL).
insitu sends signed requests, sometimes with bearer tokens, to it, so a customer must not
point it at the platform's own network (metadata services, databases, other tenants'
on-prem stores). Hosts resolving to loopback, private, link-local or otherwise non-public
addresses are refused unless the operator lists them in INSITU_PRIVATE_ENDPOINTS (or grants
them to one org). Link-local addresses (169.254.0.0/16, fe80::/10: cloud metadata services)
are refused even then, also when an allowed host name resolves to one.

Three layers, because a name checked once can point elsewhere later:

- ``check_endpoint(url, allowed)`` when a connection is created or opened: the host must be
  written plainly (no trailing dot, zone id or shorthand IPv4), must resolve, and every
  address it resolves to must be public or allowed;
- ``check_address(host, port, address, allowed)`` for each address actually connected to
  (``check_peer`` on a connected socket): the SDK transports call it on every new connection,
  so a name that resolves differently at connect time (DNS rebinding) is still refused;
- IPv6 forms that carry an IPv4 address (IPv4-mapped and -compatible, NAT64, 6to4, Teredo)
  are judged by that IPv4 address, or refused outright when they have no legitimate use.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

from insitu.errors import InvalidConfiguration

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # well-known prefix: the IPv4 in the last 32 bits
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")  # a site's own translator: never public


def endpoint_host(url: str) -> tuple[str, int]:
    """The host (lowercase, without brackets) and port ``url`` reaches."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError as exc:
        raise InvalidConfiguration(
            f"the endpoint {url!r} has an invalid port", fix="write it as scheme://host[:port]"
        ) from exc
    return parts.hostname or "", port or (443 if parts.scheme == "https" else 80)


def allowance(url: str) -> str:
    """The allow-list entry (``host:port``) that lets ``url``'s own host and port through."""
    return _host_port(*endpoint_host(url))


def check_endpoint(url: str, allowed: Sequence[str]) -> None:
    """Refuse ``url`` unless its host is written plainly and is public or allowed.

    A host allowed by name may lead to any address but a link-local one: the operator allowed
    a store, never a metadata service. One that does not resolve from here (yet) passes; each
    connection to it is checked again (``check_peer``).
    """
    host, port = endpoint_host(url)
    _refuse_disguised_host(host)
    if _allowed_by_name(host, port, allowed):
        try:
            addresses = resolve(host, port)
        except InvalidConfiguration:
            return
    else:
        addresses = resolve(host, port)
    for address in addresses:
        check_address(host, port, address, allowed)


def checked_address(url: str, allowed: Sequence[str]) -> str:
    """The address to connect to for ``url``, checked as ``check_endpoint`` checks its host.

    For a client that connects to this very address (not the name again), so what was checked
    is what is reached. Unlike ``check_endpoint``, a host that does not resolve is refused even
    when allowed by name: there is nothing to connect to.
    """
    host, port = endpoint_host(url)
    _refuse_disguised_host(host)
    addresses = resolve(host, port)
    for address in addresses:
        check_address(host, port, address, allowed)
    return addresses[0]


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to; InvalidConfiguration if it resolves to none."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise InvalidConfiguration(
            f"the endpoint host {host!r} does not resolve ({exc}), so insitu cannot check "
            "where it leads",
            fix="check the host name in endpoint_url (it must resolve from the insitu servers)",
        ) from exc
    addresses = sorted({str(info[4][0]) for info in infos})
    if not addresses:
        raise InvalidConfiguration(
            f"the endpoint host {host!r} resolves to no address",
            fix="check the host name in endpoint_url",
        )
    return addresses


def check_address(host: str, port: int, address: str, allowed: Sequence[str]) -> None:
    """Refuse connecting to ``address`` (what ``host`` resolved to) unless public or allowed.

    A link-local address (cloud metadata services, in any IPv6 form that carries one) is
    refused whatever is allowed.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    where = _host_port(host, port)
    if _is_link_local(ip):
        raise InvalidConfiguration(
            f"the endpoint {where} resolves to {ip}{_carries(ip)}, a link-local, non-public "
            "address (where cloud metadata services answer) that insitu never calls, even for "
            "an allowed endpoint",
            fix="use the store's own address; point its name elsewhere than 169.254.0.0/16 "
            "or fe80::/10",
        )
    if _allowed_by_name(host, port, allowed) or _public(ip) or _in_allowed_networks(ip, allowed):
        return
    raise InvalidConfiguration(
        f"the endpoint {where} resolves to {ip}{_carries(ip)}, a non-public address that insitu "
        "does not call on a connection's behalf",
        fix=f"use the store's public endpoint, or have the operator allow it with "
        f"INSITU_PRIVATE_ENDPOINTS={where} (on-prem stores, emulators)",
    )


def _carries(ip: IPAddress) -> str:
    embedded = _embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
    return f" (it carries {', '.join(map(str, embedded))})" if embedded else ""


def check_peer(sock: socket.socket, host: str, port: int, allowed: Sequence[str]) -> None:
    """Refuse a connected socket whose peer is not an address ``host`` may lead to.

    Called by the SDK transports right after connecting, before anything is sent: the address
    checked is the one connected to, whatever the name resolves to by then.
    """
    peer = sock.getpeername()[0]
    try:
        check_address(host, port, str(peer), allowed)
    except InvalidConfiguration:
        sock.close()
        raise


def _refuse_disguised_host(host: str) -> None:
    plain = "write endpoint_url with the store's plain host name or dotted IPv4 / IPv6 address"
    if not host:
        raise InvalidConfiguration("the endpoint names no host", fix=plain)
    if "%" in host and ":" in host:
        raise InvalidConfiguration(
            f"the endpoint host {host!r} carries an IPv6 zone id, which names a local network "
            "interface",
            fix=plain,
        )
    if "%" in host:
        raise InvalidConfiguration(
            f"the endpoint host {host!r} is percent-encoded, which hides the name it resolves",
            fix=plain,
        )
    if host.endswith("."):
        raise InvalidConfiguration(
            f"the endpoint host {host!r} ends with a dot", fix=f"{plain}, without the final dot"
        )
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is None:
        if _shorthand_ipv4(host):
            raise InvalidConfiguration(
                f"the endpoint host {host!r} is an IPv4 address in shorthand, decimal, octal or "
                "hexadecimal form",
                fix=f"{plain} (four decimal numbers, e.g. 203.0.113.7)",
            )
        return
    if isinstance(ip, ipaddress.IPv6Address) and (
        ip.ipv4_mapped is not None or ip.teredo is not None or _ipv4_compatible(ip)
    ):
        raise InvalidConfiguration(
            f"the endpoint host [{host}] is an IPv6 form of an IPv4 address",
            fix=f"{plain} (the IPv4 address itself)",
        )


def _shorthand_ipv4(host: str) -> bool:
    """Whether the C resolver would read ``host`` as an IPv4 address (``127.1``, ``0x7f...``)."""
    if not all(char in "0123456789abcdefx." for char in host):
        return False
    try:
        socket.inet_aton(host)
    except OSError:
        return False
    return True


def _ipv4_compatible(ip: ipaddress.IPv6Address) -> bool:
    return int(ip) >> 32 == 0 and int(ip) > 1  # ::a.b.c.d, deprecated (:: and ::1 are not)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address] | None:
    """The IPv4 addresses an IPv6 address carries, or None if it carries none."""
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip.teredo is not None:
        return list(ip.teredo)
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip in _NAT64 or _ipv4_compatible(ip):
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    return None


def _public(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id or ip in _LOCAL_NAT64 or ip.teredo is not None or _ipv4_compatible(ip):
            return False
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return all(_public(v4) for v4 in embedded)
    return ip.is_global and not ip.is_multicast


def _is_link_local(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return any(v4.is_link_local for v4 in embedded)
    return ip.is_link_local


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _allowed_by_name(host: str, port: int, allowed: Sequence[str]) -> bool:
    return host in allowed or f"{host}:{port}" in allowed or f"[{host}]:{port}" in allowed


def _in_allowed_networks(ip: IPAddress, allowed: Sequence[str]) -> bool:
    for entry in allowed:
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue  # a host or host:port entry, matched by name above
    return False
