from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class AssetRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    project_id: str
    connection_id: str
    location: str
    provider: str
    bucket: str
    key: str
    size: int | None
    etag: str | None
    version: str | None
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
    media_details: dict[str, Any] | None
    status: str
    removal_reason: str | None
    removed_at: datetime | None
    created_at: datetime


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
