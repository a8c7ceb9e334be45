"""Assets: listing them, taking them out of circulation and back, and signing URLs for them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from insitu.assets import lifecycle
from insitu.assets.audit import writer_for
from insitu.assets.models import (
    ACTIVE,
    CANCELED,
    CONNECTION_REMOVED,
    MOVED_OR_DELETED,
    REMOVAL_REASONS,
    REMOVED,
    RESTORABLE,
    Asset,
    SignedUrlIssue,
)
from insitu.audit import service as audit
from insitu.audit.service import Actor
from insitu.config import Settings
from insitu.connections import service as connections
from insitu.connections.models import Connection
from insitu.db import newest_first_page
from insitu.errors import (
    Conflict,
    InvalidInput,
    InvalidLocation,
    NotFound,
    ObjectNotFound,
    StorageUnavailable,
)
from insitu.imports.models import ImportJob
from insitu.organizations import service as organizations
from insitu.organizations.models import ApiKey, Organization
from insitu.projects.models import Project
from insitu.storage.base import ObjectStore, SignedURL
from insitu.storage.registry import parse_location
from insitu.webhooks import service as webhooks

STATUSES = (ACTIVE, REMOVED, "all")


def get(session: Session, *, org: Organization, asset_id: str) -> Asset:
    asset = session.get(Asset, asset_id)
    if asset is None or asset.org_id != org.id:
        raise _not_found(asset_id)
    return asset


def get_any(session: Session, *, asset_id: str) -> Asset:
    """Any org's asset, for the operator's CLI on the server."""
    asset = session.get(Asset, asset_id)
    if asset is None:
        raise _not_found(asset_id)
    return asset


def _not_found(asset_id: str) -> NotFound:
    return NotFound(
        f"asset {asset_id} does not exist",
        fix="list a project's assets with GET /v1/projects/{id}/assets",
    )


def list_for_project(
    session: Session,
    *,
    project: Project,
    status: str | None,
    reason: str | None = None,
    after: str | None,
    limit: int,
) -> tuple[Sequence[Asset], str | None]:
    """One page of a project's assets, newest first: those in circulation unless ``status`` says."""
    status = status or (REMOVED if reason else ACTIVE)
    if status not in STATUSES:
        raise InvalidInput(f"unknown status {status!r}", fix=f"use one of {', '.join(STATUSES)}")
    if reason is not None and reason not in REMOVAL_REASONS:
        raise InvalidInput(
            f"unknown removal reason {reason!r}", fix=f"use one of {', '.join(REMOVAL_REASONS)}"
        )
    query = select(Asset).where(Asset.project_id == project.id)
    if status != "all":
        query = query.where(Asset.status == status)
    if reason is not None:
        query = query.where(Asset.removal_reason == reason)
    return newest_first_page(session, query, Asset, after=after, limit=limit)


def count_in_circulation(session: Session, *, project_ids: Sequence[str]) -> dict[str, int]:
    """How many active assets each of ``project_ids`` has (absent: none)."""
    if not project_ids:
        return {}
    query = (
        select(Asset.project_id, func.count())
        .where(Asset.project_id.in_(project_ids), Asset.status == ACTIVE)
        .group_by(Asset.project_id)
    )
    return dict(session.execute(query).all())  # type: ignore[arg-type]


def count_by_reason(session: Session, *, project: Project) -> dict[str | None, int]:
    """How many of a project's assets are in circulation (key None) and removed for each reason."""
    query = (
        select(Asset.status, Asset.removal_reason, func.count())
        .where(Asset.project_id == project.id)
        .group_by(Asset.status, Asset.removal_reason)
    )
    counts: dict[str | None, int] = {}
    for status, reason, count in session.execute(query).all():
        key = None if status == ACTIVE else reason
        counts[key] = counts.get(key, 0) + count
    return counts


def remove_from_project(
    session: Session,
    *,
    project: Project,
    actor: Actor,
    asset_ids: Sequence[str] | None = None,
    import_id: str | None = None,
    prefix: str | None = None,
) -> int:
    """Take the named assets, an import's or a prefix's out of circulation (``canceled``)."""
    if sum(choice is not None for choice in (asset_ids, import_id, prefix)) != 1:
        raise InvalidInput(
            "name exactly one of asset_ids, import_id or prefix",
            fix='send e.g. {"prefix": "s3://bucket/some/prefix/"}',
        )
    where = Asset.project_id == project.id
    if asset_ids is not None:
        where = and_(where, Asset.id.in_(list(dict.fromkeys(asset_ids))))
    elif import_id is not None:
        job = session.get(ImportJob, import_id)
        if job is None or job.project_id != project.id:
            raise NotFound(
                f"import {import_id} is not an import of project {project.id}",
                fix="list the project's imports with GET /v1/projects/{id}/imports",
            )
        where = and_(where, Asset.import_job_id == import_id)
    else:
        assert prefix is not None
        where = and_(where, Asset.location.startswith(_project_prefix(session, project, prefix),
                                                      autoescape=True))  # fmt: skip
    sample: list[str] = []
    removed = lifecycle.remove(session, where=where, reason=CANCELED, by=actor.id, sample=sample)
    webhooks.assets_removed(
        session,
        org_id=project.org_id,
        project_id=project.id,
        reasons={CANCELED: removed},
        asset_ids=sample,
        by=actor.id,
        import_id=import_id,
        prefix=prefix,
    )
    named = {"asset_ids": len(asset_ids)} if asset_ids is not None else {}
    audit.record(
        session,
        actor=actor,
        action="assets.removed",
        org_id=project.org_id,
        target_type="project",
        target_id=project.id,
        details={**named, "import_id": import_id, "prefix": prefix, "removed": removed},
    )
    return removed


def _project_prefix(session: Session, project: Project, prefix: str) -> str:
    """``prefix`` as stored locations spell it, if it lies under one of the project's sources."""
    uri = parse_location(prefix).uri
    sources = session.scalars(
        select(ImportJob.source).where(ImportJob.project_id == project.id).distinct()
    ).all()
    folders = [source if source.endswith("/") else source.rpartition("/")[0] + "/"
               for source in sources]  # fmt: skip
    if not any(uri.startswith(folder) for folder in folders):
        raise InvalidLocation(
            f"{prefix!r} is not under any source project {project.id} imported from",
            fix="name a prefix under one of: " + (", ".join(sorted(set(folders))) or "(none yet)"),
        )
    return uri


def remove_for_connection(session: Session, *, org_id: str, connection_id: str, by: str) -> int:
    """Every asset read through a deleted connection leaves circulation."""
    where = Asset.connection_id == connection_id
    sample: list[str] = []
    removed = lifecycle.remove(
        session, where=where, reason=CONNECTION_REMOVED, by=by, sample=sample
    )
    webhooks.assets_removed(
        session,
        org_id=org_id,
        reasons={CONNECTION_REMOVED: removed},
        asset_ids=sample,
        by=by,
        connection_id=connection_id,
    )
    return removed


def remove_for_import(session: Session, *, job_id: str, by: str) -> int:
    """Every asset a canceled import brought leaves circulation."""
    job = session.get_one(ImportJob, job_id)
    sample: list[str] = []
    where = Asset.import_job_id == job.id
    removed = lifecycle.remove(session, where=where, reason=CANCELED, by=by, sample=sample)
    webhooks.assets_removed(
        session,
        org_id=job.org_id,
        project_id=job.project_id,
        reasons={CANCELED: removed},
        asset_ids=sample,
        by=by,
        import_id=job.id,
    )
    return removed


def restore(
    session: Session, *, org: Organization, asset: Asset, actor: Actor, settings: Settings
) -> Asset:
    """Bring a removed asset back, once one HEAD shows its object unchanged in the bucket."""
    if asset.status == ACTIVE:
        return asset
    if asset.removal_reason == CONNECTION_REMOVED:
        raise Conflict(
            f"asset {asset.id} cannot come back: the connection it was read through was deleted",
            fix="create a connection to the bucket again and import the file",
        )
    if asset.removal_reason not in RESTORABLE:
        raise Conflict(
            f"asset {asset.id} cannot come back: its file changed and no longer passes "
            f"validation ({asset.removal_reason})",
            fix="fix or replace the file in the bucket, then reconcile the project",
        )
    store = _store_of(session, org=org, asset=asset, settings=settings)
    try:
        info = store.head(asset.key)
    except ObjectNotFound as exc:
        raise Conflict(
            f"asset {asset.id} cannot come back: {asset.location} is no longer in the bucket",
            fix="put the file back at that location (or import it where it is now)",
        ) from exc
    if not info.holds(etag=asset.etag, content_hash=asset.content_hash, size=asset.size):
        raise Conflict(
            f"asset {asset.id} cannot come back: {asset.location} changed since it was imported "
            f"(ETag {asset.etag} is now {info.etag})",
            fix="reconcile the project to re-probe the changed file, or import it again",
        )
    restored = lifecycle.restore_ids(session, [asset.id], by=actor.id, values={"etag": info.etag})
    webhooks.assets_restored(
        session,
        org_id=asset.org_id,
        project_id=asset.project_id,
        count=len(restored),
        asset_ids=restored,
        by=actor.id,
    )
    audit.record(
        session,
        actor=actor,
        action="asset.restored",
        org_id=asset.org_id,
        target_type="asset",
        target_id=asset.id,
    )
    session.refresh(asset)
    return asset


def report(
    session: Session, *, org: Organization, asset: Asset, actor: Actor, settings: Settings
) -> str:
    """A labeling client could not load this asset: one HEAD says whether its file is gone.

    A gone file takes the asset out of circulation at once (``moved_or_deleted``, by
    ``report``); returns what the HEAD found: ``gone``, ``changed`` or ``present``. A store
    that refuses the HEAD raises its own error (the file may well be there).
    """
    found = _look_at_reported(session, org=org, asset=asset, actor=actor, settings=settings)
    audit.record(
        session,
        actor=actor,
        action="asset.reported",
        org_id=asset.org_id,
        target_type="asset",
        target_id=asset.id,
        details={"found": found},
    )
    return found


def _look_at_reported(
    session: Session, *, org: Organization, asset: Asset, actor: Actor, settings: Settings
) -> str:
    if asset.status != ACTIVE:
        return "gone" if asset.removal_reason == MOVED_OR_DELETED else "removed"
    store = _store_of(session, org=org, asset=asset, settings=settings)
    try:
        info = store.head(asset.key)
    except ObjectNotFound:
        left = lifecycle.remove_ids(
            session, [asset.id], reason=MOVED_OR_DELETED, by="report",
            details={"reported_by": actor.id},
        )  # fmt: skip
        webhooks.assets_removed(
            session,
            org_id=asset.org_id,
            project_id=asset.project_id,
            reasons={MOVED_OR_DELETED: len(left)},
            asset_ids=left,
            by="report",
            reported_by=actor.id,
        )
        session.refresh(asset)
        return "gone"
    same = info.holds(etag=asset.etag, content_hash=asset.content_hash, size=asset.size)
    return "present" if same else "changed"


def _store_of(
    session: Session, *, org: Organization, asset: Asset, settings: Settings
) -> ObjectStore:
    """The store of an asset's live connection; a 409 if that connection was deleted."""
    try:
        connection = connections.get(session, org=org, connection_id=asset.connection_id)
    except NotFound as exc:
        raise Conflict(
            f"the connection asset {asset.id} was read through was deleted",
            fix="connect the bucket again and import the file: it comes back with its id",
        ) from exc
    location = parse_location(asset.location)
    return connections.open_store(connection, org=org, location=location, settings=settings)


def history(session: Session, *, asset: Asset) -> Sequence[lifecycle.AssetEvent]:
    return lifecycle.history(session, asset_id=asset.id)


def list_url_issues(
    session: Session, *, asset: Asset, after: str | None, limit: int
) -> tuple[Sequence[SignedUrlIssue], str | None]:
    """The audit trail of one asset: every signed URL issued for it."""
    query = select(SignedUrlIssue).where(SignedUrlIssue.asset_id == asset.id)
    return newest_first_page(session, query, SignedUrlIssue, after=after, limit=limit)


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
    connection (whether it is deleted, its health) come from one query instead of one each.
    """
    query = (
        select(ApiKey.id, ApiKey.org_id, Asset, Connection.deleted_at, *_HEALTH_COLUMNS)
        .outerjoin(Asset, and_(Asset.id == asset_id, Asset.org_id == ApiKey.org_id))
        .outerjoin(Connection, Connection.id == Asset.connection_id)
        .where(organizations.active_key_hash_is(key))
    )
    row = session.execute(query).first()
    if row is None:
        raise organizations.rejected_key(session, key=key)
    api_key_id, org_id, asset, connection_deleted_at = row[:4]
    if asset is None:
        raise _not_found(asset_id)
    if asset.status == REMOVED:
        raise removed_conflict(asset)
    if connection_deleted_at is not None:
        raise Conflict(
            f"the connection {asset.connection_id} this asset was imported through was deleted",
            fix="create a connection to the bucket again and re-import the file",
        )
    if row.health == FAILING:
        raise storage_unavailable(asset.connection_id, row)
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


FAILING = "failing"
# What a URL request learns of its asset's connection's health, in the query it makes anyway.
_HEALTH_COLUMNS = (
    Connection.health.label("health"),
    Connection.health_check.label("health_check"),
    Connection.health_fix.label("health_fix"),
    Connection.health_since.label("health_since"),
)


def storage_unavailable(connection_id: str, row: Any) -> StorageUnavailable:
    """Why no URL is issued while the connection fails its health check, and the fix.

    The asset stays in circulation: its file is most likely still there, only access broke.
    """
    since = row.health_since.isoformat() if row.health_since else None
    return StorageUnavailable(
        f"the connection {connection_id} of this asset is failing its access check "
        f"'{row.health_check}' (since {since}), so a URL would not load",
        fix=row.health_fix or f"verify the connection: POST /v1/connections/{connection_id}/verify",
        connection_id=connection_id,
        check=row.health_check,
        since=since,
    )


def served_store(
    session: Session, *, connection_id: str, key: str, settings: Settings
) -> ObjectStore:
    """The store of a file insitu itself serves (a local directory's), if the file is still an
    active asset of that live connection: a removed asset's URL stops working at once."""
    connection = connections.get_any(session, connection_id=connection_id)
    active = session.scalar(
        select(Asset.id)
        .where(Asset.connection_id == connection_id, Asset.key == key, Asset.status == ACTIVE)
        .limit(1)
    )
    if active is None:
        raise NotFound(
            f"{key} is no longer an asset of this connection (it was removed)",
            fix="restore the asset, or re-import the file, then ask for a new URL",
        )
    org = organizations.get(session, org_id=connection.org_id)
    location = connections.location_for(connection, "file:///" + key)
    return connections.open_store(connection, org=org, location=location, settings=settings)


def removed_conflict(asset: Asset) -> Conflict:
    """Why a removed asset gets no URL, and how it can come back."""
    if asset.removal_reason == CANCELED:
        fix = f"restore it if it should be labeled: POST /v1/assets/{asset.id}/restore"
    elif asset.removal_reason == MOVED_OR_DELETED:
        fix = "its file is gone from the bucket; put it back and reconcile the project"
    elif asset.removal_reason == CONNECTION_REMOVED:
        fix = "its connection was deleted; connect the bucket again and import the file"
    else:
        fix = "its file changed and failed validation; fix it and reconcile the project"
    return Conflict(
        f"asset {asset.id} was removed from circulation ({asset.removal_reason})",
        fix=fix,
        status="removed",
        removal_reason=asset.removal_reason,
    )


def circulation(
    session: Session,
    *,
    project: Project,
    actor: Actor,
    after: str | None,
    limit: int,
    settings: Settings,
) -> tuple[list[tuple[Any, SignedURL]], str | None]:
    """The next active assets of a project, each with a fresh signed URL, all audited at once.

    Removed assets never appear. Every URL is on the audit trail before any is returned.
    Unlike the lists, circulation is a queue: oldest first (ids are time-ordered), so a
    labeling client walking it with ``after`` never skips assets imported meanwhile (they
    join its end) and new imports do not push older assets back indefinitely.
    This is a labeling tool's hot path: it reads plain rows, not ORM objects, and opens one
    store per connection and bucket.

    If any asset of the page belongs to a connection failing its health check, the whole call
    is a 503 naming the check and its fix, rather than a page with holes: a client walking the
    queue with ``after`` would step past those assets for good, whereas after a 503 it keeps
    its place and asks again once access is fixed.
    """
    rows, next_cursor = circulation_rows(session, project=project, after=after, limit=limit)
    failing = next((row for row in rows if row.health == FAILING), None)
    if failing is not None:
        raise storage_unavailable(failing.connection_id, failing)
    ttl = timedelta(seconds=settings.url_ttl_seconds)
    stores: dict[tuple[str, str], ObjectStore] = {}
    signed = []
    for row in rows:
        store = stores.get((row.connection_id, row.bucket))
        if store is None:
            store = stores[(row.connection_id, row.bucket)] = connections.open_store_by_id(
                session,
                connection_id=row.connection_id,
                org_id=project.org_id,
                location=parse_location(row.location),
                settings=settings,
            )
        signed.append((row, store.sign(row.key, ttl=ttl)))
    if signed:
        writer_for(session.get_bind().engine).record_many(  # type: ignore[union-attr]
            org_id=project.org_id,
            api_key_id=actor.id,
            issued=[(row.id, url.expires_at) for row, url in signed],
            client_address=actor.client_address,
            user_agent=actor.user_agent,
        )
    return signed, next_cursor


def circulation_rows(
    session: Session, *, project: Project, after: str | None, limit: int
) -> tuple[Sequence[Any], str | None]:
    """A page of the circulation queue (``CIRCULATION_COLUMNS`` and the connection's health),
    oldest first after asset id ``after``, without URLs; and the cursor of the next page."""
    query = (
        select(*CIRCULATION_COLUMNS, *_HEALTH_COLUMNS)
        .join(Connection, Connection.id == Asset.connection_id)
        .where(Asset.project_id == project.id, Asset.status == ACTIVE)
    )
    if after:
        if not _ASSET_ID.fullmatch(after):
            raise InvalidInput(
                f"{after[:100]!r} is not a cursor of the circulation queue",
                fix="pass the 'next' of the previous page as 'after', unchanged",
            )
        query = query.where(Asset.id > after)
    rows = session.execute(query.order_by(Asset.id).limit(limit + 1)).all()
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], next_cursor


_ASSET_ID = re.compile(r"[0-9a-f]{32}")

# What a labeling client gets of each asset in circulation, besides its URL.
CIRCULATION_COLUMNS = (
    Asset.id,
    Asset.connection_id,
    Asset.location,
    Asset.bucket,
    Asset.key,
    Asset.media_kind,
    Asset.extension,
    Asset.mime_type,
    Asset.size,
    Asset.width,
    Asset.height,
    Asset.duration,
    Asset.video_codec,
    Asset.audio_codec,
    Asset.frame_rate,
    Asset.frame_count,
)
