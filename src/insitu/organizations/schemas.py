from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from insitu.connections.schemas import ConnectionRead
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


class CardFactRead(BaseModel):
    name: str = Field(description="Stable key, e.g. external_id, platform_role_arn.")
    label: str
    value: str | None = Field(description="null when this server has none configured.")
    copyable: bool


class CardInputRead(BaseModel):
    name: str = Field(description="The query parameter that fills it, e.g. bucket.")
    label: str
    placeholder: str
    values: list[str]
    multiple: bool = Field(description="Whether it takes several values (repeat the parameter).")
    help: str


class CardBlockRead(BaseModel):
    name: str
    title: str
    language: Literal["json", "shell", "yaml", "text"]
    content: str
    explanation: str
    copyable: bool
    filename: str | None = Field(description="Set when the block can be downloaded as a file.")
    download_url: str | None = Field(description="Where to download it, with these inputs.")


class CardActionRead(BaseModel):
    name: str
    label: str
    href: str
    method: str


class CardAccountRead(BaseModel):
    id: str = Field(description="Its identifier, e.g. the Azure tenant ID.")
    label: str
    detail: str


class ProviderSettingsRead(BaseModel):
    """One provider's settings card for the organization, as every provider declares it."""

    provider: str
    title: str
    summary: str
    facts: list[CardFactRead]
    inputs: list[CardInputRead]
    blocks: list[CardBlockRead]
    actions: list[CardActionRead]
    accounts: list[CardAccountRead] = Field(description="Connected accounts, e.g. Azure tenants.")
    warnings: list[str]
    portal_origins: list[str] = Field(description="The origins the CORS rules allow.")
    connections: list[ConnectionRead] = Field(
        description="The org's connections to this provider, newest first, with last verify."
    )
