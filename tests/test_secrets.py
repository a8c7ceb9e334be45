"""Secret keys: strong in production, rotated with a keyring; a database only its owner reads."""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select, text

from insitu.audit.models import AuditEvent
from insitu.config import DEVELOPMENT_SECRET_KEY, Settings, get_settings
from insitu.db import make_engine, session_scope
from insitu.jobs.inline import InlineBackend
from insitu.portal.session import PortalSession
from insitu.security import SecretBox, Signer
from tests.conftest import OPERATOR, Org, _reset_caches
from tests.images import png

INSITU = str(Path(sys.executable).with_name("insitu"))
GOOD = "kZ3v9Qm1xW7tR4pL8sN2bY6cH0dJ5fG_aE-uT"


@pytest.mark.parametrize(
    ("key", "why"),
    [
        (DEVELOPMENT_SECRET_KEY, "development default"),
        ("s3cr3t-but-short", "16 characters long; at least 32"),
        ("x" * 48, "only 1 distinct characters"),
        ("abcdefghij" * 4, "repeats the same 10 characters"),
    ],
)
def test_production_refuses_a_weak_secret_key_and_says_how_to_make_one(key: str, why: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(environment="production", secret_key=key)
    message = str(raised.value)
    assert why in message
    assert "secrets.token_urlsafe(48)" in message
    assert key not in message  # the key itself is never echoed


def test_production_checks_the_first_key_of_the_ring() -> None:
    with pytest.raises(ValidationError, match="first key"):
        Settings(environment="production", secret_keys=f"short,{GOOD}")
    # A weak old key may stay in the ring until 'insitu secrets rotate' has retired it.
    settings = Settings(environment="production", secret_keys=f"{GOOD},old-weak")
    assert settings.secret_key == GOOD and settings.secret_keys == [GOOD, "old-weak"]
    Settings(environment="production", secret_key=secrets.token_urlsafe(48))


def test_secret_key_alone_is_a_one_key_ring_and_a_stray_one_is_refused() -> None:
    assert Settings(secret_key="only").secret_keys == ["only"]
    with pytest.raises(ValidationError, match="does not hold INSITU_SECRET_KEY"):
        Settings(secret_key="forgotten", secret_keys="new,old")


def test_the_ring_encrypts_and_signs_with_the_first_key_and_accepts_any() -> None:
    old_token = SecretBox("old").encrypt("hush")
    old_signature = Signer("old", "local-files").signature("a", "b")
    ring = SecretBox(["new", "old"])
    assert ring.decrypt(old_token) == "hush" and not ring.is_current(old_token)
    rotated = ring.rotate(old_token)
    assert SecretBox("new").decrypt(rotated) == "hush" and ring.is_current(rotated)
    assert Signer(["new", "old"], "local-files").verify(old_signature, "a", "b")
    assert Signer("new", "local-files").verify(
        Signer(["new", "old"], "local-files").signature("a", "b"), "a", "b"
    )
    assert not Signer("new", "local-files").verify(old_signature, "a", "b")


def test_rotation_lets_the_old_key_go_and_every_connection_keeps_working(
    client: TestClient,
    org: Org,
    data_root: Path,
    worker: InlineBackend,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (data_root / "x.png").write_bytes(png())
    old = os.environ["INSITU_SECRET_KEY"]
    connection = client.post(
        "/v1/connections",
        json={"provider": "local", "settings": {"root": str(data_root)}},
        headers={**org.headers, **OPERATOR},
    ).json()
    project = client.post("/v1/projects", json={"name": "p"}, headers=org.headers).json()
    external_id = external_id_of(client.get("/v1/organization/s3", headers=org.headers).json())

    new = secrets.token_urlsafe(48)
    env = {**os.environ, "INSITU_SECRET_KEYS": f"{new},{old}"}
    first = subprocess.run([INSITU, "secrets", "rotate"], env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    # One organization's external ID and one connection's settings.
    assert "Re-encrypted 2 secrets" in first.stdout
    again = subprocess.run([INSITU, "secrets", "rotate"], env=env, capture_output=True, text=True)
    assert "Re-encrypted 0 secrets" in again.stdout and "(2 already used it)" in again.stdout
    # Both runs are the operator's, on the platform's own record (no org's log).
    with session_scope() as session:
        rotations = session.scalars(
            select(AuditEvent.details)
            .where(AuditEvent.action == "secrets.rotated", AuditEvent.org_id.is_(None))
            .order_by(AuditEvent.created_at)
        ).all()
    assert [details["rotated"] for details in rotations] == [2, 0]

    # Start again with the new key only: the old one is gone for good.
    monkeypatch.delenv("INSITU_SECRET_KEY")
    monkeypatch.setenv("INSITU_SECRET_KEYS", new)
    _reset_caches()
    from insitu.api.app import create_app

    with TestClient(create_app(get_settings())) as fresh:
        fresh.headers.update(org.headers)
        assert fresh.get(f"/v1/connections/{connection['id']}").json()["settings"] == {
            "root": str(data_root)
        }
        verified = fresh.post(
            f"/v1/connections/{connection['id']}/verify", json={"source": f"file://{data_root}/"}
        ).json()
        assert verified["ok"], verified
        job = fresh.post(
            f"/v1/projects/{project['id']}/imports",
            json={"source": f"file://{data_root}/", "connection_id": connection["id"]},
        ).json()
        worker.join()
        assert fresh.get(f"/v1/imports/{job['id']}").json()["counts"]["imported"] == 1
        asset = fresh.get(f"/v1/projects/{project['id']}/assets").json()["items"][0]
        url = fresh.get(f"/v1/assets/{asset['id']}/url").json()["url"]
        assert fresh.get(url).content == png()
        assert external_id_of(fresh.get("/v1/organization/s3").json()) == external_id


def test_rotation_without_the_old_key_says_which_key_to_add(
    client: TestClient, org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**os.environ, "INSITU_SECRET_KEYS": secrets.token_urlsafe(48)}
    env.pop("INSITU_SECRET_KEY")
    result = subprocess.run([INSITU, "secrets", "rotate"], env=env, capture_output=True, text=True)
    assert result.returncode == 1
    assert "organizations.external_id_encrypted" in result.stderr
    assert "INSITU_SECRET_KEYS" in result.stderr


def test_a_new_sqlite_database_and_its_wal_files_are_readable_by_the_owner_only(
    tmp_path: Path,
) -> None:
    previous = os.umask(0o022)
    try:
        engine = make_engine(f"sqlite:///{tmp_path / 'new' / 'insitu.db'}")
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (x INTEGER)"))
            connection.execute(text("INSERT INTO t VALUES (1)"))
            modes = {
                path.name: stat.S_IMODE(path.stat().st_mode)
                for path in (tmp_path / "new").iterdir()
            }
        engine.dispose()
    finally:
        os.umask(previous)
    assert modes == {"insitu.db": 0o600, "insitu.db-wal": 0o600, "insitu.db-shm": 0o600}


def test_an_existing_sqlite_file_keeps_the_mode_its_owner_chose(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    path.touch(mode=0o640)
    path.chmod(0o640)
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.execute(text("SELECT 1"))
    engine.dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def external_id_of(card: dict) -> str:  # type: ignore[type-arg]
    [value] = [fact["value"] for fact in card["facts"] if fact["name"] == "external_id"]
    return str(value)


def test_a_forged_signature_with_non_ascii_characters_is_refused_not_an_error() -> None:
    signer = Signer("key", "azure-consent")
    assert not signer.verify("sïgnature-ü", "a", "b")
    assert signer.verify(signer.signature("a", "b"), "a", "b")


def test_a_csrf_token_with_non_ascii_characters_is_refused_not_an_error() -> None:
    session = PortalSession(csrf_token="token-1")
    assert not session.accepts("tökën-1") and not session.accepts(None)
    assert session.accepts("token-1")
