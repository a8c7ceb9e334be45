"""A project manager's first session, all in the browser: from sign-in to an image loaded
from the customer's bucket in the Assets tab, and the same bucket without its CORS rules."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect

from tests.conftest import Org
from tests.images import png
from tests.portal.conftest import sign_in
from tests.portal.test_data_imports import allow_cors


def first_import_through_the_portal(page: Any, portal_url: str, key: str, source: str) -> Any:
    """Sign in, create a project, Add Data from S3 with a new connection, Verify access and
    Import; returns the Verify access result."""
    sign_in(page, portal_url, key)
    page.get_by_role("button", name="Create project").first.click()
    dialog = page.get_by_role("dialog", name="Create project")
    dialog.get_by_label("Name").fill("Street scenes")
    dialog.get_by_role("button", name="Create project").click()
    page.get_by_role("link", name="Add Data").click()
    page.get_by_role("link", name=re.compile("Amazon S3")).click()
    page.get_by_label("Connection name").fill("Street bucket")
    page.get_by_role("button", name="Create connection").click()
    expect(page.get_by_role("radio", name=re.compile("Street bucket"))).to_be_checked()
    page.get_by_label("Absolute path").fill(source)
    page.get_by_role("button", name="Verify access").click()
    result = page.locator("#verify-result")
    expect(result.get_by_role("heading")).to_contain_text("checks")
    verified = result.inner_text()
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#progress-summary")).to_contain_text("succeeded", timeout=15_000)
    return verified


def test_from_sign_in_to_an_image_loaded_from_the_bucket(
    portal_url: str,
    new_page: Callable[..., Any],
    org: Org,
    aws_env: str,
    s3_client: Any,
    s3_bucket: str,
    seed_objects: Callable[..., None],
) -> None:
    seed_objects(s3_bucket, {"street/crossing.png": png(13, 7, (40, 120, 200))})
    allow_cors(s3_client, s3_bucket, portal_url)
    page = new_page()
    verified = first_import_through_the_portal(
        page, portal_url, org.key, f"s3://{s3_bucket}/street/"
    )
    assert "checks passed" in verified
    expect(page.locator("#progress-summary")).to_contain_text("1 imported")

    page.get_by_role("link", name="Assets").click()
    image = page.get_by_role("img", name="crossing.png")
    expect(image).to_have_attribute("crossorigin", "anonymous")
    page.wait_for_function("img => img.complete", arg=image.element_handle())
    assert image.evaluate("img => img.naturalWidth") == 13
    expect(page.locator(".tile-failed:visible")).to_have_count(0)


def test_without_cors_verify_says_so_and_the_image_does_not_load(
    portal_url: str,
    new_page: Callable[..., Any],
    org: Org,
    aws_env: str,
    s3_bucket: str,
    seed_objects: Callable[..., None],
) -> None:
    seed_objects(s3_bucket, {"street/crossing.png": png(13, 7, (40, 120, 200))})
    page = new_page()
    verified = first_import_through_the_portal(
        page, portal_url, org.key, f"s3://{s3_bucket}/street/"
    )
    assert "1 of" in verified and "checks failed" in verified
    assert "no CORS rules" in verified and "put-bucket-cors" in verified

    page.get_by_role("link", name="Assets").click()
    image = page.locator("img[alt='crossing.png']")  # hidden once it failed: no role then
    page.wait_for_function("img => img.complete", arg=image.element_handle())
    assert image.evaluate("img => img.naturalWidth") == 0
    expect(page.locator(".tile-failed:visible")).to_contain_text("check the bucket's CORS rules")
