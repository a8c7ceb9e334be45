"""The Assets tab: files loaded straight from a moto bucket in Chromium, removing and restoring
them, Sync now, and what another org (or a forged form) gets."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import update

from insitu.connections.models import Connection
from insitu.db import session_scope, utcnow
from insitu.jobs.inline import InlineBackend
from tests.conftest import Org
from tests.fixtures.browser import PHONE, accessibility_problems, screenshot
from tests.images import jpeg, png
from tests.media.media_files import H264, VIDEO, ffmpeg
from tests.portal.conftest import sign_in


@pytest.fixture
def live_url(portal_url: str) -> str:
    return portal_url


@pytest.fixture
def http(live_url: str, org: Org) -> Iterator[httpx.Client]:
    """The API of the live server, as ``org``'s admin key."""
    with httpx.Client(base_url=live_url, headers=org.headers, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A one-second 160x120 H.264 MP4, its index first (as a browser streams it)."""
    path: Path = tmp_path_factory.mktemp("video") / "clip.mp4"
    ffmpeg(path, [*VIDEO, *H264, "-an", "-movflags", "+faststart"])
    return path.read_bytes()


@dataclass
class Imported:
    project: str
    assets: dict[str, str]  # file name -> asset id


@pytest.fixture
def import_files(
    http: httpx.Client,
    worker: InlineBackend,
    aws_env: str,
    s3_bucket: str,
    seed_objects: Callable[..., None],
) -> Callable[[dict[str, bytes]], Imported]:
    """Seed ``files`` under ``data/`` in the moto bucket and import them through the API."""

    def run(files: dict[str, bytes]) -> Imported:
        seed_objects(s3_bucket, {f"data/{name}": body for name, body in files.items()})
        connection = http.post("/v1/connections", json={"provider": "s3", "settings": {}})
        assert connection.status_code == 201, connection.text
        project = http.post(
            "/v1/projects", json={"name": "Street scenes", "self_hosted": True}
        ).json()
        started = http.post(
            f"/v1/projects/{project['id']}/imports",
            json={"source": f"s3://{s3_bucket}/data/", "connection_id": connection.json()["id"]},
        )
        assert started.status_code == 202, started.text
        worker.join()
        items = http.get(f"/v1/projects/{project['id']}/assets").json()["items"]
        assert len(items) == len(files), items
        return Imported(project["id"], {a["location"].rpartition("/")[2]: a["id"] for a in items})

    return run


def apply_cors(http: httpx.Client, s3_client: Any, bucket: str) -> None:
    """The bucket CORS rules insitu generates for its portal origins, applied as told."""
    rules = http.get("/v1/cors", params={"provider": "s3"}).json()["rules"]
    s3_client.put_bucket_cors(Bucket=bucket, CORSConfiguration=rules)


def tile(page: Any, name: str) -> Any:
    return page.get_by_role("listitem").filter(has_text=name)


def csrf_token(page: Any) -> str:
    token: str = page.locator("input[name='csrf_token']").first.get_attribute("value")
    return token


FILES = {
    "crossing.png": png(13, 7, (40, 120, 200)),
    "harbour.jpg": jpeg(640, 480),
    "night.png": png(320, 240, (30, 30, 60)),
    "notes.txt": b"two cyclists waiting at the lights\n",
}


def test_files_load_from_the_bucket_in_the_assets_tab_when_its_cors_allows_the_portal(
    live_url: str,
    http: httpx.Client,
    org: Org,
    new_page: Callable[..., Any],
    import_files: Callable[[dict[str, bytes]], Imported],
    s3_client: Any,
    s3_bucket: str,
    aws_env: str,
    clip: bytes,
) -> None:
    imported = import_files({**FILES, "clip.mp4": clip})
    apply_cors(http, s3_client, s3_bucket)
    page = new_page()
    sign_in(page, live_url, org.key)
    response = page.goto(f"{live_url}/projects/{imported.project}/assets")
    assert response is not None and response.ok

    # The page may load media from the bucket's origin, and from nowhere else.
    policy = dict(
        part.strip().split(" ", 1)
        for part in response.headers["content-security-policy"].split(";")
    )
    assert policy["img-src"] == f"'self' data: {aws_env}"
    assert policy["media-src"] == f"'self' {aws_env}"

    image = page.get_by_role("img", name="crossing.png")
    expect(image).to_have_attribute("crossorigin", "anonymous")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )
    assert image.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [13, 7]
    expect(tile(page, "crossing.png")).to_contain_text("PNG image · 13 × 7 px")
    video = page.locator("video[aria-label='clip.mp4']")
    page.wait_for_function("v => v.readyState >= 1", arg=video.element_handle())
    assert video.evaluate("v => v.videoWidth") == 160
    expect(tile(page, "clip.mp4")).to_contain_text("160 × 120 px · 0:01 · H.264")
    expect(tile(page, "notes.txt")).to_contain_text("TXT text")
    expect(tile(page, "notes.txt").get_by_role("link", name="Open file")).to_be_visible()
    page.wait_for_function(
        "() => [...document.querySelectorAll('img[data-asset-media]')].every(i => i.complete)"
    )
    expect(page.locator(".tile-failed:visible")).to_have_count(0)
    expect(page.locator("[data-load-failures]")).to_be_hidden()
    expect(page.get_by_role("link", name="In circulation 5")).to_have_attribute(
        "aria-current", "page"
    )

    # Each URL the grid showed is on the audit trail, issued to the signed-in key.
    [key] = http.get("/v1/api-keys").json()
    issues = http.get(f"/v1/assets/{imported.assets['crossing.png']}/url-issues").json()["items"]
    assert [issue["api_key_id"] for issue in issues] == [key["id"]]

    assert accessibility_problems(page) == []
    screenshot(page, "assets")

    phone = new_page(PHONE)
    sign_in(phone, live_url, org.key, path=f"/projects/{imported.project}/assets")
    expect(phone.get_by_role("img", name="crossing.png")).to_be_visible()
    phone.wait_for_function(
        "() => [...document.querySelectorAll('img[data-asset-media]')].every(i => i.complete)"
    )
    width = phone.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "the Assets tab scrolls sideways on a phone"
    screenshot(phone, "assets-phone")


def test_without_cors_for_the_portal_a_tile_says_its_file_did_not_load_and_why(
    live_url: str,
    org: Org,
    new_page: Callable[..., Any],
    import_files: Callable[[dict[str, bytes]], Imported],
) -> None:
    imported = import_files({"crossing.png": FILES["crossing.png"]})
    page = new_page()
    sign_in(page, live_url, org.key, path=f"/projects/{imported.project}/assets")
    crossing = tile(page, "crossing.png")
    expect(crossing).to_contain_text(
        "Did not load: check the bucket's CORS rules for this portal's origin"
    )
    expect(page.get_by_role("alert").filter(has_text="did not load")).to_contain_text(
        f"1 file did not load from your bucket. Browsers load them straight from the bucket, "
        f"so its CORS rules must allow GET from this portal's origin, {live_url}."
    )
    expect(crossing.get_by_role("link", name="Organization Settings")).to_have_attribute(
        "href", "/settings"
    )
    image = page.locator("img[data-asset-media]")
    assert image.evaluate("img => img.naturalWidth") == 0
    expect(image).to_be_hidden()
    screenshot(page, "assets-cors-missing")


def test_assets_removed_from_the_grid_leave_circulation_and_can_be_restored(
    live_url: str,
    http: httpx.Client,
    org: Org,
    new_page: Callable[..., Any],
    import_files: Callable[[dict[str, bytes]], Imported],
) -> None:
    imported = import_files(FILES)
    page = new_page()
    sign_in(page, live_url, org.key, path=f"/projects/{imported.project}/assets")
    remove = page.get_by_role("button", name="Remove from circulation")
    expect(remove).to_be_disabled()
    page.get_by_label("night.png").check()
    page.get_by_label("notes.txt").check()
    expect(page.get_by_text("2 selected", exact=True)).to_be_visible()
    remove.click()
    dialog = page.get_by_role("dialog", name="Remove from circulation?")
    expect(dialog).to_contain_text("The 2 selected assets will no longer reach labelers")
    dialog.get_by_role("button", name="Remove from circulation").click()

    expect(page.get_by_role("status").filter(has_text="2 assets left circulation")).to_be_visible()
    expect(page.get_by_role("link", name="In circulation 2")).to_be_visible()
    expect(tile(page, "night.png")).to_have_count(0)
    night = http.get(f"/v1/assets/{imported.assets['night.png']}").json()
    assert (night["status"], night["removal_reason"]) == ("removed", "canceled")
    active = http.get(f"/v1/projects/{imported.project}/assets").json()["items"]
    assert sorted(a["location"].rpartition("/")[2] for a in active) == [
        "crossing.png",
        "harbour.jpg",
    ]

    page.get_by_role("link", name="Removed 2").click()
    expect(tile(page, "night.png")).to_contain_text("Canceled")
    expect(tile(page, "night.png")).to_contain_text("Taken out of circulation by a person")
    expect(page.get_by_role("navigation", name="Why they were removed")).to_contain_text(
        "Canceled 2"
    )
    expect(page.locator("img[data-asset-media]")).to_have_count(0)  # no URL for a removed asset
    assert accessibility_problems(page) == []
    screenshot(page, "assets-removed")

    tile(page, "night.png").get_by_role("button", name="Restore").click()
    expect(page.get_by_role("status").filter(has_text="back in circulation")).to_be_visible()
    expect(tile(page, "night.png")).to_have_count(0)
    assert http.get(f"/v1/assets/{imported.assets['night.png']}").json()["status"] == "active"


def test_sync_now_shows_the_counts_once_a_deleted_file_left_circulation(
    live_url: str,
    http: httpx.Client,
    org: Org,
    new_page: Callable[..., Any],
    import_files: Callable[[dict[str, bytes]], Imported],
    s3_client: Any,
    s3_bucket: str,
) -> None:
    imported = import_files({name: FILES[name] for name in ("crossing.png", "night.png")})
    s3_client.delete_object(Bucket=s3_bucket, Key="data/night.png")
    page = new_page()
    sign_in(page, live_url, org.key, path=f"/projects/{imported.project}/assets")
    expect(page.get_by_text("Not synced yet")).to_be_visible()
    page.get_by_role("button", name="Sync now").click()

    counts = page.get_by_role("definition")
    expect(page.get_by_text("Last sync")).to_contain_text("succeeded", timeout=15_000)
    labels = page.get_by_role("term").all_inner_texts()
    assert dict(zip(labels, counts.all_inner_texts(), strict=True)) == {
        "Checked": "2",
        "Unchanged": "1",
        "Removed": "1",
        "Moved": "0",
        "Changed": "0",
        "Restored": "0",
        "Added": "0",
        "Failed": "0",
    }
    night = http.get(f"/v1/assets/{imported.assets['night.png']}").json()
    assert (night["status"], night["removal_reason"]) == ("removed", "moved_or_deleted")

    page.get_by_role("link", name="Reload the assets").click()
    expect(tile(page, "night.png")).to_have_count(0)
    page.get_by_role("button", name="Sync now").click()
    past = page.get_by_text("Past syncs", exact=True)
    expect(past).to_be_visible(timeout=15_000)
    past.click()
    expect(page.get_by_role("row")).to_have_count(3)


def test_another_org_sees_no_assets_tab_and_no_form_works_without_its_token(
    live_url: str,
    http: httpx.Client,
    org: Org,
    other_org: Org,
    new_page: Callable[..., Any],
    import_files: Callable[[dict[str, bytes]], Imported],
) -> None:
    imported = import_files({"crossing.png": FILES["crossing.png"]})
    asset_id = imported.assets["crossing.png"]
    theirs = new_page()
    sign_in(theirs, live_url, other_org.key)
    token = csrf_token(theirs)
    response = theirs.goto(f"{live_url}/projects/{imported.project}/assets")
    assert response is not None and response.status == 404
    expect(theirs.locator("body")).not_to_contain_text("crossing.png")
    removed = theirs.request.post(
        f"{live_url}/projects/{imported.project}/assets/remove",
        form={"csrf_token": token, "asset_ids": asset_id},
        max_redirects=0,
    )
    assert removed.status == 404
    synced = theirs.request.post(
        f"{live_url}/projects/{imported.project}/sync",
        form={"csrf_token": token},
        max_redirects=0,
    )
    assert synced.status == 404

    ours = new_page()
    sign_in(ours, live_url, org.key, path=f"/projects/{imported.project}/assets")
    forged = ours.request.post(
        f"{live_url}/projects/{imported.project}/assets/remove",
        form={"asset_ids": asset_id},
        max_redirects=0,
    )
    assert forged.status == 403
    assert http.get(f"/v1/assets/{asset_id}").json()["status"] == "active"

    # Their own empty project says where data comes from.
    empty = theirs.request.post(
        f"{live_url}/projects",
        form={"csrf_token": token, "name": "Empty"},
        max_redirects=0,
    )
    project_path = empty.headers["location"].replace("/imports", "/assets")
    theirs.goto(live_url + project_path)
    expect(theirs.get_by_role("heading", name="No assets yet")).to_be_visible()
    expect(theirs.get_by_role("link", name="Data Imports").last).to_have_attribute(
        "href", project_path.replace("/assets", "/imports")
    )


def test_with_access_failing_every_page_of_the_grid_lists_its_files_and_says_why(
    live_url: str,
    org: Org,
    new_page: Callable[..., Any],
    import_files: Callable[[dict[str, bytes]], Imported],
) -> None:
    """No URL while the connection fails its access check, yet the files are still listed,
    page after page, as circulation hands them out (each once)."""
    names = [f"frame-{n:02d}.png" for n in range(26)]
    imported = import_files({name: png(8 + n, 5) for n, name in enumerate(names)})
    with session_scope() as session:
        session.execute(
            update(Connection)
            .where(Connection.org_id == org.id)
            .values(
                health="failing",
                health_check="bucket read",
                health_fix="grant s3:GetObject again",
                health_since=utcnow(),
            )
        )
    page = new_page()
    sign_in(page, live_url, org.key, path=f"/projects/{imported.project}/assets")
    alert = page.get_by_role("alert").filter(has_text="These files cannot be shown")
    expect(alert).to_contain_text("failing its access check 'bucket read'")
    expect(alert).to_contain_text("Grant s3:GetObject again")
    expect(page.locator("img[data-asset-media]")).to_have_count(0)
    frames = page.get_by_role("listitem").filter(has_text="frame-")
    expect(frames).to_have_count(24)
    first = set(re.findall(r"frame-\d\d\.png", " ".join(frames.all_inner_texts())))

    page.get_by_role("link", name="Next page").click()
    expect(alert).to_contain_text("failing its access check")
    expect(frames).to_have_count(2)
    second = set(re.findall(r"frame-\d\d\.png", " ".join(frames.all_inner_texts())))
    assert len(first) == 24 and first | second == set(names)
