"""Assets: listing them, and handing out short-lived signed URLs for active ones."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from insitu.assets.audit import writer_for
from insitu.assets.models import ACTIVE, REMOVED, Asset
from insitu.config import Settings
from insitu.connections import service as connections
from insitu.connections.models import Connection
from insitu.db import keyset_page
from insitu.errors import Conflict, InvalidInput, NotFound
from insitu.organizations.models import ApiKey, Organization
from insitu.projects.models import Project
from insitu.storage.base import SignedURL
from insitu.storage.registry import parse_location

STATUSES = (ACTIVE, REMOVED)


def get(session: Session, *, org: Organization, asset_id: str) -> Asset:
    asset = session.get(Asset, asset_id)
    if asset is None or asset.org_id != org.id:
        raise NotFound(
            f"asset {asset_id} does not exist",
            fix="list a project's assets with GET /v1/projects/{id}/assets",
        )
    return asset


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


def sign_url(
    session: Session,
    *,
    org: Organization,
    asset: Asset,
    settings: Settings,
    api_key: ApiKey | None = None,
) -> SignedURL:
    """A read-only URL for this one asset, valid for the configured TTL, and audited."""
    if asset.status == REMOVED:
        raise Conflict(
            f"asset {asset.id} was removed from circulation ({asset.removal_reason})",
            fix="removed assets cannot be shown; re-import the file if it is back in the bucket",
        )
    connection = session.get_one(Connection, asset.connection_id)
    if connection.deleted_at is not None:
        raise Conflict(
            f"the connection {connection.id} this asset was imported through was deleted",
            fix="create a connection to the bucket again and re-import the file",
        )
    location = parse_location(asset.location)
    store = connections.open_store(connection, org=org, location=location, settings=settings)
    signed = store.sign(asset.key, ttl=timedelta(seconds=settings.url_ttl_seconds))
    writer_for(session.get_bind().engine).record(  # type: ignore[union-attr]
        org_id=org.id,
        asset_id=asset.id,
        api_key_id=api_key.id if api_key else None,
        expires_at=signed.expires_at,
    )
    return signed
