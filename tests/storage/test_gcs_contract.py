"""The storage contract, run against the GCS provider twice.

- on fake-gcs-server directly (``STORAGE_EMULATOR_HOST``, no auth, as the SDK does there);
- through FakeGoogleApis in front of it (``INSITU_GCS_ENDPOINT``): real OAuth token grants,
  403s for missing grants, and signed URLs whose V4 signature and expiry the server checks.

fake-gcs-server checks no signatures, so ``verify_url`` checks them with tests/goog4.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from insitu.config import Settings
from insitu.storage.base import ObjectStore, ProviderContext
from insitu.storage.gcs import PROVIDER, GcsConfig
from tests.fake_google import FakeGoogleApis
from tests.fixtures.gcs import FakeGcsServer, ServiceAccount, make_service_account, seed_gcs
from tests.goog4 import verify_signed_url
from tests.storage.conftest import PORTAL
from tests.storage.contract import CONTRACT_OBJECTS, KeyRangeContract, ObjectStoreContract

ORG_ID = "0123456789abcdef0123456789abcdef"


def gcs_context(**settings: object) -> ProviderContext:
    values: dict[str, object] = {"portal_origins": [PORTAL], **settings}
    return ProviderContext(
        settings=Settings(**values),  # type: ignore[arg-type]
        org_id=ORG_ID,
        connection_id="conn1",
        external_id="ext-org1",
    )


@pytest.fixture(autouse=True)
def _fresh_gcs_provider() -> Iterator[None]:
    yield
    PROVIDER.clear_cache()


@pytest.fixture
def fetch() -> Iterator[Callable[[str], httpx.Response]]:
    with httpx.Client(timeout=10) as client:
        yield client.get


@pytest.fixture
def verify_url(gcs_bucket: str, account: ServiceAccount) -> Callable[[str], str]:
    """Check the V4 signature as Google would; ``account`` is each class's signing account."""

    def verify(url: str) -> str:
        grant = verify_signed_url(url, account.public_key)
        assert (grant.bucket, grant.email) == (gcs_bucket, account.email)
        return grant.key

    return verify


class TestGcsContractOnEmulator(ObjectStoreContract, KeyRangeContract):
    @pytest.fixture
    def account(self, tmp_path: Path) -> ServiceAccount:
        return make_service_account(tmp_path)

    @pytest.fixture
    def store(
        self,
        gcs_emulator: str,
        fake_gcs_server: FakeGcsServer,
        gcs_bucket: str,
        account: ServiceAccount,
    ) -> Iterator[ObjectStore]:
        seed_gcs(fake_gcs_server, gcs_bucket, CONTRACT_OBJECTS)
        context = gcs_context(gcs_credentials_file=account.key_file)
        location = PROVIDER.parse(f"gs://{gcs_bucket}/")
        opened = PROVIDER.open(GcsConfig(), location=location, context=context)
        yield opened
        opened.close()


class TestGcsContractThroughGoogleApis(ObjectStoreContract, KeyRangeContract):
    """Every call authenticated with a token from the key file, as against Google."""

    @pytest.fixture
    def account(self, tmp_path: Path, google_apis: FakeGoogleApis) -> ServiceAccount:
        account = make_service_account(tmp_path, token_uri=f"{google_apis.url}/token")
        google_apis.add_key_file_account(account.email, account.public_key)
        return account

    @pytest.fixture
    def store(
        self,
        monkeypatch: pytest.MonkeyPatch,
        fake_gcs_server: FakeGcsServer,
        google_apis: FakeGoogleApis,
        gcs_bucket: str,
        account: ServiceAccount,
    ) -> Iterator[ObjectStore]:
        monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
        seed_gcs(fake_gcs_server, gcs_bucket, CONTRACT_OBJECTS)
        google_apis.grant(gcs_bucket, account.email)
        context = gcs_context(
            gcs_credentials_file=account.key_file,
            gcs_endpoint=google_apis.url,
            gcs_iam_endpoint=google_apis.url,
        )
        location = PROVIDER.parse(f"gs://{gcs_bucket}/")
        opened = PROVIDER.open(GcsConfig(), location=location, context=context)
        yield opened
        opened.close()
        # Everything went through Google's front door with the platform account's token.
        api_calls = [call for call in google_apis.calls if "/storage/v1/" in call[1]]
        assert all(caller == account.email for _, _, caller in api_calls)
