from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

# How many files one import may name, and how long each name may be (the longest S3 and GCS
# key is 1,024 bytes). INSITU_MAX_BODY_BYTES's default holds a request naming all of them.
MAX_SOURCE_FILES = 10_000
MAX_NAME_LENGTH = 1024
MAX_SOURCE_LENGTH = 2048


class ImportCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(examples=["s3://my-bucket/images/"], max_length=MAX_SOURCE_LENGTH)
    connection_id: str = Field(max_length=64)
    # The count is checked by the service, which says how to import more; the schema only
    # documents it.
    source_files: list[Annotated[str, Field(max_length=MAX_NAME_LENGTH)]] | None = Field(
        default=None,
        description="Only these files: keys relative to source, or full URIs under it. At "
        f"most {MAX_SOURCE_FILES:,} per request: import more with several requests, or "
        "import their prefix without source_files.",
        json_schema_extra={"maxItems": MAX_SOURCE_FILES},
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
    rate: float | None = Field(
        default=None, description="Files settled per second since the import started."
    )
    recent_rate: float | None = Field(
        default=None,
        description="While it runs: files settled per second over the last minute (it drops "
        "at once when the work stalls, where the average since the start hardly moves).",
    )


class ImportBatches(BaseModel):
    """The import's batches of about INSITU_IMPORT_BATCH_SIZE files, by state."""

    queued: int
    running: int
    done: int
    given_up: int = Field(
        description="Batches whose files the store stayed unavailable for; a resume retries them."
    )


class ImportRead(BaseModel):
    id: str
    project_id: str
    connection_id: str
    source: str
    source_files: int | None = Field(description="How many files were named, if any.")
    status: str
    counts: ImportCounts
    progress: ImportProgress
    batches: ImportBatches | None = Field(
        default=None, description="How the import's batches stand, across all workers."
    )
    bytes_read: int
    requests: int
    error: dict[str, Any] | None = Field(description="Why it failed, and the fix.")
    warning: dict[str, Any] | None = Field(
        default=None,
        description="While it runs: what holds it up now (its store throttling or not "
        "answering its listing), what insitu does about it, and the fix if it lasts.",
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ImportFailureRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    location: str
    code: str
    message: str
    fix: str | None
    created_at: datetime


class ImportCanceledRead(ImportRead):
    assets_removed: int = Field(description="Assets that left circulation with this cancel.")
