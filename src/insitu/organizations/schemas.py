from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from insitu.schemas import DisplayName


class OrganizationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    self_host_default: bool
    created_at: datetime


class OrganizationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: DisplayName | None = None
    self_host_default: bool | None = None


class OrganizationCreated(BaseModel):
    organization: OrganizationRead
    api_key: str = Field(description="Shown once; insitu keeps only its hash.")


class AwsSettingsRead(BaseModel):
    platform_role_arn: str | None
    external_id: str
    bucket: str | None
    bucket_policy: dict[str, Any] | None
    trust_policy: dict[str, Any] | None
    instructions: list[str]


class GcsGrant(BaseModel):
    role: str
    bucket: str
    member: str
    command: str


class GcsSettingsRead(BaseModel):
    service_account_email: str | None = Field(
        description="The service account the customer grants read access; null if unknown."
    )
    per_organization: bool = Field(description="Whether this account is this org's own.")
    role: str
    bucket: str | None
    grant: GcsGrant | None = Field(description="The exact grant for ?bucket=, when given.")
    optional_grants: list[GcsGrant]
    instructions: list[str]


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: DisplayName = Field(description="A label, e.g. the tool using it.")
    scope: Literal["admin", "labeler"] = Field(
        default="admin",
        description="admin: everything in the org; labeler: read assets and their signed URLs.",
    )
    expires_at: datetime | None = Field(
        default=None, description="When the key stops working (with a time zone); null: never."
    )


class ApiKeyRead(BaseModel):
    """An API key as listed: never its secret or hash."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    scope: str
    prefix: str = Field(description="The key's first characters, to recognize it.")
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    secret: str = Field(description="The key itself. Shown once; insitu keeps only its hash.")
