from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ImportCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(examples=["s3://my-bucket/images/"])
    connection_id: str
    source_files: list[str] | None = Field(
        default=None,
        description="Only these files: keys relative to source, or full URIs under it.",
        max_length=1_000_000,
    )


class ImportCancel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    remove_assets: bool = Field(
        default=False, description="Also take every asset this import brought out of circulation."
    )


class ImportCounts(BaseModel):
    listed: int
    imported: int
    already_present: int
    failed: int


class ImportProgress(BaseModel):
    done: int = Field(description="Files settled: imported, already present or failed.")
    total: int | None = Field(description="Files to settle, once the listing is complete.")
    fraction: float | None


class ImportRead(BaseModel):
    id: str
    project_id: str
    connection_id: str
    source: str
    source_files: int | None = Field(description="How many files were named, if any.")
    status: str
    counts: ImportCounts
    progress: ImportProgress
    bytes_read: int
    requests: int
    error: dict[str, Any] | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ImportFailureRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    location: str
    code: str
    message: str
    fix: str | None
    created_at: datetime


class ImportCanceledRead(ImportRead):
    assets_removed: int = Field(description="Assets that left circulation with this cancel.")
