"""Storage test fixtures: a provider context (moto fixtures come from tests.fixtures.moto)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from insitu.config import Settings
from insitu.storage.base import ProviderContext
from insitu.storage.registry import clear_caches

PORTAL = "http://portal.test:8080"


@pytest.fixture
def provider_settings() -> Settings:
    """Settings as a provider sees them: one portal origin, no platform role template."""
    return Settings(portal_origins=[PORTAL], aws_platform_role_template=None)


@pytest.fixture
def context(provider_settings: Settings) -> ProviderContext:
    return ProviderContext(
        settings=provider_settings,
        org_id="org1",
        connection_id="conn1",
        external_id="ext-org1",
        private_endpoints=tuple(provider_settings.private_endpoints),  # emulators on loopback
    )


@pytest.fixture
def key_base() -> str:
    """What every key of the storage contract starts with; a local store's keys are paths."""
    return ""


@pytest.fixture(autouse=True)
def _fresh_providers() -> Iterator[None]:
    """Each test starts without cached identities (emulator state is reset between tests)."""
    yield
    clear_caches()
