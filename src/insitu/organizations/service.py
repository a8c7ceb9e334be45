"""Organizations and their API keys."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session, object_session

from insitu.audit import service as audit
from insitu.audit.service import OPERATOR, Actor
from insitu.config import Settings
from insitu.db import get_engine, get_for_update, session_scope, utcnow
from insitu.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from insitu.organizations.models import ApiKey, EndpointGrant, Organization, PortalSession
from insitu.organizations.schemas import OrganizationUpdate
from insitu.security import SecretBox, hash_api_key, new_api_key, new_external_id

# What a key may do: admin everything in its org; labeler only read assets and their URLs.
ADMIN, LABELER = "admin", "labeler"
SCOPES = (ADMIN, LABELER)


def create(
    session: Session,
    *,
    name: str,
    settings: Settings,
    self_host_default: bool = False,
    actor: Actor = OPERATOR,
) -> tuple[Organization, str]:
    """A new organization and its first API key (returned in plain text, once), both audited.

    Recorded here, not by each caller, so an org made by any path (``insitu org create``, the
    development bootstrap of ``insitu serve``) starts its log with its creation and first key.
    """
    box = SecretBox(settings.secret_keys)
    org = Organization(
        name=name,
        self_host_default=self_host_default,
        external_id_encrypted=box.encrypt(new_external_id()),
    )
    session.add(org)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="organization.created",
        org_id=org.id,
        target_type="organization",
        target_id=org.id,
        details={"name": org.name},
    )
    return org, create_api_key(session, org=org, name="default", actor=actor)


def create_api_key(
    session: Session,
    *,
    org: Organization,
    name: str,
    scope: str = ADMIN,
    expires_at: datetime | None = None,
    actor: Actor = OPERATOR,
) -> str:
    """A new key for ``org``, returned in plain text once; insitu keeps only its hash."""
    return issue_api_key(
        session, org=org, name=name, scope=scope, expires_at=expires_at, actor=actor
    )[1]


def issue_api_key(
    session: Session,
    *,
    org: Organization,
    name: str,
    scope: str = ADMIN,
    expires_at: datetime | None = None,
    actor: Actor = OPERATOR,
) -> tuple[ApiKey, str]:
    """A new key row for ``org`` and its secret (shown once, never stored), audited."""
    if scope not in SCOPES:
        raise InvalidInput(f"unknown key scope {scope!r}", fix=f"use one of {', '.join(SCOPES)}")
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise InvalidInput(
                "expires_at has no time zone",
                fix="give it with one, e.g. 2030-01-01T00:00:00Z",
            )
        if expires_at <= utcnow():
            raise InvalidInput(
                f"expires_at {expires_at.isoformat()} is not in the future",
                fix="give a future time, or leave expires_at out for a key that does not expire",
            )
    key = new_api_key()
    api_key = ApiKey(
        org_id=org.id,
        name=name,
        scope=scope,
        prefix=key[:12],
        key_hash=hash_api_key(key),
        expires_at=expires_at,
    )
    session.add(api_key)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="api_key.created",
        org_id=org.id,
        target_type="api_key",
        target_id=api_key.id,
        details={
            "name": name,
            "scope": scope,
            "prefix": api_key.prefix,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return api_key, key


def list_api_keys(session: Session, *, org: Organization) -> list[ApiKey]:
    """Every key of ``org``, revoked and expired ones included, newest first."""
    query = (
        select(ApiKey)
        .where(ApiKey.org_id == org.id)
        .order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
    )
    return list(session.scalars(query))


def get_api_key(session: Session, *, org: Organization, key_id: str) -> ApiKey:
    api_key = session.get(ApiKey, key_id)
    if api_key is None or api_key.org_id != org.id:
        raise NotFound(
            f"API key {key_id} does not exist",
            fix="list the organization's keys with GET /v1/api-keys (or insitu keys list)",
        )
    return api_key


def get(session: Session, *, org_id: str) -> Organization:
    org = session.get(Organization, org_id)
    if org is None:
        raise NotFound(f"organization {org_id} does not exist", fix="check the organization ID")
    return org


def list_all(session: Session) -> list[Organization]:
    return list(session.scalars(select(Organization).order_by(Organization.created_at)))


def update(session: Session, *, org: Organization, changes: OrganizationUpdate) -> Organization:
    for field, value in changes.model_dump(exclude_unset=True).items():
        if value is not None:
            setattr(org, field, value)
    session.flush()
    return org


def external_id(org: Organization, *, settings: Settings) -> str:
    return SecretBox(settings.secret_keys).decrypt(org.external_id_encrypted)


def authenticate(session: Session, *, key: str) -> tuple[Organization, ApiKey]:
    """The organization a usable API key belongs to; Unauthenticated (saying why) otherwise."""
    query = (
        select(ApiKey, Organization)
        .join(Organization, Organization.id == ApiKey.org_id)
        .where(active_key_hash_is(key))
    )
    row = session.execute(query).first()
    if row is None:
        raise rejected_key(session, key=key)
    api_key, org = row
    return org, api_key


def start_portal_session(session: Session, *, api_key: ApiKey, hours: float) -> str:
    """A new portal sign-in with ``api_key`` for ``hours``; returns its id (the cookie's)."""
    signed_in = PortalSession(api_key_id=api_key.id, expires_at=utcnow() + timedelta(hours=hours))
    session.add(signed_in)
    session.flush()
    return signed_in.id


def portal_session_caller(session: Session, *, session_id: str) -> tuple[Organization, ApiKey]:
    """The org and key of a portal sign-in still open, whose key is still usable."""
    row = session.execute(
        select(PortalSession, ApiKey)
        .join(ApiKey, ApiKey.id == PortalSession.api_key_id)
        .where(PortalSession.id == session_id)
    ).first()
    if row is None or row[0].ended_at is not None or row[0].expires_at <= utcnow():
        raise Unauthenticated(
            "this portal session ended (signed out or expired)",
            fix="sign in again with a current key of your organization",
        )
    api_key = row[1]
    if not is_usable(api_key):
        raise Unauthenticated(
            "the API key this session signed in with was revoked or expired",
            fix="sign in again with a current key of your organization",
        )
    return session.get_one(Organization, api_key.org_id), api_key


def end_portal_session(session: Session, *, session_id: str) -> None:
    """Sign out: the session's cookie opens nothing any more, wherever a copy of it is."""
    signed_in = session.get(PortalSession, session_id)
    if signed_in is not None and signed_in.ended_at is None:
        signed_in.ended_at = utcnow()


def active_key_hash_is(key: str) -> ColumnElement[bool]:
    """The condition selecting the API key ``key`` if it is neither revoked nor expired."""
    return and_(
        ApiKey.key_hash == hash_api_key(key),
        ApiKey.revoked_at.is_(None),
        or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > utcnow()),
    )


def rejected_key(session: Session, *, key: str) -> Unauthenticated:
    """Why ``key`` was refused: unknown, revoked or expired (only on the failure path)."""
    api_key = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_api_key(key)))
    if api_key is None or api_key.revoked_at is not None:
        return unknown_key()
    if api_key.expires_at is not None and api_key.expires_at <= utcnow():
        return Unauthenticated(
            f"the API key {api_key.prefix}... expired at {api_key.expires_at.isoformat()}",
            fix="ask an admin of your organization for a new key (POST /v1/api-keys, "
            "or the operator: insitu keys create --org ORG_ID)",
        )
    return unknown_key()  # it became usable in between: rare, and a retry works


def unknown_key() -> Unauthenticated:
    return Unauthenticated(
        "the API key is unknown or revoked",
        fix="send 'Authorization: Bearer <key>' with a key from 'insitu org create'",
    )


def is_usable(api_key: ApiKey) -> bool:
    """Whether ``api_key`` still authenticates: not revoked and not expired."""
    expired = api_key.expires_at is not None and api_key.expires_at <= utcnow()
    return api_key.revoked_at is None and not expired


def _outlasts(other: ApiKey, key: ApiKey) -> bool:
    """Whether ``other`` works at least as long as ``key`` would have."""
    if other.expires_at is None:
        return True
    return key.expires_at is not None and other.expires_at >= key.expires_at


def revoke_api_key(
    session: Session, *, api_key: ApiKey, actor: Actor = OPERATOR, keep_last_admin: bool = False
) -> None:
    """Revoke ``api_key`` at once (its next request is refused), audited.

    With ``keep_last_admin`` a key is refused unless another usable admin key outlasts it (one
    that expires no sooner): through the API an org could otherwise lock itself out, at once
    or when a short-lived key it kept expires, and only the operator can mint it a new key.
    """
    if api_key.revoked_at is not None:
        return
    if keep_last_admin and api_key.scope == ADMIN and is_usable(api_key):
        # Lock the org so two concurrent revocations cannot each leave the other key last.
        get_for_update(session, Organization, api_key.org_id)
        others = [
            other
            for other in session.scalars(
                select(ApiKey).where(
                    ApiKey.org_id == api_key.org_id,
                    ApiKey.scope == ADMIN,
                    ApiKey.id != api_key.id,
                    ApiKey.revoked_at.is_(None),
                )
            )
            if is_usable(other) and _outlasts(other, api_key)
        ]
        if not others:
            raise Conflict(
                f"API key {api_key.id} is the organization's last usable admin key: every other "
                "admin key is revoked or expires sooner",
                fix="create another admin key first (POST /v1/api-keys with scope admin, and "
                "no earlier expires_at), then revoke this one",
            )
    api_key.revoked_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="api_key.revoked",
        org_id=api_key.org_id,
        target_type="api_key",
        target_id=api_key.id,
        details={"name": api_key.name, "scope": api_key.scope, "prefix": api_key.prefix},
    )


def allowed_endpoints(org: Organization, *, settings: Settings) -> tuple[str, ...]:
    """Non-public endpoints ``org`` may use: the operator's list plus the org's own grants.

    ``org`` may be detached (an import worker loads it in a session it has closed), so the
    grants are then read in a session of their own rather than silently left out.
    """
    query = select(EndpointGrant.endpoint).where(EndpointGrant.org_id == org.id)
    session = object_session(org)
    if session is not None:
        granted = list(session.scalars(query))
    else:
        with session_scope(get_engine(settings.database_url)) as own_session:
            granted = list(own_session.scalars(query))
    return (*settings.private_endpoints, *granted)
