from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class OrganizationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    self_host_default: bool
    created_at: datetime


class OrganizationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
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
