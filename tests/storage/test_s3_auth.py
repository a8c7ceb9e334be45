"""Customer roles against moto in auth mode, where STS really checks trust policies.

Auth mode breaks presigned URLs, so these tests run on their own moto server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest

from insitu.errors import AccessDenied
from insitu.storage.base import Check, ProviderContext
from insitu.storage.s3 import S3Config, S3Provider
from tests.fixtures.moto import MotoServer, start_moto_server
from tests.storage.conftest import PORTAL  # noqa: F401  (same settings as the other tests)

ROLE_NAME = "customer-reader"
ROLE = f"arn:aws:iam::123456789012:role/{ROLE_NAME}"
EXTERNAL_ID = "ext-org1"


@pytest.fixture(scope="module")
def auth_server() -> Iterator[tuple[MotoServer, dict[str, str]]]:
    """A moto server in auth mode with an admin user and a role requiring the external ID."""
    server = start_moto_server()
    try:
        root = {
            "endpoint_url": server.endpoint,
            "region_name": "us-east-1",
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        iam = boto3.client("iam", **root)
        iam.create_user(UserName="admin")
        allow_all = {"Effect": "Allow", "Action": "*", "Resource": "*"}
        admin_policy = {"Version": "2012-10-17", "Statement": [allow_all]}
        iam.put_user_policy(
            UserName="admin", PolicyName="all", PolicyDocument=json.dumps(admin_policy)
        )
        key = iam.create_access_key(UserName="admin")["AccessKey"]
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::123456789012:user/admin"},
                    "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}},
                }
            ],
        }
        iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust))
        iam.put_role_policy(
            RoleName=ROLE_NAME, PolicyName="read", PolicyDocument=json.dumps(admin_policy)
        )
        boto3.client("s3", **root).create_bucket(Bucket="photos")
        httpx.post(f"{server.endpoint}/moto-api/reset-auth", content=b"0").raise_for_status()
        yield (
            server,
            {
                "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
            },
        )
    finally:
        server.stop()


@pytest.fixture
def auth_env(
    auth_server: tuple[MotoServer, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    server, keys = auth_server
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_STS", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name, value in keys.items():
        monkeypatch.setenv(name, value)
    return keys


def _assume_check(context: ProviderContext) -> Check:
    config = S3Config(mode="customer_role", role_arn=ROLE)
    checks = S3Provider().verify(
        config, location=S3Provider().parse("s3://photos/"), context=context
    )
    return checks[0]


def _context(context: ProviderContext, external_id: str) -> ProviderContext:
    return ProviderContext(context.settings, "org1", "conn1", external_id)


def test_customer_role_is_assumed_with_the_orgs_external_id(
    auth_env: dict[str, str], context: ProviderContext
) -> None:
    check = _assume_check(_context(context, EXTERNAL_ID))
    assert check.ok, check
    assert "assumed-role/customer-reader" in check.detail


def test_wrong_external_id_is_denied_and_the_fix_is_the_trust_policy(
    auth_env: dict[str, str], context: ProviderContext
) -> None:
    check = _assume_check(_context(context, "ext-other-org"))
    assert not check.ok and ROLE in check.detail and "AccessDenied" in check.detail
    fix = check.fix or ""
    start = fix.index("save this as trust.json") + len("save this as trust.json")
    trust, _ = json.JSONDecoder().raw_decode(fix[start:].lstrip())
    (statement,) = trust["Statement"]
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": "ext-other-org"}}
    assert statement["Principal"] == {"AWS": "arn:aws:iam::123456789012:user/admin"}
    assert f"update-assume-role-policy --role-name {ROLE_NAME}" in fix


def test_insitu_refuses_a_missing_external_id_that_moto_would_accept(
    auth_env: dict[str, str], context: ProviderContext, auth_server: Any
) -> None:
    sts = boto3.Session().client(
        "sts", endpoint_url=auth_server[0].endpoint, region_name="us-east-1"
    )
    assert sts.assume_role(RoleArn=ROLE, RoleSessionName="direct")["Credentials"]  # moto's gap
    check = _assume_check(_context(context, ""))
    assert not check.ok and "refuses" in check.detail


def _put(auth_server: tuple[MotoServer, dict[str, str]], key: str, body: bytes) -> None:
    server, keys = auth_server
    boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
    ).put_object(Bucket="photos", Key=key, Body=body)


def test_heads_read_together_are_signed_as_s3_checks_them(
    auth_env: dict[str, str], auth_server: Any, context: ProviderContext
) -> None:
    """libcurl signs the requests ``read_heads`` sends; moto in auth mode checks every
    signature (and the role session's token) and answers only requests signed right."""
    _put(auth_server, "scans/a.png", b"A" * 5000)
    _put(auth_server, "scans/b.png", b"B" * 100)
    config = S3Config(mode="customer_role", role_arn=ROLE)
    store = S3Provider().open(
        config, location=S3Provider().parse("s3://photos/"), context=_context(context, EXTERNAL_ID)
    )
    heads = store.read_heads([("scans/a.png", 4096), ("scans/b.png", 100)]).result()
    assert heads == {"scans/a.png": b"A" * 4096, "scans/b.png": b"B" * 100}


def test_heads_signed_with_a_wrong_secret_are_left_to_the_ordinary_read(
    auth_env: dict[str, str],
    auth_server: Any,
    context: ProviderContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _put(auth_server, "scans/c.png", b"C" * 100)
    bucket = S3Provider().parse("s3://photos/")
    signed_right = S3Provider().open(S3Config(), location=bucket, context=context)
    assert signed_right.read_heads([("scans/c.png", 100)]).result() == {"scans/c.png": b"C" * 100}
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    store = S3Provider().open(S3Config(), location=bucket, context=context)
    assert store.read_heads([("scans/c.png", 100)]).result() == {}
    with pytest.raises(AccessDenied):  # which the ordinary read reports, with its fix
        store.get_range("scans/c.png", 0, 100)
