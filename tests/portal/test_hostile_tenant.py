"""A second organization, signed in to the portal, reaching for the first one's data.

Every project, import, connection and asset id of org A is sent through org B's session, in
pages and in forms; none is shown, changed or used, and no page says whose it is.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from insitu.jobs.inline import InlineBackend
from tests.api.test_local_provider import connect
from tests.conftest import Org
from tests.images import png

HTML = {"accept": "text/html"}


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def signed_in(client: TestClient, key: str) -> tuple[TestClient, str]:
    """A browser of its own (its own cookies), signed in with ``key``, and its CSRF token."""
    browser = TestClient(client.app)
    token = csrf(browser.get("/sign-in").text)
    response = browser.post(
        "/sign-in", data={"api_key": key, "csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    return browser, csrf(browser.get("/projects").text)


@pytest.fixture
def org_a(api: TestClient, worker: InlineBackend, data_root: Path) -> dict[str, Any]:
    """Org A ("acme"): a local connection, a project "Secret scans" and an import's assets."""
    folder = data_root / "scans"
    folder.mkdir()
    for n in range(2):
        (folder / f"{n}.png").write_bytes(png(4 + n, 3))
    connection = connect(api, data_root)
    project = api.post("/v1/projects", json={"name": "Secret scans"}).json()
    job = api.post(
        f"/v1/projects/{project['id']}/imports",
        json={"source": f"file://{folder}/", "connection_id": connection["id"]},
    ).json()
    worker.join()
    assets = api.get(f"/v1/projects/{project['id']}/assets").json()["items"]
    assert len(assets) == 2
    return {
        "connection": connection,
        "project": project,
        "job": job,
        "assets": assets,
        "folder": str(folder),
    }


def _says_nothing_of_a(response: Any, org_a: dict[str, Any], *, typed: bool = False) -> None:
    """No name, id or path of A's; a form may show again what B typed (A's ids and path)."""
    secrets = ["Secret scans", "acme"]
    if not typed:
        secrets += [org_a["folder"], org_a["connection"]["id"]]
    for secret in secrets:
        assert secret not in response.text, (secret, response.request.url, response.text[:300])
    assert "Traceback" not in response.text


def test_org_b_cannot_open_any_page_of_org_a(
    api: TestClient, org_a: dict[str, Any], other_org: Org
) -> None:
    browser, _ = signed_in(api, other_org.key)
    mine = api.post("/v1/projects", json={"name": "mine"}, headers=other_org.headers).json()
    a, b = org_a["project"]["id"], mine["id"]
    job = org_a["job"]["id"]
    for path in [
        f"/projects/{a}",
        f"/projects/{a}/imports",
        f"/projects/{a}/imports/new?provider=local",
        f"/projects/{a}/imports/{job}",
        f"/projects/{a}/imports/{job}/progress",
        f"/projects/{a}/assets",
        f"/projects/{a}/assets?status=removed",
        f"/projects/{a}/sync",
        # A's import through B's own project
        f"/projects/{b}/imports/{job}",
        f"/projects/{b}/imports/{job}/progress",
    ]:
        response = browser.get(path, headers=HTML, follow_redirects=False)
        assert response.status_code == 404, (path, response.status_code)
        _says_nothing_of_a(response, org_a)
    # The 404 of A's connection names only the id B typed in the address.
    edit = browser.get(f"/connections/{org_a['connection']['id']}/edit", headers=HTML)
    assert edit.status_code == 404
    _says_nothing_of_a(edit, org_a, typed=True)
    # B's own pages list nothing of A's.
    for path in ["/projects", f"/projects/{b}/assets", "/settings"]:
        response = browser.get(path, headers=HTML)
        assert response.status_code == 200
        _says_nothing_of_a(response, org_a)


def test_org_b_cannot_use_org_a_ids_in_its_own_forms(
    api: TestClient, org_a: dict[str, Any], other_org: Org, worker: InlineBackend
) -> None:
    browser, token = signed_in(api, other_org.key)
    mine = api.post("/v1/projects", json={"name": "mine"}, headers=other_org.headers).json()
    b = mine["id"]
    a_conn, a_job = org_a["connection"]["id"], org_a["job"]["id"]
    a_assets = [asset["id"] for asset in org_a["assets"]]
    source = f"file://{org_a['folder']}/"

    def post(path: str, data: dict[str, Any]) -> Any:
        response = browser.post(
            path, data={**data, "csrf_token": token}, headers=HTML, follow_redirects=False
        )
        _says_nothing_of_a(response, org_a, typed=True)
        return response

    for provider in ("local", "s3"):
        started = post(
            f"/projects/{b}/imports",
            {"connection_id": a_conn, "source": source, "provider": provider},
        )
        assert started.status_code in (404, 422), started.text
    verify = {"connection_id": a_conn, "source": source}
    verified = post(f"/projects/{b}/imports/new/verify", verify)
    assert verified.status_code == 404
    removed = post(f"/projects/{b}/assets/remove", {"asset_ids": a_assets})
    assert removed.headers["location"].endswith("done=removed&count=0")
    assert post(f"/projects/{b}/assets/{a_assets[0]}/restore", {}).status_code == 404
    canceled = post(f"/projects/{b}/imports/{a_job}/cancel", {"remove_assets": "true"})
    assert canceled.status_code == 404
    assert post(f"/projects/{org_a['project']['id']}/sync", {}).status_code == 404
    renamed = post(f"/connections/{a_conn}/edit", {"name": "taken", "setting__root": "/"})
    assert renamed.status_code == 404
    worker.join()

    # A's data is as it was: every asset in circulation, the import finished, no reconcile.
    a = org_a["project"]["id"]
    assert api.get(f"/v1/connections/{a_conn}").json()["name"] == org_a["connection"]["name"]
    statuses = {x["status"] for x in api.get(f"/v1/projects/{a}/assets").json()["items"]}
    assert statuses == {"active"}
    assert api.get(f"/v1/imports/{a_job}").json()["status"] == "succeeded"
    assert api.get(f"/v1/projects/{a}/reconciles").json()["items"] == []
    # and B got nothing of it.
    assert api.get(f"/v1/projects/{b}/imports", headers=other_org.headers).json()["items"] == []
    assert api.get(f"/v1/projects/{b}/assets", headers=other_org.headers).json()["items"] == []


def test_org_b_cannot_connect_a_directory_from_the_portal(
    api: TestClient, other_org: Org, data_root: Path
) -> None:
    browser, token = signed_in(api, other_org.key)
    mine = api.post("/v1/projects", json={"name": "mine"}, headers=other_org.headers).json()
    response = browser.post(
        f"/projects/{mine['id']}/imports/new/connections",
        data={"csrf_token": token, "provider": "local", "root": str(data_root), "new_name": "x"},
        headers=HTML,
    )
    assert response.status_code == 404
    assert api.get("/v1/connections", headers=other_org.headers).json() == []


def test_a_csrf_token_works_only_with_the_session_it_was_made_for(
    api: TestClient, org: Org, other_org: Org
) -> None:
    a_browser, a_token = signed_in(api, org.key)
    b_browser, b_token = signed_in(api, other_org.key)
    # A's page token in B's session, and B's in A's: both refused, nothing created.
    for browser, token in ((b_browser, a_token), (a_browser, b_token)):
        refused = browser.post(
            "/projects", data={"name": "forged", "csrf_token": token}, headers=HTML
        )
        assert refused.status_code == 403
        refused = browser.post(
            "/projects", data={"name": "forged"}, headers={**HTML, "X-CSRF-Token": token}
        )
        assert refused.status_code == 403
    for key in (org, other_org):
        assert api.get("/v1/projects", headers=key.headers).json() == []


def test_a_cross_site_post_without_the_token_is_refused_whatever_it_claims(
    api: TestClient, org: Org
) -> None:
    browser, _ = signed_in(api, org.key)
    attempts = [
        {"data": {"name": "evil"}, "headers": {"HX-Request": "true"}},
        {"data": {"name": "evil", "csrf_token": ""}, "headers": {}},
        {"content": "name=evil&csrf_token=x", "headers": {"content-type": "text/plain"}},
        {"data": {"name": "evil"}, "headers": {"X-CSRF-Token": ""}},
    ]
    for attempt in attempts:
        headers = {**HTML, "Origin": "https://evil.example", **attempt.pop("headers")}
        response = browser.post("/projects", headers=headers, **attempt)
        assert response.status_code == 403, response.text
    assert api.get("/v1/projects", headers=org.headers).json() == []


def test_routes_that_change_something_refuse_get(api: TestClient, org: Org) -> None:
    browser, _ = signed_in(api, org.key)
    project = api.post("/v1/projects", json={"name": "p"}, headers=org.headers).json()
    p = project["id"]
    for path in [
        "/sign-out",
        "/settings/self-host?self_host_default=false",
        f"/projects/{p}/assets/remove?asset_ids=x",
        f"/projects/{p}/imports/new/connections",
        f"/projects/{p}/imports/new/verify",
    ]:
        response = browser.get(path, headers=HTML, follow_redirects=False)
        assert response.status_code == 405, (path, response.status_code)
    # Still signed in, nothing changed.
    assert browser.get("/projects", follow_redirects=False).status_code == 200
    assert api.get(f"/v1/projects/{p}/reconciles", headers=org.headers).json()["items"] == []


@pytest.mark.parametrize(
    "target",
    [
        "/%2F%2Fevil.example/",
        "/\\/evil.example/",
        "/\t/evil.example/",
        "javascript:alert(1)",
        "https:evil.example",
        " //evil.example",
        "\\\\evil.example",
    ],
)
def test_the_next_parameter_never_leaves_the_site(api: TestClient, org: Org, target: str) -> None:
    browser = TestClient(api.app)
    page = browser.get("/sign-in", params={"next": target})
    assert "javascript:" not in page.text
    response = browser.post(
        "/sign-in",
        data={"api_key": org.key, "csrf_token": csrf(page.text), "next": target},
        follow_redirects=False,
    )
    location = response.headers["location"]
    # A path on this server: no scheme, no host, and nothing a browser reads as one.
    parts = urlsplit(location)
    assert parts.scheme == "" and parts.netloc == "", location
    assert location.startswith("/") and not location.startswith(("//", "/\\")), location
    # Already signed in, the sign-in page sends one on at once, just as safely.
    again = browser.get("/sign-in", params={"next": target}, follow_redirects=False)
    assert again.headers["location"] == location


def test_the_session_cookie_names_no_org_and_no_key(api: TestClient, org: Org) -> None:
    browser, _ = signed_in(api, org.key)
    cookie = browser.cookies.get("insitu_session") or ""
    assert cookie and org.key not in cookie and org.id not in cookie
