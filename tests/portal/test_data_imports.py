"""The Data Imports tab: Add Data, Verify access, Import, live progress, failures, Cancel.

Real Chromium on a live insitu, against a moto S3 bucket. The live server's own URL is the
portal origin, so Verify access checks the bucket's CORS for it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect
from sqlalchemy import update

from insitu.db import session_scope, utcnow
from insitu.imports.models import ImportJob
from insitu.jobs import task
from insitu.jobs.inline import InlineBackend
from insitu.storage.registry import get_provider
from tests.conftest import OPERATOR, Org
from tests.fixtures.browser import PHONE, accessibility_problems, screenshot
from tests.images import png
from tests.media.media_files import FFMPEG, ffmpeg
from tests.portal.conftest import sign_in

# The worker runs one task at a time: while it holds this, imports wait "queued".
HOLD = threading.Event()


@task("tests.portal.hold_worker")
def _hold_worker() -> None:
    HOLD.wait(30)


@pytest.fixture
def held(worker: InlineBackend) -> Iterator[Callable[[], None]]:
    """Keep every worker thread busy until the returned function is called (or the test ends)."""
    HOLD.clear()
    for _ in range(worker.threads):
        worker.send("tests.portal.hold_worker", {})
    yield HOLD.set
    HOLD.set()


@pytest.fixture
def live(portal_url: str, aws_env: str) -> str:
    return portal_url


def allow_cors(s3_client: Any, bucket: str, origin: str) -> None:
    rules = get_provider("s3").cors_advice([origin]).rules
    s3_client.put_bucket_cors(Bucket=bucket, CORSConfiguration=rules)


def connect_s3(api: TestClient) -> str:
    response = api.post("/v1/connections", json={"provider": "s3", "name": "scans", "settings": {}})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def import_folder(api: TestClient, bucket: str, folder: str) -> tuple[str, dict[str, Any]]:
    """A project named after ``folder`` and an import of ``s3://bucket/folder/`` into it,
    through an S3 connection: (project ID, import)."""
    connection = connect_s3(api)
    project = api.post("/v1/projects", json={"name": folder.capitalize()}).json()
    job = api.post(
        f"/v1/projects/{project['id']}/imports",
        json={"source": f"s3://{bucket}/{folder}/", "connection_id": connection},
    ).json()
    return project["id"], job


def test_add_data_from_s3_verify_import_and_watch_it_finish_without_a_reload(
    live: str,
    new_page: Callable[..., Any],
    org: Org,
    api: TestClient,
    s3_client: Any,
    s3_bucket: str,
    seed_objects: Callable[..., None],
    held: Callable[[], None],
) -> None:
    seed_objects(s3_bucket, {f"scans/{n}.png": png(10 + n, 8) for n in range(3)})
    allow_cors(s3_client, s3_bucket, live)
    project = api.post("/v1/projects", json={"name": "Scans"}).json()
    page = new_page()
    sign_in(page, live, org.key, path=f"/projects/{project['id']}/imports")

    page.get_by_role("link", name="Add Data").click()
    expect(page.get_by_role("heading", name="Where are the files?")).to_be_visible()
    providers = page.locator(".provider-choice strong").all_inner_texts()
    assert providers == ["Amazon S3", "Azure", "Google Cloud"]  # no local connection: no directory
    assert accessibility_problems(page) == []
    screenshot(page, "data-imports-add-data")

    page.get_by_role("link", name=re.compile("Amazon S3")).click()
    expect(page.get_by_text("New connection")).to_be_visible()
    assert accessibility_problems(page) == []
    page.get_by_label("Connection name").fill("Scans bucket")
    page.get_by_role("button", name="Create connection").click()
    expect(page.get_by_role("radio", name=re.compile("Scans bucket"))).to_be_checked()
    expect(page.get_by_role("radio", name=re.compile("Scans bucket"))).to_be_focused()
    screenshot(page, "data-imports-connection")

    page.get_by_label("Absolute path").fill(f"s3://{s3_bucket}/scans/")
    page.get_by_role("button", name="Verify access").click()
    result = page.locator("#verify-result")
    expect(result.get_by_role("heading")).to_contain_text("checks passed")
    statuses = result.locator(".check .status").all_inner_texts()
    # Development mode reaches the bucket as insitu's shared identity: said, not failed.
    assert statuses and set(statuses) == {"passed", "warning"}, statuses
    expect(result.locator(".check", has_text="Tenant isolation").locator(".status")).to_have_text(
        "warning"
    )
    expect(result).to_contain_text("Bucket CORS")
    assert accessibility_problems(page) == []
    screenshot(page, "data-imports-verify-passed")

    page.get_by_role("button", name="Import").click()
    expect(page).to_have_url(re.compile(r"/imports/[0-9a-f]{32}$"))
    summary = page.locator("#progress-summary")
    expect(summary).to_contain_text("queued")
    page.evaluate("window.stillTheSamePage = true")
    held()
    expect(summary).to_contain_text("3 imported", timeout=10_000)
    expect(summary).to_contain_text("succeeded")
    expect(summary).to_contain_text("0 failed")
    assert page.evaluate("window.stillTheSamePage") is True  # updated in place, not reloaded
    expect(page.get_by_text("No file failed.")).to_be_visible()
    expect(page.get_by_role("button", name="Cancel")).to_have_count(0)

    page.get_by_role("link", name="All imports").click()
    row = page.get_by_role("row").nth(1)
    expect(row).to_contain_text(f"s3://{s3_bucket}/scans/")
    expect(row).to_contain_text("succeeded")
    for action in ("connection.created", "connection.verified", "import.created"):
        [audited] = api.get("/v1/audit", params={"action": action}).json()["items"]
        assert audited["actor"] == org_key_id(api), action
        assert "Chrome" in (audited["user_agent"] or ""), action  # the person, from the portal


def org_key_id(api: TestClient) -> str:
    [key] = api.get("/v1/api-keys").json()
    return str(key["id"])


def test_verify_shows_the_missing_cors_rule_failing_with_its_fix(
    live: str,
    new_page: Callable[..., Any],
    org: Org,
    api: TestClient,
    s3_bucket: str,
    seed_objects: Callable[..., None],
) -> None:
    seed_objects(s3_bucket, {"scans/a.png": png()})
    connect_s3(api)
    project = api.post("/v1/projects", json={"name": "Scans"}).json()
    page = new_page()
    sign_in(page, live, org.key, path=f"/projects/{project['id']}/imports/new?provider=s3")

    page.get_by_label("Absolute path").fill(f"s3://{s3_bucket}/scans/")
    page.get_by_role("button", name="Verify access").click()
    result = page.locator("#verify-result")
    expect(result.get_by_role("heading")).to_contain_text("1 of")
    expect(result.get_by_role("heading")).to_be_focused()
    cors = result.locator(".check", has_text="Bucket CORS")
    expect(cors.locator(".status")).to_have_text("failed")
    expect(cors.locator("pre")).to_contain_text("put-bucket-cors")
    expect(cors.get_by_role("button", name="Copy the fix for bucket CORS")).to_be_visible()
    statuses = set(result.locator(".check .status").all_inner_texts())
    assert statuses == {"passed", "warning", "failed"}
    assert accessibility_problems(page) == []
    screenshot(page, "data-imports-verify-failed")


def test_a_bad_path_is_explained_in_the_page_and_nothing_typed_is_lost(
    live: str, new_page: Callable[..., Any], org: Org, api: TestClient
) -> None:
    connect_s3(api)
    project = api.post("/v1/projects", json={"name": "Scans"}).json()
    page = new_page(PHONE)
    sign_in(page, live, org.key, path=f"/projects/{project['id']}/imports/new?provider=s3")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.get_by_label("Absolute path").fill("gs://somewhere-else/scans/")
    page.get_by_role("button", name="Verify access").click()
    expect(page.locator("#verify-result").get_by_role("alert")).to_contain_text("is a gcs location")

    page.get_by_label("Absolute path").fill("s3://Bad_Bucket/scans/")
    page.get_by_text("Only specific files").click()
    page.get_by_label("Files to import, one per line").fill("a.png\nb.png")
    page.get_by_role("button", name="Import").click()
    alert = page.locator("#import-error")
    expect(alert).to_contain_text("not a valid S3 bucket name")
    expect(alert).to_be_focused()
    expect(page.get_by_label("Absolute path")).to_have_value("s3://Bad_Bucket/scans/")
    expect(page.get_by_label("Files to import, one per line")).to_have_value("a.png\nb.png")
    expect(page.get_by_role("radio", name=re.compile("scans"))).to_be_checked()
    assert "Traceback" not in page.content()
    assert accessibility_problems(page) == []
    screenshot(page, "data-imports-error-phone")


def test_an_hevc_video_fails_with_the_ffmpeg_command_in_the_failures_table(
    live: str,
    new_page: Callable[..., Any],
    org: Org,
    api: TestClient,
    worker: InlineBackend,
    s3_bucket: str,
    seed_objects: Callable[..., None],
    tmp_path: Path,
) -> None:
    ffmpeg(tmp_path / "hevc.mp4", FFMPEG["hevc.mp4"])
    seed_objects(
        s3_bucket,
        {"clips/holiday.mp4": (tmp_path / "hevc.mp4").read_bytes(), "clips/frame.png": png()},
    )
    project, job = import_folder(api, s3_bucket, "clips")
    worker.join()
    page = new_page()
    sign_in(page, live, org.key, path=f"/projects/{project}/imports/{job['id']}")

    expect(page.locator("#progress-summary")).to_contain_text("1 imported")
    expect(page.locator("#progress-summary")).to_contain_text("1 failed")
    row = page.locator("table.failures tbody tr")
    expect(row).to_have_count(1)
    file = row.get_by_role("cell").first.locator("code")
    expect(file).to_have_text("holiday.mp4")  # under the source the heading names
    expect(file).to_have_attribute("title", f"s3://{s3_bucket}/clips/holiday.mp4")
    expect(row).to_contain_text("unsupported_video_codec")
    expect(row.locator("pre")).to_contain_text("ffmpeg")
    expect(row.get_by_role("button", name=re.compile("Copy the fix"))).to_be_visible()
    assert accessibility_problems(page) == []
    screenshot(page, "data-imports-finished-with-failures")
    phone = new_page(PHONE)
    sign_in(phone, live, org.key, path=f"/projects/{project}/imports/{job['id']}")
    expect(phone.locator("table.failures")).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(phone, "data-imports-failures-phone")


def test_cancel_a_waiting_import_and_remove_its_assets(
    live: str,
    new_page: Callable[..., Any],
    org: Org,
    api: TestClient,
    s3_bucket: str,
    seed_objects: Callable[..., None],
    held: Callable[[], None],
) -> None:
    seed_objects(s3_bucket, {"scans/a.png": png()})
    project, job = import_folder(api, s3_bucket, "scans")
    page = new_page()
    sign_in(page, live, org.key, path=f"/projects/{project}/imports/{job['id']}")
    expect(page.locator("#progress-summary")).to_contain_text("queued")
    screenshot(page, "data-imports-in-progress")

    page.get_by_role("button", name="Cancel", exact=True).click()
    dialog = page.get_by_role("dialog", name="Cancel this import?")
    expect(dialog).to_be_visible()
    assert accessibility_problems(page) == []
    dialog.get_by_label("Also remove its assets").check()
    dialog.get_by_role("button", name="Cancel import").click()
    expect(page.locator("#progress-summary")).to_contain_text("canceled")
    expect(page.get_by_role("button", name="Cancel", exact=True)).to_have_count(0)
    held()
    read = api.get(f"/v1/imports/{job['id']}").json()
    assert read["status"] == "canceled"
    assert read["counts"]["imported"] == 0
    [audited] = api.get("/v1/audit", params={"action": "import.canceled"}).json()["items"]
    assert audited["details"]["was"] == "queued"


def test_a_listing_waiting_out_a_throttled_store_says_so_until_it_lists_again(
    live: str,
    new_page: Callable[..., Any],
    org: Org,
    api: TestClient,
    s3_bucket: str,
    seed_objects: Callable[..., None],
    held: Callable[[], None],
) -> None:
    seed_objects(s3_bucket, {"scans/a.png": png(), "scans/b.png": png(3, 2)})
    project, job = import_folder(api, s3_bucket, "scans")
    throttled = {
        "error": "storage_throttled",
        "detail": f"listing s3://{s3_bucket}/scans/: the store kept throttling after 10 attempts "
        "over 40.2 s (SlowDown); the listing goes on trying (3 of 12 tries failed)",
        "fix": "nothing is lost: try it again later (an import requeues the batch); if it keeps "
        "happening, lower INSITU_STORE_MAX_IN_FLIGHT or INSITU_IMPORT_CONCURRENCY, or ask the "
        "store's owner for a higher request rate",
    }
    with session_scope() as session:  # where a lister leaves an import the store throttles
        session.execute(
            update(ImportJob)
            .where(ImportJob.id == job["id"])
            .values(status="running", started_at=utcnow(), heartbeat_at=utcnow(), error=throttled)
        )
    page = new_page()
    sign_in(page, live, org.key, path=f"/projects/{project}/imports/{job['id']}")
    notice = page.get_by_role("status").filter(has_text="Waiting for the store:")
    expect(notice).to_contain_text("the store kept throttling after 10 attempts")
    expect(notice).to_contain_text("lower INSITU_STORE_MAX_IN_FLIGHT")
    expect(page.get_by_text("The import stopped")).to_have_count(0)
    assert accessibility_problems(page) == []
    screenshot(page, "data-imports-waiting-for-the-store")

    held()  # a worker takes the listing up again, and the store answers this time
    expect(page.locator("#progress-summary")).to_contain_text("succeeded", timeout=20_000)
    expect(notice).to_have_count(0)
    read = api.get(f"/v1/imports/{job['id']}").json()
    assert (read["error"], read["warning"], read["counts"]["imported"]) == (None, None, 2)


def test_another_orgs_session_cannot_reach_the_imports_and_forms_need_their_token(
    live: str,
    new_page: Callable[..., Any],
    org: Org,
    other_org: Org,
    api: TestClient,
    worker: InlineBackend,
    s3_bucket: str,
) -> None:
    connection = connect_s3(api)
    project = api.post("/v1/projects", json={"name": "Scans"}).json()
    job = api.post(
        f"/v1/projects/{project['id']}/imports",
        json={"source": f"s3://{s3_bucket}/scans/", "connection_id": connection},
    ).json()
    worker.join()
    base = f"/projects/{project['id']}/imports"
    page = new_page()
    sign_in(page, live, other_org.key)
    for path in (base, f"{base}/new", f"{base}/{job['id']}", f"{base}/{job['id']}/progress"):
        response = page.goto(live + path)
        assert response is not None and response.status == 404, path
        expect(page.get_by_role("heading", name="Page not found")).to_be_visible()

    # The other org's own project, with the first org's connection: not found either.
    page.goto(live + "/projects")
    page.get_by_role("button", name="Create project").first.click()
    page.get_by_role("dialog").get_by_label("Name").fill("Theirs")
    page.get_by_role("dialog").get_by_role("button", name="Create project").click()
    theirs = page.url.rsplit("/", 2)[-2]
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    form = {"csrf_token": token, "connection_id": connection, "source": f"s3://{s3_bucket}/"}
    verify = page.request.post(f"{live}/projects/{theirs}/imports/new/verify", form=form)
    assert verify.status == 404
    started = page.request.post(f"{live}/projects/{theirs}/imports", form=form | {"provider": "s3"})
    assert started.status == 404
    cancel = page.request.post(f"{live}{base}/{job['id']}/cancel", form={"csrf_token": token})
    assert cancel.status == 404

    # Signed in as the owner, but without the session's CSRF token: refused.
    owner = new_page()
    sign_in(owner, live, org.key)
    no_token = owner.request.post(
        f"{live}{base}/new/connections", form={"provider": "s3", "new_name": "sneaky"}
    )
    assert no_token.status == 403
    assert [c["name"] for c in api.get("/v1/connections").json()] == ["scans"]
    assert httpx.get(live + base, follow_redirects=False).status_code == 303


def test_a_local_directory_is_offered_only_once_the_operator_connected_one(
    live: str,
    new_page: Callable[..., Any],
    org: Org,
    api: TestClient,
    data_root: Path,
    worker: InlineBackend,
) -> None:
    (data_root / "cats").mkdir()
    (data_root / "cats" / "tom.png").write_bytes(png(9, 7))
    project = api.post("/v1/projects", json={"name": "Cats"}).json()
    page = new_page()
    sign_in(page, live, org.key, path=f"/projects/{project['id']}/imports/new")
    expect(page.get_by_role("link", name=re.compile("Local directory"))).to_have_count(0)
    response = page.goto(live + f"/projects/{project['id']}/imports/new?provider=local")
    assert response is not None and response.status == 404

    connected = api.post(
        "/v1/connections",
        json={"provider": "local", "name": "NAS", "settings": {"root": str(data_root)}},
        headers=OPERATOR,
    )
    assert connected.status_code == 201, connected.text
    page.goto(live + f"/projects/{project['id']}/imports/new")
    page.get_by_role("link", name=re.compile("Local directory")).click()
    expect(page.get_by_role("radio", name=re.compile("NAS"))).to_be_checked()
    expect(page.get_by_text("New connection")).to_have_count(0)  # only the operator makes one
    page.get_by_label("Absolute path").fill(f"file://{data_root}/cats/")
    page.get_by_role("button", name="Verify access").click()
    expect(page.locator("#verify-result").get_by_role("heading")).to_contain_text("checks passed")
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#progress-summary")).to_contain_text("1 imported", timeout=10_000)


def test_each_providers_fields_and_verify_button_come_from_the_provider(
    live: str, new_page: Callable[..., Any], org: Org, api: TestClient
) -> None:
    project = api.post("/v1/projects", json={"name": "Scans"}).json()
    page = new_page()
    sign_in(page, live, org.key, path=f"/projects/{project['id']}/imports/new")
    page.get_by_role("link", name=re.compile("Google Cloud")).click()
    expect(page.get_by_role("button", name="Verify GCS access")).to_be_visible()
    expect(page.get_by_label(re.compile("Billing project"))).to_have_value("")
    expect(page.get_by_text("roles/storage.objectViewer")).to_be_visible()
    assert accessibility_problems(page) == []

    page.get_by_role("link", name="Choose another provider").click()
    page.get_by_role("link", name=re.compile("Azure")).click()
    expect(page.get_by_role("button", name="Verify access")).to_be_visible()
    page.get_by_label("Connection name").fill("Lab storage")
    page.get_by_label("Storage account URL").fill("http://labstorage.blob.core.windows.net")
    page.get_by_label("Tenant ID").fill("not-a-tenant")
    page.get_by_label("Absolute path").fill("az://labstorage/scans/")
    page.get_by_role("button", name="Create connection").click()
    alert = page.locator("#connection-step").get_by_role("alert")
    expect(alert).to_contain_text("The connection was not created")
    expect(alert).to_contain_text("HTTPS")
    expect(alert).to_be_focused()
    expect(page.get_by_label("Connection name")).to_have_value("Lab storage")
    expect(page.get_by_label("Tenant ID")).to_have_value("not-a-tenant")
    expect(page.get_by_label("Absolute path")).to_have_value("az://labstorage/scans/")
    assert api.get("/v1/connections").json() == []

    page.get_by_label("Storage account URL").fill("https://labstorage.blob.core.windows.net")
    page.get_by_label("Tenant ID").fill("72f988bf-86f1-41af-91ab-2d7cd011db47")
    page.get_by_role("button", name="Create connection").click()
    expect(page.locator("#connection-step").get_by_role("alert")).to_contain_text("tenant")
