"""Circulation for labeling clients: the next active assets, each with a fresh signed URL."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from fastapi.testclient import TestClient

from insitu.jobs.inline import InlineBackend
from tests.api.test_asset_removal import by_location
from tests.api.test_s3_end_to_end import run
from tests.conftest import Org
from tests.fixtures.moto import TEST_CREDENTIALS
from tests.images import png
from tests.sigv4 import verify_presigned_url


@pytest.fixture
def project(
    api: TestClient,
    worker: InlineBackend,
    s3: dict[str, str],
    s3_bucket: str,
    seed_objects: Callable[..., None],
) -> str:
    """Five images imported, then two of them removed."""
    seed_objects(s3_bucket, {f"c/{n}.png": png(10 + n, 5) for n in range(5)})
    run(api, worker, s3, source=f"s3://{s3_bucket}/c/")
    assets = by_location(api, s3["project"])
    removed = [assets[f"s3://{s3_bucket}/c/{n}.png"]["id"] for n in (1, 3)]
    response = api.post(f"/v1/projects/{s3['project']}/assets/remove", json={"asset_ids": removed})
    assert response.json() == {"removed": 2}
    return s3["project"]


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_circulation_pages_through_active_assets_with_working_audited_urls(
    api: TestClient, project: str, s3_bucket: str
) -> None:
    items, after = [], None
    while True:
        params = {"limit": 2, **({"after": after} if after else {})}
        page = api.get(f"/v1/projects/{project}/circulation", params=params)
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        if not (after := page.json()["next"]):
            break
    assert sorted(item["width"] for item in items) == [10, 12, 14]  # never the removed 11, 13
    assert len({item["id"] for item in items}) == 3
    for item in items:
        grant = verify_presigned_url(
            item["url"], secret_key=TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]
        )
        assert grant.method == "GET" and "s3:/" + grant.path == item["location"]
        body = httpx.get(item["url"]).content
        assert body[:8] == b"\x89PNG\r\n\x1a\n"
        issues = api.get(f"/v1/assets/{item['id']}/url-issues").json()["items"]
        assert [issue["expires_at"][:19] for issue in issues] == [item["expires_at"][:19]]


def test_circulation_of_another_orgs_project_is_not_found(
    client: TestClient, project: str, other_org: Org
) -> None:
    response = client.get(f"/v1/projects/{project}/circulation", headers=other_org.headers)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_circulation_limit_is_bounded(api: TestClient, project: str) -> None:
    response = api.get(f"/v1/projects/{project}/circulation", params={"limit": 1001})
    assert response.status_code == 422


def test_a_cursor_that_is_no_asset_id_is_refused_with_how_to_page(
    api: TestClient, project: str
) -> None:
    response = api.get(f"/v1/projects/{project}/circulation", params={"after": "page-2"})
    assert response.status_code == 422
    assert "'page-2' is not a cursor of the circulation queue" in response.json()["detail"]
    assert "'next' of the previous page" in response.json()["fix"]


def test_a_labeler_key_reads_circulation_and_a_bad_key_is_refused(
    api: TestClient, project: str
) -> None:
    labeler = api.post("/v1/api-keys", json={"name": "tool", "scope": "labeler"}).json()
    as_labeler = {"Authorization": f"Bearer {labeler['secret']}"}
    page = api.get(f"/v1/projects/{project}/circulation", headers=as_labeler)
    assert page.status_code == 200 and len(page.json()["items"]) == 3
    issues = api.get(f"/v1/assets/{page.json()['items'][0]['id']}/url-issues").json()["items"]
    assert issues[-1]["api_key_id"] == labeler["id"]
    refused = api.get(
        f"/v1/projects/{project}/circulation", headers={"Authorization": "Bearer insitu_nope"}
    )
    assert refused.status_code == 401 and refused.json()["error"] == "unauthenticated"
