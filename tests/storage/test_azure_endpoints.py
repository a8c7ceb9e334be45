"""Attacks on where insitu sends an Azure connection's requests, and bugs that are not storage's.

An org chooses its connection's ``account_url``, and insitu sends the org's tenant token
there: it must be a blob endpoint of the server's Azure cloud, or a private endpoint the
operator allowed, and no redirect may take a request anywhere else. A bug inside the store is
insitu's, so it must not be reported as the storage account failing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from azure.storage.blob import BlobServiceClient

from insitu.config import Settings
from insitu.errors import InvalidConfiguration, StorageError
from insitu.storage.azure import TOKEN, AzureConfig, AzureProvider, AzureStore
from insitu.storage.azure.endpoints import blob_suffix
from tests.fixtures.azurite import (
    ACCOUNT,
    TENANT,
    Azurite,
    TlsFiles,
    UnsignedTokenCredential,
    seed_blobs,
)
from tests.storage.azure_helpers import (
    azure_context,
    azure_settings,
    config_for,
    redirect_trap,
    trusting,
)


def validate(account_url: str, settings: Settings | None = None, allowed: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    config = AzureConfig(account_url=account_url, tenant_id=TENANT)
    context = azure_context(settings or azure_settings(), private_endpoints=allowed)
    AzureProvider().validate_config(config, context)


@pytest.mark.parametrize(
    ("account_url", "says"),
    [
        ("https://attacker.example.com/devstoreaccount1", "not an Azure blob endpoint"),
        ("https://mystorage.blob.attacker.example", "not this server's Azure cloud"),
        ("https://mystorage.blob.core.usgovcloudapi.net", "not this server's Azure cloud"),
        ("https://mystorage.blob.core.windows.net:8443", "not 8443"),
        ("https://10.0.0.5/devstoreaccount1", "not an Azure blob endpoint"),
        ("https://169.254.169.254/devstoreaccount1", "not an Azure blob endpoint"),
        ("https://127.0.0.1:10000/devstoreaccount1", "not an Azure blob endpoint"),
        ("https://localhost:10000/devstoreaccount1", "not an Azure blob endpoint"),
    ],
)
def test_an_account_url_off_the_clouds_blob_endpoints_is_refused_with_an_example(
    account_url: str, says: str
) -> None:
    with pytest.raises(InvalidConfiguration) as caught:
        validate(account_url)
    assert says in caught.value.detail
    assert "https://mystorage.blob.core.windows.net" in (caught.value.fix or "")
    assert "INSITU_PRIVATE_ENDPOINTS" in (caught.value.fix or "")


def test_an_account_url_is_refused_when_opening_a_store_too() -> None:
    config = AzureConfig(account_url="https://attacker.example.com/mystorage", tenant_id=TENANT)
    provider = AzureProvider()
    location = provider.parse("az://mystorage/images/")
    with pytest.raises(InvalidConfiguration):
        provider.open(config, location=location, context=azure_context(azure_settings()))


@pytest.mark.parametrize(
    ("authority", "suffix"),
    [
        ("https://login.microsoftonline.com", "core.windows.net"),
        ("https://login.microsoftonline.us/", "core.usgovcloudapi.net"),
        ("https://login.chinacloudapi.cn", "core.chinacloudapi.cn"),
    ],
)
def test_the_blob_endpoint_suffix_is_that_of_the_cloud_insitu_signs_in_to(
    authority: str, suffix: str
) -> None:
    settings = azure_settings(azure_authority_host=authority)
    assert blob_suffix(settings) == suffix
    with pytest.raises(InvalidConfiguration) as caught:
        validate("https://mystorage.blob.example.net", settings)
    assert f"https://mystorage.blob.{suffix}" in (caught.value.fix or "")


def test_a_government_cloud_server_refuses_a_public_cloud_account() -> None:
    settings = azure_settings(azure_authority_host="https://login.microsoftonline.us")
    with pytest.raises(InvalidConfiguration, match="not this server's Azure cloud"):
        validate("https://mystorage.blob.core.windows.net", settings)


@pytest.mark.parametrize("allowed", ["127.0.0.1", "127.0.0.0/8", "127.0.0.1:{port}"])
def test_a_private_endpoint_the_operator_allowed_is_reachable(
    azurite_oauth: Azurite, allowed: str
) -> None:
    port = azurite_oauth.account_url.split(":")[2].split("/")[0]
    entry = allowed.format(port=port)
    validate(azurite_oauth.account_url, allowed=(entry,))
    with pytest.raises(InvalidConfiguration, match="not an Azure blob endpoint"):
        validate(azurite_oauth.account_url, allowed=("127.0.0.1:1",))


# --- redirects ------------------------------------------------------------------------------


def test_a_store_that_redirects_is_not_followed_anywhere(
    azurite_tls: TlsFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(azurite_tls.cert))
    with redirect_trap(azurite_tls) as trap:
        # The trap works: the SDK's default client follows the 307 to the other port.
        plain = BlobServiceClient(
            f"{trap.url}/{ACCOUNT}", credential=UnsignedTokenCredential(TENANT), retry_total=0
        )
        plain.get_container_client("images").get_blob_client("a.png").exists()
        assert trap.hits > 0
        trap.hits = 0

        provider = AzureProvider()
        config = AzureConfig(account_url=f"{trap.url}/{ACCOUNT}", tenant_id=TENANT)
        location = provider.parse(f"az://{ACCOUNT}/images/")
        store = provider.open(config, location=location, context=azure_context(azure_settings()))
        for attempt in (
            lambda: list(store.list_pages("scans/")),
            lambda: store.head("scans/a.png"),
            lambda: store.get_range("scans/a.png", 0, 10),
            lambda: store.sign("scans/a.png", ttl=timedelta(minutes=1)),
        ):
            with pytest.raises(StorageError) as caught:
                attempt()
            assert "HTTP 307" in caught.value.detail
            assert "does not follow redirects" in caught.value.detail
            assert "primaryEndpoints.blob" in (caught.value.fix or "")
        checks = provider.verify(config, location=location, context=azure_context(azure_settings()))
        assert not any(check.ok for check in checks[1:])
        assert trap.redirects > 0 and trap.hits == 0


# --- bugs are not storage errors ------------------------------------------------------------


@pytest.fixture
def store(azurite_oauth: Azurite) -> Iterator[AzureStore]:
    container = azurite_oauth.new_container()
    seed_blobs(azurite_oauth, container, {"scans/a.png": b"png"})
    with trusting(azurite_oauth):
        provider = AzureProvider()
        location = provider.parse(f"az://{ACCOUNT}/{container}/")
        context = azure_context(azure_settings())
        yield provider.open(config_for(azurite_oauth), location=location, context=context)


def test_a_bug_inside_the_store_propagates_as_itself_not_as_a_storage_error(
    store: AzureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure.storage.blob import BlobClient, ContainerClient

    assert store.head("scans/a.png").size == 3  # the store works before the bug

    def bug(*_args: object, **_kwargs: object) -> None:
        raise KeyError("a bug, not the storage account")

    monkeypatch.setattr(BlobClient, "get_blob_properties", bug)
    monkeypatch.setattr(BlobClient, "download_blob", bug)
    monkeypatch.setattr(ContainerClient, "list_blobs", bug)
    with pytest.raises(KeyError, match="a bug"):
        store.head("scans/a.png")
    with pytest.raises(KeyError, match="a bug"):
        store.get_range("scans/a.png", 0, 1)
    with pytest.raises(KeyError, match="a bug"):
        list(store.list_pages("scans/"))
    monkeypatch.setattr("insitu.storage.azure.store.generate_blob_sas", bug)
    with pytest.raises(KeyError, match="a bug"):
        store.sign("scans/a.png", ttl=timedelta(minutes=1))


def test_an_unreachable_sign_in_service_is_told_apart_from_a_refused_consent() -> None:
    settings = azure_settings(
        azure_credential_factory=None,
        azure_client_secret="s3cret",
        azure_authority_host="https://127.0.0.1:9",
    )
    config = AzureConfig(account_url="https://127.0.0.1:9/devstoreaccount1", tenant_id=TENANT)
    provider = AzureProvider()
    location = provider.parse(f"az://{ACCOUNT}/scans/")
    checks = provider.verify(config, location=location, context=azure_context(settings))
    assert checks[0].name == TOKEN and not checks[0].ok
    assert "cannot reach the sign-in service" in checks[0].detail
    assert "INSITU_AZURE_AUTHORITY_HOST" in (checks[0].fix or "")
