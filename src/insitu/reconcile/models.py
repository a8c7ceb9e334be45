from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from insitu.db import Base, IdMixin

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
SKIPPED = "skipped"  # another reconcile of the project was running: it did the work
FINISHED_STATUSES = (SUCCEEDED, FAILED, SKIPPED)


class ReconcileJob(IdMixin, Base):
    """One pass comparing a project's assets with listings of the prefixes they came from."""

    __tablename__ = "reconcile_jobs"

    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=QUEUED, index=True)
    # The API key id that asked, or "schedule".
    requested_by: Mapped[str] = mapped_column(String(64))

    checked: Mapped[int] = mapped_column(BigInteger, default=0)
    unchanged: Mapped[int] = mapped_column(BigInteger, default=0)
    removed: Mapped[int] = mapped_column(BigInteger, default=0)
    changed: Mapped[int] = mapped_column(BigInteger, default=0)
    moved: Mapped[int] = mapped_column(BigInteger, default=0)
    restored: Mapped[int] = mapped_column(BigInteger, default=0)
    added: Mapped[int] = mapped_column(BigInteger, default=0)
    failed: Mapped[int] = mapped_column(BigInteger, default=0)
    list_requests: Mapped[int] = mapped_column(BigInteger, default=0)
    # Reads of changed and new files' headers (an unchanged file costs none).
    read_requests: Mapped[int] = mapped_column(BigInteger, default=0)
    # Imports the reconcile ran for new files: their failures say why a file was not added.
    import_ids: Mapped[list[str] | None] = mapped_column(JSON, default=None)

    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
