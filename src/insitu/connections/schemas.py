from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from insitu.schemas import DisplayName


class ConnectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str = Field(examples=["s3"])
    name: DisplayName | None = None
    settings: dict[str, Any] = Field(
        default_factory=dict,
        examples=[{"mode": "platform_role", "region": "us-east-1"}],
        description="The provider's own settings; secrets are stored encrypted, never returned.",
    )


class ConnectionRead(BaseModel):
    id: str
    name: str
    provider: str
    settings: dict[str, Any]
    created_at: datetime


class VerifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(examples=["s3://my-bucket/images/"])


class CheckRead(BaseModel):
    name: str
    ok: bool
    detail: str
    fix: str | None


class VerifyRead(BaseModel):
    ok: bool
    source: str
    checks: list[CheckRead]


class CorsRead(BaseModel):
    provider: str
    origins: list[str]
    rules: Any
    command: str
