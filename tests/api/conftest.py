"""Fixtures the API tests share."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def s3(api: TestClient, aws_env: str) -> dict[str, str]:
    """An S3 connection on the moto server (insitu's own identity) and a project."""
    connection = api.post("/v1/connections", json={"provider": "s3", "settings": {}})
    assert connection.status_code == 201, connection.text
    project = api.post("/v1/projects", json={"name": "scans"}).json()
    return {"connection": connection.json()["id"], "project": project["id"]}
