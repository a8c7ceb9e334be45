"""Media fixtures generated once per session, and a probe that reads them through S3 on moto."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from insitu.config import Settings
from insitu.media import ProbeOptions, ProbeResult, probe_object
from insitu.storage.base import ObjectStore, ProviderContext
from insitu.storage.registry import get_provider
from insitu.storage.s3 import S3Config
from tests.media.localstore import DirectoryStore
from tests.media.media_files import make_all

Probe = Callable[..., ProbeResult]


@pytest.fixture(scope="session")
def media_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every fixture file, by name (see media_files.py); needs Debian's ffmpeg."""
    if shutil.which("ffmpeg") is None:
        pytest.fail("the media tests need ffmpeg: apt-get install -y ffmpeg")
    return make_all(tmp_path_factory.mktemp("media"))


@pytest.fixture
def local_store(media_files: dict[str, Path]) -> DirectoryStore:
    """The fixtures as a store over their directory, recording every ranged read."""
    return DirectoryStore(next(iter(media_files.values())).parent)


@pytest.fixture
def s3_store(aws_env: str, s3_client: Any, s3_bucket: str) -> Iterator[ObjectStore]:
    """The real S3 provider on a fresh moto bucket."""
    provider = get_provider("s3")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    context = ProviderContext(
        settings=settings,
        org_id="org-media",
        connection_id="conn-media",
        external_id="ext-media",
        private_endpoints=tuple(settings.private_endpoints),  # moto listens on loopback
    )
    store = provider.open(
        S3Config(endpoint_url=aws_env),
        location=provider.parse(f"s3://{s3_bucket}/"),
        context=context,
    )
    yield store
    store.close()


@pytest.fixture
def upload(s3_client: Any, s3_bucket: str, media_files: dict[str, Path]) -> Callable[..., str]:
    """``upload(name, key=None)`` puts a fixture into the bucket and returns its key."""

    def _upload(name: str, key: str | None = None) -> str:
        key = key or f"data/{name}"
        s3_client.put_object(Bucket=s3_bucket, Key=key, Body=media_files[name].read_bytes())
        return key

    return _upload


@pytest.fixture
def probe(s3_store: ObjectStore, upload: Callable[..., str]) -> Probe:
    """``probe(name, key=None, **options)``: upload a fixture to moto, HEAD it, probe it."""

    def _probe(name: str, key: str | None = None, **options: Any) -> ProbeResult:
        stored = upload(name, key)
        return probe_object(s3_store, s3_store.head(stored), ProbeOptions(**options))

    return _probe
