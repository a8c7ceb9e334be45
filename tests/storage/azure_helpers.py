"""What the Azure storage tests share: settings and contexts for a provider on Azurite."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from insitu.config import Settings
from insitu.storage.azure import TENANTS, AzureConfig
from insitu.storage.base import ProviderContext
from tests.fixtures.azurite import ACCOUNT, TENANT, Azurite, unsigned_token_credential

PORTAL = "http://portal.test:8080"


def azure_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "portal_origins": [PORTAL],
        "azure_client_id": "00000000-0000-0000-0000-00000000c1d0",
        "azure_app_name": "insitu-test",
        "azure_credential_factory": unsigned_token_credential,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def azure_context(
    settings: Settings,
    tenants: tuple[str, ...] = (TENANT,),
    private_endpoints: tuple[str, ...] = ("127.0.0.1",),
) -> ProviderContext:
    """A context for org1, which connected ``tenants`` and may reach Azurite on loopback."""
    return ProviderContext(
        settings=settings,
        org_id="org1",
        connection_id="conn1",
        external_id="ext-org1",
        extra={TENANTS: lambda: list(tenants)},
        private_endpoints=private_endpoints,
    )


def config_for(server: Azurite, tenant_id: str = TENANT) -> AzureConfig:
    return AzureConfig(account_url=server.account_url, tenant_id=tenant_id)


@contextmanager
def trusting(server: Azurite) -> Iterator[None]:
    """Make the SDK (requests) and httpx trust the emulator's self-signed certificate."""
    with pytest.MonkeyPatch.context() as patch:
        if server.tls is not None:
            patch.setenv("REQUESTS_CA_BUNDLE", str(server.tls.cert))
            patch.setenv("SSL_CERT_FILE", str(server.tls.cert))
        yield


def sas_blob(url: str, container: str) -> str:
    """The blob a SAS URL grants, after checking it is a read-only, one-blob SAS."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert query.get("sp") == ["r"], f"permissions {query.get('sp')} are not read-only"
    assert query.get("sr") == ["b"], f"resource {query.get('sr')} is not one blob"
    assert query.get("skoid") and query.get("sktid"), "not a user-delegation SAS"
    assert query.get("sig") and query.get("se"), "unsigned or without expiry"
    prefix = f"/{ACCOUNT}/{container}/"
    assert parts.path.startswith(prefix), parts.path
    return unquote(parts.path[len(prefix) :])
