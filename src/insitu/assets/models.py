from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from insitu.db import Base, IdMixin, utcnow

ACTIVE, REMOVED = "active", "removed"
# Why an asset left circulation.
CANCELED = "canceled"  # a person took it (or its import) out
CONNECTION_REMOVED = "connection_removed"  # the connection it was read through was deleted
MOVED_OR_DELETED = "moved_or_deleted"  # its object is gone from the bucket
CHANGED_INVALID = "changed_invalid"  # its object changed and no longer passes validation
REMOVAL_REASONS = (CANCELED, CONNECTION_REMOVED, MOVED_OR_DELETED, CHANGED_INVALID)
# Removed assets a person may bring back: their file may still be in the bucket as it was.
RESTORABLE = frozenset({CANCELED, MOVED_OR_DELETED})


class Asset(IdMixin, Base):
    """Where one self-hosted file lives and the few facts insitu keeps about it."""

    __tablename__ = "assets"
    # A location is unique per project, so no re-import ever duplicates an asset.
    __table_args__ = (
        UniqueConstraint("project_id", "location"),
        # Lists page a project's assets newest first, by status or all of them (the first
        # also serves circulation and every "by project and status" lookup).
        Index("ix_assets_project_status_created", "project_id", "status", "created_at", "id"),
        # Circulation walks a project's active assets in id order, a page at a time.
        Index("ix_assets_project_status_id", "project_id", "status", "id"),
        Index("ix_assets_project_created", "project_id", "created_at", "id"),
        # Served local files are looked up by connection and key (is the asset still active?).
        Index("ix_assets_connection_id_key", "connection_id", "key"),
    )

    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"))
    import_job_id: Mapped[str | None] = mapped_column(ForeignKey("import_jobs.id"), default=None)

    location: Mapped[str] = mapped_column(Text)
    provider: Mapped[str] = mapped_column(String(16))
    bucket: Mapped[str] = mapped_column(Text)
    key: Mapped[str] = mapped_column(Text)
    size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    etag: Mapped[str | None] = mapped_column(String(200), default=None)
    # A digest of the content where the store reports one: how a reconcile recognises a move.
    content_hash: Mapped[str | None] = mapped_column(String(100), default=None)
    version: Mapped[str | None] = mapped_column(String(200), default=None)

    media_kind: Mapped[str | None] = mapped_column(String(16), default=None)
    extension: Mapped[str | None] = mapped_column(String(32), default=None)
    mime_type: Mapped[str | None] = mapped_column(String(100), default=None)
    width: Mapped[int | None] = mapped_column(default=None)
    height: Mapped[int | None] = mapped_column(default=None)
    duration: Mapped[float | None] = mapped_column(Float, default=None)
    video_codec: Mapped[str | None] = mapped_column(String(32), default=None)
    audio_codec: Mapped[str | None] = mapped_column(String(32), default=None)
    frame_rate: Mapped[float | None] = mapped_column(Float, default=None)
    frame_count: Mapped[int | None] = mapped_column(BigInteger, default=None)
    media_details: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)

    status: Mapped[str] = mapped_column(String(16), default=ACTIVE)
    removal_reason: Mapped[str | None] = mapped_column(Text, default=None)
    removed_at: Mapped[datetime | None] = mapped_column(default=None)
    # The API key id, or "reconcile", "report", "event", "system".
    removed_by: Mapped[str | None] = mapped_column(String(64), default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SignedUrlIssue(IdMixin, Base):
    """Audit trail: which key asked for a URL to which asset, and until when it worked."""

    __tablename__ = "signed_url_issues"
    # The audit log reads an org's issues newest first.
    __table_args__ = (
        Index("ix_signed_url_issues_org_id_created_at", "org_id", "created_at"),
        # An asset's URL issues are listed newest first.
        Index("ix_signed_url_issues_asset_created", "asset_id", "created_at", "id"),
    )

    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    # Indexed by ix_signed_url_issues_asset_created: a URL issued is one more row, and every
    # index on this table is written once per URL.
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id"))
    api_key_id: Mapped[str | None] = mapped_column(ForeignKey("api_keys.id"), default=None)
    expires_at: Mapped[datetime] = mapped_column()
    client_address: Mapped[str | None] = mapped_column(String(64), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(300), default=None)


class AssetEvent(IdMixin, Base):
    """One change of an asset's state: created, removed, restored, moved or changed."""

    __tablename__ = "asset_events"

    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id"), index=True)
    event: Mapped[str] = mapped_column(String(16))  # created | removed | restored | moved | changed
    from_status: Mapped[str | None] = mapped_column(String(16), default=None)
    to_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32), default=None)
    by: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
