"""The storage contract, run against the S3 provider on a moto server."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from insitu.storage.base import ObjectStore, ProviderContext
from insitu.storage.s3 import PROVIDER, S3Config
from tests.fixtures.moto import TEST_CREDENTIALS
from tests.sigv4 import verify_presigned_url
from tests.storage.contract import CONTRACT_OBJECTS, KeyRangeContract, ObjectStoreContract


@pytest.fixture
def store(
    s3_bucket: str, seed_objects: Callable[..., None], context: ProviderContext
) -> Iterator[ObjectStore]:
    seed_objects(s3_bucket, CONTRACT_OBJECTS)
    location = PROVIDER.parse(f"s3://{s3_bucket}/")
    opened = PROVIDER.open(S3Config(), location=location, context=context)
    yield opened
    opened.close()


@pytest.fixture
def fetch() -> Iterator[Callable[[str], httpx.Response]]:
    with httpx.Client(timeout=10) as client:
        yield client.get


@pytest.fixture
def verify_url(s3_bucket: str) -> Callable[[str], str]:
    def verify(url: str) -> str:
        granted = verify_presigned_url(url, secret_key=TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
        prefix = f"/{s3_bucket}/"
        assert granted.path.startswith(prefix), granted.path
        return granted.path[len(prefix) :]

    return verify


class TestS3Contract(ObjectStoreContract, KeyRangeContract):
    pass
