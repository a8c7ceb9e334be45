"""Reconcile on Azure (Azurite) and GCS (fake-gcs-server), through the API, as on S3.

The bucket is changed with each cloud's own SDK against its emulator: deletes, a move made of a
server-side copy and a delete, an overwrite with another valid image, an overwrite with garbage,
two new files, and later a deleted file put back with the same bytes.

An Azure ETag is no digest: a copy and a re-upload get new ones, so the move is recognised by
the Content-MD5, which Put Blob computes when the client sends none (azure-storage-blob's
single-shot upload sends none; Azurite computes it as Azure does) and Copy Blob keeps. The
put-back file has a new ETag too, but the same Content-MD5: it returns without a header read,
and its record takes the new ETag.

fake-gcs-server is less faithful: its ETag is the object's base64 MD5, so a copy and a
re-upload keep it, where real GCS gives each new generation a new ETag. On the emulator the
GCS run therefore cannot show that the move is found through md5Hash rather than the ETag (the
two are equal); on GCS it would behave as on Azure. ``etag_is_md5`` states this per store, and
the test checks it holds.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from insitu.jobs.inline import InlineBackend
from tests.api.test_asset_removal import by_location
from tests.api.test_gcs_end_to_end import configure
from tests.api.test_reconcile import FILES, check_first_reconcile, reconcile
from tests.conftest import OPERATOR
from tests.fixtures.azurite import TENANT, Azurite, seed_blobs
from tests.fixtures.gcs import FakeGcsServer, make_service_account, seed_gcs
from tests.images import png


@dataclass
class Cloud:
    """A seeded prefix on one cloud, imported into a project, and the SDK calls that change it."""

    name: str
    uri: str  # what an asset's location starts with, up to the key
    project: str
    delete: Callable[[str], None]
    copy: Callable[[str, str], None]
    put: Callable[[str, bytes], None]
    content_md5: Callable[[str], str | None]  # the digest the store reports for a key
    # Whether the emulator's ETag is the bytes' MD5, so a copy or re-upload keeps it (true of
    # fake-gcs-server, not of GCS, whose ETag follows the object's generation).
    etag_is_md5: bool


def _import(api: TestClient, worker: InlineBackend, connection: str, source: str) -> str:
    project = api.post("/v1/projects", json={"name": "scans"}).json()["id"]
    started = api.post(
        f"/v1/projects/{project}/imports", json={"connection_id": connection, "source": source}
    )
    assert started.status_code == 202, started.text
    worker.join()
    job = api.get(f"/v1/imports/{started.json()['id']}").json()
    assert job["counts"]["imported"] == len(FILES), job
    return str(project)


@pytest.fixture
def azure(
    api: TestClient,
    worker: InlineBackend,
    monkeypatch: pytest.MonkeyPatch,
    azurite_oauth: Azurite,
) -> Cloud:
    """A connected tenant (registered by the operator), a connection, an imported container."""
    assert azurite_oauth.tls is not None
    configure(
        api,
        monkeypatch,
        INSITU_AZURE_CLIENT_ID="0000c1d0-0000-0000-0000-000000000001",
        INSITU_AZURE_APP_NAME="insitu-ingest",
        INSITU_AZURE_CREDENTIAL_FACTORY="tests.fixtures.azurite:unsigned_token_credential",
        REQUESTS_CA_BUNDLE=str(azurite_oauth.tls.cert),
        SSL_CERT_FILE=str(azurite_oauth.tls.cert),
    )
    tenant = api.post(
        "/v1/organization/azure/tenants", json={"tenant_id": TENANT}, headers=OPERATOR
    )
    assert tenant.status_code == 201, tenant.text
    connection = api.post(
        "/v1/connections",
        json={
            "provider": "azure",
            "settings": {"account_url": azurite_oauth.account_url, "tenant_id": TENANT},
        },
    )
    assert connection.status_code == 201, connection.text
    name = azurite_oauth.new_container()
    seed_blobs(azurite_oauth, name, FILES)
    source = f"{azurite_oauth.account_url}/{name}/r/"
    project = _import(api, worker, connection.json()["id"], source)
    container = azurite_oauth.service_client().get_container_client(name)

    def copy(source: str, target: str) -> None:
        # A server-side Copy Blob within the account; small blobs copy synchronously.
        copied = container.get_blob_client(target).start_copy_from_url(
            container.get_blob_client(source).url, requires_sync=True
        )
        assert copied["copy_status"] == "success", copied

    def content_md5(key: str) -> str | None:
        settings = container.get_blob_client(key).get_blob_properties().content_settings
        return bytes(settings.content_md5).hex() if settings.content_md5 else None

    return Cloud(
        name="azure",
        uri=f"az://devstoreaccount1/{name}/",
        project=project,
        delete=lambda key: container.delete_blob(key),
        copy=copy,
        put=lambda key, data: container.upload_blob(key, data, overwrite=True),
        content_md5=content_md5,
        etag_is_md5=False,
    )


@pytest.fixture
def gcs(
    api: TestClient,
    worker: InlineBackend,
    monkeypatch: pytest.MonkeyPatch,
    gcs_emulator: str,
    gcs_bucket: str,
    fake_gcs_server: FakeGcsServer,
    tmp_path: Path,
) -> Cloud:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    account = make_service_account(tmp_path)
    configure(api, monkeypatch, INSITU_GCS_CREDENTIALS_FILE=str(account.key_file))
    connection = api.post("/v1/connections", json={"provider": "gcs", "settings": {}})
    assert connection.status_code == 201, connection.text
    seed_gcs(fake_gcs_server, gcs_bucket, FILES)
    project = _import(api, worker, connection.json()["id"], f"gs://{gcs_bucket}/r/")
    client = storage.Client(
        project="platform-project",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": gcs_emulator},
    )
    bucket = client.bucket(gcs_bucket)

    def copy(source: str, target: str) -> None:
        bucket.copy_blob(bucket.blob(source), bucket, target)

    def content_md5(key: str) -> str | None:
        blob = bucket.get_blob(key)
        return base64.b64decode(blob.md5_hash).hex() if blob and blob.md5_hash else None

    return Cloud(
        name="gcs",
        uri=f"gs://{gcs_bucket}/",
        project=project,
        delete=lambda key: bucket.delete_blob(key),
        copy=copy,
        put=lambda key, data: bucket.blob(key).upload_from_string(data),
        content_md5=content_md5,
        etag_is_md5=True,
    )


@pytest.mark.parametrize("provider", ["azure", "gcs"])
def test_reconcile_follows_deletes_moves_overwrites_additions_and_returns(
    api: TestClient, worker: InlineBackend, request: pytest.FixtureRequest, provider: str
) -> None:
    cloud: Cloud = request.getfixturevalue(provider)
    uri, project = cloud.uri, cloud.project
    before = by_location(api, project)
    assert len(before) == len(FILES)
    # The store reports each file's MD5, which is what lets a move be recognised.
    for key, data in FILES.items():
        assert cloud.content_md5(key) == hashlib.md5(data).hexdigest(), key

    for key in ("r/del/0.png", "r/del/1.png", "r/back.png"):
        cloud.delete(key)
    cloud.copy("r/mv/a.png", "r/moved/a.png")
    cloud.delete("r/mv/a.png")
    assert cloud.content_md5("r/moved/a.png") == hashlib.md5(FILES["r/mv/a.png"]).hexdigest()
    cloud.put("r/chg/ok.png", png(40, 30))
    cloud.put("r/chg/bad.png", b"not an image at all")
    cloud.put("r/new/n1.png", png(41, 3))
    cloud.put("r/new/n2.png", png(42, 3))

    after = check_first_reconcile(api, worker, project, uri, before)
    moved, old_etag = after[f"{uri}r/moved/a.png"], before[f"{uri}r/mv/a.png"]["etag"]
    # On Azure the copy has a new ETag: only the Content-MD5 ties it to the file it was.
    assert (moved["etag"] == old_etag) is cloud.etag_is_md5, (moved["etag"], old_etag)

    # The deleted file comes back as it was: the same asset returns to circulation. Where
    # the ETag is no digest the put-back has a new one, but its digest proves the same bytes:
    # no header is read, and the record takes the new ETag.
    old_etag = by_location(api, project)[f"{uri}r/back.png"]["etag"]
    cloud.put("r/back.png", FILES["r/back.png"])
    second = reconcile(api, worker, project)
    assert second["counts"] | {"checked": 0} == {
        "checked": 0,
        "unchanged": 9,
        "removed": 0,
        "changed": 0,
        "moved": 0,
        "restored": 1,
        "added": 0,
        "failed": 0,
    }, second
    assert second["read_requests"] == 0
    back = by_location(api, project)[f"{uri}r/back.png"]
    assert back["id"] == before[f"{uri}r/back.png"]["id"] and back["status"] == "active"
    assert (back["width"], back["height"]) == (25, 2)
    assert (back["etag"] == old_etag) is cloud.etag_is_md5
    events = api.get(f"/v1/assets/{back['id']}").json()["history"]
    assert [e["event"] for e in events][-2:] == ["removed", "restored"]

    # Settled: the next reconcile costs the listing alone.
    third = reconcile(api, worker, project)
    assert third["counts"]["unchanged"] == len(FILES) - 1 and third["read_requests"] == 0
    assert third["counts"]["changed"] + third["counts"]["removed"] == 0
