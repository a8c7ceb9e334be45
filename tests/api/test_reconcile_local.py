"""Reconcile of an on-prem directory: the same rules as for buckets, on files renamed in place."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest
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


def _imported(api: TestClient, worker: InlineBackend, data_root: Path) -> tuple[Path, str]:
    folder = data_root / "scans"
    (folder / "sub").mkdir(parents=True)
    for n in range(3):
        (folder / f"top{n}.png").write_bytes(png(3 + n, 3))
        (folder / "sub" / f"in{n}.png").write_bytes(png(9 + n, 3))
    connection = connect(api, data_root)
    job = run_import(
        api, worker, {"source": f"file://{folder}/", "connection_id": connection["id"]}
    )
    return folder, job["project_id"]


def test_an_unreadable_directory_fails_the_reconcile_and_removes_nothing(
    api: TestClient, worker: InlineBackend, data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, project = _imported(api, worker, data_root)
    real_scandir = os.scandir

    def scandir(path: Any) -> Any:
        if str(path) == str(folder / "sub"):  # a directory the server may no longer read
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    started = api.post(f"/v1/projects/{project}/reconcile").json()
    worker.join()
    done = api.get(f"/v1/reconciles/{started['id']}").json()
    assert done["status"] == "failed" and done["error"]["error"] == "access_denied", done
    assert done["counts"]["removed"] == 0
    assert {item["status"] for item in by_location(api, project).values()} == {"active"}


def test_an_empty_listing_where_assets_circulate_removes_nothing(
    api: TestClient, worker: InlineBackend, data_root: Path
) -> None:
    folder, project = _imported(api, worker, data_root)
    for path in sorted(folder.rglob("*.png")):
        path.unlink()  # as an unmounted share looks: an empty directory
    started = api.post(f"/v1/projects/{project}/reconcile").json()
    worker.join()
    done = api.get(f"/v1/reconciles/{started['id']}").json()
    assert done["status"] == "failed" and "came back empty" in done["error"]["detail"], done
    assert "assets/remove" in done["error"]["fix"]
    assert {item["status"] for item in by_location(api, project).values()} == {"active"}
