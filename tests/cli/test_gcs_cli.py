"""``insitu connect gcs`` and ``insitu cors gcs`` as a user runs them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

INSITU = str(Path(sys.executable).with_name("insitu"))


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "INSITU_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "INSITU_SECRET_KEY": "cli-test-secret",
        "INSITU_PORTAL_ORIGINS": "https://portal.example.com",
        "INSITU_GCS_SERVICE_ACCOUNT_EMAIL": "insitu@platform-project.iam.gserviceaccount.com",
        "COLUMNS": "200",
    }


def insitu(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([INSITU, *args], env=env, capture_output=True, text=True, timeout=120)


def test_connect_gcs_stores_the_billing_project_and_says_what_to_do_next(
    env: dict[str, str],
) -> None:
    assert insitu(env, "db", "upgrade").returncode == 0
    assert insitu(env, "org", "create", "acme").returncode == 0
    result = insitu(env, "connect", "gcs", "--user-project", "billing-project-1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"Connection [0-9a-f]{32} \(gcs\)", result.stdout)
    assert '"user_project": "billing-project-1"' in result.stdout
    refused = insitu(env, "connect", "gcs", "--user-project", "Not A Project")
    assert refused.returncode == 1
    assert "not a Google Cloud project ID" in refused.stderr


def test_cors_gcs_prints_the_cors_file_and_the_gcloud_command(env: dict[str, str]) -> None:
    result = insitu(env, "cors", "gcs")
    assert result.returncode == 0, result.stderr
    document, _ = json.JSONDecoder().raw_decode(result.stdout)
    assert document[0]["origin"] == ["https://portal.example.com"]
    assert "gcloud storage buckets update gs://BUCKET --cors-file=cors.json" in result.stdout
