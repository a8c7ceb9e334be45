"""``insitu serve`` as the quick start runs it: first start prints a key that works."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import sync_playwright

INSITU = str(Path(sys.executable).with_name("insitu"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str], dict[str, str]]]:
    port = _free_port()
    env = {
        **os.environ,
        "INSITU_DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'insitu.db'}",
        "INSITU_SECRET_KEY": "serve-test-secret",
        "COLUMNS": "200",
    }
    process = subprocess.Popen(
        [INSITU, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield base, process, env
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


def test_first_start_prints_a_working_admin_key_and_what_to_try(server) -> None:  # type: ignore[no-untyped-def]
    base, process, env = server
    output = ""
    deadline = time.monotonic() + 10
    while "insitu_" not in output and time.monotonic() < deadline:
        output += process.stdout.readline()
    key = re.search(r"insitu_[\w-]{20,}", output)
    assert key, output
    org = httpx.get(f"{base}/v1/organization", headers={"Authorization": f"Bearer {key[0]}"})
    assert org.status_code == 200 and org.json()["name"] == "default"
    assert org.json()["self_host_default"] is True

    again = subprocess.run(
        [INSITU, "org", "list"], env=env, capture_output=True, text=True, check=True
    )
    assert len(re.findall(r"│ default\s+│", again.stdout)) == 1, again.stdout


def test_the_home_page_and_api_docs_render_in_chromium(server) -> None:  # type: ignore[no-untyped-def]
    base, _process, _env = server
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page()
        page.goto(base + "/")
        assert page.locator("h1").inner_text().startswith("insitu")
        assert page.locator("a[href='/docs']").count() == 1
        browser.close()
    schema = httpx.get(f"{base}/openapi.json").json()
    assert "/v1/assets/{asset_id}/url" in schema["paths"]
