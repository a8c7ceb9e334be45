from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from insitu.db import Base, IdMixin, utcnow


class AzureTenant(IdMixin, Base):
    """An Azure tenant an org connected: by admin consent, or registered by hand."""

    __tablename__ = "azure_tenants"

    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    # One org per tenant: whoever holds the record reads what the tenant opened to insitu.
    tenant_id: Mapped[str] = mapped_column(String(36), unique=True)
    how: Mapped[str] = mapped_column(String(16))  # consent | manual
    consented_at: Mapped[datetime] = mapped_column(default=utcnow)


class AzureConsentState(Base):
    """A consent ``state`` already redeemed: each one connects a tenant at most once."""

    __tablename__ = "azure_consent_states"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime] = mapped_column(default=utcnow)
