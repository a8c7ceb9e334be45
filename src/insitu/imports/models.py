from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
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

# A batch waits queued, runs under a lease, and ends done (every file settled), given_up
# (the store stayed unavailable: its files are failures until a resume tries them again) or
# canceled with its import.
BATCH_QUEUED, BATCH_RUNNING, BATCH_DONE, BATCH_GIVEN_UP, BATCH_CANCELED = (
    "queued",
    "running",
    "done",
    "given_up",
    "canceled",
)
BATCH_PENDING = (BATCH_QUEUED, BATCH_RUNNING)


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

    # The one lister's lease: whoever holds the token lists until the lease lapses.
    lister_token: Mapped[str | None] = mapped_column(String(32), default=None)
    lister_lease_until: Mapped[datetime | None] = mapped_column(default=None)
    # Listing attempts in a row that the store throttled or could not answer.
    list_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # Files recorded as failures because the store stayed unavailable (a resume retries them).
    unavailable: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))


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


class ImportBatch(IdMixin, Base):
    """About a thousand listed files (or named keys) that one worker probes and writes.

    ``objects`` holds what the listing said, so any worker can run the batch; it is marked
    done in the same transaction as its assets, failures and counters, so running it again
    (a redelivered or retried message) writes nothing twice.
    """

    __tablename__ = "import_batches"
    __table_args__ = (Index("ix_import_batches_job_id_status", "job_id", "status"),)

    job_id: Mapped[str] = mapped_column(ForeignKey("import_jobs.id"))
    objects: Mapped[list[Any]] = mapped_column(JSON)
    size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=BATCH_QUEUED, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    token: Mapped[str | None] = mapped_column(String(32), default=None)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    # Not to run before (a retry's backoff), and when it was last handed to the job backend.
    not_before: Mapped[datetime | None] = mapped_column(default=None)
    enqueued_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class ImportPart(IdMixin, Base):
    """One part of a source's key space, listed apart from the others, with its own cursor.

    A prefix import starts as one delimited part (the files right under the prefix); each
    folder it finds becomes a part listed whole, so big sources are listed several at once.
    A part that runs long on a store that can list from any key is cut into key ranges:
    each range lists the keys after its ``cursor`` up to ``last`` (inclusive), and the next
    range starts after that ``last``, so the ranges cover the part once.
    """

    __tablename__ = "import_parts"

    job_id: Mapped[str] = mapped_column(ForeignKey("import_jobs.id"), index=True)
    prefix: Mapped[str] = mapped_column(Text)
    delimited: Mapped[bool] = mapped_column(default=False)
    cursor: Mapped[str | None] = mapped_column(Text, default=None)
    last: Mapped[str | None] = mapped_column(Text, default=None)
    done: Mapped[bool] = mapped_column(default=False)
