"""Organizations and their API keys."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session, object_session

from insitu.config import Settings
from insitu.db import utcnow
from insitu.errors import NotFound, Unauthenticated
from insitu.organizations.models import ApiKey, EndpointGrant, Organization
from insitu.organizations.schemas import OrganizationUpdate
from insitu.security import SecretBox, hash_api_key, new_api_key, new_external_id


def create(
    session: Session, *, name: str, settings: Settings, self_host_default: bool = False
) -> tuple[Organization, str]:
    """A new organization and its first API key (returned in plain text, once)."""
    box = SecretBox(settings.secret_keys)
    org = Organization(
        name=name,
        self_host_default=self_host_default,
        external_id_encrypted=box.encrypt(new_external_id()),
    )
    session.add(org)
    session.flush()
    return org, create_api_key(session, org=org, name="default")


def create_api_key(session: Session, *, org: Organization, name: str) -> str:
    key = new_api_key()
    session.add(ApiKey(org_id=org.id, name=name, prefix=key[:12], key_hash=hash_api_key(key)))
    session.flush()
    return key


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
    """The organization an API key belongs to; Unauthenticated for any unknown key."""
    query = (
        select(ApiKey, Organization)
        .join(Organization, Organization.id == ApiKey.org_id)
        .where(active_key_hash_is(key))
    )
    row = session.execute(query).first()
    if row is None:
        raise unknown_key()
    api_key, org = row
    return org, api_key


def active_key_hash_is(key: str) -> ColumnElement[bool]:
    """The condition selecting the unrevoked API key ``key``."""
    return and_(ApiKey.key_hash == hash_api_key(key), ApiKey.revoked_at.is_(None))


def unknown_key() -> Unauthenticated:
    return Unauthenticated(
        "the API key is unknown or revoked",
        fix="send 'Authorization: Bearer <key>' with a key from 'insitu org create'",
    )


def revoke_api_key(session: Session, *, api_key: ApiKey) -> None:
    api_key.revoked_at = utcnow()
    session.flush()


def allowed_endpoints(org: Organization, *, settings: Settings) -> tuple[str, ...]:
    """Non-public endpoints ``org`` may use: the operator's list plus the org's own grants."""
    session = object_session(org)
    granted: list[str] = []
    if session is not None and org.id is not None:
        query = select(EndpointGrant.endpoint).where(EndpointGrant.org_id == org.id)
        granted = list(session.scalars(query))
    return (*settings.private_endpoints, *granted)
