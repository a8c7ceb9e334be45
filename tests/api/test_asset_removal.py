"""Canceling data: assets leave circulation by id, import, prefix or connection, and come back.

Nothing is deleted: a removed asset keeps its id, facts and history, and is listed with
``status=removed`` and its reason; its URL is refused with how to bring it back.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from insitu.db import session_scope
from insitu.jobs.inline import InlineBackend
from insitu.organizations import service as organizations
from tests.api.test_s3_end_to_end import all_assets, run
from tests.conftest import Org
from tests.images import png


@pytest.fixture
def imported(
    api: TestClient,
    worker: InlineBackend,
    s3: dict[str, str],
    s3_bucket: str,
    seed_objects: Callable[..., None],
) -> dict[str, object]:
    """Two imports into one project: 4 files under a/ and 3 under b/."""
    seed_objects(s3_bucket, {f"a/{n}.png": png(2 + n, 2) for n in range(4)})
    seed_objects(s3_bucket, {f"b/{n}.png": png(2 + n, 3) for n in range(3)})
    first = run(api, worker, s3, source=f"s3://{s3_bucket}/a/")
    second = run(api, worker, s3, source=f"s3://{s3_bucket}/b/")
    assert first["counts"]["imported"] == 4 and second["counts"]["imported"] == 3
    return {"bucket": s3_bucket, "a": first["id"], "b": second["id"], **s3}


def key_id_of(org: Org) -> str:
    with session_scope() as session:
        return organizations.authenticate(session, key=org.key)[1].id


def by_location(api: TestClient, project: str, status: str = "all") -> dict[str, dict]:  # type: ignore[type-arg]
    page = api.get(f"/v1/projects/{project}/assets", params={"status": status, "limit": 100})
    return {item["location"]: item for item in page.json()["items"]}


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_removing_by_import_takes_only_that_imports_assets_out_and_keeps_them_on_record(
    api: TestClient, imported: dict[str, str], org: Org
) -> None:
    project = imported["project"]
    response = api.post(f"/v1/projects/{project}/assets/remove", json={"import_id": imported["a"]})
    assert response.status_code == 200, response.text
    assert response.json() == {"removed": 4}

    active = all_assets(api, project)
    assert sorted(item["location"].rsplit("/", 2)[1] for item in active) == ["b"] * 3
    removed = api.get(f"/v1/projects/{project}/assets", params={"status": "removed"}).json()
    assert len(removed["items"]) == 4
    for item in removed["items"]:
        assert item["status"] == "removed" and item["removal_reason"] == "canceled"
        assert item["removed_by"] == key_id_of(org)
        assert item["removed_at"] is not None and item["width"] is not None  # facts kept
    by_reason = api.get(f"/v1/projects/{project}/assets", params={"reason": "canceled"}).json()
    assert {item["id"] for item in by_reason["items"]} == {item["id"] for item in removed["items"]}
    # Removing again removes nothing more.
    again = api.post(f"/v1/projects/{project}/assets/remove", json={"import_id": imported["a"]})
    assert again.json() == {"removed": 0}


def test_removing_by_ids_and_by_prefix(api: TestClient, imported: dict[str, str]) -> None:
    project, bucket = imported["project"], imported["bucket"]
    assets = by_location(api, project)
    one = assets[f"s3://{bucket}/a/0.png"]["id"]
    response = api.post(f"/v1/projects/{project}/assets/remove", json={"asset_ids": [one, one]})
    assert response.json() == {"removed": 1}

    response = api.post(
        f"/v1/projects/{project}/assets/remove", json={"prefix": f"s3://{bucket}/b/"}
    )
    assert response.json() == {"removed": 3}
    active = {item["location"] for item in all_assets(api, project)}
    assert active == {f"s3://{bucket}/a/{n}.png" for n in (1, 2, 3)}


def test_a_prefix_outside_the_projects_sources_or_two_choices_are_refused(
    api: TestClient, imported: dict[str, str]
) -> None:
    project, bucket = imported["project"], imported["bucket"]
    outside = api.post(
        f"/v1/projects/{project}/assets/remove", json={"prefix": "s3://another-bucket/a/"}
    )
    assert outside.status_code == 422
    assert outside.json()["error"] == "invalid_location"
    assert f"s3://{bucket}/a/" in outside.json()["fix"]
    both = api.post(
        f"/v1/projects/{project}/assets/remove",
        json={"import_id": imported["a"], "prefix": f"s3://{bucket}/a/"},
    )
    assert both.status_code == 422
    assert "exactly one" in both.json()["detail"]
    assert len(all_assets(api, project)) == 7


def test_a_removed_assets_url_is_refused_with_how_to_restore_it_then_restore_brings_it_back(
    api: TestClient, imported: dict[str, str]
) -> None:
    project, bucket = imported["project"], imported["bucket"]
    asset = by_location(api, project)[f"s3://{bucket}/a/1.png"]
    api.post(f"/v1/projects/{project}/assets/remove", json={"asset_ids": [asset["id"]]})

    refused = api.get(f"/v1/assets/{asset['id']}/url")
    assert refused.status_code == 409
    assert refused.json()["removal_reason"] == "canceled"
    assert f"/v1/assets/{asset['id']}/restore" in refused.json()["fix"]

    restored = api.post(f"/v1/assets/{asset['id']}/restore")
    assert restored.status_code == 200, restored.text
    body = restored.json()
    assert body["id"] == asset["id"] and body["status"] == "active"
    assert body["removal_reason"] is None
    assert [
        (event["event"], event["from"], event["to"], event["reason"]) for event in body["history"]
    ] == [
        ("created", None, "active", None),
        ("removed", "active", "removed", "canceled"),
        ("restored", "removed", "active", None),
    ]
    assert api.get(f"/v1/assets/{asset['id']}/url").status_code == 200


def test_restore_refuses_an_asset_whose_file_changed_or_vanished(
    api: TestClient,
    imported: dict[str, str],
    s3_client,  # type: ignore[no-untyped-def]
) -> None:
    project, bucket = imported["project"], imported["bucket"]
    assets = by_location(api, project)
    changed, gone = assets[f"s3://{bucket}/a/2.png"], assets[f"s3://{bucket}/a/3.png"]
    api.post(
        f"/v1/projects/{project}/assets/remove", json={"asset_ids": [changed["id"], gone["id"]]}
    )
    s3_client.put_object(Bucket=bucket, Key="a/2.png", Body=png(40, 40))
    s3_client.delete_object(Bucket=bucket, Key="a/3.png")

    for asset, words in (
        (changed, "changed since it was imported"),
        (gone, "no longer in the bucket"),
    ):
        response = api.post(f"/v1/assets/{asset['id']}/restore")
        assert response.status_code == 409, response.text
        assert words in response.json()["detail"]
        assert api.get(f"/v1/assets/{asset['id']}").json()["status"] == "removed"


def test_deleting_a_connection_takes_its_assets_out_of_circulation(
    api: TestClient, imported: dict[str, str]
) -> None:
    project = imported["project"]
    assert api.delete(f"/v1/connections/{imported['connection']}").status_code == 204
    assert all_assets(api, project) == []
    removed = api.get(f"/v1/projects/{project}/assets", params={"status": "removed"}).json()
    assert len(removed["items"]) == 7
    assert {item["removal_reason"] for item in removed["items"]} == {"connection_removed"}
    asset = removed["items"][0]["id"]
    restore = api.post(f"/v1/assets/{asset}/restore")
    assert restore.status_code == 409 and "connection" in restore.json()["detail"]


def test_canceling_an_import_with_remove_assets_says_how_many_left(
    api: TestClient, imported: dict[str, str]
) -> None:
    project = imported["project"]
    plain = api.post(f"/v1/imports/{imported['b']}/cancel")
    assert plain.status_code == 200 and plain.json()["assets_removed"] == 0
    assert len(all_assets(api, project)) == 7

    response = api.post(f"/v1/imports/{imported['a']}/cancel", json={"remove_assets": True})
    assert response.status_code == 200, response.text
    assert response.json()["assets_removed"] == 4
    assert len(all_assets(api, project)) == 3


def test_another_org_can_neither_remove_nor_restore_nor_read(
    client: TestClient, imported: dict[str, str], org: Org, other_org: Org
) -> None:
    project = imported["project"]
    assets = by_location(client, project)
    asset = next(iter(assets.values()))["id"]
    intruder = other_org.headers
    assert (
        client.post(
            f"/v1/projects/{project}/assets/remove", json={"asset_ids": [asset]}, headers=intruder
        ).status_code
        == 404
    )
    assert client.post(f"/v1/assets/{asset}/restore", headers=intruder).status_code == 404
    assert client.get(f"/v1/assets/{asset}", headers=intruder).status_code == 404
    # Another org's project cannot remove this org's assets by naming their ids either.
    theirs = client.post("/v1/projects", json={"name": "theirs"}, headers=intruder).json()
    response = client.post(
        f"/v1/projects/{theirs['id']}/assets/remove", json={"asset_ids": [asset]}, headers=intruder
    )
    assert response.json() == {"removed": 0}
    assert len(all_assets(client, project)) == 7


def test_reconnecting_the_bucket_and_importing_again_brings_the_same_assets_back(
    api: TestClient, worker: InlineBackend, imported: dict[str, str]
) -> None:
    project, bucket = imported["project"], imported["bucket"]
    before = {location: item["id"] for location, item in by_location(api, project).items()}
    api.delete(f"/v1/connections/{imported['connection']}")
    again = api.post("/v1/connections", json={"provider": "s3", "settings": {}}).json()
    job = run(api, worker, {"connection": again["id"], "project": project},
              source=f"s3://{bucket}/a/")  # fmt: skip
    assert job["counts"] == {"listed": 4, "imported": 0, "already_present": 4, "failed": 0}
    after = by_location(api, project)
    for n in range(4):
        asset = after[f"s3://{bucket}/a/{n}.png"]
        assert asset["id"] == before[f"s3://{bucket}/a/{n}.png"]
        assert (asset["status"], asset["connection_id"]) == ("active", again["id"])
    # b/ was not imported again: its assets stay out until it is.
    assert {after[f"s3://{bucket}/b/{n}.png"]["removal_reason"] for n in range(3)} == {
        "connection_removed"
    }
    assert api.get(f"/v1/assets/{before[f's3://{bucket}/a/0.png']}/url").status_code == 200
