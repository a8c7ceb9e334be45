"""A local directory, end to end through the API: connect, verify, import, sign, serve."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from fastapi.testclient import TestClient

from insitu.imports.models import SUCCEEDED
from insitu.jobs.inline import InlineBackend
from tests.conftest import OPERATOR
from tests.images import png


@pytest.fixture
def images(data_root: Path) -> Path:
    folder = data_root / "cats"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.png").write_bytes(png(4, 3))
    (folder / "sub" / "b c+d.png").write_bytes(png(7, 5))
    return folder


def connect(api: TestClient, root: Path) -> dict[str, Any]:
    response = api.post(
        "/v1/connections",
        json={"provider": "local", "settings": {"root": str(root)}},
        headers=OPERATOR,
    )
    assert response.status_code == 201, response.text
    return response.json()


def run_import(api: TestClient, worker: InlineBackend, body: dict) -> dict[str, Any]:
    project = api.post("/v1/projects", json={"name": "p"}).json()
    response = api.post(f"/v1/projects/{project['id']}/imports", json=body)
    assert response.status_code == 202, response.text
    worker.join()
    return api.get(f"/v1/imports/{response.json()['id']}").json() | {"project_id": project["id"]}


@pytest.fixture
def imported(api: TestClient, worker: InlineBackend, images: Path) -> dict[str, Any]:
    """The images imported from their directory: the finished job and its assets."""
    connection = connect(api, images)
    job = run_import(
        api, worker, {"source": f"file://{images}/", "connection_id": connection["id"]}
    )
    assets = api.get(f"/v1/projects/{job['project_id']}/assets").json()["items"]
    return {"job": job, "assets": assets, "asset": assets[0]}


def test_local_connection_outside_the_allowed_roots_is_refused(
    api: TestClient, tmp_path: Path
) -> None:
    response = api.post(
        "/v1/connections",
        json={"provider": "local", "settings": {"root": str(tmp_path)}},
        headers=OPERATOR,
    )
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_configuration"
    assert "INSITU_LOCAL_ROOTS" in response.json()["fix"]


def test_verify_passes_every_check_for_a_readable_directory(api: TestClient, images: Path) -> None:
    connection = connect(api, images)
    result = api.post(
        f"/v1/connections/{connection['id']}/verify", json={"source": f"file://{images}/"}
    ).json()
    assert result["ok"] is True, result
    assert [check["name"] for check in result["checks"]] == [
        "directory",
        "list prefix",
        "head object",
        "ranged read",
        "signed URL",
        "bucket CORS",
    ]


def test_verify_refuses_a_source_outside_the_connection(
    api: TestClient, images: Path, data_root: Path
) -> None:
    (data_root / "secret").mkdir()
    (data_root / "secret" / "x.png").write_bytes(png())
    connection = connect(api, images)
    result = api.post(
        f"/v1/connections/{connection['id']}/verify", json={"source": f"file://{data_root}/secret/"}
    ).json()
    assert result["ok"] is False
    listing = next(check for check in result["checks"] if check["name"] == "list prefix")
    assert "outside the connection's directory" in listing["detail"]


def test_prefix_import_records_dimensions_and_serves_signed_urls(
    api: TestClient, imported: dict[str, Any], images: Path
) -> None:
    job, assets = imported["job"], imported["assets"]
    assert job["status"] == SUCCEEDED
    assert job["counts"] == {"listed": 2, "imported": 2, "already_present": 0, "failed": 0}
    by_key = {Path(asset["key"]).name: asset for asset in assets}
    assert (by_key["a.png"]["width"], by_key["a.png"]["height"]) == (4, 3)
    assert (by_key["b c+d.png"]["width"], by_key["b c+d.png"]["height"]) == (7, 5)
    assert by_key["b c+d.png"]["location"] == f"file://{images}/sub/b c+d.png"

    signed = api.get(f"/v1/assets/{by_key['b c+d.png']['id']}/url").json()
    served = api.get(signed["url"], headers={"Authorization": ""})
    assert served.status_code == 200
    assert served.content == (images / "sub" / "b c+d.png").read_bytes()
    assert served.headers["x-content-type-options"] == "nosniff"
    head = api.head(signed["url"], headers={"Authorization": ""})
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(served.content))


def test_local_file_urls_refuse_tampering_and_expiry(
    api: TestClient, imported: dict[str, Any]
) -> None:
    asset = imported["asset"]
    url = urlsplit(api.get(f"/v1/assets/{asset['id']}/url").json()["url"])
    query = {key: values[0] for key, values in parse_qs(url.query).items()}

    other_file = url.path.rsplit("/", 1)[0] + "/other.png"
    assert api.get(f"{other_file}?{url.query}").status_code == 403
    later = {**query, "expires": str(int(query["expires"]) + 3600)}
    assert api.get(f"{url.path}?{urlencode(later)}").status_code == 403
    expired = {**query, "expires": "1000000000"}
    assert api.get(f"{url.path}?{urlencode(expired)}").status_code == 403
    assert api.get(f"{url.path}?{url.query}").status_code == 200


def test_symlinks_out_of_the_connection_are_not_imported(
    api: TestClient, worker: InlineBackend, images: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.png"
    outside.write_bytes(png())
    os.symlink(outside, images / "escape.png")
    connection = connect(api, images)
    job = run_import(
        api,
        worker,
        {
            "source": f"file://{images}/",
            "connection_id": connection["id"],
            "source_files": ["escape.png"],
        },
    )
    assert job["counts"]["imported"] == 0 and job["counts"]["failed"] == 1
    failure = api.get(f"/v1/imports/{job['id']}/failures").json()["items"][0]
    assert failure["code"] == "access_denied"
    assert "outside the connection's directory" in failure["message"]


def test_a_name_too_long_for_a_file_is_its_own_failure_not_an_internal_error(
    api: TestClient, worker: InlineBackend, images: Path
) -> None:
    """The store's InvalidLocation reaches the failure list with its reason and fix."""
    connection = connect(api, images)
    too_long = "n" * 300 + ".png"  # one name past the 255 bytes file systems allow
    job = run_import(
        api,
        worker,
        {
            "source": f"file://{images}/",
            "connection_id": connection["id"],
            "source_files": ["a.png", too_long],
        },
    )
    assert job["status"] == "succeeded", job
    assert job["counts"]["imported"] == 1 and job["counts"]["failed"] == 1
    failure = api.get(f"/v1/imports/{job['id']}/failures").json()["items"][0]
    assert failure["location"].endswith(too_long)
    assert failure["code"] == "invalid_location"
    assert "longer than a file name or path may be" in failure["message"]
    assert failure["fix"] and "send the server log" not in failure["fix"]


def test_a_url_needs_a_live_key_of_the_assets_org(
    api: TestClient, imported: dict[str, Any], org
) -> None:  # type: ignore[no-untyped-def]
    from insitu.db import session_scope
    from insitu.organizations import service as organizations
    from insitu.organizations.models import ApiKey

    asset = imported["asset"]
    path = f"/v1/assets/{asset['id']}/url"
    assert api.get(path, headers={"Authorization": ""}).json()["error"] == "unauthenticated"
    assert api.get("/v1/assets/nope/url").status_code == 404
    with session_scope() as session:
        for key in session.query(ApiKey).filter_by(org_id=org.id):
            organizations.revoke_api_key(session, api_key=key)
    refused = api.get(path)
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_every_signed_url_is_on_the_audit_trail_even_under_concurrency(
    api: TestClient, imported: dict[str, Any], org
) -> None:  # type: ignore[no-untyped-def]
    from concurrent.futures import ThreadPoolExecutor

    from insitu.db import session_scope
    from insitu.organizations.models import ApiKey

    asset = imported["asset"]
    with ThreadPoolExecutor(8) as pool:
        urls = list(pool.map(lambda _: api.get(f"/v1/assets/{asset['id']}/url").json(), range(24)))
    trail = api.get(f"/v1/assets/{asset['id']}/url-issues", params={"limit": 1000}).json()
    assert len(trail["items"]) == 24 and trail["next"] is None
    with session_scope() as session:
        [key] = session.query(ApiKey).filter_by(org_id=org.id).all()
    assert {item["api_key_id"] for item in trail["items"]} == {key.id}
    issued = sorted(item["expires_at"][:19] for item in trail["items"])
    returned = sorted(url["expires_at"][:19] for url in urls)
    assert issued == returned


def test_only_the_operator_may_connect_a_local_directory(api: TestClient, images: Path) -> None:
    body = {"provider": "local", "settings": {"root": str(images)}}
    refused = api.post("/v1/connections", json=body)
    assert refused.status_code == 403 and refused.json()["error"] == "operator_only"
    assert str(images) not in refused.text  # nothing about the server's disks leaks
    wrong = api.post("/v1/connections", json=body, headers={"X-Insitu-Operator-Key": "guess"})
    assert wrong.status_code == 403
    assert api.post("/v1/connections", json=body, headers=OPERATOR).status_code == 201


def test_an_org_admin_renames_a_local_connection_but_only_the_operator_moves_its_root(
    api: TestClient, data_root: Path
) -> None:
    (data_root / "elsewhere").mkdir()
    connection = connect(api, data_root)
    path = f"/v1/connections/{connection['id']}"
    same = {"name": "Scanner share", "settings": {"root": connection["settings"]["root"]}}
    renamed = api.patch(path, json=same)
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Scanner share"

    moved = api.patch(path, json={"settings": {"root": str(data_root / "elsewhere")}})
    assert moved.status_code == 403, moved.text
    assert "only the platform operator" in moved.json()["detail"]
    assert api.get(path).json()["settings"] == connection["settings"]
    by_operator = api.patch(
        path, json={"settings": {"root": str(data_root / "elsewhere")}}, headers=OPERATOR
    )
    assert by_operator.status_code == 200, by_operator.text
    assert by_operator.json()["settings"]["root"] == str(data_root / "elsewhere")
