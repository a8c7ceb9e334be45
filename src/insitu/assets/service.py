"""Assets: listing them, and handing out short-lived signed URLs for active ones."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from insitu.assets.audit import writer_for
from insitu.assets.models import ACTIVE, REMOVED, Asset, SignedUrlIssue
from insitu.config import Settings
from insitu.connections import service as connections
from insitu.connections.models import Connection
from insitu.db import keyset_page
from insitu.errors import Conflict, InvalidInput, NotFound
from insitu.organizations import service as organizations
from insitu.organizations.models import ApiKey, Organization
from insitu.projects.models import Project
from insitu.storage.base import SignedURL
from insitu.storage.registry import parse_location

STATUSES = (ACTIVE, REMOVED)


def get(session: Session, *, org: Organization, asset_id: str) -> Asset:
    asset = session.get(Asset, asset_id)
    if asset is None or asset.org_id != org.id:
        raise _not_found(asset_id)
    return asset


def _not_found(asset_id: str) -> NotFound:
    return NotFound(
        f"asset {asset_id} does not exist",
        fix="list a project's assets with GET /v1/projects/{id}/assets",
    )


def list_for_project(
    session: Session, *, project: Project, status: str | None, after: str | None, limit: int
) -> tuple[Sequence[Asset], str | None]:
    """One keyset page of a project's assets, stable however many there are."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"unknown status {status!r}", fix=f"use one of {', '.join(STATUSES)}")
    query = select(Asset).where(Asset.project_id == project.id)
    if status is not None:
        query = query.where(Asset.status == status)
    return keyset_page(session, query, Asset, after=after, limit=limit)


def list_url_issues(
    session: Session, *, asset: Asset, after: str | None, limit: int
) -> tuple[Sequence[SignedUrlIssue], str | None]:
    """The audit trail of one asset: every signed URL issued for it."""
    query = select(SignedUrlIssue).where(SignedUrlIssue.asset_id == asset.id)
    return keyset_page(session, query, SignedUrlIssue, after=after, limit=limit)


def sign_url_for_key(
    session: Session,
    *,
    key: str,
    asset_id: str,
    settings: Settings,
    client_address: str | None = None,
    user_agent: str | None = None,
) -> SignedURL:
    """A read-only URL for one asset of the key's org, valid for the configured TTL, audited
    with the key, the client's address and its user agent.

    Every asset a labeler opens passes through here, so the key, the asset and its
    connection come from one query instead of one each.
    """
    query = (
        select(ApiKey.id, ApiKey.org_id, Asset, Connection.deleted_at)
        .outerjoin(Asset, and_(Asset.id == asset_id, Asset.org_id == ApiKey.org_id))
        .outerjoin(Connection, Connection.id == Asset.connection_id)
        .where(organizations.active_key_hash_is(key))
    )
    row = session.execute(query).first()
    if row is None:
        raise organizations.rejected_key(session, key=key)
    api_key_id, org_id, asset, connection_deleted_at = row
    if asset is None:
        raise _not_found(asset_id)
    if asset.status == REMOVED:
        raise Conflict(
            f"asset {asset.id} was removed from circulation ({asset.removal_reason})",
            fix="removed assets cannot be shown; re-import the file if it is back in the bucket",
        )
    if connection_deleted_at is not None:
        raise Conflict(
            f"the connection {asset.connection_id} this asset was imported through was deleted",
            fix="create a connection to the bucket again and re-import the file",
        )
    store = connections.open_store_by_id(
        session,
        connection_id=asset.connection_id,
        org_id=org_id,
        location=parse_location(asset.location),
        settings=settings,
    )
    signed = store.sign(asset.key, ttl=timedelta(seconds=settings.url_ttl_seconds))
    writer_for(session.get_bind().engine).record(  # type: ignore[union-attr]
        org_id=org_id,
        asset_id=asset.id,
        api_key_id=api_key_id,
        expires_at=signed.expires_at,
        client_address=client_address,
        user_agent=user_agent,
    )
    return signed
