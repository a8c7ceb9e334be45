from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from insitu.db import Base, IdMixin


class Organization(IdMixin, Base):
    __tablename__ = "organizations"

    name: Mapped[str] = mapped_column(String(200))
    self_host_default: Mapped[bool] = mapped_column(default=False)
    # Unguessable per-org ID that customer roles require; encrypted like every secret.
    external_id_encrypted: Mapped[str] = mapped_column(Text)


class ApiKey(IdMixin, Base):
    __tablename__ = "api_keys"

    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="default")
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # admin: everything in its org; labeler: read assets, circulation and signed URLs only.
    scope: Mapped[str] = mapped_column(String(16), default="admin", server_default="admin")
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class PortalSession(IdMixin, Base):
    """One browser's sign-in to the portal with an API key, until it signs out or expires.

    The session cookie names this row; signing out ends it here, so a copy of the cookie
    taken before is worth nothing after.
    """

    __tablename__ = "portal_sessions"

    api_key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id"), index=True)
    expires_at: Mapped[datetime] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column(default=None)


class EndpointGrant(IdMixin, Base):
    """A non-public endpoint (host, host:port or CIDR) the operator opened to one org only."""

    __tablename__ = "endpoint_grants"
    __table_args__ = (UniqueConstraint("org_id", "endpoint"),)

    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    endpoint: Mapped[str] = mapped_column(String(300))
