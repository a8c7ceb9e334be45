"""Organization Settings: the self-host default switch, the portal origins, the connections."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from playwright.sync_api import expect

from tests.conftest import OPERATOR, Org
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


def test_each_providers_card_fills_its_documents_as_the_admin_types(
    portal_url: str, new_page: Callable[..., Any], org: Org, api: TestClient
) -> None:
    page = new_page()
    sign_in(page, portal_url, org.key, path="/settings")
    origins = page.get_by_role("region", name="Portal origins")
    expect(origins.get_by_role("listitem")).to_have_text([f"{portal_url} Copy {portal_url}"])
    cards = api.get("/v1/organization/s3").json(), api.get("/v1/organization/gcs").json()
    for card in cards:
        expect(page.get_by_role("region", name=card["title"])).to_be_visible()

    s3 = page.get_by_role("region", name=cards[0]["title"])
    external_id = next(f["value"] for f in cards[0]["facts"] if f["name"] == "external_id")
    expect(s3.get_by_role("definition").filter(has_text=external_id)).to_be_visible()
    command = s3.locator("pre").filter(has_text="put-bucket-cors")
    expect(command).to_contain_text("--bucket BUCKET")
    s3.get_by_label("Bucket names").fill("street-scenes, night-shots")
    expect(command).to_contain_text("--bucket street-scenes")
    expect(command).to_contain_text("--bucket night-shots")
    expect(s3.get_by_role("definition").filter(has_text=external_id)).to_be_visible()
    assert accessibility_problems(page) == []
    screenshot(page, "organization-settings")

    with page.expect_download() as download:
        s3.get_by_role("link", name="Download cors.json").click()
    saved = download.value
    assert saved.suggested_filename == "cors.json"
    assert portal_url in Path(saved.path()).read_text()

    s3.get_by_label("Bucket names").fill("not a bucket!")
    expect(s3.get_by_role("alert")).to_contain_text("is not a valid bucket")

    azure = page.get_by_role("region", name="Azure")
    expect(azure.get_by_role("link", name="Connect to Azure")).to_have_attribute(
        "href", "/settings/azure/actions/connect"
    )


def test_each_card_lists_its_connections_with_their_last_verify(
    portal_url: str,
    new_page: Callable[..., Any],
    org: Org,
    api: TestClient,
    aws_env: str,
    s3_bucket: str,
) -> None:
    made = api.post(
        "/v1/connections",
        json={"provider": "s3", "name": "Scans bucket", "settings": {"region": "us-east-1"}},
    )
    assert made.status_code == 201, made.text
    page = new_page()
    sign_in(page, portal_url, org.key, path="/settings")
    s3 = page.get_by_role("region", name="Amazon S3")
    row = s3.get_by_role("row").filter(has_text="Scans bucket")
    expect(row).to_contain_text("Never verified")
    expect(row).to_contain_text("Not checked (not in use)")  # no assets: no health yet

    verified = api.post(
        f"/v1/connections/{made.json()['id']}/verify", json={"source": f"s3://{s3_bucket}/"}
    ).json()
    assert verified["ok"] is False  # an empty bucket: nothing to list yet
    failed = next(check for check in verified["checks"] if not check["ok"])
    page.reload()
    expect(row).to_contain_text("failed")
    expect(row).to_contain_text(f"s3://{s3_bucket}/")
    expect(row).to_contain_text(f"{failed['name']}: {failed['fix']}")

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


def test_the_servers_directories_show_only_to_an_org_the_operator_connected_one_for(
    client: TestClient, org: Org, data_root: Path
) -> None:
    from tests.portal.test_sign_in import _csrf

    client.post("/sign-in", data={"api_key": org.key, "csrf_token": _csrf(client.get("/").text)})
    page = client.get("/settings").text
    assert "Amazon S3 Integration" in page
    assert "Local directory" not in page and str(data_root) not in page

    connected = client.post(
        "/v1/connections",
        json={"provider": "local", "name": "NAS", "settings": {"root": str(data_root)}},
        headers={**OPERATOR, **org.headers},
    )
    assert connected.status_code == 201, connected.text
    page = client.get("/settings").text
    assert "Local directory" in page and str(data_root) in page


QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/insitu-events"


def test_an_admin_edits_a_connection_in_place_and_secrets_left_empty_are_kept(
    portal_url: str, new_page: Callable[..., Any], org: Org, api: TestClient
) -> None:
    created = api.post(
        "/v1/connections",
        json={
            "provider": "s3",
            "name": "Scans bucket",
            "settings": {
                "access_key_id": "AKIAOLDKEY",
                "secret_access_key": "old-secret",
                "events": {"sqs_queue_url": QUEUE},
            },
        },
    ).json()
    assert created["settings"]["events"] == {"sqs_queue_url": QUEUE}, created
    assert created["secrets_stored"] == ["access_key_id", "secret_access_key"]
    assert "old-secret" not in str(created) and "AKIAOLDKEY" not in str(created)
    page = new_page()
    sign_in(page, portal_url, org.key, path="/settings")
    page.get_by_role("link", name="Edit Scans bucket").click()
    expect(page.get_by_role("heading", name="Edit connection “Scans bucket”")).to_be_visible()
    expect(page.get_by_label("Region")).to_have_value("us-east-1")
    secret = page.get_by_label("Secret access key")
    expect(secret).to_have_value("")
    expect(secret).to_have_attribute("placeholder", "Stored")
    expect(page.locator(".help", has_text="One is stored (never shown)")).to_have_count(2)
    expect(page.get_by_label("Events")).to_have_count(0)  # set through the API; kept

    page.get_by_label("Connection name").fill("Scans (EU)")
    page.get_by_label("Region").fill("eu-west-1")
    page.get_by_role("button", name="Save and check access").click()
    expect(page.get_by_role("status").filter(has_text="Saved.")).to_contain_text("not in use")
    assert accessibility_problems(page) == []
    screenshot(page, "connection-edit")
    shown = api.get(f"/v1/connections/{created['id']}").json()
    assert (shown["name"], shown["settings"]["region"]) == ("Scans (EU)", "eu-west-1")
    assert shown["settings"]["events"] == {"sqs_queue_url": QUEUE}
    [audited] = api.get("/v1/audit", params={"action": "connection.updated"}).json()["items"]
    assert audited["details"]["changed"] == ["name", "region"]  # the keys and queue were kept

    page.get_by_label("Mode").select_option("customer_role")
    page.get_by_role("button", name="Save and check access").click()
    alert = page.get_by_role("alert").filter(has_text="The connection was not saved")
    expect(alert).to_contain_text("role_arn")
    expect(page.get_by_label("Region")).to_have_value("eu-west-1")  # what was typed, kept
    assert api.get(f"/v1/connections/{created['id']}").json()["settings"]["mode"] == (
        "platform_role"
    )
    assert api.get(f"/v1/connections/{created['id']}").json()["secrets_stored"] == [
        "access_key_id", "secret_access_key",
    ]  # fmt: skip

    # A connection that holds no keys does not claim to keep any.
    keyless = api.post("/v1/connections", json={"provider": "s3", "name": "Role only"}).json()
    assert keyless["secrets_stored"] == []
    page.goto(f"{portal_url}/connections/{keyless['id']}/edit")
    expect(page.get_by_label("Secret access key")).to_have_attribute("placeholder", "Not set")
    expect(page.get_by_text("One is stored")).to_have_count(0)
