from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from insitu.db import Base, IdMixin, utcnow


class AzureTenant(IdMixin, Base):
    """An Azure tenant an org connected: by admin consent, or registered by hand."""

    __tablename__ = "azure_tenants"
    __table_args__ = (UniqueConstraint("org_id", "tenant_id"),)

    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    tenant_id: Mapped[str] = mapped_column(String(36))
    how: Mapped[str] = mapped_column(String(16))  # consent | manual
    consented_at: Mapped[datetime] = mapped_column(default=utcnow)


class AzureConsentState(Base):
    """A consent ``state`` already redeemed: each one connects a tenant at most once."""

    __tablename__ = "azure_consent_states"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime] = mapped_column(default=utcnow)
