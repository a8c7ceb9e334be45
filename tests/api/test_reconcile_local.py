"""Reconcile of an on-prem directory: the same rules as for buckets, on files renamed in place."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi.testclient import TestClient

from insitu.jobs.inline import InlineBackend
from tests.api.test_asset_removal import by_location
from tests.api.test_local_provider import connect, run_import
from tests.api.test_reconcile import reconcile
from tests.images import png


def test_a_directory_reconcile_sees_deletes_renames_overwrites_and_new_files(
    api: TestClient, worker: InlineBackend, data_root: Path
) -> None:
    folder = data_root / "scans"
    (folder / "sub").mkdir(parents=True)
    for n in range(3):
        (folder / f"keep{n}.png").write_bytes(png(3 + n, 3))
    (folder / "gone.png").write_bytes(png(10, 3))
    (folder / "old-name.png").write_bytes(png(11, 3))
    (folder / "sub" / "edited.png").write_bytes(png(12, 3))
    connection = connect(api, data_root)
    job = run_import(
        api, worker, {"source": f"file://{folder}/", "connection_id": connection["id"]}
    )
    project = job["project_id"]
    before = by_location(api, project)

    (folder / "gone.png").unlink()
    os.rename(folder / "old-name.png", folder / "sub" / "new-name.png")  # keeps size and mtime
    edited = folder / "sub" / "edited.png"
    edited.write_bytes(png(30, 40))
    os.utime(edited, ns=(edited.stat().st_atime_ns, edited.stat().st_mtime_ns + 10**9))
    (folder / "added.png").write_bytes(png(13, 3))

    done = reconcile(api, worker, project)
    assert done["counts"] == {
        "checked": 6,
        "unchanged": 3,
        "removed": 1,
        "changed": 1,
        "moved": 1,
        "restored": 0,
        "added": 1,
        "failed": 0,
    }
    after = by_location(api, project)
    uri = f"file://{folder}/"
    assert after[uri + "sub/new-name.png"]["id"] == before[uri + "old-name.png"]["id"]
    assert after[uri + "gone.png"]["removal_reason"] == "moved_or_deleted"
    assert (after[uri + "sub/edited.png"]["width"], after[uri + "sub/edited.png"]["height"]) == (
        30,
        40,
    )
    assert after[uri + "added.png"]["status"] == "active"
