"""Every page and API response is hardened, and /docs needs nothing from another host."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from insitu.config import Settings
from insitu.jobs.inline import InlineBackend
from tests.api.live_server import serve


def test_api_responses_forbid_framing_sniffing_and_loading_anything(api: TestClient) -> None:
    for response in (api.get("/v1/projects"), api.get("/v1/nothing"), api.get("/healthz")):
        headers = response.headers
        csp = headers["content-security-policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert "strict-transport-security" not in headers  # plain HTTP: HSTS means nothing


@pytest.mark.parametrize("path", ["/", "/docs"])
def test_html_pages_load_only_from_insitus_origin(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_docs_reference_no_other_host_and_their_assets_load(client: TestClient) -> None:
    page = client.get("/docs").text
    assert "cdn" not in page.lower()
    assert not re.search(r"(src|href)=\"(https?:)?//", page), page
    assert "<script>" not in page  # no inline script: the CSP would refuse it
    assets = re.findall(r"(?:src|href)=\"([^\"]+)\"", page)
    assert any(asset.endswith("swagger-ui-bundle.js") for asset in assets)
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert response.content
    assert client.get(re.search(r'data-openapi-url="([^"]+)"', page)[1]).status_code == 200  # type: ignore[index]
    assert client.get("/docs/assets/../../../etc/passwd").status_code == 404
    assert client.get("/redoc").status_code == 404  # ReDoc would come from a CDN


def test_hsts_is_sent_over_https(client: TestClient) -> None:
    with TestClient(client.app, base_url="https://insitu.example") as secure:
        response = secure.get("/healthz")
    assert response.headers["strict-transport-security"].startswith("max-age=")


def test_hsts_is_sent_when_the_public_url_is_https(
    settings: Settings, worker: InlineBackend
) -> None:
    from insitu.api.app import create_app

    secure = settings.model_copy(update={"public_url": "https://insitu.example"})
    with TestClient(create_app(secure)) as client:
        assert "strict-transport-security" in client.get("/healthz").headers


def test_a_forwarded_proto_from_a_client_is_not_trusted(client: TestClient) -> None:
    response = client.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert "strict-transport-security" not in response.headers


@pytest.fixture
def live(settings: Settings, worker: InlineBackend) -> Iterator[str]:
    from insitu.api.app import create_app

    with serve(create_app(settings)) as base_url:
        yield base_url


def test_docs_render_in_chromium_under_the_csp(live: str) -> None:
    """/docs works as a browser sees it: the CSP refuses nothing and nothing goes elsewhere."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    problems: list[str] = []
    requested: list[str] = []
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page()
        page.on("console", lambda message: problems.append(message.text))
        page.on("request", lambda request: requested.append(request.url))
        page.goto(live + "/docs")
        page.wait_for_selector(".opblock", timeout=15_000)
        title = page.locator(".info .title").inner_text()
        browser.close()
    assert title.startswith("insitu")
    assert not [problem for problem in problems if "Content Security Policy" in problem]
    assert all(url.startswith(live) or url.startswith("data:") for url in requested), requested
