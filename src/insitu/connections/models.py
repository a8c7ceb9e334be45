from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from insitu.db import Base, IdMixin


class Connection(IdMixin, Base):
    """One org's access to one provider; its settings are one encrypted JSON column."""

    __tablename__ = "connections"

    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(16))
    settings_encrypted: Mapped[str] = mapped_column(Text)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)
    # The last Verify access: passed, failed or warning; when; on what; the first problem.
    last_verify_status: Mapped[str | None] = mapped_column(String(16), default=None)
    last_verified_at: Mapped[datetime | None] = mapped_column(default=None)
    last_verify_source: Mapped[str | None] = mapped_column(Text, default=None)
    last_verify_check: Mapped[str | None] = mapped_column(String(200), default=None)
    last_verify_fix: Mapped[str | None] = mapped_column(Text, default=None)
    # Access health, derived from the verifies of the connection's own objects (scheduled or
    # asked for): ok, degraded or failing; since when it is so; the failing check and its fix.
    health: Mapped[str | None] = mapped_column(String(16), default=None)
    health_since: Mapped[datetime | None] = mapped_column(default=None)
    health_check: Mapped[str | None] = mapped_column(String(200), default=None)
    health_fix: Mapped[str | None] = mapped_column(Text, default=None)
    # When the schedule last queued (then the check finished) a health check.
    health_checked_at: Mapped[datetime | None] = mapped_column(default=None)
