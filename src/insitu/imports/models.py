from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from insitu.db import Base, IdMixin

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELED = (
    "queued",
    "running",
    "succeeded",
    "failed",
    "canceled",
)
FINISHED_STATUSES = (SUCCEEDED, FAILED, CANCELED)


class ImportJob(IdMixin, Base):
    __tablename__ = "import_jobs"
    # A project's imports are listed newest first.
    __table_args__ = (Index("ix_import_jobs_project_created", "project_id", "created_at", "id"),)

    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"))
    source: Mapped[str] = mapped_column(Text)
    source_files: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    status: Mapped[str] = mapped_column(String(16), default=QUEUED, index=True)

    listed: Mapped[int] = mapped_column(BigInteger, default=0)
    imported: Mapped[int] = mapped_column(BigInteger, default=0)
    already_present: Mapped[int] = mapped_column(BigInteger, default=0)
    failed: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_read: Mapped[int] = mapped_column(BigInteger, default=0)
    requests: Mapped[int] = mapped_column(BigInteger, default=0)

    # Where a resumed run picks up: the listing cursor, or how many source_files are done.
    cursor: Mapped[str | None] = mapped_column(Text, default=None)
    files_done: Mapped[int] = mapped_column(BigInteger, default=0)
    listing_done: Mapped[bool] = mapped_column(default=False)
    # Canceled with its assets: a page its runner commits after the cancel leaves too.
    assets_withdrawn: Mapped[bool] = mapped_column(default=False, server_default=false())

    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)


class ImportFailure(IdMixin, Base):
    """One file an import could not take, with why and how to fix it."""

    __tablename__ = "import_failures"
    __table_args__ = (
        UniqueConstraint("job_id", "location"),
        # An import's failures are listed newest first.
        Index("ix_import_failures_job_created", "job_id", "created_at", "id"),
    )

    job_id: Mapped[str] = mapped_column(ForeignKey("import_jobs.id"), index=True)
    location: Mapped[str] = mapped_column(Text)
    code: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    fix: Mapped[str | None] = mapped_column(Text, default=None)
