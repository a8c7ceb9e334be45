"""One flat folder of thousands of files, listed as key ranges at once (fakes3 as S3).

An S3 folder lists a page at a time, each page after the one before; a folder of millions of
files would take the lister alone hours. The lister cuts a long folder into key ranges listed
side by side: every file must still be listed, probed and recorded exactly once, also when
the lister stops and resumes between pages, as it does whenever enough batches wait.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from insitu.config import Settings, get_settings
from insitu.db import session_scope
from insitu.imports import service as imports
from insitu.imports.models import ImportJob, ImportPart
from insitu.imports.pipeline import run_import
from tests.fixtures.fakes3 import FakeS3
from tests.fixtures.moto import TEST_CREDENTIALS
from tests.test_distributed_imports import assets_and_failures, start_import

FILES = 6000


@pytest.fixture
def flat_folder() -> Iterator[FakeS3]:
    server = FakeS3(FILES, 0, "--per-prefix", "0")  # images/img_0000000.png ... all in one
    yield server
    server.stop()


@pytest.mark.parametrize("waiting_batches", [16, 2])
def test_a_flat_folder_is_listed_in_key_ranges_once_per_file(
    settings: Settings,
    flat_folder: FakeS3,
    monkeypatch: pytest.MonkeyPatch,
    waiting_batches: int,
) -> None:
    for name, value in {
        "INSITU_IMPORT_BATCH_SIZE": "200",
        "INSITU_IMPORT_LIST_CONCURRENCY": "4",
        "INSITU_IMPORT_MAX_PENDING_BATCHES": str(waiting_batches),
        "INSITU_IMPORT_LEASE_SECONDS": "2",  # a paused lister is back after half a second
        **TEST_CREDENTIALS,
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    job_id = start_import(flat_folder, monkeypatch)

    run_import(job_id, settings=get_settings())

    with session_scope() as session:
        job = imports.read(session.get_one(ImportJob, job_id)).model_dump()
        parts = list(session.scalars(select(ImportPart).where(ImportPart.job_id == job_id)))
    assert job["status"] == "succeeded", job
    assert job["counts"] == {"listed": FILES, "imported": FILES, "already_present": 0, "failed": 0}
    assert assets_and_failures(job_id) == (FILES, FILES, [])
    ranges = [part for part in parts if part.last is not None]
    assert len(ranges) >= 4, [(part.cursor, part.last) for part in parts]
    assert all(part.done for part in parts)
    # Only the ranges' boundary pages are asked for on top of the folder's own pages.
    lists = flat_folder.stats()["ListObjectsV2"]
    assert FILES / 200 < lists <= FILES / 200 + 2 * len(parts), lists
