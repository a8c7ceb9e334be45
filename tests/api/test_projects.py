from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


def test_project_follows_the_org_default_unless_the_request_says(api: TestClient) -> None:
    assert api.post("/v1/projects", json={"name": "a"}).json()["self_hosted"] is False
    api.patch("/v1/organization", json={"self_host_default": True})
    assert api.post("/v1/projects", json={"name": "b"}).json()["self_hosted"] is True
    explicit = api.post("/v1/projects", json={"name": "c", "self_hosted": False})
    assert explicit.status_code == 201
    assert explicit.json()["self_hosted"] is False


def test_projects_are_listed_and_read(api: TestClient) -> None:
    created = api.post("/v1/projects", json={"name": "scans", "allowed_kinds": ["dicom"]}).json()
    assert api.get(f"/v1/projects/{created['id']}").json()["allowed_kinds"] == ["dicom"]
    assert [p["name"] for p in api.get("/v1/projects").json()] == ["scans"]


@pytest.mark.parametrize("kinds", [["holograms"], ["image", "smell"]])
def test_unknown_media_kinds_are_refused(api: TestClient, kinds: list[str]) -> None:
    response = api.post("/v1/projects", json={"name": "x", "allowed_kinds": kinds})
    assert response.status_code == 422
    assert "unknown media kinds" in response.json()["detail"]


@pytest.mark.parametrize("name", ["a\x00b", "line\nbreak", "evil\u202egnp.exe", ""])
def test_a_name_with_invisible_or_control_characters_is_refused(api: TestClient, name: str) -> None:
    response = api.post("/v1/projects", json={"name": name})
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_request"
    assert api.get("/v1/projects").json() == []
