"""The Azure provider on Azurite: URIs, user-delegation SAS as Azurite enforces it, key caching,
verify with CORS present, absent and for the wrong origin."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from azure.storage.blob import CorsRule

from insitu.errors import InvalidConfiguration, InvalidLocation
from insitu.storage.azure import (
    DELEGATION_KEY,
    TOKEN,
    AzureConfig,
    AzureProvider,
    AzureStore,
    cors_rules,
)
from insitu.storage.registry import parse_location
from tests.fixtures.azurite import ACCOUNT, TENANT, Azurite, seed_blobs
from tests.storage.azure_helpers import (
    PORTAL,
    azure_context,
    azure_settings,
    config_for,
    sas_blob,
    trusting,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
BLOBS = {"scans/a.png": PNG, "scans/b c+d.png": PNG, "other/x.bin": b"x"}


class CountDelegationKeys:
    """A request hook counting the user-delegation-key requests sent to the service."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, request: Any) -> None:
        if "comp=userdelegationkey" in request.http_request.url:
            self.count += 1


@pytest.fixture(scope="module")
def container(azurite_oauth: Azurite) -> str:
    name = azurite_oauth.new_container()
    seed_blobs(azurite_oauth, name, BLOBS)
    return name


@pytest.fixture
def oauth(azurite_oauth: Azurite) -> Iterator[Azurite]:
    with trusting(azurite_oauth):
        yield azurite_oauth


def open_store(
    server: Azurite, container: str, provider: AzureProvider | None = None
) -> AzureStore:
    provider = provider or AzureProvider()
    location = provider.parse(f"az://{ACCOUNT}/{container}/")
    context = azure_context(azure_settings())
    return provider.open(config_for(server), location=location, context=context)


@pytest.fixture
def store(oauth: Azurite, container: str) -> AzureStore:
    return open_store(oauth, container)


@pytest.fixture
def http(oauth: Azurite) -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10, verify=oauth.verify) as client:
        yield client


def set_cors(server: Azurite, origins: list[str] | None) -> None:
    rules = [] if origins is None else [CorsRule(origins, ["GET", "HEAD"], max_age_in_seconds=60)]
    server.service_client().set_service_properties(cors=rules)


# --- URIs and settings ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "account", "container", "key"),
    [
        ("az://mystorage/images/scans/", "mystorage", "images", "scans/"),
        ("az://mystorage/images/a b%20c.png", "mystorage", "images", "a b%20c.png"),
        (
            "https://mystorage.blob.core.windows.net/images/a%20b.png",
            "mystorage",
            "images",
            "a b.png",
        ),
        ("https://gov1.blob.core.usgovcloudapi.net/data/", "gov1", "data", ""),
        ("https://127.0.0.1:10000/devstoreaccount1/images/x/", "devstoreaccount1", "images", "x/"),
        ("az://mystorage/$root/a.png", "mystorage", "$root", "a.png"),
    ],
)
def test_parses_az_and_blob_urls_to_one_canonical_location(
    uri: str, account: str, container: str, key: str
) -> None:
    location = parse_location(uri)
    assert (location.provider, location.account, location.bucket, location.key) == (
        "azure",
        account,
        container,
        key,
    )
    assert location.uri == f"az://{account}/{container}/{key}"


@pytest.mark.parametrize(
    "uri",
    [
        "az://mystorage",
        "az://MyStorage/images/",
        "az://mystorage/Images/",
        "az://mystorage/a--b/",
        "az://st/images/",
        "https://example.com/images/a.png",
        "https://mystorage.blob.core.windows.net/images/a.png?sv=2024&sig=x",
        "https://mystorage.blob.core.windows.net/",
    ],
)
def test_malformed_azure_uris_are_refused_with_an_example(uri: str) -> None:
    with pytest.raises(InvalidLocation) as caught:
        parse_location(uri)
    assert caught.value.fix and "az://" in caught.value.fix


@pytest.mark.parametrize(
    "url",
    [
        "http://mystorage.blob.core.windows.net",
        "https://mystorage.blob.core.windows.net/images",
        "https://example.com",
        "https://user:pw@mystorage.blob.core.windows.net",
        "https://mystorage.blob.core.windows.net?sv=1&sig=2",
        "https://127.0.0.1:10000",
    ],
)
def test_account_url_must_be_an_https_account_endpoint(url: str) -> None:
    with pytest.raises(ValueError, match="account_url"):
        AzureConfig(account_url=url, tenant_id=TENANT)


def test_tenant_id_must_be_a_guid() -> None:
    with pytest.raises(ValueError, match="tenant ID"):
        AzureConfig(account_url="https://a123.blob.core.windows.net", tenant_id="contoso.com")
    upper = AzureConfig(account_url="https://A123.blob.core.windows.net/", tenant_id=TENANT.upper())
    assert (upper.account_url, upper.tenant_id, upper.account) == (
        "https://a123.blob.core.windows.net",
        TENANT,
        "a123",
    )


def test_a_location_in_another_account_is_refused(oauth: Azurite, container: str) -> None:
    provider = AzureProvider()
    location = provider.parse(f"az://otheraccount/{container}/")
    with pytest.raises(InvalidLocation, match="otheraccount"):
        provider.open(config_for(oauth), location=location, context=azure_context(azure_settings()))


def test_a_tenant_the_org_did_not_connect_is_refused() -> None:
    config = AzureConfig(account_url="https://a123.blob.core.windows.net", tenant_id=TENANT)
    other = "99999999-2222-3333-4444-555555555555"
    # The host is Azure's, but this machine resolves no public name: allowed by name instead.
    offline = ("a123.blob.core.windows.net",)
    with pytest.raises(InvalidConfiguration) as caught:
        AzureProvider().validate_config(
            config, azure_context(azure_settings(), tenants=(other,), private_endpoints=offline)
        )
    assert "/v1/azure/connect" in (caught.value.fix or "")
    AzureProvider().validate_config(
        config, azure_context(azure_settings(), private_endpoints=offline)
    )


def test_without_an_application_or_factory_no_credential_is_made() -> None:
    from insitu.storage.azure import make_credential

    with pytest.raises(InvalidConfiguration, match="no Azure application"):
        make_credential(TENANT, azure_settings(azure_credential_factory=None, azure_client_id=None))
    credential = make_credential(
        TENANT,
        azure_settings(azure_credential_factory=None, azure_client_secret="s3cret"),
    )
    assert type(credential).__name__ == "ClientSecretCredential"


# --- user-delegation SAS, enforced by Azurite ---------------------------------------------


def test_signed_url_is_a_read_only_user_delegation_sas_for_one_blob(
    store: AzureStore, container: str, http: httpx.Client
) -> None:
    url = store.sign("scans/b c+d.png", ttl=timedelta(minutes=5)).url
    assert sas_blob(url, container) == "scans/b c+d.png"
    assert http.get(url).content == PNG
    assert http.put(url, content=b"x", headers={"x-ms-blob-type": "BlockBlob"}).status_code == 403
    assert http.delete(url).status_code == 403
    other = url.replace("b%20c%2Bd.png", "a.png", 1)
    assert other != url and http.get(other).status_code == 403
    listing = url.replace("/scans/b%20c%2Bd.png?", "?restype=container&comp=list&", 1)
    assert http.get(listing).status_code == 403
    assert http.get(url).content == PNG  # still good after the refused attempts


def test_tampered_signed_url_is_refused(store: AzureStore, http: httpx.Client) -> None:
    url = store.sign("scans/a.png", ttl=timedelta(minutes=5)).url
    assert http.get(url).status_code == 200
    for old, new in (("sp=r", "sp=rw"), ("sig=", "sig=A"), ("se=", "se=2099")):
        assert http.get(url.replace(old, new, 1)).status_code == 403, old


def test_expired_signed_url_is_refused(store: AzureStore, http: httpx.Client) -> None:
    signed = store.sign("scans/a.png", ttl=timedelta(seconds=1))
    assert http.get(signed.url).status_code == 200
    time.sleep(max(0.0, signed.expires_at.timestamp() - time.time()) + 1.1)
    assert http.get(signed.url).status_code == 403


def test_delegation_key_is_fetched_once_and_reused_for_many_urls(
    oauth: Azurite, container: str
) -> None:
    counter = CountDelegationKeys()
    store = open_store(oauth, container, AzureProvider([counter]))
    urls = {store.sign(f"scans/{i}.png", ttl=timedelta(minutes=15)).url for i in range(50)}
    assert len(urls) == 50
    assert counter.count == 1


def test_delegation_key_is_renewed_before_a_url_would_outlive_it(
    oauth: Azurite, container: str, http: httpx.Client
) -> None:
    counter = CountDelegationKeys()
    provider = AzureProvider([counter], key_lifetime=timedelta(minutes=10))
    store = open_store(oauth, container, provider)
    store.sign("scans/a.png", ttl=timedelta(minutes=1))
    store.sign("scans/a.png", ttl=timedelta(minutes=4))
    assert counter.count == 1
    long = store.sign("scans/a.png", ttl=timedelta(minutes=8))  # old key ends in < 8 + 5 min
    assert counter.count == 2
    assert http.get(long.url).status_code == 200
    store.sign("scans/a.png", ttl=timedelta(minutes=8))
    assert counter.count == 2


# --- verify --------------------------------------------------------------------------------


def verify(server: Azurite, container: str, source: str = "scans/", **settings: Any) -> dict:
    provider = AzureProvider()
    location = provider.parse(f"az://{ACCOUNT}/{container}/{source}")
    checks = provider.verify(
        config_for(server), location=location, context=azure_context(azure_settings(**settings))
    )
    return {check.name: check for check in checks}


def test_verify_passes_every_check_when_access_and_cors_are_right(
    oauth: Azurite, container: str
) -> None:
    set_cors(oauth, [PORTAL])
    checks = verify(oauth, container)
    assert list(checks) == [
        TOKEN,
        DELEGATION_KEY,
        "list prefix",
        "head object",
        "ranged read",
        "signed URL",
        "bucket CORS",
    ]
    assert all(check.ok for check in checks.values()), checks
    assert TENANT in checks[TOKEN].detail


def test_verify_reports_missing_cors_with_the_az_command(oauth: Azurite, container: str) -> None:
    set_cors(oauth, None)
    checks = verify(oauth, container)
    cors = checks["bucket CORS"]
    assert not cors.ok and "no CORS rules" in cors.detail
    assert cors.fix and "az storage cors add --services b --methods GET HEAD" in cors.fix
    assert f"--origins {PORTAL}" in cors.fix and f"--account-name {ACCOUNT}" in cors.fix
    assert all(check.ok for name, check in checks.items() if name != "bucket CORS")


def test_verify_reports_cors_for_the_wrong_origin(oauth: Azurite, container: str) -> None:
    set_cors(oauth, ["https://elsewhere.example"])
    cors = verify(oauth, container)["bucket CORS"]
    assert not cors.ok
    assert f"GET from {PORTAL}" in cors.detail and f"HEAD from {PORTAL}" in cors.detail


def test_verify_of_an_empty_prefix_says_so(oauth: Azurite, container: str) -> None:
    set_cors(oauth, [PORTAL])
    checks = verify(oauth, container, source="nothing-here/")
    assert checks[DELEGATION_KEY].ok and not checks["list prefix"].ok
    assert "no objects" in checks["list prefix"].detail
    assert checks["signed URL"].detail.startswith("skipped")


def test_verify_of_an_unconnected_tenant_stops_at_the_token(oauth: Azurite, container: str) -> None:
    provider = AzureProvider()
    location = provider.parse(f"az://{ACCOUNT}/{container}/scans/")
    context = azure_context(azure_settings(), tenants=())
    checks = provider.verify(config_for(oauth), location=location, context=context)
    assert not checks[0].ok and "not connected" in checks[0].detail
    assert all(check.detail.startswith("skipped") for check in checks[1:])


def test_advised_cors_rules_let_browsers_preflight_from_the_portal_only(
    oauth: Azurite, store: AzureStore, http: httpx.Client
) -> None:
    rule = cors_rules([PORTAL])[0]
    cors = CorsRule(
        rule["AllowedOrigins"],
        rule["AllowedMethods"],
        allowed_headers=rule["AllowedHeaders"],
        exposed_headers=rule["ExposedHeaders"],
        max_age_in_seconds=rule["MaxAgeInSeconds"],
    )
    oauth.service_client().set_service_properties(cors=[cors])
    url = store.sign("scans/a.png", ttl=timedelta(minutes=5)).url

    def preflight(origin: str, method: str) -> httpx.Response:
        headers = {"Origin": origin, "Access-Control-Request-Method": method}
        return http.options(url, headers=headers)

    for method in ("GET", "HEAD"):
        allowed = preflight(PORTAL, method)
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == PORTAL
        assert preflight("https://evil.example", method).status_code == 403
    got = http.get(url, headers={"Origin": PORTAL})
    assert got.headers["access-control-allow-origin"] == PORTAL


def test_plain_http_endpoints_are_refused_since_tokens_need_tls(azurite_plain: Azurite) -> None:
    assert azurite_plain.account_url.startswith("http://")
    azurite_plain.service_client().get_service_properties()  # the emulator is really there
    with pytest.raises(ValueError, match="only sent over HTTPS") as caught:
        AzureConfig(account_url=azurite_plain.account_url, tenant_id=TENANT)
    assert "--oauth basic --cert --key" in str(caught.value)
