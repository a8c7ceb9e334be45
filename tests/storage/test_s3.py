"""S3 provider behaviour beyond the contract: config, identity, signing, errors, verify."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from pydantic import ValidationError

from insitu.config import Settings
from insitu.errors import (
    AccessDenied,
    ContainerNotFound,
    InvalidConfiguration,
    InvalidLocation,
    StorageUnreachable,
)
from insitu.storage.base import Check, ProviderContext
from insitu.storage.registry import get_provider
from insitu.storage.s3 import (
    PROVIDER,
    S3Config,
    S3Provider,
    bucket_policy,
    kms_statement,
    platform_role_arn,
    trust_policy,
)
from tests.fixtures.fakes3 import FakeS3
from tests.fixtures.moto import TEST_CREDENTIALS
from tests.sigv4 import verify_presigned_url
from tests.storage.checks import by_name, json_after
from tests.storage.conftest import PORTAL

ROLE = "arn:aws:iam::123456789012:role/customer-reader"
TTL = timedelta(minutes=15)


def _open(bucket: str, context: ProviderContext, config: S3Config | None = None, provider=PROVIDER):  # type: ignore[no-untyped-def]
    return provider.open(
        config or S3Config(), location=PROVIDER.parse(f"s3://{bucket}/"), context=context
    )


# --- URIs and configuration -------------------------------------------------------------


def test_registry_finds_the_s3_provider_by_name() -> None:
    assert get_provider("s3") is PROVIDER
    assert PROVIDER.example_uri == "s3://my-bucket/images/"


@pytest.mark.parametrize(
    ("uri", "bucket", "key"),
    [
        ("s3://my-bucket/images/", "my-bucket", "images/"),
        ("s3://my.bucket-1/a/b c+d%20.png", "my.bucket-1", "a/b c+d%20.png"),
        ("s3://abc", "abc", ""),
        ("S3://abc/", "abc", ""),
        ("s3://abc/q?x=1#frag", "abc", "q?x=1#frag"),
    ],
)
def test_parse_keeps_bucket_and_raw_key(uri: str, bucket: str, key: str) -> None:
    location = PROVIDER.parse(uri)
    assert (location.provider, location.bucket, location.key) == ("s3", bucket, key)
    assert location.uri == f"s3://{bucket}/{key}"


@pytest.mark.parametrize(
    "uri",
    [
        "s3:/bucket/x",
        "gs://bucket/x",
        "s3://",
        "s3:///key",
        "s3://ab/x",
        "s3://My_Bucket/x",
        "s3://bucket..name/x",
        "s3://-bucket/x",
        "s3://192.168.1.1/x",
        "s3://" + "a" * 64 + "/x",
    ],
)
def test_parse_rejects_malformed_uris_with_an_example(uri: str) -> None:
    with pytest.raises(InvalidLocation) as caught:
        PROVIDER.parse(uri)
    assert caught.value.fix and "s3://my-bucket/" in caught.value.fix


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"mode": "customer_role"}, "needs role_arn"),
        ({"mode": "customer_role", "role_arn": "arn:aws:iam::12:role/x"}, "not an IAM role ARN"),
        ({"mode": "customer_role", "role_arn": "arn:aws:iam::123456789012:user/x"}, "role ARN"),
        ({"role_arn": ROLE}, "only used in customer_role mode"),
        ({"endpoint_url": "ftp://minio:9000"}, "http(s)://host"),
        ({"endpoint_url": "https://user:pw@minio:9000"}, "credentials"),
        ({"endpoint_url": "https://minio:9000/?x=1"}, "query"),
        ({"endpoint_url": "https://"}, "http(s)://host"),
        ({"region": "EU West"}, "region"),
    ],
)
def test_config_rejects_invalid_settings_clearly(settings: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        S3Config(**settings)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"access_key_id": "AKIAEXAMPLE"}, "go together"),
        ({"secret_access_key": "s3cr3t"}, "go together"),
        ({"access_key_id": "AKIAEXAMPLE", "secret_access_key": " "}, "go together"),
        (
            {
                "mode": "customer_role",
                "role_arn": ROLE,
                "access_key_id": "A",
                "secret_access_key": "B",
            },
            "signs with the assumed role",
        ),
    ],
)
def test_own_access_keys_come_as_a_pair_and_not_with_a_customer_role(
    settings: dict[str, str], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        S3Config.model_validate(settings)


def test_own_access_keys_are_kept_for_storage_but_never_shown() -> None:
    config = S3Config(access_key_id="AKIAEXAMPLE", secret_access_key="s3cr3t")
    stored = config.model_dump(mode="json")  # what the connection service encrypts
    assert S3Config.model_validate(stored) == config
    assert "s3cr3t" not in repr(config) and "s3cr3t" not in str(config.public())
    assert "AKIAEXAMPLE" not in str(config.public())


def test_config_accepts_a_customer_role_and_an_s3_compatible_endpoint() -> None:
    config = S3Config(
        mode="customer_role", role_arn=ROLE, region="auto", endpoint_url="https://r2.example/"
    )
    assert config.endpoint_url == "https://r2.example"


def test_insitu_refuses_a_customer_role_without_the_org_external_id(
    context: ProviderContext,
) -> None:
    config = S3Config(mode="customer_role", role_arn=ROLE)
    no_external_id = ProviderContext(context.settings, "org1", "conn1", external_id="")
    with pytest.raises(InvalidConfiguration, match="without the organization's external ID"):
        PROVIDER.validate_config(config, no_external_id)
    with pytest.raises(InvalidConfiguration):
        PROVIDER.open(config, location=PROVIDER.parse("s3://abc/"), context=no_external_id)


def test_insitu_refuses_an_external_id_other_than_the_orgs(context: ProviderContext) -> None:
    config = S3Config(mode="customer_role", role_arn=ROLE, external_id="someone-elses")
    with pytest.raises(InvalidConfiguration) as caught:
        PROVIDER.validate_config(config, context)
    assert context.external_id in (caught.value.fix or "")
    PROVIDER.validate_config(config.model_copy(update={"external_id": "ext-org1"}), context)


# --- policies and CORS advice -----------------------------------------------------------


def test_platform_role_arn_fills_the_org_id_and_rejects_bad_templates() -> None:
    template = "arn:aws:iam::123456789012:role/insitu-org-{org_id}"
    assert platform_role_arn(template, "o1") == "arn:aws:iam::123456789012:role/insitu-org-o1"
    with pytest.raises(InvalidConfiguration):
        platform_role_arn("arn:aws:iam::123456789012:role/{org}", "o1")
    with pytest.raises(InvalidConfiguration):
        platform_role_arn("not-an-arn-{org_id}", "o1")


def test_bucket_policy_grants_read_only_access_to_the_role() -> None:
    policy = bucket_policy(ROLE, "photos")
    actions = {statement["Resource"]: statement["Action"] for statement in policy["Statement"]}
    assert actions == {
        "arn:aws:s3:::photos/*": "s3:GetObject",
        "arn:aws:s3:::photos": ["s3:ListBucket", "s3:GetBucketLocation", "s3:GetBucketCors"],
    }
    assert all(s["Principal"] == {"AWS": ROLE} for s in policy["Statement"])


def test_trust_policy_requires_the_external_id() -> None:
    platform = "arn:aws:iam::111111111111:role/insitu-org-o1"
    (statement,) = trust_policy(platform, "ext-1")["Statement"]
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Principal"] == {"AWS": platform}
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": "ext-1"}}


def test_kms_statement_allows_decrypt_for_the_role() -> None:
    statement = kms_statement(ROLE, "arn:aws:kms:us-east-1:123456789012:key/k1")
    assert (statement["Action"], statement["Principal"]) == ("kms:Decrypt", {"AWS": ROLE})


def test_cors_advice_is_what_put_bucket_cors_accepts_and_moto_enforces(
    s3_client: Any, s3_bucket: str, seed_objects: Callable[..., None], aws_env: str
) -> None:
    advice = PROVIDER.cors_advice([PORTAL])
    assert advice.command == (
        "aws s3api put-bucket-cors --bucket BUCKET --cors-configuration file://cors.json"
    )
    (rule,) = advice.rules["CORSRules"]
    assert rule["AllowedMethods"] == ["GET", "HEAD"] and rule["AllowedOrigins"] == [PORTAL]
    assert {"ETag", "Content-Length", "Content-Range", "Accept-Ranges"} <= set(
        rule["ExposeHeaders"]
    )
    seed_objects(s3_bucket, {"a.txt": b"a"})
    url = s3_client.generate_presigned_url(
        "get_object", Params={"Bucket": s3_bucket, "Key": "a.txt"}
    )
    assert "access-control-allow-origin" not in httpx.get(url, headers={"Origin": PORTAL}).headers
    s3_client.put_bucket_cors(Bucket=s3_bucket, CORSConfiguration=advice.rules)
    response = httpx.get(url, headers={"Origin": PORTAL})
    assert response.headers["access-control-allow-origin"] == PORTAL
    assert (
        "access-control-allow-origin"
        not in httpx.get(url, headers={"Origin": "https://evil.example"}).headers
    )


# --- signing and identity ---------------------------------------------------------------


def test_signed_url_has_a_valid_sigv4_signature_and_the_requested_expiry(
    s3_bucket: str, seed_objects: Callable[..., None], context: ProviderContext
) -> None:
    seed_objects(s3_bucket, {"images/a b.png": b"png"})
    signed = _open(s3_bucket, context).sign("images/a b.png", ttl=TTL)
    granted = verify_presigned_url(signed.url, secret_key=TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
    assert granted.path == f"/{s3_bucket}/images/a b.png"
    assert granted.expires_at - granted.signed_at == TTL
    assert abs(signed.expires_at - granted.expires_at) < timedelta(seconds=2)
    with pytest.raises(AssertionError):
        verify_presigned_url(signed.url, secret_key="testing", now=granted.expires_at)


@pytest.mark.parametrize(
    "key", ["a//double.txt", "dot/./x.txt", "/leading.txt", "dir/x/", "ctl\x01.txt"]
)
def test_keys_obstore_cannot_address_still_round_trip(
    s3_bucket: str, seed_objects: Callable[..., None], context: ProviderContext, key: str
) -> None:
    seed_objects(s3_bucket, {key: b"content", "zz.txt": b"z"})
    store = _open(s3_bucket, context)
    listed = [o.key for page in store.list_pages("") for o in page.objects]
    assert listed == [key, "zz.txt"]
    assert store.head(key).size == 7
    assert store.get_range(key, 1, 4) == b"ont"
    url = store.sign(key, ttl=TTL).url
    granted = verify_presigned_url(url, secret_key=TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
    assert granted.path == f"/{s3_bucket}/{key}"
    if "/./" not in key:  # HTTP clients (browsers too) remove dot segments from URL paths
        assert httpx.get(url).content == b"content"


def test_listing_leaves_out_folder_placeholders(
    s3_bucket: str, seed_objects: Callable[..., None], context: ProviderContext
) -> None:
    seed_objects(s3_bucket, {"images/": b"", "images/a.png": b"a"})
    store = _open(s3_bucket, context)
    assert [o.key for p in store.list_pages("images/") for o in p.objects] == ["images/a.png"]


def _signing_key(url: str) -> str:
    return parse_qs(urlsplit(url).query)["X-Amz-Credential"][0].split("/")[0]


def test_customer_role_mode_signs_with_the_assumed_role_credentials(
    s3_bucket: str, seed_objects: Callable[..., None], context: ProviderContext
) -> None:
    seed_objects(s3_bucket, {"a.txt": b"a"})
    store = _open(s3_bucket, context, S3Config(mode="customer_role", role_arn=ROLE))
    url = store.sign("a.txt", ttl=TTL).url
    secret = store.identity.frozen_credentials().secret_key
    granted = verify_presigned_url(url, secret_key=secret)
    assert granted.access_key != TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"]
    assert "X-Amz-Security-Token" in granted.query
    assert httpx.get(url).content == b"a"
    assert store.get_range("a.txt", 0, 1) == b"a"


def test_every_connections_sessions_share_one_copy_of_botocores_models(
    s3_bucket: str, seed_objects: Callable[..., None], context: ProviderContext
) -> None:
    """Each session would otherwise read and parse the service models again."""
    seed_objects(s3_bucket, {"a.txt": b"a"})
    role = _open(s3_bucket, context, S3Config(mode="customer_role", role_arn=ROLE)).identity
    plain = _open(s3_bucket, context).identity
    sessions = [plain.session, role.session, *(assumed.parent for assumed in role.roles)]
    loaders = {id(session._session.get_component("data_loader")) for session in sessions}
    assert len(sessions) >= 3 and len(loaders) == 1
    # Every boto3 session adds its data folder to its loader: shared, it keeps each once.
    folders = list(plain.session._session.get_component("data_loader").search_paths)
    for _ in range(20):
        _open(s3_bucket, context, S3Config(mode="customer_role", role_arn=ROLE))
    assert plain.session._session.get_component("data_loader").search_paths == folders
    assert len(folders) == len(set(folders))
    assert _open(s3_bucket, context).get_range("a.txt", 0, 1) == b"a"


def test_platform_role_template_assumes_the_orgs_role_first(
    s3_bucket: str, seed_objects: Callable[..., None], context: ProviderContext
) -> None:
    seed_objects(s3_bucket, {"a.txt": b"a"})
    settings = Settings(
        portal_origins=[PORTAL],
        aws_platform_role_template="arn:aws:iam::123456789012:role/insitu-org-{org_id}",
    )
    org_context = ProviderContext(settings, "org1", "conn1", "ext-org1")
    store = _open(s3_bucket, org_context)
    arn = store.identity.client("sts").get_caller_identity()["Arn"]
    assert arn.startswith("arn:aws:sts::123456789012:assumed-role/insitu-org-org1/")
    checks = by_name(
        PROVIDER.verify(
            S3Config(), location=PROVIDER.parse(f"s3://{s3_bucket}/"), context=org_context
        )
    )
    assert "insitu-org-org1" in checks["assume role"].detail


def test_assumed_credentials_refresh_before_they_expire(
    s3_bucket: str, seed_objects: Callable[..., None], context: ProviderContext
) -> None:
    seed_objects(s3_bucket, {"a.txt": b"a"})
    store = _open(s3_bucket, context, S3Config(mode="customer_role", role_arn=ROLE))
    first = store.identity.frozen_credentials().access_key
    credentials = store.identity.roles[-1].credentials
    # Pretend the session is about to expire: botocore must assume the role again.
    credentials._expiry_time = datetime.now(UTC) + timedelta(minutes=1)
    assert store.identity.frozen_credentials().access_key != first
    assert store.get_range("a.txt", 0, 1) == b"a"


# --- errors -----------------------------------------------------------------------------


def test_unknown_bucket_raises_bucket_not_found_with_a_fix(
    aws_env: str, context: ProviderContext
) -> None:
    store = _open("no-such-bucket", context)
    with pytest.raises(ContainerNotFound) as caught:
        next(iter(store.list_pages("")))
    assert "no-such-bucket" in caught.value.detail
    assert "head-bucket --bucket no-such-bucket" in (caught.value.fix or "")
    with pytest.raises(ContainerNotFound):
        store.get_range("a.txt", 0, 1)


def test_unreachable_endpoint_raises_storage_unreachable(
    aws_env: str, context: ProviderContext
) -> None:
    allowed = replace(context, private_endpoints=("127.0.0.1:9",))
    store = _open("abc", allowed, S3Config(endpoint_url="http://127.0.0.1:9"))
    with pytest.raises(StorageUnreachable) as caught:
        next(iter(store.list_pages("")))
    assert "127.0.0.1:9" in (caught.value.fix or "")


def _answer(code: str, message: str, status: int = 403) -> Callable[..., Any]:
    """A botocore before-call hook answering the call with an S3 error."""

    def handler(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        response = AWSResponse("https://s3.example", status, {}, None)
        parsed = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {}}
        return response, parsed

    return handler


def test_access_denied_carries_the_bucket_policy_to_apply(
    s3_bucket: str, context: ProviderContext
) -> None:
    provider = S3Provider(
        event_hooks=[("before-call.s3.ListObjectsV2", _answer("AccessDenied", "Access Denied"))]
    )
    config = S3Config(mode="customer_role", role_arn=ROLE)
    store = _open(s3_bucket, context, config, provider)
    with pytest.raises(AccessDenied) as caught:
        next(iter(store.list_pages("")))
    fix = caught.value.fix or ""
    assert json_after(fix, "save this as policy.json") == bucket_policy(ROLE, s3_bucket)
    assert f"put-bucket-policy --bucket {s3_bucket}" in fix


# --- verify -----------------------------------------------------------------------------


@pytest.fixture
def readable_bucket(s3_client: Any, s3_bucket: str, seed_objects: Callable[..., None]) -> str:
    seed_objects(s3_bucket, {"images/a.png": b"\x89PNG....", "images/b.png": b"\x89PNG"})
    return s3_bucket


def _verify(
    bucket: str,
    context: ProviderContext,
    config: S3Config | None = None,
    provider: S3Provider = PROVIDER,
) -> dict[str, Check]:
    location = provider.parse(f"s3://{bucket}/images/")
    return by_name(provider.verify(config or S3Config(), location=location, context=context))


def test_verify_passes_every_check_when_access_and_cors_are_right(
    s3_client: Any, readable_bucket: str, context: ProviderContext
) -> None:
    s3_client.put_bucket_cors(
        Bucket=readable_bucket, CORSConfiguration=PROVIDER.cors_advice([PORTAL]).rules
    )
    checks = _verify(readable_bucket, context, S3Config(mode="customer_role", role_arn=ROLE))
    assert list(checks) == [
        "assume role", "list prefix", "head object", "ranged read", "signed URL", "bucket CORS",
    ]  # fmt: skip
    assert all(check.ok for check in checks.values()), checks
    assert "images/a.png" in checks["list prefix"].detail


def test_verify_reports_missing_cors_for_portal_origin(
    s3_client: Any, readable_bucket: str, context: ProviderContext, aws_env: str
) -> None:
    cors = _verify(readable_bucket, context)["bucket CORS"]
    assert not cors.ok and "no CORS rules" in cors.detail
    assert cors.fix is not None
    assert f"put-bucket-cors --bucket {readable_bucket}" in cors.fix
    configuration = json_after(cors.fix, "save this as cors.json")
    # The fix really works: moto enforces bucket CORS on a preflight to a signed URL.
    url = (
        PROVIDER.open(
            S3Config(), location=PROVIDER.parse(f"s3://{readable_bucket}/"), context=context
        )
        .sign("images/a.png", ttl=TTL)
        .url
    )
    preflight = {"Origin": PORTAL, "Access-Control-Request-Method": "GET"}
    allowed = "access-control-allow-origin"
    assert allowed not in httpx.options(url, headers=preflight).headers
    s3_client.put_bucket_cors(Bucket=readable_bucket, CORSConfiguration=configuration)
    assert httpx.options(url, headers=preflight).headers[allowed] == PORTAL
    assert _verify(readable_bucket, context)["bucket CORS"].ok


def test_verify_reports_cors_that_allows_only_another_origin(
    s3_client: Any, readable_bucket: str, context: ProviderContext
) -> None:
    other = {"AllowedOrigins": ["https://other.example"], "AllowedMethods": ["GET", "HEAD"]}
    s3_client.put_bucket_cors(Bucket=readable_bucket, CORSConfiguration={"CORSRules": [other]})
    cors = _verify(readable_bucket, context)["bucket CORS"]
    assert not cors.ok
    assert f"GET from {PORTAL}" in cors.detail and f"HEAD from {PORTAL}" in cors.detail
    rules = json_after(cors.fix or "", "save this as cors.json")["CORSRules"]
    assert rules[0]["AllowedOrigins"] == ["https://other.example"]  # existing rule kept
    assert rules[1]["AllowedOrigins"] == [PORTAL]


def test_verify_reports_cors_that_allows_get_but_not_head(
    s3_client: Any, readable_bucket: str, context: ProviderContext
) -> None:
    rule = {"AllowedOrigins": [PORTAL], "AllowedMethods": ["GET"]}
    s3_client.put_bucket_cors(Bucket=readable_bucket, CORSConfiguration={"CORSRules": [rule]})
    cors = _verify(readable_bucket, context)["bucket CORS"]
    assert not cors.ok and cors.detail.endswith(f"do not allow HEAD from {PORTAL}")


def test_verify_reports_an_unknown_bucket_and_skips_what_depends_on_it(
    aws_env: str, context: ProviderContext
) -> None:
    checks = _verify("no-such-bucket", context)
    assert checks["assume role"].ok
    assert not checks["list prefix"].ok and "NoSuchBucket" in checks["list prefix"].detail
    assert "head-bucket" in (checks["list prefix"].fix or "")
    for name in ("head object", "ranged read", "signed URL"):
        assert checks[name].detail == "skipped: needs 'list prefix' to pass first"


def test_verify_reports_an_empty_prefix(s3_bucket: str, context: ProviderContext) -> None:
    check = _verify(s3_bucket, context)["list prefix"]
    assert not check.ok and "no objects" in check.detail


def test_verify_reports_a_customer_role_without_external_id_as_refused(
    s3_bucket: str, context: ProviderContext
) -> None:
    no_external_id = ProviderContext(context.settings, "org1", "conn1", external_id="")
    checks = _verify(s3_bucket, no_external_id, S3Config(mode="customer_role", role_arn=ROLE))
    assert not checks["assume role"].ok and "refuses" in checks["assume role"].detail
    assert all(not check.ok for check in checks.values())


def test_verify_reports_sse_kms_denial_with_the_key_and_statement_to_grant(
    s3_client: Any, s3_bucket: str, context: ProviderContext, aws_env: str
) -> None:
    kms = boto3.Session().client(
        "kms", endpoint_url=aws_env, config=Config(signature_version="s3v4")
    )
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    s3_client.put_object(
        Bucket=s3_bucket, Key="images/secret.png", Body=b"x",
        ServerSideEncryption="aws:kms", SSEKMSKeyId=key_arn,
    )  # fmt: skip
    config = S3Config(mode="customer_role", role_arn=ROLE)
    assert _verify(s3_bucket, context, config)["kms:Decrypt"].ok

    denied = "User is not authorized to perform: kms:Decrypt"
    hook = ("before-call.s3.GetObject", _answer("AccessDenied", denied))
    checks = _verify(s3_bucket, context, config, S3Provider(event_hooks=[hook]))
    kms_check = checks["kms:Decrypt"]
    assert checks["head object"].ok and "aws:kms" in checks["head object"].detail
    assert not kms_check.ok and key_arn in kms_check.detail and ROLE in kms_check.detail
    fix = kms_check.fix or ""
    assert json_after(fix, f"key policy of {key_arn}:") == kms_statement(ROLE, key_arn)
    assert f"create-grant --key-id {key_arn} --grantee-principal {ROLE}" in fix
    assert checks["ranged read"].detail == "skipped: needs 'kms:Decrypt' to pass first"


def test_production_refuses_the_shared_platform_identity_without_a_role_template() -> None:
    from insitu.config import Settings
    from insitu.errors import InvalidConfiguration
    from insitu.storage.base import ProviderContext
    from insitu.storage.s3 import PROVIDER as S3
    from insitu.storage.s3 import S3Config

    production = Settings(
        environment="production", secret_key="production-secret-key-for-tests-0123456789"
    )
    context = ProviderContext(
        settings=production, org_id="org1", connection_id="c1", external_id="ext"
    )
    with pytest.raises(InvalidConfiguration) as refused:
        S3.validate_config(S3Config(), context)
    assert "INSITU_AWS_PLATFORM_ROLE_TEMPLATE" in (refused.value.fix or "")
    template = "arn:aws:iam::123456789012:role/insitu-org-{org_id}"
    with_roles = production.model_copy(update={"aws_platform_role_template": template})
    S3.validate_config(S3Config(), ProviderContext(with_roles, "org1", "c1", "ext"))
    customer = S3Config(mode="customer_role", role_arn="arn:aws:iam::123456789012:role/reader")
    S3.validate_config(customer, context)


def test_an_operator_endpoint_without_sts_is_named_with_the_variable_to_set_instead(
    context: ProviderContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fakes3 is an S3-compatible store with no STS, set for every client by AWS_ENDPOINT_URL."""
    store = FakeS3(10)
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", store.endpoint)
        for name, value in TEST_CREDENTIALS.items():
            monkeypatch.setenv(name, value)
        PROVIDER.clear_cache()
        config = S3Config(access_key_id="fake", secret_access_key="fake")
        identity = _verify("bench", context, config)["assume role"]
    finally:
        store.stop()
        PROVIDER.clear_cache()
    assert not identity.ok
    assert identity.detail.startswith("getting AWS credentials from STS failed: MethodNotAllowed")
    assert identity.fix is not None
    assert f"AWS_ENDPOINT_URL sends insitu's STS calls to {store.endpoint}" in identity.fix
    assert "set AWS_ENDPOINT_URL_S3 instead" in identity.fix
