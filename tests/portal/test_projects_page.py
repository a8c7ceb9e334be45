"""The Projects page: the list, the Create project dialog, and what another org sees."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from playwright.sync_api import expect

from tests.conftest import Org
from tests.fixtures.browser import PHONE, accessibility_problems, screenshot
from tests.portal.conftest import sign_in


def test_create_project_dialog_starts_from_the_orgs_self_host_default(
    portal_url: str, new_page: Callable[..., Any], org: Org, api: TestClient
) -> None:
    api.patch("/v1/organization", json={"self_host_default": True})
    page = new_page()
    sign_in(page, portal_url, org.key)
    expect(page.get_by_role("heading", name="No projects yet")).to_be_visible()
    screenshot(page, "projects-empty")

    page.get_by_role("button", name="Create project").first.click()
    dialog = page.get_by_role("dialog", name="Create project")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Self-host my cloud data")).to_be_checked()
    assert accessibility_problems(page) == []
    dialog.get_by_label("Name").fill("Chest X-rays")
    dialog.get_by_role("button", name="Create project").click()
    expect(page.get_by_role("heading", name="Chest X-rays")).to_be_visible()
    expect(page.get_by_role("link", name="Data Imports")).to_have_attribute("aria-current", "page")

    api.patch("/v1/organization", json={"self_host_default": False})
    page.goto(portal_url + "/projects")
    page.get_by_role("button", name="Create project").click()
    expect(dialog.get_by_label("Self-host my cloud data")).not_to_be_checked()
    dialog.get_by_label("Name").fill("Street scenes")
    dialog.get_by_role("button", name="Create project").click()
    created = {p["name"]: p["self_hosted"] for p in api.get("/v1/projects").json()}
    assert created == {"Chest X-rays": True, "Street scenes": False}


def test_projects_are_listed_newest_first_with_their_asset_counts(
    portal_url: str, new_page: Callable[..., Any], org: Org, api: TestClient
) -> None:
    for name in ("First", "Second", "Third"):
        api.post("/v1/projects", json={"name": name})
    page = new_page()
    sign_in(page, portal_url, org.key)
    rows = page.get_by_role("row")
    expect(rows).to_have_count(4)
    names = [rows.nth(i).get_by_role("cell").first.inner_text() for i in (1, 2, 3)]
    assert names == ["Third", "Second", "First"]
    expect(rows.nth(1).get_by_role("cell").nth(1)).to_have_text("Hosted")
    expect(rows.nth(1).get_by_role("cell").nth(2)).to_have_text("0")
    assert accessibility_problems(page) == []
    screenshot(page, "projects")


def test_an_empty_name_is_explained_in_the_dialog(
    portal_url: str, new_page: Callable[..., Any], org: Org
) -> None:
    page = new_page()
    sign_in(page, portal_url, org.key)
    page.get_by_role("button", name="Create project").first.click()
    dialog = page.get_by_role("dialog", name="Create project")
    dialog.get_by_label("Name").fill("   ")
    dialog.get_by_role("button", name="Create project").click()
    expect(page.get_by_role("dialog", name="Create project")).to_be_visible()
    expect(page.get_by_role("dialog").get_by_role("alert")).to_contain_text("name")


def test_another_orgs_project_is_a_not_found_page(
    portal_url: str,
    new_page: Callable[..., Any],
    org: Org,
    other_org: Org,
    client: TestClient,
) -> None:
    theirs = client.post("/v1/projects", json={"name": "Secret"}, headers=other_org.headers).json()
    page = new_page()
    sign_in(page, portal_url, org.key)
    response = page.goto(f"{portal_url}/projects/{theirs['id']}/imports")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    expect(page.locator("body")).not_to_contain_text("Secret")
    missing = page.goto(f"{portal_url}/no/such/page")
    assert missing is not None and missing.status == 404
    expect(page.get_by_role("link", name="Back to your projects")).to_be_visible()
    screenshot(page, "not-found")


def test_the_projects_page_works_on_a_phone(
    portal_url: str, new_page: Callable[..., Any], org: Org, api: TestClient
) -> None:
    api.post("/v1/projects", json={"name": "Retina scans"})
    page = new_page(PHONE)
    sign_in(page, portal_url, org.key)
    expect(page.get_by_role("link", name="Retina scans")).to_be_visible()
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "the page scrolls sideways on a phone"
    screenshot(page, "projects-phone")
