from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from insitu.errors import InvalidInput
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


def unusable_name(exc: ValidationError) -> InvalidInput:
    """A connection's new name refused by ``ConnectionCreate`` or ``ConnectionUpdate`` (the
    only field they check: the provider's service checks the settings)."""
    return InvalidInput(
        f"the connection name is not usable: {exc.errors()[0]['msg'].lower()}",
        fix="give a short name, e.g. the bucket's",
    )


class ConnectionUpdate(BaseModel):
    """A new name, some new settings, or both."""

    model_config = ConfigDict(extra="forbid")

    name: DisplayName | None = None
    settings: dict[str, Any] | None = Field(
        default=None,
        examples=[{"access_key_id": "AKIA...", "secret_access_key": "..."}],
        description="The settings to change (the provider stays): rotated keys, another role, "
        "another region. Settings left out keep their value; null puts one back to its "
        "default. A secret left out is kept, unless a setting that decides where it is sent "
        "changes (an S3 connection's endpoint_url or mode): then it is dropped. Secrets are "
        "stored encrypted, never returned.",
    )

    @model_validator(mode="after")
    def _changes_something(self) -> ConnectionUpdate:
        if self.name is None and self.settings is None:
            raise ValueError("send a new 'name', new 'settings', or both")
        return self


class LastVerifyRead(BaseModel):
    """The outcome of the connection's last Verify access."""

    status: Literal["passed", "failed", "warning"] = Field(
        description="failed: a check failed; warning: all passed but one advises a fix."
    )
    at: datetime
    source: str | None = Field(description="The location verified.")
    check: str | None = Field(description="The first failed (or warning) check's name.")
    fix: str | None = Field(description="How to fix that check.")


class HealthRead(BaseModel):
    """Whether labelers can still load the connection's files, from checks of its own objects."""

    status: Literal["ok", "degraded", "failing"] = Field(
        description="failing: a check failed and signed URLs are refused with 503 until fixed; "
        "degraded: every check passed but one advises a fix."
    )
    since: datetime = Field(description="When the connection entered this status.")
    check: str | None = Field(description="The failing (or warning) check's name.")
    fix: str | None = Field(description="How to fix that check.")
    checked_at: datetime | None = Field(description="When it was last checked.")


class ConnectionRead(BaseModel):
    id: str
    name: str
    provider: str
    settings: dict[str, Any]
    secrets_stored: list[str] = Field(
        default_factory=list,
        description="The secret settings stored for it (encrypted), by name, e.g. "
        "access_key_id; their values are never shown.",
    )
    created_at: datetime
    last_verify: LastVerifyRead | None = Field(
        default=None, description="The last Verify access; null if never verified."
    )
    health: HealthRead | None = Field(
        default=None,
        description="Access health, checked on a schedule while the connection is in use "
        "(it has assets in circulation or an import under way); null if never checked.",
    )


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
