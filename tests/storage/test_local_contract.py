"""The storage contract, run against the local provider, served by insitu's own file route.

A local connection's keys are absolute paths (``srv/data/...``), so the contract's keys
start with the directory's path (``key_base``). Signed URLs are insitu's own: ``fetch``
GETs them from the real app served by uvicorn (Starlette's TestClient decodes a path twice,
which would turn ``%2520`` into a space), and ``verify_url`` checks their HMAC and expiry
as the route does.

Below the contract: what a directory on a server adds (files deleted after listing,
directories, over-long names, FIFOs, symlinks and '..' out of the root), each raised as one
of insitu's errors with a fix, never as a bare OSError.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from insitu.assets.models import Asset
from insitu.config import Settings
from insitu.db import session_scope
from insitu.errors import AccessDenied, InsituError, InvalidLocation, ObjectNotFound
from insitu.security import Signer
from insitu.storage.base import ProviderContext
from insitu.storage.local import PROVIDER, URL_PATH, LocalConfig, LocalStore
from insitu.storage.registry import parse_location
from tests.conftest import OPERATOR, Org
from tests.fixtures.processes import free_port
from tests.storage.contract import CONTRACT_OBJECTS, DATA, DATA_KEY, ObjectStoreContract


@pytest.fixture
def root(data_root: Path) -> Path:
    directory = data_root / "store"
    for key, data in CONTRACT_OBJECTS.items():
        path = directory / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return Path(os.path.realpath(directory))


@pytest.fixture
def connection_id(client: TestClient, org: Org, root: Path) -> str:
    """A local connection over ``root``, made through the API by the operator, with every
    contract object an active asset of it: the file route serves nothing else."""
    response = client.post(
        "/v1/connections",
        json={"provider": "local", "settings": {"root": str(root)}},
        headers={**org.headers, **OPERATOR},
    )
    assert response.status_code == 201, response.text
    connection = str(response.json()["id"])
    project = client.post("/v1/projects", json={"name": "contract"}, headers=org.headers).json()
    # Recorded as an import records a file it accepts: an import would refuse the contract's
    # binary data object, which is of no media type insitu knows.
    with session_scope() as session:
        for name in CONTRACT_OBJECTS:
            uri = f"file://{root}/{name}"
            location = parse_location(uri)
            session.add(
                Asset(
                    org_id=org.id,
                    project_id=project["id"],
                    connection_id=connection,
                    location=uri,
                    provider=location.provider,
                    bucket=location.bucket,
                    key=location.key,
                    size=len(CONTRACT_OBJECTS[name]),
                )
            )
    return connection


@pytest.fixture
def live_url(settings: Settings) -> Iterator[str]:
    """insitu's app on a real HTTP server, as browsers reach the file route."""
    from insitu.api.app import create_app

    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def store(
    settings: Settings, org: Org, root: Path, connection_id: str, live_url: str
) -> Iterator[LocalStore]:
    served = settings.model_copy(update={"public_url": live_url})  # signed URLs point there
    context = ProviderContext(served, org.id, connection_id, "ext-local", operator=True)
    location = PROVIDER.parse(f"file://{root}/")
    opened = PROVIDER.open(LocalConfig(root=str(root)), location=location, context=context)
    yield opened
    opened.close()


@pytest.fixture
def key_base(root: Path) -> str:
    return str(root).lstrip("/") + "/"


@pytest.fixture
def fetch(live_url: str) -> Iterator[Callable[[str], httpx.Response]]:
    """GET a signed URL as a browser would: through insitu's route, with no API key."""
    with httpx.Client(timeout=10) as client:
        yield client.get


@pytest.fixture
def verify_url(store: LocalStore, connection_id: str) -> Callable[[str], str]:
    def verify(url: str) -> str:
        parts = urlsplit(url)
        prefix = f"{URL_PATH}/{connection_id}/"
        assert parts.path.startswith(prefix), parts.path
        key = unquote(parts.path[len(prefix) :])
        query = {name: values[0] for name, values in parse_qs(parts.query).items()}
        assert not Signer.expired(int(query["expires"]))
        assert store.signature_valid(key, query["expires"], query["signature"])
        return key

    return verify


class TestLocalContract(ObjectStoreContract):
    reports_content_hash = False  # a file's digest would mean reading it whole


# -- what a directory on a server adds --------------------------------------------------


def _raises_with_fix(error: type[InsituError], call: Callable[[], object]) -> InsituError:
    with pytest.raises(error) as caught:
        call()
    assert caught.value.fix
    return caught.value


def test_a_file_deleted_after_listing_is_object_not_found(
    store: LocalStore, key_base: str, root: Path
) -> None:
    key = key_base + DATA_KEY
    listed = [o.key for page in store.list_pages(key_base + "contract/") for o in page.objects]
    assert key in listed
    (root / DATA_KEY).unlink()
    for call in (lambda: store.head(key), lambda: store.get_range(key, 0, 10)):
        error = _raises_with_fix(ObjectNotFound, call)
        assert "does not exist" in error.detail
    _raises_with_fix(ObjectNotFound, lambda: store.file_path(key))


def test_a_directory_is_no_file(store: LocalStore, key_base: str) -> None:
    key = key_base + "contract/page"
    for call in (
        lambda: store.head(key),
        lambda: store.get_range(key, 0, 10),
        lambda: store.file_path(key),
    ):
        assert "is a directory" in _raises_with_fix(ObjectNotFound, call).detail


def test_a_file_used_as_a_directory_is_object_not_found(store: LocalStore, key_base: str) -> None:
    key = key_base + DATA_KEY + "/inner.bin"
    _raises_with_fix(ObjectNotFound, lambda: store.head(key))
    _raises_with_fix(ObjectNotFound, lambda: store.get_range(key, 0, 10))


@pytest.mark.parametrize(
    "name",
    ["n" * 256 + ".bin", "é" * 128, "/".join(["d" * 200] * 21)],
    ids=["name", "utf8", "path"],
)
def test_an_over_long_name_is_invalid_input(store: LocalStore, key_base: str, name: str) -> None:
    key = key_base + "contract/" + name
    for call in (
        lambda: store.head(key),
        lambda: store.get_range(key, 0, 10),
        lambda: store.file_path(key),
    ):
        error = _raises_with_fix(InvalidLocation, call)
        assert "longer than a file name or path may be" in error.detail


def test_a_name_the_file_system_refuses_as_too_long_is_invalid_input(
    store: LocalStore, root: Path, key_base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file system's own ENAMETOOLONG (a stricter limit than Linux's usual) maps too."""
    monkeypatch.setattr("insitu.storage.local.NAME_MAX", 10_000)
    key = key_base + "contract/" + "n" * 300
    _raises_with_fix(InvalidLocation, lambda: store.head(key))
    _raises_with_fix(InvalidLocation, lambda: store.get_range(key, 0, 10))


@pytest.mark.parametrize("name", ["\ud800.bin", "a\x00b.bin"], ids=["surrogate", "nul"])
def test_a_name_no_file_can_have_is_invalid_input(
    store: LocalStore, key_base: str, name: str
) -> None:
    key = key_base + "contract/" + name
    _raises_with_fix(InvalidLocation, lambda: store.head(key))
    _raises_with_fix(InvalidLocation, lambda: store.get_range(key, 0, 10))


def test_dot_dot_is_refused_even_inside_the_root(store: LocalStore, key_base: str) -> None:
    for key in (key_base + "contract/page/../data.bin", key_base + "../../../etc/passwd"):
        error = _raises_with_fix(InvalidLocation, lambda key=key: store.head(key))  # type: ignore[misc]
        assert "contains '..'" in error.detail
        _raises_with_fix(InvalidLocation, lambda key=key: store.get_range(key, 0, 10))  # type: ignore[misc]


def test_a_path_outside_the_root_is_access_denied(store: LocalStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"secret")
    key = str(outside).lstrip("/")
    for call in (lambda: store.head(key), lambda: store.get_range(key, 0, 10)):
        assert "outside the connection's directory" in _raises_with_fix(AccessDenied, call).detail


def test_a_symlink_out_of_the_root_is_neither_read_nor_listed(
    store: LocalStore, root: Path, key_base: str, tmp_path: Path
) -> None:
    outside = tmp_path / "secret.bin"
    outside.write_bytes(b"secret")
    os.symlink(outside, root / "contract" / "escape.bin")
    key = key_base + "contract/escape.bin"
    _raises_with_fix(AccessDenied, lambda: store.head(key))
    _raises_with_fix(AccessDenied, lambda: store.get_range(key, 0, 10))
    _raises_with_fix(AccessDenied, lambda: store.file_path(key))
    listed = [o.key for page in store.list_pages(key_base + "contract/") for o in page.objects]
    assert key not in listed and key_base + DATA_KEY in listed


def test_a_fifo_is_neither_read_nor_listed_and_never_blocks(
    store: LocalStore, root: Path, key_base: str
) -> None:
    os.mkfifo(root / "contract" / "pipe.bin")  # opening it for reading would wait for a writer
    key = key_base + "contract/pipe.bin"
    assert "not a regular file" in _raises_with_fix(ObjectNotFound, lambda: store.head(key)).detail
    _raises_with_fix(ObjectNotFound, lambda: store.get_range(key, 0, 10))
    listed = [o.key for page in store.list_pages(key_base + "contract/") for o in page.objects]
    assert key not in listed


def test_an_unreadable_file_is_access_denied(
    store: LocalStore, root: Path, key_base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Permission denied (simulated: the tests may run as root, who reads every file)."""
    target = str(root / DATA_KEY)
    real_open = os.open

    def open_as_another_user(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if str(path) == target:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_as_another_user)
    error = _raises_with_fix(AccessDenied, lambda: store.get_range(key_base + DATA_KEY, 0, 10))
    assert "may not read" in error.detail


def test_reads_stay_exact_after_the_checks(store: LocalStore, key_base: str) -> None:
    assert store.get_range(key_base + DATA_KEY, 10, 20) == DATA[10:20]
    assert store.file_path(key_base + DATA_KEY).read_bytes() == DATA


def test_a_directory_swapped_for_a_symlink_after_the_check_is_refused_once_opened(
    store: LocalStore, root: Path, key_base: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The path is checked, then a parent becomes a symlink out of the root before the open."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(b"not yours")
    (root / "swapped").symlink_to(outside)
    checked = root / "swapped" / "secret.png"  # what a check made a moment earlier saw
    monkeypatch.setattr(store, "resolve", lambda key: checked)
    error = _raises_with_fix(AccessDenied, lambda: store.open_file(key_base + "swapped/secret.png"))
    assert "outside the connection's directory" in error.detail
