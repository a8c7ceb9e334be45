"""Private endpoints the operator opens to one organization only (``insitu org allow-endpoint``).

INSITU_PRIVATE_ENDPOINTS opens a non-public host to every org; a grant opens it to one, so
org B cannot point a connection at org A's on-prem store. Grants are written the way the
endpoint check matches them (storage/network.py): ``host``, ``host:port`` or a CIDR. Link-local
addresses (cloud metadata services such as 169.254.169.254, fe80::/10) are never granted:
nothing a customer needs lives there, and the platform's own credentials do.
"""

from __future__ import annotations

import ipaddress
import re
import socket

from sqlalchemy import select
from sqlalchemy.orm import Session

from insitu.audit import service as audit
from insitu.audit.service import OPERATOR, Actor
from insitu.errors import Conflict, InvalidInput, NotFound
from insitu.organizations.models import EndpointGrant, Organization

_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# Names that reach a cloud metadata service whatever they resolve to where this runs.
_METADATA_NAMES = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "169.254.169.254"}
)
# Networks that hold (or map to) link-local addresses: IPv4 link-local itself, IPv6
# link-local, and the IPv6 forms that embed an IPv4 address (mapped, NAT64, 6to4).
_FORBIDDEN_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "169.254.0.0/16",
        "fe80::/10",
        "::ffff:169.254.0.0/112",
        "64:ff9b::a9fe:0/112",
        "2002:a9fe::/32",
    )
)


def normalize(endpoint: str) -> str:
    """``endpoint`` as stored and matched: a host, host:port or CIDR, lower-case; else refused."""
    text = endpoint.strip().lower()
    if not text or len(text) > 300 or any(char.isspace() for char in text):
        raise _invalid(endpoint, "it is empty, too long or contains spaces")
    if "/" in text:
        return _network(endpoint, text)
    try:
        return _address(endpoint, ipaddress.ip_address(text))
    except ValueError:
        pass
    if text.startswith("["):
        raise _invalid(
            endpoint, "an IPv6 address is granted on all its ports; give it without brackets"
        )
    host, colon, port = text.rpartition(":") if ":" in text else (text, "", "")
    if colon:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise _invalid(endpoint, f"{port!r} is not a port (1-65535)")
        port = str(int(port))
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        _check_name(endpoint, host)
    else:
        _address(endpoint, address)
    return f"{host}:{port}" if colon else host


def grant(
    session: Session, *, org: Organization, endpoint: str, actor: Actor = OPERATOR
) -> EndpointGrant:
    """Open ``endpoint`` to ``org``'s connections (audited); Conflict if it already is."""
    normalized = normalize(endpoint)
    existing = session.scalar(
        select(EndpointGrant).where(
            EndpointGrant.org_id == org.id, EndpointGrant.endpoint == normalized
        )
    )
    if existing is not None:
        raise Conflict(
            f"{normalized} is already granted to organization {org.id}",
            fix="nothing to do; 'insitu org endpoints ORG_ID' lists its grants",
        )
    row = EndpointGrant(org_id=org.id, endpoint=normalized)
    session.add(row)
    session.flush()
    _audit(session, actor, "endpoint.granted", row)
    return row


def list_for_org(session: Session, *, org: Organization) -> list[EndpointGrant]:
    query = (
        select(EndpointGrant)
        .where(EndpointGrant.org_id == org.id)
        .order_by(EndpointGrant.created_at, EndpointGrant.id)
    )
    return list(session.scalars(query))


def revoke(
    session: Session, *, org: Organization, endpoint: str, actor: Actor = OPERATOR
) -> EndpointGrant:
    """Close ``endpoint`` to ``org`` again (audited); connections to it are refused from then."""
    normalized = normalize(endpoint)
    row = session.scalar(
        select(EndpointGrant).where(
            EndpointGrant.org_id == org.id, EndpointGrant.endpoint == normalized
        )
    )
    if row is None:
        raise NotFound(
            f"{normalized} is not granted to organization {org.id}",
            fix="'insitu org endpoints ORG_ID' lists its grants",
        )
    session.delete(row)
    session.flush()
    _audit(session, actor, "endpoint.revoked", row)
    return row


def _audit(session: Session, actor: Actor, action: str, row: EndpointGrant) -> None:
    audit.record(
        session,
        actor=actor,
        action=action,
        org_id=row.org_id,
        target_type="endpoint",
        target_id=row.endpoint,
    )


def _network(endpoint: str, text: str) -> str:
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise _invalid(endpoint, "it is not a valid CIDR network") from exc
    for forbidden in _FORBIDDEN_NETWORKS:
        if network.version == forbidden.version and network.overlaps(forbidden):  # type: ignore[arg-type]
            raise _link_local(endpoint)
    return str(network)


def _address(endpoint: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if getattr(address, "scope_id", None):
        raise _invalid(endpoint, "an IPv6 zone id (%...) names an interface, not a store")
    if address.is_unspecified or address.is_multicast:
        raise _invalid(endpoint, f"{address} is not an address a store can listen on")
    if any(address in network for network in _FORBIDDEN_NETWORKS):
        raise _link_local(endpoint)
    return str(address)


def _check_name(endpoint: str, host: str) -> None:
    labels = host.split(".")
    if len(host) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        raise _invalid(endpoint, "it is not a host name, host:port, IP address or CIDR network")
    if host in _METADATA_NAMES:
        raise _link_local(endpoint)
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return  # not resolvable from here (yet); every connection re-checks what it resolves to
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if any(address in network for network in _FORBIDDEN_NETWORKS):
            raise _link_local(endpoint)


def _invalid(endpoint: str, why: str) -> InvalidInput:
    return InvalidInput(
        f"{endpoint!r} cannot be granted as a private endpoint: {why}",
        fix="give a host (minio.internal), host:port (10.0.0.5:9000) or CIDR (10.0.0.0/24)",
    )


def _link_local(endpoint: str) -> InvalidInput:
    return InvalidInput(
        f"{endpoint!r} is (or contains) a link-local address, where cloud metadata services "
        "answer with the platform's own credentials; it is never granted",
        fix="grant the store's own address or network, outside 169.254.0.0/16 and fe80::/10",
    )
