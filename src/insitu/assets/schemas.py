from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class AssetFacts(BaseModel):
    """What insitu knows of a file: where it is and what its header said."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    location: str
    size: int | None
    media_kind: str | None
    extension: str | None
    mime_type: str | None
    width: int | None
    height: int | None
    duration: float | None
    video_codec: str | None
    audio_codec: str | None
    frame_rate: float | None
    frame_count: int | None


class AssetRead(AssetFacts):
    project_id: str
    connection_id: str
    provider: str
    bucket: str
    key: str
    etag: str | None
    version: str | None
    media_details: dict[str, Any] | None
    status: str = Field(description="active (in circulation) or removed.")
    removal_reason: str | None = Field(
        description="canceled, connection_removed, moved_or_deleted or changed_invalid."
    )
    removed_at: datetime | None
    removed_by: str | None = Field(
        description="The API key id that removed it, or reconcile, report or event."
    )
    created_at: datetime


class AssetEventRead(BaseModel):
    """One transition of an asset: created, removed, restored, moved or changed."""

    model_config = ConfigDict(from_attributes=True)

    event: str
    from_status: str | None = Field(serialization_alias="from")
    to_status: str = Field(serialization_alias="to")
    reason: str | None
    by: str
    at: datetime = Field(validation_alias="created_at")
    details: dict[str, Any] | None


class AssetDetailRead(AssetRead):
    history: list[AssetEventRead] = Field(description="Its transitions, oldest first.")


class AssetRemove(BaseModel):
    """Exactly one of: these assets, an import's assets, the assets under a prefix."""

    model_config = ConfigDict(extra="forbid")

    asset_ids: list[str] | None = Field(default=None, min_length=1, max_length=10_000)
    import_id: str | None = None
    prefix: str | None = Field(default=None, examples=["s3://my-bucket/images/2024/"])

    @model_validator(mode="after")
    def _exactly_one(self) -> AssetRemove:
        if sum(value is not None for value in (self.asset_ids, self.import_id, self.prefix)) != 1:
            raise ValueError("name exactly one of asset_ids, import_id or prefix")
        return self


class AssetsRemovedRead(BaseModel):
    removed: int = Field(description="Assets that left circulation with this request.")


class SignedUrlRead(BaseModel):
    url: str
    expires_at: datetime


class SignedUrlIssueRead(BaseModel):
    """One signed URL handed out: by which API key, when, and until when it worked."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    asset_id: str
    api_key_id: str | None
    created_at: datetime
    expires_at: datetime
    client_address: str | None = None
    user_agent: str | None = None


class CirculationItem(AssetFacts):
    """An asset in circulation, its facts, and a fresh read-only URL for its file."""

    url: str
    expires_at: datetime


class AssetReportRead(BaseModel):
    """What insitu found when a labeling client reported that an asset would not load."""

    found: str = Field(
        description="gone (it left circulation), changed (reconcile re-probes it), present "
        "(the file is there: look at the URL's expiry, CORS or the network), or removed."
    )
    status: str
    removal_reason: str | None
