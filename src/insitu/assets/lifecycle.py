"""The one place an asset's state changes: created, removed, restored, moved, changed.

Every transition writes the asset's row and its history (``asset_events``) in the caller's
transaction, so the history is complete whatever path changed the asset: an import, a person
canceling data, a deleted connection, a reconcile, a labeler's report or a storage event.
Rows are never deleted; an asset that leaves circulation keeps its id, facts and labels'
anchor, and comes back with the same id.

Bulk transitions work in chunks of ids in key order, so removing a million assets keeps memory
flat and each statement short.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, insert, select, update
from sqlalchemy.orm import Session

from insitu.assets.models import (
    ACTIVE,
    CHANGED_INVALID,
    CONNECTION_REMOVED,
    REMOVED,
    Asset,
    AssetEvent,
)

__all__ = [
    "AssetEvent",
    "add_imported",
    "change",
    "fact_columns",
    "history",
    "move",
    "remove",
    "remove_ids",
    "restore_ids",
    "take_over",
]
from insitu.bulk import insert_all
from insitu.db import insert_ignoring_duplicates, new_id, new_ids, utcnow
from insitu.media import MediaFacts, ProbeResult
from insitu.storage.base import ObjectInfo

CREATED, REMOVED_EVENT, RESTORED, MOVED, CHANGED = (
    "created",
    "removed",
    "restored",
    "moved",
    "changed",
)
_CHUNK = 2000


def _event(
    asset_id: str,
    event: str,
    *,
    by: str,
    to_status: str,
    from_status: str | None = None,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
    at: datetime,
    event_id: str | None = None,
) -> dict[str, Any]:
    return {
        "id": event_id or new_id(),
        "created_at": at,
        "asset_id": asset_id,
        "event": event,
        "from_status": from_status,
        "to_status": to_status,
        "reason": reason,
        "by": by,
        "details": details,
    }


def add_imported(session: Session, rows: list[dict[str, Any]], *, by: str) -> int:
    """Insert new assets (a location already in the project is skipped); returns how many."""
    inserted = insert_ignoring_duplicates(session, Asset, rows, ["project_id", "location"])
    if inserted:
        at = utcnow()
        events = [
            _event(asset_id, CREATED, by=by, to_status=ACTIVE, at=at, event_id=event_id)
            for asset_id, event_id in zip(inserted, new_ids(len(inserted)), strict=True)
        ]
        insert_all(session, AssetEvent.__table__, events)  # type: ignore[arg-type]
    return len(inserted)


def remove(
    session: Session,
    *,
    where: ColumnElement[bool],
    reason: str,
    by: str,
    sample: list[str] | None = None,
    sample_size: int = 100,
) -> int:
    """Take every active asset matching ``where`` out of circulation; returns how many left.

    The ids of the first ``sample_size`` that left are appended to ``sample`` (a notification
    names them), however many leave.
    """
    removed = 0
    after = ""
    while True:
        ids = session.scalars(
            select(Asset.id)
            .where(where, Asset.status == ACTIVE, Asset.id > after)
            .order_by(Asset.id)
            .limit(_CHUNK)
        ).all()
        if not ids:
            return removed
        after = ids[-1]
        left = remove_ids(session, ids, reason=reason, by=by)
        removed += len(left)
        if sample is not None:
            sample.extend(left[: max(0, sample_size - len(sample))])


def remove_ids(
    session: Session,
    ids: Sequence[str],
    *,
    reason: str,
    by: str,
    details: dict[str, Any] | None = None,
) -> Sequence[str]:
    """Take these assets out of circulation; returns the ids that were active until now."""
    return _transition(session, ids, REMOVED_EVENT, to=REMOVED, reason=reason, by=by,
                       details=details)  # fmt: skip


def restore_ids(
    session: Session, ids: Sequence[str], *, by: str, values: dict[str, Any] | None = None
) -> Sequence[str]:
    """Bring these assets back into circulation (``values`` also updates their columns)."""
    return _transition(session, ids, RESTORED, to=ACTIVE, reason=None, by=by, values=values)


def take_over(
    session: Session,
    *,
    project_id: str,
    listed: dict[str, ObjectInfo],
    connection_id: str,
    by: str,
) -> Sequence[str]:
    """Bring back assets that left with a deleted connection, now read through
    ``connection_id``, where the object ``listed`` at their location still holds their bytes:
    importing a bucket again after reconnecting it restores them (another object there is
    left for a reconcile to probe)."""
    if not listed:
        return []
    rows = session.execute(
        select(Asset.id, Asset.location, Asset.etag, Asset.content_hash, Asset.size).where(
            Asset.project_id == project_id,
            Asset.location.in_(list(listed)),
            Asset.removal_reason == CONNECTION_REMOVED,
        )
    ).all()
    same = [
        row.id
        for row in rows
        if listed[row.location].holds(etag=row.etag, content_hash=row.content_hash, size=row.size)
    ]
    return restore_ids(session, same, by=by, values={"connection_id": connection_id})


def _transition(
    session: Session,
    ids: Sequence[str],
    event: str,
    *,
    to: str,
    reason: str | None,
    by: str,
    details: dict[str, Any] | None = None,
    values: dict[str, Any] | None = None,
) -> Sequence[str]:
    """Move ``ids`` that are not already ``to`` into status ``to``; record each one moved."""
    if not ids:
        return []
    at = utcnow()
    frm = ACTIVE if to == REMOVED else REMOVED
    leaving = to == REMOVED
    statement = (
        update(Asset)
        .where(Asset.id.in_(ids), Asset.status == frm)
        .values(
            status=to,
            removal_reason=reason if leaving else None,
            removed_at=at if leaving else None,
            removed_by=by if leaving else None,
            updated_at=at,
            **(values or {}),
        )
        .returning(Asset.id)
        .execution_options(synchronize_session=False)
    )
    # A concurrent transition may have taken some first: record only the rows this one moved.
    moved = session.execute(statement).scalars().all()
    _record(session, moved, event, by=by, from_status=frm, to_status=to, reason=reason,
            details=details, at=at)  # fmt: skip
    return moved


def place(uri: str, info: ObjectInfo, *, bucket: str, connection_id: str) -> dict[str, Any]:
    """Where an asset's object now is, as ``move`` takes it: its location and what it holds."""
    return {
        "location": uri,
        "key": info.key,
        "bucket": bucket,
        "connection_id": connection_id,
        "etag": info.etag,
        "content_hash": info.content_hash,
        "size": info.size,
        "version": info.version,
    }


def move(session: Session, *, asset_id: str, to: dict[str, Any], moved_from: str, by: str) -> None:
    """Point an asset at its object's new location (``to``: location, key, bucket, ...).

    It keeps its id, status and labels; its history records where it was.
    """
    _update(session, asset_id, MOVED, values=to, by=by, details={"moved_from": moved_from})


def change(
    session: Session, *, asset_id: str, values: dict[str, Any], by: str, details: dict[str, Any]
) -> None:
    """Record new facts for an asset whose object changed in place (its status is kept)."""
    _update(session, asset_id, CHANGED, values=values, by=by, details=details)


def _update(
    session: Session,
    asset_id: str,
    event: str,
    *,
    values: dict[str, Any],
    by: str,
    details: dict[str, Any],
) -> None:
    at = utcnow()
    statement = (
        update(Asset)
        .where(Asset.id == asset_id)
        .values(updated_at=at, **values)
        .returning(Asset.status)
        .execution_options(synchronize_session=False)
    )
    status = session.execute(statement).scalar_one()
    _record(session, [asset_id], event, by=by, from_status=status, to_status=status, reason=None,
            details=details, at=at)  # fmt: skip


def _record(
    session: Session,
    ids: Sequence[str],
    event: str,
    *,
    by: str,
    from_status: str | None,
    to_status: str,
    reason: str | None,
    details: dict[str, Any] | None,
    at: datetime,
) -> None:
    if ids:
        events = [
            _event(asset_id, event, by=by, from_status=from_status, to_status=to_status,
                   reason=reason, details=details, at=at)
            for asset_id in ids
        ]  # fmt: skip
        session.execute(insert(AssetEvent), events)
    session.expire_all()  # loaded assets must not keep their old state


def record_look(
    session: Session,
    *,
    asset_id: str,
    active: bool,
    was: tuple[str | None, int | None],
    info: ObjectInfo,
    result: ProbeResult | None,
    connection_id: str,
    by: str,
) -> tuple[Sequence[str], Sequence[str]]:
    """Record what a fresh look at an asset's object found (a reconcile's or an event's):
    ``result`` holds the new probe when its bytes changed (None: the same bytes as ``was``,
    its ETag and size). New facts are kept; refused, it leaves circulation as
    ``changed_invalid``; a removed asset whose object is there (and fine) returns, read through
    ``connection_id`` now. Returns the ids removed and the ids restored.
    """
    if result is not None:
        details: dict[str, Any] = {"etag": [was[0], info.etag], "size": [was[1], info.size]}
        if result.failure is not None:
            failure = result.failure
            details |= {"code": failure.code, "why": failure.reason, "fix": failure.fix}
            # Its new ETag is kept, so the same refused file is not probed again.
            seen = {"etag": info.etag, "size": info.size, "content_hash": info.content_hash}
            change(session, asset_id=asset_id, values=seen, by=by, details=details)
            if not active:
                return [], []
            removed = remove_ids(
                session, [asset_id], reason=CHANGED_INVALID, by=by, details=details
            )
            return removed, []
        assert result.facts is not None
        values = fact_columns(result.facts, info)
        change(session, asset_id=asset_id, values=values, by=by, details=details)
    if active:
        return [], []
    back = {"connection_id": connection_id, "etag": info.etag}
    return [], restore_ids(session, [asset_id], by=by, values=back)


def fact_columns(facts: MediaFacts, info: ObjectInfo) -> dict[str, Any]:
    """The asset columns that hold what a probe of ``info`` learned."""
    return {
        "size": info.size,
        "etag": info.etag,
        "content_hash": info.content_hash,
        "version": info.version,
        "media_kind": facts.kind,
        "extension": facts.extension,
        "mime_type": facts.mime_type,
        "width": facts.width,
        "height": facts.height,
        "duration": facts.duration,
        "video_codec": facts.video_codec,
        "audio_codec": facts.audio_codec,
        "frame_rate": facts.frame_rate,
        "frame_count": facts.frame_count,
        "media_details": facts.details or None,
    }


def history(session: Session, *, asset_id: str, limit: int = 50) -> Sequence[AssetEvent]:
    """The asset's most recent transitions, oldest first."""
    newest = session.scalars(
        select(AssetEvent)
        .where(AssetEvent.asset_id == asset_id)
        .order_by(AssetEvent.created_at.desc(), AssetEvent.id.desc())
        .limit(limit)
    ).all()
    return list(reversed(newest))
