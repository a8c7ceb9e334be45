"""``insitu serve`` as the quick start runs it: first start prints a key that works."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import sync_playwright

from tests.fixtures.processes import free_port, start_server

INSITU = str(Path(sys.executable).with_name("insitu"))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str], dict[str, str]]]:
    port = free_port()
    env = {
        **os.environ,
        "INSITU_DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'insitu.db'}",
        "INSITU_SECRET_KEY": "serve-test-secret",
        "COLUMNS": "200",
    }
    base = f"http://127.0.0.1:{port}"
    served = start_server(
        [INSITU, "serve", "--port", str(port)],
        f"{base}/healthz",
        env=env,
        timeout=30,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield base, served.process, env
    served.stop(timeout=30)


def test_first_start_prints_a_working_admin_key_and_what_to_try(server) -> None:  # type: ignore[no-untyped-def]
    base, process, env = server
    output = ""
    deadline = time.monotonic() + 10
    while "insitu_" not in output and time.monotonic() < deadline:
        output += process.stdout.readline()
    key = re.search(r"insitu_[\w-]{20,}", output)
    assert key, output
    # The development default reaches buckets as insitu's own identity: it says so at start.
    assert "Warning: development mode" in output and "INSITU_SINGLE_TENANT" in output
    org = httpx.get(f"{base}/v1/organization", headers={"Authorization": f"Bearer {key[0]}"})
    assert org.status_code == 200 and org.json()["name"] == "default"
    assert org.json()["self_host_default"] is True

    again = subprocess.run(
        [INSITU, "org", "list"], env=env, capture_output=True, text=True, check=True
    )
    assert len(re.findall(r"│ default\s+│", again.stdout)) == 1, again.stdout


def test_the_portal_signs_in_with_the_first_start_key_and_links_the_api_docs(server) -> None:  # type: ignore[no-untyped-def]
    base, process, _env = server
    output = ""
    deadline = time.monotonic() + 10
    while "insitu_" not in output and time.monotonic() < deadline:
        output += process.stdout.readline()
    key = re.search(r"insitu_[\w-]{20,}", output)
    assert key, output
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page()
        page.goto(base + "/")
        assert page.locator("h1").inner_text().endswith("Sign in to insitu")
        assert page.locator("a[href='/docs']").count() == 1
        # htmx comes from insitu itself (make install's npm ci), never from a CDN.
        assert page.evaluate("() => typeof window.htmx") == "object"
        page.get_by_label("API key").fill(key[0])
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Projects", exact=True).wait_for()
        assert page.get_by_role("navigation", name="Portal").inner_text().count("default") == 1
        browser.close()
    schema = httpx.get(f"{base}/openapi.json").json()
    assert "/v1/assets/{asset_id}/url" in schema["paths"]
