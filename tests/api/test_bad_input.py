"""Bad input is a 4xx error saying what and how to fix it, before anything is written.

Each case is one that was seen to give a 500, or to be accepted and fail later (issue 10,
finding 4).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from insitu.config import Settings
from insitu.imports.schemas import MAX_SOURCE_FILES
from tests.api.live_server import serve
from tests.conftest import OPERATOR, Org
from tests.images import png


@pytest.fixture
def s3(api: TestClient) -> dict[str, str]:
    """An S3 connection and a project; nothing here reaches a store."""
    connection = api.post("/v1/connections", json={"provider": "s3", "settings": {}})
    assert connection.status_code == 201, connection.text
    project = api.post("/v1/projects", json={"name": "p"}).json()
    return {"connection": connection.json()["id"], "project": project["id"]}


def post_import(api: TestClient, s3: dict[str, str], **body: Any) -> httpx.Response:
    body = {"connection_id": s3["connection"], **body}
    # Encoded with JSON escapes, as any client sends text it cannot write as UTF-8.
    content = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    return api.post(f"/v1/projects/{s3['project']}/imports", content=content, headers=headers)


def assert_refused(response: httpx.Response, api: TestClient, s3: dict[str, str]) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] in ("invalid_location", "invalid_input", "invalid_request"), body
    assert body["detail"] and body["fix"]
    assert api.get(f"/v1/projects/{s3['project']}/imports").json()["items"] == []


@pytest.mark.parametrize(
    ("source", "said"),
    [
        ("s3://b-bucket/p/\ud800", "unicode"),
        ("s3://b-bucket/p/\udfff/", "unicode"),
        ("s3://b-bucket/../x", "'..'"),
        ("s3://b-bucket/a/../../x/", "'..'"),
        ("s3://b-bucket/./x", "'.'"),
        ("s3://b-bucket/a\x00b", "NUL"),
        ("s3://b-bucket/a\nb/", "control character"),
        ("s3://b-bucket/a\x7fb/", "control character"),
    ],
)
def test_a_bad_source_is_refused_before_anything_is_queued(
    api: TestClient, s3: dict[str, str], source: str, said: str
) -> None:
    response = post_import(api, s3, source=source)
    assert_refused(response, api, s3)
    assert said in response.json()["detail"]


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("a/\ud800.png", "unicode"),
        ("s3://b-bucket/p/\ud800.png", "unicode"),
        ("a\x00.png", "NUL"),
        ("a\r\n.png", "control character"),
        ("../x.png", "'..'"),
        ("s3://b-bucket/p/../x.png", "'..'"),
    ],
)
def test_a_bad_source_file_is_refused_before_anything_is_queued(
    api: TestClient, s3: dict[str, str], name: str, said: str
) -> None:
    response = post_import(api, s3, source="s3://b-bucket/p/", source_files=["ok.png", name])
    assert_refused(response, api, s3)
    assert said in response.json()["detail"]


def test_a_raw_lone_surrogate_escape_in_the_json_is_refused(
    api: TestClient, s3: dict[str, str]
) -> None:
    """The attack as sent on the wire: a JSON \\ud800 escape no UTF-8 text can hold."""
    connection = json.dumps(s3["connection"])
    raw = '{"connection_id": ' + connection + ', "source": "s3://b-bucket/p/\\ud800"}'
    response = api.post(
        f"/v1/projects/{s3['project']}/imports",
        content=raw.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert_refused(response, api, s3)


def test_more_source_files_than_one_request_takes_are_refused_with_how_to_import_more(
    api: TestClient, s3: dict[str, str]
) -> None:
    names = [f"f{index:06d}.png" for index in range(MAX_SOURCE_FILES + 1)]
    response = post_import(api, s3, source="s3://b-bucket/p/", source_files=names)
    assert_refused(response, api, s3)
    body = response.json()
    assert f"{MAX_SOURCE_FILES:,}" in body["detail"]
    assert "several imports" in body["fix"] and "prefix" in body["fix"]


def test_the_most_source_files_of_the_longest_names_fit_in_one_request(
    api: TestClient, s3: dict[str, str]
) -> None:
    """The documented maximum is usable: the body cap's default holds it."""
    names = [f"{index:06d}-" + "x" * 1017 for index in range(MAX_SOURCE_FILES)]
    assert {len(name) for name in names} == {1024}
    response = post_import(api, s3, source="s3://b-bucket/p/", source_files=names)
    assert response.status_code == 202, response.text[:300]
    assert response.json()["source_files"] == MAX_SOURCE_FILES
    # Not to be run: 10,000 HEADs of files that do not exist would outlast this test.
    assert api.post(f"/v1/imports/{response.json()['id']}/cancel").status_code == 200


def test_a_body_over_the_limit_is_refused_from_its_content_length(
    api: TestClient, s3: dict[str, str]
) -> None:
    limit = api.app.state.settings.max_body_bytes  # type: ignore[attr-defined]
    names = ["x" * 1000] * (limit // 1000 + 10)
    response = post_import(api, s3, source="s3://b-bucket/p/", source_files=names)
    assert response.status_code == 413
    body = response.json()
    assert body["error"] == "payload_too_large"
    assert f"{limit:,}" in body["detail"]
    assert "several" in body["fix"]
    assert api.get(f"/v1/projects/{s3['project']}/imports").json()["items"] == []


def test_a_chunked_body_over_the_limit_is_refused_without_reading_it_all(
    settings: Settings, org: Org, s3: dict[str, str]
) -> None:
    from insitu.api.app import create_app

    sent = 0
    chunk = b" " * 65536

    def body() -> Iterator[bytes]:
        nonlocal sent
        start = {"connection_id": s3["connection"], "source": "s3://b-bucket/p/"}
        yield json.dumps(start)[:-1].encode() + b', "source_files": ['
        while sent < 50 * 1024 * 1024:  # a 50 MB body, as was seen read in full
            sent += len(chunk)
            yield chunk
        yield b"]}"

    app = create_app(settings)
    received = 0

    async def counting(scope: Any, receive: Any, send: Any) -> None:
        """The app as served, counting the body bytes the server hands it."""

        async def counted() -> Any:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            return message

        await app(scope, counted, send)

    with serve(counting) as base_url:
        response = httpx.post(
            f"{base_url}/v1/projects/{s3['project']}/imports",
            content=body(),
            headers={"Content-Type": "application/json", **org.headers},
            timeout=30,
        )
    assert "content-length" not in response.request.headers  # sent chunked
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    # The server read a little past the limit, answered, and read no more.
    assert settings.max_body_bytes < received < settings.max_body_bytes + 1024 * 1024
    assert sent < 50 * 1024 * 1024


def local_setup(api: TestClient, data_root: Path) -> dict[str, Any]:
    folder = data_root / "files"
    folder.mkdir()
    (folder / "a.png").write_bytes(png())
    (folder / "dir.png").mkdir()
    (folder / "dir.png" / "inner.png").write_bytes(png())
    connection = api.post(
        "/v1/connections",
        json={"provider": "local", "settings": {"root": str(folder)}},
        headers=OPERATOR,
    ).json()
    return {"folder": folder, "connection": connection["id"]}


def test_local_sources_with_dot_segments_nul_or_surrogates_are_refused(
    api: TestClient, data_root: Path
) -> None:
    setup = local_setup(api, data_root)
    project = api.post("/v1/projects", json={"name": "p"}).json()
    folder = setup["folder"]
    for source in (f"file://{folder}/../x/", f"file://{folder}/\ud800", f"file://{folder}/\x00"):
        response = api.post(
            f"/v1/projects/{project['id']}/imports",
            content=json.dumps({"source": source, "connection_id": setup["connection"]}),
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 422, (source, response.text)
        assert response.json()["fix"]


def test_errors_in_the_openapi_have_one_documented_shape(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    error = schema["components"]["schemas"]["ErrorRead"]
    assert set(error["required"]) == {"error", "detail", "fix"}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for status in ("401", "403", "404", "409", "413", "422", "429"):
                documented = operation["responses"].get(status)
                assert documented, (method, path, status)
                ref = documented["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith("/ErrorRead"), (method, path, status)
    for path in ("/v1/assets/{asset_id}/url", "/v1/projects/{project_id}/circulation"):
        unavailable = schema["paths"][path]["get"]["responses"]["503"]
        assert "storage_unavailable" in unavailable["description"], path
        ref = unavailable["content"]["application/json"]["schema"]["$ref"]
        assert ref.endswith("/ErrorRead"), path
    imports = schema["components"]["schemas"]["ImportCreate"]["properties"]["source_files"]
    assert imports["maxItems"] == MAX_SOURCE_FILES
    assert f"{MAX_SOURCE_FILES:,}" in imports["description"]


@pytest.mark.parametrize(
    "base", ["s3://b-bucket/", "gs://b-bucket/", "az://account1/container1/", "file:///srv/data/"]
)
@pytest.mark.parametrize(
    ("rest", "said"),
    [("p/\ud800", "surrogate"), ("p/a\x00b", "NUL"), ("../x", "'..'"), ("p/./x", "'.'")],
)
def test_every_provider_refuses_the_same_unsafe_locations(base: str, rest: str, said: str) -> None:
    """One shared check in the registry: the CLI and services get it as the API does."""
    from insitu.errors import InvalidLocation
    from insitu.storage.registry import parse_location

    assert parse_location(base + "p/a.png").key.endswith("p/a.png")
    with pytest.raises(InvalidLocation) as refused:
        parse_location(base + rest)
    assert said in refused.value.detail
    assert refused.value.fix
