"""Connections: an org's validated, encrypted access settings for one provider."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from insitu.audit import service as audit
from insitu.audit.service import OPERATOR, SYSTEM, Actor
from insitu.azure import service as azure_tenants
from insitu.config import Settings
from insitu.connections import stores
from insitu.connections.models import Connection
from insitu.connections.schemas import (
    ConnectionCreate,
    ConnectionRead,
    ConnectionUpdate,
    HealthRead,
    LastVerifyRead,
)
from insitu.db import utcnow
from insitu.errors import (
    InsituError,
    InvalidConfiguration,
    InvalidLocation,
    NotFound,
    ObjectNotFound,
    ProviderUnavailable,
)
from insitu.organizations import service as organizations
from insitu.organizations.models import Organization
from insitu.security import SecretBox
from insitu.storage.base import (
    Check,
    EventProvider,
    EventSource,
    Location,
    ObjectStore,
    Provider,
    ProviderConfig,
    ProviderContext,
    SetupDocument,
)
from insitu.storage.registry import events_provider, get_provider, parse_location, provider_names
from insitu.storage.verify import HEAD, ISOLATION, LIST
from insitu.webhooks import service as webhooks


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


def update(
    session: Session,
    *,
    org: Organization,
    connection: Connection,
    data: ConnectionUpdate,
    settings: Settings,
    operator: bool = False,
    actor: Actor = SYSTEM,
) -> list[str]:
    """Rename a connection, or change some of its settings in place (the result validated as
    at creation); returns the names of what changed.

    Settings left out keep their value, a null puts one back to its default. A secret left
    out is kept too, unless a setting that decides where it is sent changes
    (``secrets_follow``: an S3 connection's endpoint or mode): then it is dropped.

    Its assets stay its own: rotating keys or moving to a role needs no new connection and no
    import. The last verify, made with the old settings, is forgotten; the access health is
    kept for the caller to check again (``health.update_and_check``), so that a failing
    connection mended by new settings is announced as recovered.
    """
    changed: list[str] = []
    if data.settings is not None:
        current = config(connection, settings=settings)
        old = current.model_dump(mode="json")
        merged = {**old, **data.settings}
        if any(merged.get(name) != old.get(name) for name in current.secrets_follow):
            for name in current.secret_fields() - data.settings.keys():
                merged[name] = None
        merged = {name: value for name, value in merged.items() if value is not None}
        new = _validated_config(connection.provider, merged)
        dumped = new.model_dump(mode="json")
        changed = [name for name in old.keys() | dumped.keys() if old.get(name) != dumped.get(name)]
        if changed:  # unchanged settings are not validated again: a rename stays a rename
            get_provider(connection.provider).validate_config(
                new, _context(org, connection, settings, operator=operator)
            )
            connection.settings_encrypted = SecretBox(settings.secret_keys).encrypt_json(dumped)
            for column in _LEARNED:
                setattr(connection, column, None)
    if data.name is not None and data.name != connection.name:
        changed.append("name")
        connection.name = data.name
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="connection.updated",
        org_id=org.id,
        target_type="connection",
        target_id=connection.id,
        details={"changed": sorted(changed), "name": connection.name, "operator": operator},
    )
    return sorted(changed)


# What a verify learned with the old settings: forgotten when they change.
_LEARNED = (
    "last_verify_status",
    "last_verified_at",
    "last_verify_source",
    "last_verify_check",
    "last_verify_fix",
)


@dataclass(frozen=True)
class ProviderChoice:
    """A provider an org may add data from, its connections of it, and whether it may add one."""

    provider: Provider
    connections: list[Connection]
    can_create: bool


def choices(session: Session, *, org: Organization, settings: Settings) -> list[ProviderChoice]:
    """The providers ``org`` may import from, with its connections of each.

    The rule ``create`` applies: a provider whose connections only the operator creates (a
    local directory) is offered only where the server is set up for it and the operator
    connected one for this org. A provider whose SDK is not installed is left out.
    """
    existing = list_for_org(session, org=org)
    offered = []
    for name in provider_names():
        try:
            provider = get_provider(name)
        except ProviderUnavailable:
            continue
        mine = [connection for connection in existing if connection.provider == name]
        if not provider.offered(settings) or (provider.operator_only and not mine):
            continue
        offered.append(ProviderChoice(provider, mine, can_create=not provider.operator_only))
    return offered


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


def list_for_org(
    session: Session, *, org: Organization, provider: str | None = None
) -> Sequence[Connection]:
    """The org's live connections (of ``provider`` only, if given), newest first."""
    query = select(Connection).where(Connection.org_id == org.id, Connection.deleted_at.is_(None))
    if provider is not None:
        query = query.where(Connection.provider == provider)
    return session.scalars(query.order_by(Connection.created_at.desc(), Connection.id.desc())).all()


def delete(session: Session, *, connection: Connection, actor: Actor = SYSTEM) -> int:
    """Retire a connection; its assets leave circulation but stay on record. Returns how many."""
    from insitu.assets import service as assets

    connection.deleted_at = utcnow()
    session.flush()
    removed = assets.remove_for_connection(
        session, org_id=connection.org_id, connection_id=connection.id, by=actor.id
    )
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
    last_verify = None
    if connection.last_verify_status and connection.last_verified_at:
        last_verify = LastVerifyRead(
            status=connection.last_verify_status,  # type: ignore[arg-type]
            at=connection.last_verified_at,
            source=connection.last_verify_source,
            check=connection.last_verify_check,
            fix=connection.last_verify_fix,
        )
    health = None
    if connection.health and connection.health_since:
        health = HealthRead(
            status=connection.health,  # type: ignore[arg-type]
            since=connection.health_since,
            check=connection.health_check,
            fix=connection.health_fix,
            checked_at=connection.health_checked_at,
        )
    stored = config(connection, settings=settings)
    return ConnectionRead(
        id=connection.id,
        name=connection.name,
        provider=connection.provider,
        settings=stored.public(),
        secrets_stored=stored.stored_secrets(),
        created_at=connection.created_at,
        last_verify=last_verify,
        health=health,
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
    """Run the provider's checks on ``source``; the audit log records which failed.

    When ``source`` holds files of the connection in circulation, the outcome is also the
    connection's health (an admin who fixed access verifies, and the URLs work again at once);
    a verify of some other path (a typo, a prefix not imported yet) leaves health alone.
    """
    location = location_for(connection, source)
    checks = _run_checks(connection, org=org, location=location, settings=settings)
    failed = [check.name for check in checks if not check.ok]
    session = object_session(connection)
    covers = session is not None and _covers_assets(session, connection, location)
    _remember_verify(connection, source=location.uri, checks=checks, health=covers)
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


def check_health(
    connection: Connection, *, org: Organization, sources: Sequence[str], settings: Settings
) -> str | None:
    """Verify a few of the connection's own objects (``sources``); record the worst outcome.

    Stops at the first failing sample. A sample whose file is simply gone from the bucket
    (deleted since the import) says nothing about access: that is reconcile's business, so it
    is passed over. Returns the connection's health (unchanged if every sample was gone).
    """
    worst: tuple[str, list[Check], int] | None = None
    for source in sources:
        location = location_for(connection, source)
        checks = _run_checks(connection, org=org, location=location, settings=settings)
        if _sample_gone(connection, org=org, location=location, checks=checks, settings=settings):
            continue
        rank = _RANK[_status(checks)]
        if worst is None or rank > worst[2]:
            worst = (location.uri, checks, rank)
        if rank == _RANK[FAILED]:
            break
    if worst is not None:
        _remember_verify(connection, source=worst[0], checks=worst[1], health=True)
    return connection.health


def _run_checks(
    connection: Connection, *, org: Organization, location: Location, settings: Settings
) -> list[Check]:
    return list(
        get_provider(connection.provider).verify(
            config(connection, settings=settings),
            location=location,
            context=_context(org, connection, settings),
        )
    )


def _covers_assets(session: Session, connection: Connection, location: Location) -> bool:
    """Whether ``location`` holds (or is) a file of this connection in circulation."""
    from insitu.assets.models import ACTIVE, Asset

    query = select(Asset.id).where(
        Asset.connection_id == connection.id,
        Asset.status == ACTIVE,
        Asset.location.startswith(location.uri, autoescape=True),
    )
    return session.scalar(query.limit(1)) is not None


def _sample_gone(
    connection: Connection,
    *,
    org: Organization,
    location: Location,
    checks: Sequence[Check],
    settings: Settings,
) -> bool:
    """Whether a sampled file failed to list or HEAD only because it is no longer there.

    It is gone when a HEAD says not found while its bucket still lists (a deleted bucket
    answers a HEAD with a bare 404 too, and that is an outage).
    """
    first = next((check for check in checks if not check.ok), None)
    if first is None or first.name not in (LIST, HEAD) or location.is_prefix:
        return False
    try:
        store = open_store(connection, org=org, location=location, settings=settings)
        try:
            store.head(location.key)
        except ObjectNotFound:
            next(iter(store.list_pages(location.key, page_size=1)), None)
            return True
    except InsituError:
        return False
    return False


PASSED, WARNING, FAILED = "passed", "warning", "failed"
_RANK = {PASSED: 0, WARNING: 1, FAILED: 2}
# A verify's outcome as the connection's health.
HEALTH_OF = {PASSED: "ok", WARNING: "degraded", FAILED: "failing"}


def _status(checks: Sequence[Check]) -> str:
    # A passing check that still carries a fix is advice (e.g. a shared identity): a warning.
    if any(not check.ok for check in checks):
        return FAILED
    return WARNING if any(check.fix for check in checks) else PASSED


def _first_problem(checks: Sequence[Check]) -> Check | None:
    """The first failed check, else the first that passed with advice."""
    failed = next((check for check in checks if not check.ok), None)
    return failed or next((check for check in checks if check.fix), None)


def _remember_verify(
    connection: Connection, *, source: str, checks: Sequence[Check], health: bool
) -> None:
    """Record a verify's outcome on the connection: the one place any verify is recorded.

    With ``health`` (the verify covered the connection's own files), the outcome is also its
    health; ``health_since`` moves only when the health changes, and each change is announced.
    """
    first = _first_problem(checks)
    now = utcnow()
    connection.last_verify_status = _status(checks)
    connection.last_verified_at = now
    connection.last_verify_source = source
    connection.last_verify_check = first.name if first else None
    connection.last_verify_fix = first.fix if first else None
    if not health:
        return
    # Health is whether this connection's access works; the deployment's shared-identity
    # advice (development) is true of every connection and says nothing about this one.
    own = [check for check in checks if check.name != ISOLATION]
    first = _first_problem(own)
    previous = connection.health
    connection.health = HEALTH_OF[_status(own)]
    connection.health_check = first.name if first else None
    connection.health_fix = first.fix if first else None
    connection.health_checked_at = now
    if connection.health != previous:
        connection.health_since = now
        session = object_session(connection)
        # A first check that finds access fine changes nothing anyone needs to hear about.
        if session is not None and (previous is not None or connection.health != "ok"):
            detail = f"{first.name}: {first.detail}" if first else None
            _announce_health_change(session, connection, previous, detail=detail)


def _announce_health_change(
    session: Session, connection: Connection, previous: str | None, *, detail: str | None = None
) -> None:
    """Tell the org at once that a connection's health changed (once per change, not per check):
    the audit log records it, and the org's webhooks get ``connection.health_changed``."""
    audit.record(
        session,
        actor=SYSTEM,
        action="connection.health_changed",
        org_id=connection.org_id,
        target_type="connection",
        target_id=connection.id,
        outcome="failed" if connection.health == "failing" else "ok",
        details={
            "name": connection.name,
            "provider": connection.provider,
            "previous": previous,
            "current": connection.health,
            "since": connection.health_since.isoformat() if connection.health_since else None,
            "check": connection.health_check,
            "detail": detail,
            "fix": connection.health_fix,
            "source": connection.last_verify_source,
        },
    )
    webhooks.connection_health_changed(
        session,
        org_id=connection.org_id,
        connection_id=connection.id,
        previous=previous,
        current=connection.health or "",
        detail=detail,
        fix=connection.health_fix,
    )


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
