"""STS that does not answer while the S3 endpoint does: verify names STS's address, not S3's.

The S3 endpoint is a working moto server (AWS_ENDPOINT_URL_S3, no AWS_ENDPOINT_URL); STS is
sent by AWS_ENDPOINT_URL_STS to a loopback port nothing listens on, as an operator's STS that
the servers cannot reach.
"""

from __future__ import annotations

from typing import Any

import pytest

from insitu.config import Settings
from insitu.storage.base import Check, ProviderContext
from insitu.storage.s3 import PROVIDER, S3Config
from tests.fixtures.moto import TEST_CREDENTIALS, MotoServer, make_s3_client
from tests.fixtures.processes import free_port
from tests.storage.checks import by_name
from tests.storage.conftest import PORTAL

TEMPLATE = "arn:aws:iam::123456789012:role/insitu-org-{org_id}"


@pytest.fixture
def endpoints(monkeypatch: pytest.MonkeyPatch, moto_reset: MotoServer) -> tuple[str, str]:
    """(S3 endpoint, STS endpoint): S3 on moto with a bucket ``bench``, STS on a dead port."""
    sts = f"http://127.0.0.1:{free_port()}"
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_reset.endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", sts)
    for name, value in TEST_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    s3: Any = make_s3_client(moto_reset.endpoint)
    s3.create_bucket(Bucket="bench")
    s3.put_object(Bucket="bench", Key="images/a.png", Body=b"\x89PNG")
    return moto_reset.endpoint, sts


def _assume_check(template: str | None) -> Check:
    settings = Settings(portal_origins=[PORTAL], aws_platform_role_template=template)
    context = ProviderContext(settings, "org1", "conn1", "ext-org1")
    location = PROVIDER.parse("s3://bench/images/")
    return by_name(PROVIDER.verify(S3Config(), location=location, context=context))["assume role"]


def test_unreachable_sts_is_named_not_the_s3_endpoint_that_answers(
    endpoints: tuple[str, str],
) -> None:
    s3, sts = endpoints
    check = _assume_check(None)  # the platform's own identity: one GetCallerIdentity call
    assert not check.ok
    assert check.detail == f"getting AWS credentials from STS failed: cannot reach {sts}"
    fix = check.fix or ""
    assert f"can reach STS at {sts}" in fix and "AWS_ENDPOINT_URL_STS" in fix
    assert s3 not in check.detail + fix
    assert "endpoint_url" not in fix  # the connection's endpoint is not what failed


def test_unreachable_sts_while_assuming_the_platform_role_names_its_address(
    endpoints: tuple[str, str],
) -> None:
    s3, sts = endpoints
    check = _assume_check(TEMPLATE)
    role = TEMPLATE.format(org_id="org1")
    assert not check.ok
    assert (
        check.detail
        == f"assuming {role} failed: cannot reach STS at {sts} (EndpointConnectionError)"
    )
    fix = check.fix or ""
    assert f"can reach STS at {sts}" in fix and "AWS_ENDPOINT_URL_STS" in fix
    assert s3 not in check.detail + fix
