"""The storage contract, run against the Azure provider on Azurite (OAuth over HTTPS)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from insitu.storage.azure import AzureProvider, AzureStore
from tests.fixtures.azurite import Azurite, seed_blobs
from tests.storage.azure_helpers import (
    azure_context,
    azure_settings,
    config_for,
    sas_blob,
    trusting,
)
from tests.storage.contract import CONTRACT_OBJECTS, ObjectStoreContract


@pytest.fixture(scope="module")
def container(azurite_oauth: Azurite) -> str:
    name = azurite_oauth.new_container()
    seed_blobs(azurite_oauth, name, CONTRACT_OBJECTS)
    return name


@pytest.fixture(scope="module")
def store(azurite_oauth: Azurite, container: str) -> Iterator[AzureStore]:
    # Read-only tests share one seeded container and one store (its delegation key too).
    with trusting(azurite_oauth):
        provider = AzureProvider()
        location = provider.parse(f"{azurite_oauth.account_url}/{container}/")
        settings = azure_settings()
        opened = provider.open(
            config_for(azurite_oauth), location=location, context=azure_context(settings)
        )
        yield opened
        opened.close()


@pytest.fixture
def fetch(azurite_oauth: Azurite) -> Iterator[Callable[[str], httpx.Response]]:
    with httpx.Client(timeout=10, verify=azurite_oauth.verify) as client:
        yield client.get


@pytest.fixture
def verify_url(container: str) -> Callable[[str], str]:
    # Azurite validates SAS signatures and expiry itself; check only the URL's shape here.
    return lambda url: sas_blob(url, container)


class TestAzureContract(ObjectStoreContract):
    pass
