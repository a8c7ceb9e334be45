from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from insitu.azure.tenant_ids import normalize_tenant_id


class AzureTenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant_id: str = Field(
        examples=["72f988bf-86f1-41af-91ab-2d7cd011db47"],
        description="The directory (tenant) ID that admin-consented insitu's application.",
    )

    @field_validator("tenant_id")
    @classmethod
    def _guid(cls, value: str) -> str:
        return normalize_tenant_id(value)


class AzureTenantRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    tenant_id: str
    how: Literal["consent", "manual"]
    consented_at: datetime


class AzureConnectRead(BaseModel):
    url: str = Field(description="Open this as a tenant admin to grant consent.")
    expires_at: datetime = Field(description="The consent must be granted before this time.")
    redirect_uri: str
