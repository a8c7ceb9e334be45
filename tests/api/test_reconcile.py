"""Reconcile on S3 (moto): what changed in the bucket since the import is what the assets say.

Deleted files leave circulation, moved ones keep their asset at the new place, overwritten
ones are re-probed (or refused), new ones are imported, and a deleted file put back returns,
all from one listing per 1,000 objects.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from insitu.connections import stores
from insitu.jobs.inline import InlineBackend
from insitu.storage.base import ListPage
from tests.api.test_asset_removal import by_location
from tests.api.test_import_behaviour import WrappedStore, real_store
from tests.api.test_s3_end_to_end import run
from tests.conftest import Org
from tests.fixtures.backends import broker_down, using
from tests.fixtures.moto import seed
from tests.images import png

# Every file has its own size, so no two share an ETag by chance.
FILES = {
    **{f"r/keep/{n}.png": png(2 + n, 2) for n in range(5)},
    "r/del/0.png": png(20, 2),
    "r/del/1.png": png(21, 2),
    "r/mv/a.png": png(22, 2),
    "r/chg/ok.png": png(23, 2),
    "r/chg/bad.png": png(24, 2),
    "r/back.png": png(25, 2),
}


@pytest.fixture
def imported(
    api: TestClient,
    worker: InlineBackend,
    s3: dict[str, str],
    s3_bucket: str,
    seed_objects: Callable[..., None],
) -> dict[str, Any]:
    seed_objects(s3_bucket, FILES)
    job = run(api, worker, s3, source=f"s3://{s3_bucket}/r/")
    assert job["counts"]["imported"] == len(FILES), job
    return {"bucket": s3_bucket, "assets": by_location(api, s3["project"]), **s3}


def reconcile(api: TestClient, worker: InlineBackend, project: str) -> dict[str, Any]:
    started = api.post(f"/v1/projects/{project}/reconcile")
    assert started.status_code == 202, started.text
    worker.join()
    done = api.get(f"/v1/reconciles/{started.json()['id']}").json()
    assert done["status"] == "succeeded", done
    return done


def check_first_reconcile(
    api: TestClient, worker: InlineBackend, project: str, uri: str, before: dict[str, Any]
) -> dict[str, Any]:
    """Reconcile after the scenario's changes (deleted del/* and back.png, mv/a.png moved to
    moved/a.png, chg/ok.png valid at 40x30, chg/bad.png garbage, new/n1 and new/n2 added) and
    check every asset came out right; returns the project's assets by location."""
    first = reconcile(api, worker, project)
    assert first["counts"] == {
        "checked": 11,
        "unchanged": 5,
        "removed": 4,  # two deleted, back.png, and chg/bad.png that no longer validates
        "changed": 2,
        "moved": 1,
        "restored": 0,
        "added": 2,
        "failed": 0,
    }, first
    assert first["list_requests"] == 1 and len(first["import_ids"]) == 1

    after = by_location(api, project)
    assert len(after) == len(FILES) + 2
    moved = after[f"{uri}r/moved/a.png"]
    assert moved["id"] == before[f"{uri}r/mv/a.png"]["id"] and moved["status"] == "active"
    assert moved["key"] == "r/moved/a.png"
    assert f"{uri}r/mv/a.png" not in after
    history = api.get(f"/v1/assets/{moved['id']}").json()["history"]
    assert history[-1]["event"] == "moved"
    assert history[-1]["details"] == {"moved_from": f"{uri}r/mv/a.png"}

    for key in ("r/del/0.png", "r/del/1.png", "r/back.png"):
        gone = after[uri + key]
        assert (gone["status"], gone["removal_reason"], gone["removed_by"]) == (
            "removed", "moved_or_deleted", "reconcile",
        )  # fmt: skip
        assert gone["id"] == before[uri + key]["id"] and gone["width"] is not None

    for n in range(5):
        assert after[f"{uri}r/keep/{n}.png"] == before[f"{uri}r/keep/{n}.png"]

    ok = after[f"{uri}r/chg/ok.png"]
    assert (ok["status"], ok["width"], ok["height"]) == ("active", 40, 30)
    assert ok["id"] == before[f"{uri}r/chg/ok.png"]["id"]
    bad = after[f"{uri}r/chg/bad.png"]
    assert (bad["status"], bad["removal_reason"]) == ("removed", "changed_invalid")
    assert bad["id"] == before[f"{uri}r/chg/bad.png"]["id"]
    why = api.get(f"/v1/assets/{bad['id']}").json()["history"][-1]
    assert why["reason"] == "changed_invalid" and why["details"]["fix"]

    for key, width in (("r/new/n1.png", 41), ("r/new/n2.png", 42)):
        assert (after[uri + key]["status"], after[uri + key]["width"]) == ("active", width)
    circulating = api.get(f"/v1/projects/{project}/circulation", params={"limit": 100}).json()
    assert len(circulating["items"]) == 5 + 1 + 1 + 2
    return after


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_reconcile_follows_deletes_moves_overwrites_additions_and_returns(
    api: TestClient, worker: InlineBackend, imported: dict[str, Any], s3_client: Any
) -> None:
    bucket, project, before = imported["bucket"], imported["project"], imported["assets"]
    uri = f"s3://{bucket}/"
    for key in ("r/del/0.png", "r/del/1.png", "r/back.png"):
        s3_client.delete_object(Bucket=bucket, Key=key)
    s3_client.copy_object(
        Bucket=bucket, Key="r/moved/a.png", CopySource={"Bucket": bucket, "Key": "r/mv/a.png"}
    )
    s3_client.delete_object(Bucket=bucket, Key="r/mv/a.png")
    s3_client.put_object(Bucket=bucket, Key="r/chg/ok.png", Body=png(40, 30))
    s3_client.put_object(Bucket=bucket, Key="r/chg/bad.png", Body=b"not an image at all")
    s3_client.put_object(Bucket=bucket, Key="r/new/n1.png", Body=png(41, 3))
    s3_client.put_object(Bucket=bucket, Key="r/new/n2.png", Body=png(42, 3))

    after = check_first_reconcile(api, worker, project, uri, before)
    assert after[f"{uri}r/moved/a.png"]["etag"] == before[f"{uri}r/mv/a.png"]["etag"]  # MD5

    # The deleted file comes back as it was: the same asset returns to circulation.
    s3_client.put_object(Bucket=bucket, Key="r/back.png", Body=FILES["r/back.png"])
    second = reconcile(api, worker, project)
    assert second["counts"] | {"checked": 0} == {
        "checked": 0,
        "unchanged": 9,
        "removed": 0,
        "changed": 0,
        "moved": 0,
        "restored": 1,
        "added": 0,
        "failed": 0,
    }
    back = by_location(api, project)[f"{uri}r/back.png"]
    assert back["id"] == before[f"{uri}r/back.png"]["id"] and back["status"] == "active"


def test_a_canceled_asset_stays_out_and_a_canceled_imports_prefix_is_not_grown(
    api: TestClient, worker: InlineBackend, imported: dict[str, Any], s3_client: Any
) -> None:
    bucket, project, assets = imported["bucket"], imported["project"], imported["assets"]
    canceled = assets[f"s3://{bucket}/r/keep/0.png"]["id"]
    api.post(f"/v1/projects/{project}/assets/remove", json={"asset_ids": [canceled]})
    job = run(api, worker, imported, source=f"s3://{bucket}/other/")
    api.post(f"/v1/imports/{job['id']}/cancel", json={"remove_assets": True})
    s3_client.put_object(Bucket=bucket, Key="other/late.png", Body=png(50, 5))

    done = reconcile(api, worker, project)
    assert done["counts"]["added"] == 0 and done["counts"]["restored"] == 0
    after = by_location(api, project)
    assert after[f"s3://{bucket}/r/keep/0.png"]["removal_reason"] == "canceled"
    assert f"s3://{bucket}/other/late.png" not in after


def test_a_project_can_choose_not_to_import_new_files(
    api: TestClient, worker: InlineBackend, s3: dict[str, str], s3_bucket: str, s3_client: Any
) -> None:
    project = api.post("/v1/projects", json={"name": "fixed", "import_new_files": False}).json()
    s3_client.put_object(Bucket=s3_bucket, Key="f/a.png", Body=png(3, 3))
    run(api, worker, {**s3, "project": project["id"]}, source=f"s3://{s3_bucket}/f/")
    s3_client.put_object(Bucket=s3_bucket, Key="f/b.png", Body=png(4, 3))
    done = reconcile(api, worker, project["id"])
    assert done["counts"]["added"] == 0
    assert list(by_location(api, project["id"])) == [f"s3://{s3_bucket}/f/a.png"]


class CountingStore(WrappedStore):
    """The real store, counting each request the reconcile makes through it."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.lists = self.heads = self.gets = 0

    def list_pages(self, prefix: str, **kwargs: Any) -> Iterator[ListPage]:
        for page in self.inner.list_pages(prefix, **kwargs):
            self.lists += 1  # each page is one ListObjectsV2 request
            yield page

    def head(self, key: str) -> Any:
        self.heads += 1
        return self.inner.head(key)

    def get_range(self, key: str, start: int, end: int) -> bytes:
        self.gets += 1
        return self.inner.get_range(key, start, end)


def test_reconciling_thousands_of_unchanged_assets_costs_only_list_requests(
    api: TestClient,
    worker: InlineBackend,
    s3: dict[str, str],
    s3_bucket: str,
    s3_client: Any,
    settings: Any,
) -> None:
    count = 2500  # three pages of a listing: enough to show no request per file
    seed(
        s3_client, s3_bucket, {f"u/{n:05d}.png": png(1 + n % 50, 1 + n // 50) for n in range(count)}
    )
    job = run(api, worker, s3, source=f"s3://{s3_bucket}/u/")
    assert job["counts"]["imported"] == count, job
    setup = {**s3, "source": f"s3://{s3_bucket}/u/"}
    store, location = real_store(setup, settings)
    counting = CountingStore(store)
    stores.forget(s3["connection"])
    assert stores.get_or_open(s3["connection"], location, lambda: counting) is counting

    done = reconcile(api, worker, s3["project"])
    assert done["counts"]["checked"] == count and done["counts"]["unchanged"] == count
    assert counting.lists <= count / 1000 + 5
    assert counting.lists == done["list_requests"]
    assert (counting.heads, counting.gets) == (0, 0) and done["read_requests"] == 0


def test_another_org_can_neither_reconcile_nor_read_a_reconcile(
    client: TestClient, imported: dict[str, Any], worker: InlineBackend, other_org: Org
) -> None:
    project = imported["project"]
    intruder = other_org.headers
    assert client.post(f"/v1/projects/{project}/reconcile", headers=intruder).status_code == 404
    mine = client.post(f"/v1/projects/{project}/reconcile")
    worker.join()
    response = client.get(f"/v1/reconciles/{mine.json()['id']}", headers=intruder)
    assert response.status_code == 404


def test_a_client_reporting_a_broken_asset_takes_a_gone_file_out_at_once(
    api: TestClient, imported: dict[str, Any], s3_client: Any
) -> None:
    bucket, assets = imported["bucket"], imported["assets"]
    labeler = api.post("/v1/api-keys", json={"name": "tool", "scope": "labeler"})
    assert labeler.status_code == 201, labeler.text
    as_labeler = {"Authorization": f"Bearer {labeler.json()['secret']}"}
    present = assets[f"s3://{bucket}/r/keep/1.png"]["id"]
    gone = assets[f"s3://{bucket}/r/keep/2.png"]["id"]
    s3_client.delete_object(Bucket=bucket, Key="r/keep/2.png")

    answer = api.post(f"/v1/assets/{present}/report", headers=as_labeler)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"found": "present", "status": "active", "removal_reason": None}
    answer = api.post(f"/v1/assets/{gone}/report", headers=as_labeler).json()
    assert answer == {"found": "gone", "status": "removed", "removal_reason": "moved_or_deleted"}
    asset = api.get(f"/v1/assets/{gone}").json()
    assert asset["removed_by"] == "report"
    assert api.get(f"/v1/assets/{gone}/url", headers=as_labeler).status_code == 409


def test_another_org_cannot_report_an_asset(
    client: TestClient, imported: dict[str, Any], other_org: Org
) -> None:
    asset = next(iter(imported["assets"].values()))["id"]
    response = client.post(f"/v1/assets/{asset}/report", headers=other_org.headers)
    assert response.status_code == 404
    assert client.get(f"/v1/assets/{asset}").json()["status"] == "active"


def test_projects_are_reconciled_on_the_schedule_and_listed_newest_first(
    imported: dict[str, Any],
    worker: InlineBackend,
    org: Org,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from insitu.api.app import create_app
    from insitu.config import get_settings

    monkeypatch.setenv("INSITU_RECONCILE_INTERVAL_SECONDS", "1")
    get_settings.cache_clear()
    app = create_app(get_settings(), schedule_reconciles=True)
    with TestClient(app, headers=org.headers) as server:
        url = f"/v1/projects/{imported['project']}/reconciles"
        deadline = time.monotonic() + 20
        while len(done := [r for r in server.get(url).json()["items"]
                           if r["status"] == "succeeded"]) < 2:  # fmt: skip
            assert time.monotonic() < deadline, server.get(url).json()
            time.sleep(0.2)
        assert {r["requested_by"] for r in done} == {"schedule"}
        assert done[0]["created_at"] > done[1]["created_at"]  # newest first
        assert done[0]["counts"]["unchanged"] == len(FILES)
        first = server.get(url, params={"limit": 1}).json()
        second = server.get(url, params={"limit": 1, "after": first["next"]}).json()
        assert second["items"][0]["id"] != first["items"][0]["id"]


def test_a_reconcile_left_running_by_a_dead_worker_is_taken_over(
    api: TestClient, worker: InlineBackend, imported: dict[str, Any]
) -> None:
    from datetime import timedelta

    from insitu.db import session_scope, utcnow
    from insitu.reconcile.models import ReconcileJob

    project = imported["project"]
    with session_scope() as session:
        dead = ReconcileJob(
            org_id=_org_of(session, project),
            project_id=project,
            requested_by="schedule",
            status="running",
            started_at=utcnow() - timedelta(hours=1),
            heartbeat_at=utcnow() - timedelta(hours=1),
        )
        session.add(dead)
    done = reconcile(api, worker, project)
    assert done["counts"]["unchanged"] == len(FILES)
    lost = api.get(f"/v1/reconciles/{dead.id}").json()
    assert (lost["status"], lost["error"]["error"]) == ("failed", "worker_lost")
    assert done["id"] != dead.id


def test_a_key_no_url_can_name_is_a_failure_not_an_asset(
    api: TestClient, worker: InlineBackend, s3: dict[str, str], s3_bucket: str, s3_client: Any
) -> None:
    s3_client.put_object(Bucket=s3_bucket, Key="k/ok.png", Body=png(3, 3))
    s3_client.put_object(Bucket=s3_bucket, Key="k/d/./dot.png", Body=png(4, 3))
    job = run(api, worker, s3, source=f"s3://{s3_bucket}/k/")
    assert job["counts"]["imported"] == 1 and job["counts"]["failed"] == 1, job
    failure = api.get(f"/v1/imports/{job['id']}/failures").json()["items"][0]
    assert failure["code"] == "invalid_location" and "./dot.png" in failure["location"]
    s3_client.put_object(Bucket=s3_bucket, Key="k/e/../new.png", Body=png(5, 3))
    done = reconcile(api, worker, s3["project"])
    assert done["counts"]["failed"] == 2 and done["counts"]["added"] == 0
    assert list(by_location(api, s3["project"])) == [f"s3://{s3_bucket}/k/ok.png"]
    page = api.get(f"/v1/projects/{s3['project']}/circulation").json()
    assert [item["location"] for item in page["items"]] == [f"s3://{s3_bucket}/k/ok.png"]


def _org_of(session: Any, project_id: str) -> str:
    from insitu.projects.models import Project

    return session.get_one(Project, project_id).org_id


def test_new_files_an_import_is_still_listing_are_left_to_it(
    api: TestClient,
    worker: InlineBackend,
    s3: dict[str, str],
    s3_bucket: str,
    s3_client: Any,
    settings: Any,
) -> None:
    """A reconcile during a long import must not import the files that import has yet to
    reach: they would be probed twice, and the import would count them "already present"."""
    from datetime import timedelta

    from insitu.db import session_scope, utcnow
    from insitu.imports.models import ImportJob
    from insitu.imports.schemas import ImportCreate
    from insitu.imports.service import create
    from insitu.organizations.models import Organization
    from insitu.projects.models import Project
    from insitu.reconcile.service import start_due

    project = s3["project"]
    s3_client.put_object(Bucket=s3_bucket, Key="g/a.png", Body=png(3, 3))
    run(api, worker, s3, source=f"s3://{s3_bucket}/g/")
    s3_client.put_object(Bucket=s3_bucket, Key="g/b.png", Body=png(4, 3))
    with session_scope() as session:  # an import of g/ that a worker elsewhere is listing
        project_row = session.get_one(Project, project)
        job = create(
            session,
            org=session.get_one(Organization, project_row.org_id),
            project=project_row,
            data=ImportCreate(source=f"s3://{s3_bucket}/g/", connection_id=s3["connection"]),
            settings=settings,
            enqueue=False,
        )
        job.status = "running"
        job.lister_token = "elsewhere"
        job.lister_lease_until = utcnow() + timedelta(hours=1)
        running = job.id

    done = reconcile(api, worker, project)
    assert done["counts"]["added"] == 0
    assert f"s3://{s3_bucket}/g/b.png" not in by_location(api, project)
    with session_scope() as session:  # and the schedule waits for the import to end
        assert [r.project_id for r in start_due(session, interval=timedelta(0))] == []

    with session_scope() as session:
        session.get_one(ImportJob, running).status = "succeeded"
    done = reconcile(api, worker, project)
    assert done["counts"]["added"] == 1
    assert f"s3://{s3_bucket}/g/b.png" in by_location(api, project)


def test_a_reconcile_the_broker_did_not_take_is_sent_again_when_asked_for_again(
    api: TestClient, worker: InlineBackend, imported: dict[str, Any]
) -> None:
    with using(broker_down()):
        refused = api.post(f"/v1/projects/{imported['project']}/reconcile")
    assert refused.status_code == 503, refused.text
    assert "reconcile.run job_id=" in refused.json()["detail"]
    assert "a reconcile when it is asked for again" in refused.json()["fix"]

    # The queue answers again: asking again sends the same reconcile, which runs.
    again = api.post(f"/v1/projects/{imported['project']}/reconcile")
    assert again.status_code == 202, again.text
    worker.join()
    done = api.get(f"/v1/reconciles/{again.json()['id']}").json()
    assert done["status"] == "succeeded", done
    listed = api.get(f"/v1/projects/{imported['project']}/reconciles").json()["items"]
    assert [item["id"] for item in listed] == [again.json()["id"]]  # the one recorded before
