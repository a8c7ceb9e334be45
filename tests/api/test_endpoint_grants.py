"""Private endpoints granted to one org: org A reaches its on-prem store, org B cannot."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from insitu.audit.models import AuditEvent
from insitu.audit.service import OPERATOR
from insitu.config import Settings
from insitu.db import session_scope
from insitu.errors import Conflict, InvalidInput, NotFound
from insitu.jobs.inline import InlineBackend
from insitu.organizations import endpoints
from insitu.organizations.models import Organization
from tests.conftest import Org
from tests.images import png


@pytest.fixture(autouse=True)
def no_operator_wide_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    """No INSITU_PRIVATE_ENDPOINTS here: loopback (moto) is open only through a grant."""
    monkeypatch.delenv("INSITU_PRIVATE_ENDPOINTS", raising=False)


def grant(org: Org, endpoint: str) -> str:
    with session_scope() as session:
        row = endpoints.grant(session, org=session.get_one(Organization, org.id), endpoint=endpoint)
        return row.endpoint


def revoke(org: Org, endpoint: str) -> None:
    with session_scope() as session:
        endpoints.revoke(session, org=session.get_one(Organization, org.id), endpoint=endpoint)


@pytest.fixture
def client(settings: Settings, worker: InlineBackend) -> Iterator[TestClient]:
    from insitu.api.app import create_app

    assert settings.private_endpoints == []
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def s3_connection(client: TestClient, who: Org, endpoint: str) -> Any:
    return client.post(
        "/v1/connections",
        json={"provider": "s3", "settings": {"endpoint_url": endpoint}},
        headers=who.headers,
    )


def test_a_grant_opens_a_loopback_store_to_one_org_only(
    client: TestClient,
    worker: InlineBackend,
    org: Org,
    other_org: Org,
    aws_env: str,
    s3_client: Any,
    s3_bucket: str,
) -> None:
    s3_client.put_object(Bucket=s3_bucket, Key="scans/a.png", Body=png(3, 2))
    port = aws_env.rsplit(":", 1)[1]

    refused = s3_connection(client, org, aws_env)
    assert refused.status_code == 422 and "non-public address" in refused.json()["detail"]

    assert grant(org, f"127.0.0.1:{port}") == f"127.0.0.1:{port}"
    connection = s3_connection(client, org, aws_env)
    assert connection.status_code == 201, connection.text
    project = client.post("/v1/projects", json={"name": "p"}, headers=org.headers).json()
    body = {"source": f"s3://{s3_bucket}/scans/", "connection_id": connection.json()["id"]}
    job = client.post(f"/v1/projects/{project['id']}/imports", json=body, headers=org.headers)
    worker.join()
    imported = client.get(f"/v1/imports/{job.json()['id']}", headers=org.headers).json()
    assert imported["status"] == "succeeded" and imported["counts"]["imported"] == 1

    theirs = s3_connection(client, other_org, aws_env)
    assert theirs.status_code == 422, theirs.text
    assert theirs.json()["error"] == "invalid_configuration"

    revoke(org, f"127.0.0.1:{port}")
    again = s3_connection(client, org, aws_env)
    assert again.status_code == 422


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("minio.internal", "minio.internal"),
        ("MinIO.Internal:9000", "minio.internal:9000"),
        ("10.0.0.5:09000", "10.0.0.5:9000"),
        ("10.0.0.0/24", "10.0.0.0/24"),
        ("10.0.0.7/24", "10.0.0.0/24"),
        ("::1", "::1"),
        ("fd00::/8", "fd00::/8"),
    ],
)
def test_hosts_ports_and_networks_are_stored_as_the_endpoint_check_matches_them(
    org: Org, given: str, stored: str
) -> None:
    assert grant(org, given) == stored


@pytest.mark.parametrize(
    "endpoint",
    [
        "169.254.169.254",
        "169.254.169.254:80",
        "169.254.0.0/16",
        "0.0.0.0/0",  # contains the metadata service
        "fe80::1",
        "fe80::/10",
        "::/0",
        "::ffff:169.254.169.254",
        "64:ff9b::a9fe:a9fe",
        "2002:a9fe:a9fe::/48",
        "metadata.google.internal",
        "metadata",
    ],
)
def test_link_local_and_metadata_addresses_are_never_granted(org: Org, endpoint: str) -> None:
    with pytest.raises(InvalidInput, match="link-local"):
        grant(org, endpoint)


@pytest.mark.parametrize(
    "endpoint",
    [
        "",
        "http://10.0.0.5:9000",
        "10.0.0.5:0",
        "10.0.0.5:70000",
        "host:port",
        "127.0.0.1.",
        "[::1]:9000",
        "::1%lo",
        "0.0.0.0",
        "224.0.0.1",
        "under_score.internal",
        "a b",
        "10.0.0.0/33",
    ],
)
def test_anything_else_is_refused_with_the_forms_that_work(org: Org, endpoint: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        grant(org, endpoint)
    assert refused.value.fix and "host:port" in refused.value.fix


def test_a_grant_twice_or_a_revocation_of_nothing_says_so(org: Org, other_org: Org) -> None:
    grant(org, "10.0.0.5:9000")
    with pytest.raises(Conflict):
        grant(org, "10.0.0.5:9000")
    with pytest.raises(NotFound):
        revoke(other_org, "10.0.0.5:9000")  # another org's grant is not its to revoke
    revoke(org, "10.0.0.5:9000")
    with pytest.raises(NotFound):
        revoke(org, "10.0.0.5:9000")


def test_grants_and_revocations_are_audited_as_the_operators(org: Org) -> None:
    grant(org, "10.0.0.5:9000")
    revoke(org, "10.0.0.5:9000")
    with session_scope() as session:
        events = session.query(AuditEvent).filter(AuditEvent.target_type == "endpoint").all()
    assert [(e.action, e.actor, e.org_id, e.target_id) for e in events] == [
        ("endpoint.granted", OPERATOR.id, org.id, "10.0.0.5:9000"),
        ("endpoint.revoked", OPERATOR.id, org.id, "10.0.0.5:9000"),
    ]
