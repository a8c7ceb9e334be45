"""A local file cannot run as a page of insitu's origin (issue 10, finding 3).

The attack: a customer's directory holds ``x.html`` (or an SVG) with a script; insitu imports
it as text and serves it from its own origin, where the script would run with insitu's
cookies and reach its API.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from fastapi.testclient import TestClient

from insitu.db import session_scope
from insitu.jobs.inline import InlineBackend
from insitu.security import Signer
from insitu.storage.local import url_signer
from tests.conftest import OPERATOR
from tests.images import png

SCRIPT = b"<html><body><script>fetch('/v1/organization')</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.domain)</script></svg>'


@pytest.fixture
def files(data_root: Path) -> Path:
    folder = data_root / "site"
    folder.mkdir()
    (folder / "x.html").write_bytes(SCRIPT)
    (folder / "x.txt").write_bytes(SCRIPT)
    (folder / "x.svg").write_bytes(SVG)
    (folder / "a.png").write_bytes(png(4, 3))
    return folder


@pytest.fixture
def served(api: TestClient, worker: InlineBackend, files: Path) -> dict[str, Any]:
    """Every file imported: its asset by name, the project and the connection."""
    connection = api.post(
        "/v1/connections",
        json={"provider": "local", "settings": {"root": str(files)}},
        headers=OPERATOR,
    ).json()
    project = api.post("/v1/projects", json={"name": "site"}).json()
    job = api.post(
        f"/v1/projects/{project['id']}/imports",
        json={"source": f"file://{files}/", "connection_id": connection["id"]},
    ).json()
    worker.join()
    assets = api.get(f"/v1/projects/{project['id']}/assets").json()["items"]
    by_name = {Path(asset["key"]).name: asset for asset in assets}
    return {"assets": by_name, "project": project, "connection": connection, "job": job}


def url_of(api: TestClient, asset: dict[str, Any]) -> str:
    return str(api.get(f"/v1/assets/{asset['id']}/url").json()["url"])


def fetch(api: TestClient, url: str, method: str = "GET") -> Any:
    return api.request(method, url, headers={"Authorization": ""})


def test_html_is_downloaded_never_rendered(api: TestClient, served: dict[str, Any]) -> None:
    served_assets = served["assets"]
    for name in ("x.html", "x.txt", "x.svg"):
        if name not in served_assets:
            continue  # a file the import refused is never served at all
        response = fetch(api, url_of(api, served_assets[name]))
        assert response.status_code == 200, (name, response.text)
        assert response.headers["content-disposition"].startswith("attachment"), name
        assert response.headers["content-security-policy"] == "sandbox"
        assert response.headers["x-content-type-options"] == "nosniff"
    assert "x.html" in served_assets or "x.txt" in served_assets  # the attack was possible


def test_an_html_file_is_an_attachment_even_with_a_valid_signature(
    api: TestClient, served: dict[str, Any], files: Path, settings: Any
) -> None:
    """Whatever the import made of it, a signed URL to HTML never renders it."""
    from insitu.assets.models import Asset

    with session_scope() as session:
        asset = session.get_one(Asset, served["assets"]["a.png"]["id"])
        asset.key = str(files / "x.html").lstrip("/")  # as if x.html were an asset
        key = asset.key
    expires = str(int(time.time()) + 60)
    signature = url_signer(settings).signature(served["connection"]["id"], key, expires)
    url = (
        f"/v1/local/{served['connection']['id']}/{quote(key)}"
        f"?expires={expires}&signature={signature}"
    )
    response = fetch(api, url)
    assert response.status_code == 200
    assert response.content == SCRIPT
    assert response.headers["content-disposition"] == 'attachment; filename="x.html"'
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == "sandbox"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_images_the_portal_shows_are_inline_but_still_sandboxed(
    api: TestClient, served: dict[str, Any]
) -> None:
    url = url_of(api, served["assets"]["a.png"])
    for method in ("GET", "HEAD"):
        response = fetch(api, url, method)
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"
        assert response.headers["content-disposition"] == 'inline; filename="a.png"'
        assert response.headers["content-security-policy"] == "sandbox"
        assert response.headers["x-content-type-options"] == "nosniff"


def test_a_removed_assets_url_stops_working(api: TestClient, served: dict[str, Any]) -> None:
    asset = served["assets"]["a.png"]
    url = url_of(api, asset)
    assert fetch(api, url).status_code == 200
    from insitu.assets.models import REMOVED, Asset
    from insitu.db import utcnow

    with session_scope() as session:  # as canceling the data, or the file's deletion, does
        row = session.get_one(Asset, asset["id"])
        row.status, row.removed_at, row.removal_reason = REMOVED, utcnow(), "canceled"
    gone = fetch(api, url)
    assert gone.status_code == 404
    assert gone.json()["error"] == "not_found" and "removed" in gone.json()["detail"]


def test_a_signed_url_to_a_file_that_is_no_asset_serves_nothing(
    api: TestClient, served: dict[str, Any], files: Path, settings: Any
) -> None:
    """A valid signature alone (say, from verify) does not make any file servable."""
    (files / "secret.png").write_bytes(png())
    key = str(files / "secret.png").lstrip("/")
    expires = str(int(time.time()) + 60)
    signature = url_signer(settings).signature(served["connection"]["id"], key, expires)
    url = f"/v1/local/{served['connection']['id']}/{quote(key)}?expires={expires}"
    response = fetch(api, f"{url}&signature={signature}")
    assert response.status_code == 404
    assert not Signer.expired(int(expires))


@pytest.mark.parametrize("damage", ["deleted", "directory", "unreadable_name"])
def test_a_broken_file_behind_a_valid_url_is_a_4xx_json_error(
    api: TestClient, served: dict[str, Any], files: Path, damage: str
) -> None:
    asset = served["assets"]["a.png"]
    url = url_of(api, asset)
    path = files / "a.png"
    path.unlink()
    if damage == "directory":
        path.mkdir()
    elif damage == "unreadable_name":
        os.symlink("x" * 300, path)  # a name too long for any file system to open
    response = fetch(api, url)
    assert 400 <= response.status_code < 500, response.text
    body = response.json()
    assert body["error"] and body["detail"] and body["fix"]


def test_an_over_long_key_is_a_4xx_json_error(
    api: TestClient, served: dict[str, Any], files: Path, settings: Any
) -> None:
    from insitu.assets.models import Asset

    key = str(files / ("y" * 300 + ".png")).lstrip("/")
    with session_scope() as session:
        session.get_one(Asset, served["assets"]["a.png"]["id"]).key = key
    expires = str(int(time.time()) + 60)
    signature = url_signer(settings).signature(served["connection"]["id"], key, expires)
    path = urlsplit(f"http://x/v1/local/{served['connection']['id']}/{quote(key)}").path
    response = fetch(api, f"{path}?expires={expires}&signature={signature}")
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["fix"]
