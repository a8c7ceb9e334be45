"""Organization Settings: the self-host default switch, the portal origins, the connections."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from playwright.sync_api import expect

from tests.conftest import PORTAL_ORIGIN, Org
from tests.fixtures.browser import PHONE, accessibility_problems, screenshot
from tests.portal.conftest import sign_in


def test_the_self_host_switch_sets_the_default_of_new_projects(
    portal_url: str, new_page: Callable[..., Any], org: Org, api: TestClient
) -> None:
    page = new_page()
    sign_in(page, portal_url, org.key)
    page.get_by_role("link", name="Organization Settings").click()
    expect(page.get_by_role("heading", name="Organization Settings")).to_be_visible()
    switch = page.get_by_role("switch", name="Self-host new projects' data by default")
    expect(switch).not_to_be_checked()

    switch.check()
    expect(page.get_by_role("status").filter(has_text="Saved: on")).to_be_visible()
    assert api.get("/v1/organization").json()["self_host_default"] is True
    page.reload()
    expect(switch).to_be_checked()
    created = api.post("/v1/projects", json={"name": "Scans"}).json()
    assert created["self_hosted"] is True

    switch.uncheck()
    expect(page.get_by_role("status").filter(has_text="Saved: off")).to_be_visible()
    assert api.get("/v1/organization").json()["self_host_default"] is False


def test_settings_show_the_portal_origins_and_the_connections(
    portal_url: str, new_page: Callable[..., Any], org: Org, api: TestClient
) -> None:
    page = new_page()
    sign_in(page, portal_url, org.key, path="/settings")
    origins = page.get_by_role("region", name="Portal origins")
    expect(origins.get_by_role("listitem")).to_have_text([f"{PORTAL_ORIGIN} Copy {PORTAL_ORIGIN}"])
    connections = page.get_by_role("region", name="Connections")
    expect(connections).to_contain_text("No connections yet")

    made = api.post(
        "/v1/connections",
        json={"provider": "s3", "name": "Scans bucket", "settings": {"region": "eu-west-1"}},
    )
    assert made.status_code == 201, made.text
    page.reload()
    row = connections.get_by_role("row").filter(has_text="Scans bucket")
    expect(row).to_contain_text("s3")
    expect(row).to_contain_text("eu-west-1")
    expect(row).to_contain_text(made.json()["id"])
    assert accessibility_problems(page) == []
    screenshot(page, "organization-settings")

    phone = new_page(PHONE)
    sign_in(phone, portal_url, org.key, path="/settings")
    expect(phone.get_by_role("heading", name="Organization Settings")).to_be_visible()
    width = phone.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "Organization Settings scrolls sideways on a phone"
    screenshot(phone, "organization-settings-phone")


def test_the_switch_refuses_a_request_without_the_sessions_token(
    portal_url: str, new_page: Callable[..., Any], org: Org, api: TestClient
) -> None:
    page = new_page()
    sign_in(page, portal_url, org.key, path="/settings")
    forged = page.request.post(
        f"{portal_url}/settings/self-host", form={"self_host_default": "true"}, max_redirects=0
    )
    assert forged.status == 403
    assert api.get("/v1/organization").json()["self_host_default"] is False
