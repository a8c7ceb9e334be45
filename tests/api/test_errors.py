from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import OPERATOR


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("bucket/prefix", "not a storage URI"),
        ("ftp://host/x", "unsupported scheme"),
        ("file://relative/path", "not an absolute file URI"),
        ("file:///srv/../etc/passwd", "'..'"),
    ],
)
def test_malformed_sources_get_a_clear_error_and_an_example(
    api: TestClient, data_root, source: str, expected: str
) -> None:  # type: ignore[no-untyped-def]
    connection = api.post(
        "/v1/connections",
        json={"provider": "local", "settings": {"root": str(data_root)}},
        headers=OPERATOR,
    ).json()
    project = api.post("/v1/projects", json={"name": "p"}).json()
    response = api.post(
        f"/v1/projects/{project['id']}/imports",
        json={"source": source, "connection_id": connection["id"]},
    )
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_location"
    assert expected in body["detail"]
    assert "://" in body["fix"]


def test_unknown_provider_is_refused_with_the_known_ones(api: TestClient) -> None:
    response = api.post("/v1/connections", json={"provider": "dropbox", "settings": {}})
    assert response.status_code == 422
    assert response.json()["error"] == "unknown_provider"
    assert "s3" in response.json()["fix"]


def test_unknown_routes_answer_in_the_error_format(api: TestClient) -> None:
    body = api.get("/v1/nothing-here").json()
    assert body["error"] == "not_found"
