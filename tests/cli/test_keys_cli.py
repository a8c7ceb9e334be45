"""``insitu keys`` and ``insitu org allow-endpoint`` as the operator runs them on the server."""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path

import pytest

from tests.cli.test_cli import insitu


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "INSITU_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "INSITU_SECRET_KEY": "cli-test-secret",
        "COLUMNS": "200",
    }


@pytest.fixture
def org_id(env: dict[str, str]) -> str:
    insitu(env, "db", "upgrade")
    created = insitu(env, "org", "create", "acme")
    match = re.search(r"created: ([0-9a-f]{32})", created.stdout)
    assert match, created.stdout
    return match.group(1)


def key_ids(env: dict[str, str], org_id: str) -> list[str]:
    return re.findall(
        r"^│ ([0-9a-f]{32})", insitu(env, "keys", "list", "--org", org_id).stdout, re.M
    )


def test_keys_create_list_and_revoke(env: dict[str, str], org_id: str, tmp_path: Path) -> None:
    created = insitu(
        env,
        "keys",
        "create",
        "--org",
        org_id,
        "--name",
        "labeling-tool",
        "--scope",
        "labeler",
        "--expires",
        "2031-01-01T00:00:00Z",
    )
    secret = re.search(r"insitu_[\w-]{40,}", created.stdout)
    assert secret and "(labeler)" in created.stdout

    listing = insitu(env, "keys", "list", "--org", org_id).stdout
    assert "labeling-tool" in listing and "labeler" in listing and "2031-01-01" in listing
    assert secret.group(0)[:12] in listing and secret.group(0) not in listing
    labeler, first = key_ids(env, org_id)  # newest first

    revoked = insitu(env, "keys", "revoke", "--org", org_id, labeler)
    assert "revoked" in revoked.stdout
    with sqlite3.connect(tmp_path / "cli.db") as db:
        [(revoked_at,)] = db.execute("SELECT revoked_at FROM api_keys WHERE id = ?", (labeler,))
        actions = [row[0] for row in db.execute("SELECT action, actor FROM audit_events")]
        actors = {row[0] for row in db.execute("SELECT actor FROM audit_events")}
    assert revoked_at is not None
    assert actions.count("api_key.created") == 2 and "api_key.revoked" in actions
    assert actors == {"operator"}


def test_the_last_admin_key_needs_force(env: dict[str, str], org_id: str) -> None:
    [only] = key_ids(env, org_id)
    refused = insitu(env, "keys", "revoke", "--org", org_id, only, ok=False)
    assert refused.returncode == 1 and "last usable admin key" in refused.stderr
    assert "Fix:" in refused.stderr
    insitu(env, "keys", "revoke", "--org", org_id, only, "--force")


def test_bad_input_is_an_error_with_the_fix(env: dict[str, str], org_id: str) -> None:
    for args, message in [
        (["keys", "create", "--org", org_id, "--scope", "root"], "unknown key scope"),
        (["keys", "create", "--org", org_id, "--expires", "soon"], "not an ISO 8601 time"),
        (["keys", "create", "--org", org_id, "--expires", "2001-01-01T00:00:00Z"], "future"),
        (["keys", "list", "--org", "0" * 32], "does not exist"),
        (["keys", "revoke", "--org", org_id, "0" * 32], "does not exist"),
    ]:
        result = insitu(env, *args, ok=False)
        assert result.returncode == 1 and message in result.stderr, (args, result.stderr)
        assert "Fix:" in result.stderr


def test_org_endpoint_grants(env: dict[str, str], org_id: str) -> None:
    granted = insitu(env, "org", "allow-endpoint", org_id, "MinIO.internal:9000")
    assert "minio.internal:9000" in granted.stdout
    refused = insitu(env, "org", "allow-endpoint", org_id, "169.254.169.254", ok=False)
    assert refused.returncode == 1 and "link-local" in refused.stderr
    assert "minio.internal:9000" in insitu(env, "org", "endpoints", org_id).stdout
    insitu(env, "org", "revoke-endpoint", org_id, "minio.internal:9000")
    assert "minio.internal" not in insitu(env, "org", "endpoints", org_id).stdout
    missing = insitu(env, "org", "revoke-endpoint", org_id, "minio.internal:9000", ok=False)
    assert missing.returncode == 1 and "not granted" in missing.stderr
