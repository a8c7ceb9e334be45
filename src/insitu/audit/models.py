from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from insitu.db import Base, IdMixin


class AuditEvent(IdMixin, Base):
    """One security-relevant action: who did what to which object, from where, and the outcome.

    ``org_id`` is null for actions no org owns (an unknown key, an operator action on the
    platform). Signed URLs are recorded in ``signed_url_issues`` and read back with these.
    """

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_org_id_created_at", "org_id", "created_at"),)

    org_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id"), default=None)
    action: Mapped[str] = mapped_column(String(64))
    # An API key id, "operator", "system" or "anonymous".
    actor: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16), default="ok")  # ok | denied | failed
    target_type: Mapped[str | None] = mapped_column(String(32), default=None)
    target_id: Mapped[str | None] = mapped_column(String(300), default=None)
    client_address: Mapped[str | None] = mapped_column(String(64), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(300), default=None)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
