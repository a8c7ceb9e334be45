from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class ReconcileCounts(BaseModel):
    checked: int = Field(description="Assets compared with the listings.")
    unchanged: int
    removed: int = Field(description="Left circulation: moved_or_deleted or changed_invalid.")
    changed: int = Field(description="Re-probed because their file changed in place.")
    moved: int = Field(description="Now point at their file's new location; same id.")
    restored: int = Field(description="Back in circulation: their file is back.")
    added: int = Field(description="New files under the import prefixes, imported.")
    failed: int = Field(description="Files that could not be probed or added (see import_ids).")


class ReconcileRead(BaseModel):
    id: str
    project_id: str
    status: str = Field(description="queued, running, succeeded or failed.")
    requested_by: str
    counts: ReconcileCounts
    list_requests: int = Field(description="List requests made: one per 1,000 objects listed.")
    read_requests: int = Field(description="Header reads of changed and new files only.")
    import_ids: list[str] = Field(description="The imports that added new files.")
    error: dict[str, Any] | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
