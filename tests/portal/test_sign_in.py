"""Signing in to the portal with an API key, the session it makes, and its limits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from fastapi.testclient import TestClient
from playwright.sync_api import expect

from tests.conftest import Org
from tests.fixtures.browser import accessibility_problems, screenshot
from tests.portal.conftest import sign_in


def test_home_shows_sign_in_and_then_the_organizations_projects(
    portal_url: str, new_page: Callable[..., Any], org: Org
) -> None:
    page = new_page()
    page.goto(portal_url + "/")
    expect(page.get_by_role("heading", name="Sign in to insitu")).to_be_visible()
    assert accessibility_problems(page) == []
    screenshot(page, "sign-in")

    sign_in(page, portal_url, org.key)
    expect(page.get_by_role("heading", name="Projects", exact=True)).to_be_visible()
    sidebar = page.get_by_role("navigation", name="Portal")
    expect(sidebar).to_contain_text("acme")
    expect(sidebar.get_by_role("link", name="Organization Settings")).to_be_visible()


def test_a_wrong_key_is_refused_with_what_to_do_and_audited(
    portal_url: str, new_page: Callable[..., Any], org: Org, api: TestClient
) -> None:
    page = new_page()
    sign_in(page, portal_url, "not-a-key")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("The API key is unknown or revoked")
    expect(page.get_by_label("API key")).to_be_visible()
    screenshot(page, "sign-in-refused")


def test_a_labeler_key_cannot_sign_in(
    portal_url: str, new_page: Callable[..., Any], api: TestClient
) -> None:
    labeler = api.post("/v1/api-keys", json={"name": "tool", "scope": "labeler"}).json()["secret"]
    page = new_page()
    sign_in(page, portal_url, labeler)
    expect(page.get_by_role("alert")).to_contain_text("This is a labeler key")
    expect(page.get_by_role("heading", name="Projects", exact=True)).to_have_count(0)


def test_signing_in_and_out_is_audited(
    portal_url: str, new_page: Callable[..., Any], org: Org, api: TestClient
) -> None:
    page = new_page()
    sign_in(page, portal_url, org.key)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to insitu")).to_be_visible()
    page.goto(portal_url + "/projects")
    expect(page.get_by_role("heading", name="Sign in to insitu")).to_be_visible()
    actions = [event["action"] for event in api.get("/v1/audit").json()["items"]]
    assert actions[:2] == ["portal.signed_out", "portal.signed_in"]


def test_a_revoked_key_ends_its_session_and_sign_in_returns_to_the_page(
    portal_url: str, new_page: Callable[..., Any], org: Org, api: TestClient
) -> None:
    second = api.post("/v1/api-keys", json={"name": "pm", "scope": "admin"}).json()
    page = new_page()
    sign_in(page, portal_url, second["secret"])
    project = api.post("/v1/projects", json={"name": "Scans"}).json()
    page.goto(f"{portal_url}/projects/{project['id']}/imports")
    expect(page.get_by_role("heading", name="Scans")).to_be_visible()

    api.delete(f"/v1/api-keys/{second['id']}")
    page.reload()
    expect(page.get_by_role("heading", name="Sign in to insitu")).to_be_visible()
    sign_in(page, portal_url, org.key, path=page.url.removeprefix(portal_url))
    expect(page.get_by_role("heading", name="Scans")).to_be_visible()
    assert page.url == f"{portal_url}/projects/{project['id']}/imports"


def test_the_session_cookie_is_signed_http_only_and_lax(client: TestClient, org: Org) -> None:
    https = TestClient(client.app, base_url="https://testserver")
    form = https.get("/sign-in")
    token = _csrf(form.text)
    response = https.post(
        "/sign-in", data={"api_key": org.key, "csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" in cookie
    assert org.key not in cookie

    forged = cookie.split(";")[0].replace("insitu_session=", "")[:-4] + "AAAA"
    https.cookies.clear()
    https.cookies.set("insitu_session", forged)
    assert https.get("/projects", follow_redirects=False).headers["location"] == (
        "/sign-in?next=/projects"
    )


def test_sign_in_never_sends_anyone_to_another_site(client: TestClient, org: Org) -> None:
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        token = _csrf(client.get("/sign-in").text)
        response = client.post(
            "/sign-in",
            data={"api_key": org.key, "csrf_token": token, "next": target},
            follow_redirects=False,
        )
        assert response.headers["location"] == "/"


def test_a_form_without_its_csrf_token_is_refused(client: TestClient, org: Org) -> None:
    token = _csrf(client.get("/sign-in").text)
    client.post("/sign-in", data={"api_key": org.key, "csrf_token": token})
    refused = client.post("/projects", data={"name": "sneaky"}, headers={"accept": "text/html"})
    assert refused.status_code == 403
    assert "not sent by an insitu page" in refused.text
    other_token = client.post(
        "/projects", data={"name": "sneaky", "csrf_token": token}, follow_redirects=False
    )
    # The sign-in made a new token: the one from before it is worth nothing now.
    assert other_token.status_code == 403
    assert client.get("/v1/projects", headers={"Authorization": f"Bearer {org.key}"}).json() == []


def test_sign_in_without_its_csrf_token_is_refused(client: TestClient, org: Org) -> None:
    response = client.post("/sign-in", data={"api_key": org.key}, follow_redirects=False)
    assert response.status_code == 403
    assert "set-cookie" not in response.headers or "insitu_session" not in str(
        httpx.Headers(response.headers).get_list("set-cookie")
    )


def _csrf(html: str) -> str:
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def test_signing_out_ends_the_session_for_every_copy_of_its_cookie(
    client: TestClient, org: Org
) -> None:
    token = _csrf(client.get("/sign-in").text)
    client.post("/sign-in", data={"api_key": org.key, "csrf_token": token})
    copied = client.cookies.get("insitu_session")
    assert client.get("/projects", follow_redirects=False).status_code == 200
    page = client.get("/projects").text
    client.post("/sign-out", data={"csrf_token": _csrf(page)}, follow_redirects=False)

    client.cookies.clear()
    client.cookies.set("insitu_session", copied)
    response = client.get("/projects", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=/projects"
