"""API shapes of the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class AuditTarget(BaseModel):
    """The object an action was taken on."""

    type: str = Field(description="connection, import, asset, api_key, organization, ...")
    id: str


class AuditEventRead(BaseModel):
    """One security-relevant action: who did what to which object, from where, and the outcome."""

    id: str
    at: datetime
    action: str = Field(description="e.g. connection.created, request.denied, url.issued")
    actor: str = Field(description="An API key id, operator, system or anonymous.")
    outcome: str = Field(description="ok, denied or failed")
    target: AuditTarget | None
    client_address: str | None
    user_agent: str | None
    details: dict[str, Any] | None
