"""A real browser loads a signed URL cross-origin only once insitu's CORS rules are applied."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from insitu.jobs.inline import InlineBackend
from tests.fixtures.processes import free_port
from tests.images import png


@pytest.fixture
def portal(tmp_path: Path) -> Iterator[str]:
    """A page server on its own origin, standing in for the labeling portal."""
    (tmp_path / "index.html").write_text("<!doctype html><title>portal</title>")
    port = free_port()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()


LOAD_IMAGE = """url => new Promise(resolve => {
  const img = new Image();
  img.crossOrigin = "anonymous";
  img.onload = () => resolve(img.naturalWidth + "x" + img.naturalHeight);
  img.onerror = () => resolve("blocked");
  img.src = url;
})"""


def test_signed_url_loads_in_chromium_only_with_the_generated_cors(
    client: TestClient,
    org,  # type: ignore[no-untyped-def]
    worker: InlineBackend,
    aws_env: str,
    s3_client,  # type: ignore[no-untyped-def]
    s3_bucket: str,
    seed_objects: Callable[..., None],
    portal: str,
    browser,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client.app.state.settings = client.app.state.settings.model_copy(  # type: ignore[attr-defined]
        update={"portal_origins": [portal]}
    )
    client.headers.update(org.headers)
    seed_objects(s3_bucket, {"img/photo.png": png(13, 7)})
    connection = client.post("/v1/connections", json={"provider": "s3", "settings": {}}).json()
    project = client.post("/v1/projects", json={"name": "p"}).json()
    client.post(
        f"/v1/projects/{project['id']}/imports",
        json={"source": f"s3://{s3_bucket}/img/", "connection_id": connection["id"]},
    )
    worker.join()
    [asset] = client.get(f"/v1/projects/{project['id']}/assets").json()["items"]

    page = browser.new_page()
    page.goto(portal + "/index.html")
    url = client.get(f"/v1/assets/{asset['id']}/url").json()["url"]
    assert page.evaluate(LOAD_IMAGE, url) == "blocked"

    rules = client.get("/v1/cors", params={"provider": "s3"}).json()["rules"]
    s3_client.put_bucket_cors(Bucket=s3_bucket, CORSConfiguration=rules)
    url = client.get(f"/v1/assets/{asset['id']}/url").json()["url"]
    assert page.evaluate(LOAD_IMAGE, url) == "13x7"
