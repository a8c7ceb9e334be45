"""S3 through the whole product: API, import pipeline, signed URLs, against a moto server."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from insitu.jobs.inline import InlineBackend
from tests.fixtures.moto import TEST_CREDENTIALS
from tests.images import jpeg, png
from tests.sigv4 import URLExpired, verify_presigned_url

ODD_KEYS = [
    "odd/with space.png",
    "odd/ünïcödé-日本.png",
    "odd/plus+sign.png",
    "odd/percent%20literal.png",
    "odd/question?mark.png",
    "odd/hash#tag.png",
    "odd/mixed + % ? # ü.png",
]


def run(api: TestClient, worker: InlineBackend, s3: dict[str, str], **body: object) -> dict:  # type: ignore[type-arg]
    body = {"connection_id": s3["connection"], **body}
    response = api.post(f"/v1/projects/{s3['project']}/imports", json=body)
    assert response.status_code == 202, response.text
    worker.join()
    return api.get(f"/v1/imports/{response.json()['id']}").json()


def all_assets(api: TestClient, project: str) -> list[dict]:  # type: ignore[type-arg]
    items: list[dict] = []  # type: ignore[type-arg]
    after = None
    while True:
        params = {"limit": 1000, **({"after": after} if after else {})}
        page = api.get(f"/v1/projects/{project}/assets", params=params).json()
        items += page["items"]
        if not (after := page["next"]):
            return items


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_prefix_import_of_1200_objects_then_an_idempotent_rerun(
    api: TestClient,
    worker: InlineBackend,
    s3: dict[str, str],
    s3_bucket: str,
    seed_objects: Callable[..., None],
) -> None:
    image = png(5, 4)
    seed_objects(s3_bucket, {f"big/{index:05d}.png": image for index in range(1200)})
    seed_objects(s3_bucket, {"elsewhere/x.png": image})
    first = run(api, worker, s3, source=f"s3://{s3_bucket}/big/")
    assert first["status"] == "succeeded", first
    assert first["counts"] == {"listed": 1200, "imported": 1200, "already_present": 0, "failed": 0}
    assert first["requests"] <= 2 * 1200  # header reads only: about one ranged GET per file
    assets = all_assets(api, s3["project"])
    assert len(assets) == 1200
    assert {(a["width"], a["height"], a["media_kind"]) for a in assets} == {(5, 4, "image")}
    assert all(a["location"].startswith(f"s3://{s3_bucket}/big/") for a in assets)

    second = run(api, worker, s3, source=f"s3://{s3_bucket}/big/")
    assert second["counts"] == {"listed": 1200, "imported": 0, "already_present": 1200, "failed": 0}
    assert second["requests"] == 0
    assert len(all_assets(api, s3["project"])) == 1200


def test_odd_keys_round_trip_exactly_to_a_valid_signed_url(
    api: TestClient,
    worker: InlineBackend,
    s3: dict[str, str],
    s3_bucket: str,
    seed_objects: Callable[..., None],
) -> None:
    contents = {key: png(index + 1, 3) for index, key in enumerate(ODD_KEYS)}
    seed_objects(s3_bucket, contents)
    job = run(api, worker, s3, source=f"s3://{s3_bucket}/odd/")
    assert job["counts"]["imported"] == len(ODD_KEYS), job
    assets = {asset["key"]: asset for asset in all_assets(api, s3["project"])}
    assert sorted(assets) == sorted(ODD_KEYS)
    for key, data in contents.items():
        asset = assets[key]
        assert asset["location"] == f"s3://{s3_bucket}/{key}"
        signed = api.get(f"/v1/assets/{asset['id']}/url").json()
        expires_at = datetime.fromisoformat(signed["expires_at"])
        assert timedelta(minutes=14) < expires_at - datetime.now(UTC) <= timedelta(minutes=15)
        grant = verify_presigned_url(
            signed["url"], secret_key=TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]
        )
        assert grant.method == "GET" and grant.path == f"/{s3_bucket}/{key}"
        response = httpx.get(signed["url"])
        assert response.status_code == 200, (key, response.text)
        assert response.content == data, key


def test_signed_urls_expire_after_the_configured_ttl(
    api: TestClient,
    worker: InlineBackend,
    s3: dict[str, str],
    s3_bucket: str,
    seed_objects: Callable[..., None],
) -> None:
    seed_objects(s3_bucket, {"a/x.jpg": jpeg()})
    run(api, worker, s3, source=f"s3://{s3_bucket}/a/")
    [asset] = all_assets(api, s3["project"])
    url = api.get(f"/v1/assets/{asset['id']}/url").json()["url"]
    secret = TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]
    verify_presigned_url(url, secret_key=secret, now=datetime.now(UTC) + timedelta(minutes=14))
    with pytest.raises(URLExpired):
        verify_presigned_url(url, secret_key=secret, now=datetime.now(UTC) + timedelta(minutes=16))


def test_source_files_with_a_missing_file_on_s3(
    api: TestClient,
    worker: InlineBackend,
    s3: dict[str, str],
    s3_bucket: str,
    seed_objects: Callable[..., None],
) -> None:
    seed_objects(s3_bucket, {"d/a.png": png(), "d/b.png": png(), "d/c.png": png()})
    job = run(
        api,
        worker,
        s3,
        source=f"s3://{s3_bucket}/d/",
        source_files=["a.png", f"s3://{s3_bucket}/d/c.png", "gone.png"],
    )
    assert job["counts"] == {"listed": 3, "imported": 2, "already_present": 0, "failed": 1}
    [failure] = api.get(f"/v1/imports/{job['id']}/failures").json()["items"]
    assert failure["location"] == f"s3://{s3_bucket}/d/gone.png"
    assert failure["code"] == "object_not_found"


def test_an_unknown_bucket_fails_the_import_with_a_clear_error(
    api: TestClient, worker: InlineBackend, s3: dict[str, str]
) -> None:
    job = run(api, worker, s3, source="s3://no-such-bucket-here/x/")
    assert job["status"] == "failed"
    assert job["error"]["error"] == "bucket_not_found"
    assert "no-such-bucket-here" in job["error"]["detail"]
    assert job["error"]["fix"]


def test_verify_through_the_api_reports_missing_cors_with_the_fix(
    api: TestClient, s3: dict[str, str], s3_bucket: str, seed_objects: Callable[..., None]
) -> None:
    seed_objects(s3_bucket, {"v/a.png": png()})
    result = api.post(
        f"/v1/connections/{s3['connection']}/verify", json={"source": f"s3://{s3_bucket}/v/"}
    ).json()
    assert result["ok"] is False
    checks = {check["name"]: check for check in result["checks"]}
    assert checks["list prefix"]["ok"] and checks["signed URL"]["ok"]
    cors = checks["bucket CORS"]
    assert cors["ok"] is False
    assert "http://portal.insitu.test:8080" in cors["fix"]
    assert "put-bucket-cors" in cors["fix"]


def test_cors_endpoint_gives_rules_for_the_portal_origins(api: TestClient) -> None:
    body = api.get("/v1/cors", params={"provider": "s3"}).json()
    assert body["origins"] == ["http://portal.insitu.test:8080"]
    [rule] = body["rules"]["CORSRules"]
    assert rule["AllowedOrigins"] == ["http://portal.insitu.test:8080"]
    assert set(rule["AllowedMethods"]) == {"GET", "HEAD"}
    assert "aws s3api put-bucket-cors" in body["command"]
