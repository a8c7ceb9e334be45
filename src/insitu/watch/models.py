from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from insitu.db import Base, IdMixin, utcnow


class ProjectWatch(IdMixin, Base):
    """A project whose import prefixes follow their buckets' storage events."""

    __tablename__ = "project_watches"

    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), unique=True)
    started_by: Mapped[str] = mapped_column(String(64))


class EventSequencer(IdMixin, Base):
    """The sequencer of the last event applied for one key: an older or repeated event of that
    key (events arrive at least once, in any order) changes nothing and costs no request."""

    __tablename__ = "event_sequencers"
    __table_args__ = (UniqueConstraint("connection_id", "bucket", "key"),)

    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"))
    bucket: Mapped[str] = mapped_column(Text)
    key: Mapped[str] = mapped_column(Text)
    sequencer: Mapped[str] = mapped_column(String(64))
    # When the key's last event was applied: past SEQUENCER_RETENTION the row is forgotten.
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class EventLease(IdMixin, Base):
    """Who consumes one event queue: one holder at a time, until ``expires_at`` unless renewed."""

    __tablename__ = "event_leases"

    queue: Mapped[str] = mapped_column(String(1024), unique=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"), index=True)
    holder: Mapped[str | None] = mapped_column(String(64), default=None)
    expires_at: Mapped[datetime] = mapped_column(default=utcnow)
    # What the consumer did, for the watch's status.
    events_applied: Mapped[int] = mapped_column(BigInteger, default=0)
    last_event_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
