"""Connections: an org's validated, encrypted access settings for one provider."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from insitu.audit import service as audit
from insitu.audit.service import OPERATOR, SYSTEM, Actor
from insitu.azure import service as azure_tenants
from insitu.config import Settings
from insitu.connections import stores
from insitu.connections.models import Connection
from insitu.connections.schemas import ConnectionCreate, ConnectionRead
from insitu.db import utcnow
from insitu.errors import InvalidConfiguration, InvalidLocation, NotFound
from insitu.organizations import service as organizations
from insitu.organizations.models import Organization
from insitu.security import SecretBox
from insitu.storage.base import (
    Check,
    EventProvider,
    EventSource,
    Location,
    ObjectStore,
    ProviderConfig,
    ProviderContext,
    SetupDocument,
)
from insitu.storage.registry import events_provider, get_provider, parse_location


def create(
    session: Session,
    *,
    org: Organization,
    data: ConnectionCreate,
    settings: Settings,
    operator: bool = False,
    actor: Actor | None = None,
) -> Connection:
    """Validate the settings with the provider's own model, then store them encrypted.

    The audit log names ``actor`` (the operator by default when ``operator`` is set).
    """
    provider = get_provider(data.provider)
    config = _validated_config(data.provider, data.settings)
    connection = Connection(org_id=org.id, name=data.name or data.provider, provider=data.provider)
    provider.validate_config(config, _context(org, connection, settings, operator=operator))
    connection.settings_encrypted = SecretBox(settings.secret_keys).encrypt_json(
        config.model_dump(mode="json")
    )
    session.add(connection)
    session.flush()
    audit.record(
        session,
        actor=actor or (OPERATOR if operator else SYSTEM),
        action="connection.created",
        org_id=org.id,
        target_type="connection",
        target_id=connection.id,
        details={"provider": connection.provider, "name": connection.name, "operator": operator},
    )
    return connection


def get(session: Session, *, org: Organization, connection_id: str) -> Connection:
    """The org's connection; another org's or a deleted one is simply not found."""
    connection = session.get(Connection, connection_id)
    if connection is None or connection.org_id != org.id or connection.deleted_at is not None:
        raise NotFound(
            f"connection {connection_id} does not exist",
            fix="list your connections with GET /v1/connections",
        )
    return connection


def get_any(session: Session, *, connection_id: str) -> Connection:
    """Any org's live connection, for the operator's CLI on the server."""
    connection = session.get(Connection, connection_id)
    if connection is None or connection.deleted_at is not None:
        raise NotFound(f"connection {connection_id} does not exist", fix="check the ID")
    return connection


def list_for_org(session: Session, *, org: Organization) -> Sequence[Connection]:
    query = select(Connection).where(Connection.org_id == org.id, Connection.deleted_at.is_(None))
    return session.scalars(query.order_by(Connection.created_at)).all()


def delete(session: Session, *, connection: Connection, actor: Actor = SYSTEM) -> int:
    """Retire a connection; its assets leave circulation but stay on record. Returns how many."""
    from insitu.assets import service as assets

    connection.deleted_at = utcnow()
    session.flush()
    removed = assets.remove_for_connection(session, connection_id=connection.id, by=actor.id)
    stores.forget(connection.id)
    audit.record(
        session,
        actor=actor,
        action="connection.deleted",
        org_id=connection.org_id,
        target_type="connection",
        target_id=connection.id,
        details={"assets_removed": removed},
    )
    return removed


def config(connection: Connection, *, settings: Settings) -> ProviderConfig:
    raw = SecretBox(settings.secret_keys).decrypt_json(connection.settings_encrypted)
    return _validated_config(connection.provider, raw)


def read(connection: Connection, *, settings: Settings) -> ConnectionRead:
    return ConnectionRead(
        id=connection.id,
        name=connection.name,
        provider=connection.provider,
        settings=config(connection, settings=settings).public(),
        created_at=connection.created_at,
    )


def location_for(connection: Connection, uri: str) -> Location:
    """Parse ``uri`` and make sure it belongs to this connection's provider."""
    location = parse_location(uri)
    if location.provider != connection.provider:
        raise InvalidLocation(
            f"{uri!r} is a {location.provider} location but connection {connection.id} is "
            f"for {connection.provider}",
            fix=f"use a {connection.provider} connection, e.g. "
            f"{get_provider(connection.provider).example_uri}",
        )
    return location


def open_store(
    connection: Connection, *, org: Organization, location: Location, settings: Settings
) -> ObjectStore:
    """A (cached) store for the connection's bucket holding ``location``."""
    return stores.get_or_open(
        connection.id, location, lambda: _open(connection, org, location, settings)
    )


def open_store_by_id(
    session: Session, *, connection_id: str, org_id: str, location: Location, settings: Settings
) -> ObjectStore:
    """Like ``open_store``, loading the connection and org only when no store is cached."""

    def opener() -> ObjectStore:
        connection = session.get_one(Connection, connection_id)
        org = session.get_one(Organization, org_id)
        return _open(connection, org, location, settings)

    return stores.get_or_open(connection_id, location, opener)


def _open(
    connection: Connection, org: Organization, location: Location, settings: Settings
) -> ObjectStore:
    return get_provider(connection.provider).open(
        config(connection, settings=settings),
        location=location,
        context=_context(org, connection, settings),
    )


def event_queue(connection: Connection, *, settings: Settings) -> str | None:
    """The queue the connection's storage events arrive on; None if it has none (or cannot)."""
    provider = get_provider(connection.provider)
    if not isinstance(provider, EventProvider):
        return None
    return provider.event_queue(config(connection, settings=settings))


def open_events(connection: Connection, *, org: Organization, settings: Settings) -> EventSource:
    """The connection's event queue, read with its own identity (EventsUnsupported if none)."""
    return events_provider(connection.provider).open_events(
        config(connection, settings=settings), context=_context(org, connection, settings)
    )


def events_setup(
    connection: Connection, *, org: Organization, sources: list[str], settings: Settings
) -> list[SetupDocument]:
    """What the customer applies so events under ``sources`` (one bucket) reach insitu."""
    provider = events_provider(connection.provider)
    locations = [location_for(connection, source) for source in sources]
    buckets = {location.with_key("").uri for location in locations}
    if len(buckets) != 1:
        raise InvalidLocation(
            f"the sources name {len(buckets)} buckets: {', '.join(sorted(buckets))}",
            fix="ask for one bucket at a time: each has its own notification configuration",
        )
    return provider.events_setup(
        config(connection, settings=settings),
        location=locations[0],
        prefixes=[location.key for location in locations],
        context=_context(org, connection, settings),
    )


def verify(
    connection: Connection,
    *,
    org: Organization,
    source: str,
    settings: Settings,
    actor: Actor = OPERATOR,
) -> list[Check]:
    """Run the provider's checks on ``source``; the audit log records which failed."""
    location = location_for(connection, source)
    provider = get_provider(connection.provider)
    checks = list(
        provider.verify(
            config(connection, settings=settings),
            location=location,
            context=_context(org, connection, settings),
        )
    )
    failed = [check.name for check in checks if not check.ok]
    session = object_session(connection)
    if session is not None:  # a connection loaded from the database always has one
        audit.record(
            session,
            actor=actor,
            action="connection.verified",
            org_id=org.id,
            target_type="connection",
            target_id=connection.id,
            outcome="failed" if failed else "ok",
            details={"source": location.uri, "ok": not failed, "failed": failed},
        )
    return checks


def _context(
    org: Organization, connection: Connection, settings: Settings, *, operator: bool = False
) -> ProviderContext:
    return ProviderContext(
        settings=settings,
        org_id=org.id,
        connection_id=connection.id or "",
        external_id=organizations.external_id(org, settings=settings),
        extra=azure_tenants.provider_extra(org),
        operator=operator,
        private_endpoints=organizations.allowed_endpoints(org, settings=settings),
    )


def _validated_config(provider_name: str, raw: dict[str, object]) -> ProviderConfig:
    model = get_provider(provider_name).config_model
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'settings'}: {error['msg']}"
            for error in exc.errors()
        )
        raise InvalidConfiguration(
            f"invalid {provider_name} connection settings: {problems}",
            fix=f"send settings matching the {provider_name} schema "
            f"(fields: {', '.join(model.model_fields)})",
        ) from exc
