"""Shared fixtures: a configured insitu (SQLite or PostgreSQL), its API client, an org."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from insitu import jobs
from insitu.config import Settings, get_settings
from insitu.connections import stores
from insitu.db import get_engine, session_scope
from insitu.jobs.inline import InlineBackend
from insitu.migrate import upgrade
from insitu.organizations import service as organizations
from insitu.storage.registry import clear_caches

# The emulators listen on loopback, which insitu refuses as a connection endpoint unless the
# operator allows it; the test session is that operator.
os.environ.setdefault("INSITU_PRIVATE_ENDPOINTS", "127.0.0.1")

pytest_plugins = [
    "tests.fixtures.moto",
    "tests.fixtures.azurite",
    "tests.fixtures.gcs",
    "tests.fixtures.browser",
]

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
PORTAL_ORIGIN = "http://portal.insitu.test:8080"
OPERATOR_KEY = "operator-key-for-tests"
# Headers of the platform operator, who alone may connect a local directory.
OPERATOR = {"X-Insitu-Operator-Key": OPERATOR_KEY}


@pytest.fixture(params=["sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """SQLite by default; parametrize with ``["sqlite", "postgresql"]`` to cover both."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'insitu.db'}"
        return
    name = f"insitu_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        get_engine.cache_clear()
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    root.mkdir()
    return root


@pytest.fixture
def settings(
    database_url: str, data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    """insitu configured through its environment variables, on a fresh migrated database."""
    monkeypatch.setenv("INSITU_DATABASE_URL", database_url)
    monkeypatch.setenv("INSITU_SECRET_KEY", "test-secret-key-" + uuid.uuid4().hex)
    monkeypatch.setenv("INSITU_LOCAL_ROOTS", str(data_root))
    monkeypatch.setenv("INSITU_PORTAL_ORIGINS", PORTAL_ORIGIN)
    monkeypatch.setenv("INSITU_PUBLIC_URL", "http://testserver")
    monkeypatch.setenv("INSITU_OPERATOR_KEY", OPERATOR_KEY)
    monkeypatch.setenv("INSITU_IMPORT_BATCH_SIZE", "100")
    _reset_caches()
    upgrade(database_url)
    yield get_settings()
    _reset_caches()


def _reset_caches() -> None:
    stores.clear()
    clear_caches()  # cached cloud identities would outlive an emulator reset otherwise
    get_settings.cache_clear()
    engine_cache = get_engine.cache_info().currsize
    if engine_cache:
        get_engine.cache_clear()


@pytest.fixture
def worker(settings: Settings) -> Iterator[InlineBackend]:
    """The in-process job worker; ``worker.join()`` waits for queued jobs to finish.

    Two threads, as ``insitu serve`` has by default: an import's lister and its batches run
    side by side."""
    backend = InlineBackend(threads=2)
    previous = jobs.set_backend(backend)
    yield backend
    backend.shutdown()
    jobs.set_backend(previous)


@pytest.fixture
def client(settings: Settings, worker: InlineBackend) -> Iterator[TestClient]:
    from insitu.api.app import create_app

    with TestClient(create_app(settings)) as test_client:
        yield test_client


@dataclass
class Org:
    id: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def make_org(settings: Settings, name: str = "acme") -> Org:
    with session_scope() as session:
        org, key = organizations.create(session, name=name, settings=settings)
        return Org(org.id, key)


@pytest.fixture
def org(settings: Settings) -> Org:
    return make_org(settings, "acme")


@pytest.fixture
def other_org(settings: Settings) -> Org:
    return make_org(settings, "globex")


@pytest.fixture
def api(client: TestClient, org: Org) -> TestClient:
    """The API client, authenticated as ``org``."""
    client.headers.update(org.headers)
    return client
