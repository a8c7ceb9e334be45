"""AWS S3 and S3-compatible stores (MinIO, Ceph, R2, ...).

Identity: the platform's own AWS identity comes from boto3's standard chain (``AWS_ENDPOINT_URL*``
point it at an emulator). With ``INSITU_AWS_PLATFORM_ROLE_TEMPLATE`` set, insitu first assumes
the org's platform role; ``customer_role`` connections then assume the customer's role from it,
always with the org's external ID. Assumed credentials refresh themselves before they expire.

Clients, chosen by ``bench/s3_clients.py`` (CPU per object, 10k objects against moto):
obstore does ranged GETs (0.43 vs 1.22 CPU-ms for boto3) and presigning (0.01 vs 0.18 CPU-ms);
boto3 does listing (0.08 CPU-ms, and it takes any key: obstore aborts a whole listing on a key
like ``a//b`` or ``./x``), HEAD (it reports SSE-KMS), keys obstore cannot address, and the
control plane (STS, CORS). Clients and credentials are cached per identity, so ``open`` is cheap.
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

import boto3
import botocore.credentials
import botocore.exceptions
import botocore.session
import obstore
from botocore.config import Config
from obstore.store import S3Store
from pydantic import field_validator, model_validator

from insitu.errors import (
    AccessDenied,
    ContainerNotFound,
    InsituError,
    InvalidConfiguration,
    InvalidLocation,
    KeyAccessDenied,
    ObjectNotFound,
    StorageError,
    StorageUnreachable,
)
from insitu.storage import verify as steps_
from insitu.storage.base import (
    Check,
    CorsAdvice,
    ListPage,
    Location,
    ObjectInfo,
    ProviderConfig,
    ProviderContext,
    SignedURL,
)
from insitu.storage.s3_policies import (
    ROLE_ARN_PATTERN,
    bucket_policy,
    cors_configuration,
    dumps,
    kms_fix,
    kms_statement,
    platform_role_arn,
    put_bucket_policy_command,
    put_cors_command,
    trust_policy,
)

__all__ = [
    "PROVIDER",
    "S3Config",
    "S3ObjectStore",
    "S3Provider",
    "bucket_policy",
    "kms_statement",
    "platform_role_arn",
    "trust_policy",
]

EventHook = tuple[str, Callable[..., Any]]
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IPV4 = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
_REGION = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_PLACEHOLDER_PRINCIPAL = "arn:aws:iam::ACCOUNT_ID:role/ROLE_NAME"
# obstore re-asks for credentials at least this often, so botocore's refresh reaches it.
_CREDENTIAL_CACHE = timedelta(minutes=5)


class S3Config(ProviderConfig):
    """An S3 connection: how insitu gets access, and where the store is."""

    mode: Literal["platform_role", "customer_role"] = "platform_role"
    role_arn: str | None = None
    external_id: str | None = None
    region: str = "us-east-1"
    endpoint_url: str | None = None

    @field_validator("role_arn")
    @classmethod
    def _role_arn_is_a_role(cls, value: str | None) -> str | None:
        if value is not None and not ROLE_ARN_PATTERN.match(value):
            raise ValueError(
                f"{value!r} is not an IAM role ARN; write it like "
                "arn:aws:iam::123456789012:role/insitu-reader"
            )
        return value

    @field_validator("region")
    @classmethod
    def _region_is_a_region(cls, value: str) -> str:
        if not _REGION.match(value):
            raise ValueError(f"{value!r} is not a region name; write it like eu-west-1")
        return value

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint_is_a_base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        problem = None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problem = "it must be http(s)://host[:port]"
        elif parts.username or parts.password:
            problem = "it must not contain credentials"
        elif parts.query or parts.fragment:
            problem = "it must not have a query or fragment"
        if problem:
            raise ValueError(
                f"endpoint_url {value!r} is invalid: {problem}, e.g. https://minio.example.com:9000"
            )
        return value.rstrip("/")

    @model_validator(mode="after")
    def _role_matches_mode(self) -> S3Config:
        if self.mode == "customer_role" and not self.role_arn:
            raise ValueError(
                "customer_role mode needs role_arn, the ARN of the role insitu assumes, "
                "e.g. arn:aws:iam::123456789012:role/insitu-reader"
            )
        if self.mode == "platform_role" and (self.role_arn or self.external_id):
            raise ValueError(
                "role_arn and external_id are only used in customer_role mode; "
                "remove them or set mode to customer_role"
            )
        return self


# --- identity -----------------------------------------------------------------------------


class _FixedCredentials(botocore.credentials.CredentialProvider):
    METHOD = "insitu-assumed-role"

    def __init__(self, credentials: botocore.credentials.Credentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> botocore.credentials.Credentials:
        return self._credentials


def _session(
    region: str, credentials: botocore.credentials.Credentials | None = None
) -> boto3.Session:
    """A boto3 session on the standard chain, or on ``credentials`` when given."""
    core = botocore.session.get_session()
    if credentials is not None:
        resolver = botocore.credentials.CredentialResolver([_FixedCredentials(credentials)])
        core.register_component("credential_provider", resolver)
    return boto3.Session(botocore_session=core, region_name=region)


def _config(**extra: Any) -> Config:
    return Config(
        signature_version="s3v4",
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=5,
        read_timeout=30,
        **extra,
    )


class _AssumedRole:
    """Credentials of a role assumed from ``parent``; botocore refreshes them before expiry."""

    def __init__(
        self,
        parent: boto3.Session,
        role_arn: str,
        session_name: str,
        external_id: str | None,
        hooks: Sequence[EventHook],
    ) -> None:
        self.parent, self.role_arn, self.session_name = parent, role_arn, session_name
        self.external_id, self.hooks = external_id, hooks
        self.expiry: datetime | None = None
        self.credentials = botocore.credentials.DeferredRefreshableCredentials(
            refresh_using=self._assume, method="assume-role"
        )

    def _assume(self) -> dict[str, str]:
        sts = self.parent.client("sts", config=_config())
        for event, handler in self.hooks:
            sts.meta.events.register(event, handler)
        args = {"RoleArn": self.role_arn, "RoleSessionName": self.session_name}
        if self.external_id is not None:
            args["ExternalId"] = self.external_id
        try:
            creds = sts.assume_role(**args)["Credentials"]
        except Exception as exc:
            raise _AssumeRoleFailed(self, exc) from exc
        self.expiry = creds["Expiration"]
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": creds["Expiration"].isoformat(),
        }


class _AssumeRoleFailed(Exception):
    """AssumeRole of ``role`` failed; carries which role, for the error's fix."""

    def __init__(self, role: _AssumedRole, cause: Exception) -> None:
        super().__init__(f"assuming {role.role_arn} failed: {cause}")
        self.role, self.cause = role, cause


class _Identity:
    """One way of reaching S3 (who, which region and endpoint), with its cached clients."""

    def __init__(
        self, config: S3Config, context: ProviderContext, hooks: Sequence[EventHook]
    ) -> None:
        self.config, self.hooks = config, hooks
        self.endpoint = config.endpoint_url or _env_endpoint()
        template = context.settings.aws_platform_role_template
        self.platform_role = platform_role_arn(template, context.org_id) if template else None
        self.roles: list[_AssumedRole] = []
        session = _session(config.region)
        name = f"insitu-{context.org_id}"[:64]
        if self.platform_role:
            self.roles.append(_AssumedRole(session, self.platform_role, name, None, hooks))
            session = _session(config.region, self.roles[-1].credentials)
        if config.mode == "customer_role":
            assert config.role_arn is not None
            role = _AssumedRole(session, config.role_arn, name, context.external_id, hooks)
            self.roles.append(role)
            session = _session(config.region, role.credentials)
        self.session = session
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        self._stores: OrderedDict[str, S3Store] = OrderedDict()
        self._caller: str | None = None
        self.obstore_expiry: datetime | None = None

    @property
    def principal(self) -> str | None:
        """The role ARN that must be granted bucket access (None: not known without a call)."""
        if self.config.mode == "customer_role":
            return self.config.role_arn
        return self.platform_role

    def principal_or_caller(self) -> str:
        """The principal to name in policies, asking STS who we are if need be."""
        if self.principal:
            return self.principal
        if self._caller is None:
            try:
                self._caller = _role_of(self.client("sts").get_caller_identity()["Arn"])
            except Exception:
                return _PLACEHOLDER_PRINCIPAL
        return self._caller

    def client(self, service: str) -> Any:
        """A cached boto3 client (thread-safe once created) with the hooks registered."""
        with self._lock:
            client = self._clients.get(service)
            if client is None:
                if service == "s3":
                    style = "path" if self.endpoint else "auto"
                    client = self.session.client(
                        "s3",
                        endpoint_url=self.endpoint,
                        config=_config(max_pool_connections=64, s3={"addressing_style": style}),
                    )
                else:
                    client = self.session.client(service, config=_config())
                for event, handler in self.hooks:
                    client.meta.events.register(event, handler)
                self._clients[service] = client
            return client

    def store(self, bucket: str) -> S3Store:
        """A cached obstore S3Store for ``bucket``."""
        with self._lock:
            store = self._stores.get(bucket)
            if store is None:
                options: dict[str, Any] = {}
                if self.endpoint:
                    options["endpoint"] = self.endpoint
                store = S3Store(
                    bucket,
                    region=self.config.region,
                    credential_provider=self._obstore_credentials,  # type: ignore[arg-type]
                    client_options={  # type: ignore[arg-type]
                        "allow_http": "true"
                        if (self.endpoint or "").startswith("http:")
                        else "false",
                        "connect_timeout": "5s",
                        "timeout": "30s",
                        "pool_max_idle_per_host": "64",
                    },
                    retry_config={"max_retries": 3, "retry_timeout": timedelta(seconds=30)},
                    virtual_hosted_style_request=False,
                    **options,
                )
                self._stores[bucket] = store
                if len(self._stores) > 64:
                    self._stores.popitem(last=False)
            else:
                self._stores.move_to_end(bucket)
            return store

    def frozen_credentials(self) -> botocore.credentials.ReadOnlyCredentials:
        """The current credentials, assuming or refreshing roles first if need be."""
        credentials = self.session.get_credentials()
        if credentials is None:
            raise botocore.exceptions.NoCredentialsError()
        return credentials.get_frozen_credentials()

    def _obstore_credentials(self) -> dict[str, Any]:
        frozen = self.frozen_credentials()
        expiry = self.roles[-1].expiry if self.roles else None
        self.obstore_expiry = expiry
        expires_at = datetime.now(UTC) + _CREDENTIAL_CACHE
        if expiry is not None:
            expires_at = min(expires_at, expiry - timedelta(minutes=1))
        return {
            "access_key_id": frozen.access_key,
            "secret_access_key": frozen.secret_key,
            "token": frozen.token,
            "expires_at": expires_at,
        }


def _env_endpoint() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


def _role_of(arn: str) -> str:
    """The role ARN behind an assumed-role session ARN (other ARNs unchanged)."""
    match = re.match(r"^arn:([\w-]+):sts::(\d{12}):assumed-role/([^/]+)/", arn)
    return f"arn:{match[1]}:iam::{match[2]}:role/{match[3]}" if match else arn


# --- errors -------------------------------------------------------------------------------

# One table from S3/STS/KMS error codes (or bare HTTP statuses, for HEAD) to insitu's errors.
_ERRORS: dict[str, type[StorageError]] = {
    "NoSuchKey": ObjectNotFound,
    "NoSuchVersion": ObjectNotFound,
    "NotFound": ObjectNotFound,
    "404": ObjectNotFound,
    "NoSuchBucket": ContainerNotFound,
    "AccessDenied": AccessDenied,
    "Forbidden": AccessDenied,
    "403": AccessDenied,
    "AllAccessDisabled": AccessDenied,
    "AccountProblem": AccessDenied,
    "InvalidAccessKeyId": AccessDenied,
    "InvalidClientTokenId": AccessDenied,
    "SignatureDoesNotMatch": AccessDenied,
    "ExpiredToken": AccessDenied,
    "InvalidToken": AccessDenied,
    "UnrecognizedClientException": AccessDenied,
    "KMS.AccessDeniedException": KeyAccessDenied,
    "KMS.DisabledException": KeyAccessDenied,
    "KMS.NotFoundException": KeyAccessDenied,
    "KMS.KMSInvalidStateException": KeyAccessDenied,
}
_KMS_HINTS = ("kms", "customer master key")
_KMS_ARN = re.compile(r"arn:aws[\w-]*:kms:[\w-]+:\d{12}:key/[\w-]+")
_UNREACHABLE = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectTimeoutError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectionClosedError,
)


@dataclass(frozen=True)
class _Where:
    """What was being done where, to word the error and its fix."""

    identity: _Identity
    bucket: str
    key: str | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key or ''}"


def _code_of(exc: Exception) -> tuple[str, str, str]:
    """(code, message, operation) of a boto3 or obstore error."""
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        return str(error.get("Code", "")), str(error.get("Message", "")), exc.operation_name
    text = str(exc)
    code = re.search(r"<Code>([\w.]+)</Code>", text)
    status = re.search(r"status code: (\d{3})", text)
    found = code[1] if code else status[1] if status else ""
    if not found and isinstance(exc, FileNotFoundError):
        found = "404"
    elif not found and isinstance(exc, PermissionError):
        found = "403"
    return found, text, ""


def _error(exc: Exception, what: str, where: _Where) -> InsituError:
    """Map an SDK error to insitu's error tree, with what failed and the exact fix."""
    if isinstance(exc, InsituError):
        return exc
    identity, bucket = where.identity, where.bucket
    endpoint = identity.endpoint or f"S3 in {identity.config.region}"
    unreachable = isinstance(exc, _UNREACHABLE) or "error sending request" in str(exc)
    if unreachable:
        return StorageUnreachable(
            f"{what} failed: cannot reach {endpoint}",
            fix=f"check that {endpoint} is reachable from the insitu servers "
            "(network, proxy, the connection's endpoint_url and region)",
        )
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return AccessDenied(
            f"{what} failed: insitu has no AWS credentials",
            fix="give the insitu servers an AWS identity (instance/task role, or "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
        )
    if isinstance(exc, _AssumeRoleFailed):
        return _assume_error(exc, identity)
    code, message, _ = _code_of(exc)
    kind = _ERRORS.get(code, StorageError)
    if kind is AccessDenied and any(hint in message.lower() for hint in _KMS_HINTS):
        kind = KeyAccessDenied
    detail = f"{what} failed: {code or type(exc).__name__}"
    if message and kind is not ObjectNotFound:
        detail += f" ({' '.join(message.split())[:300]})"
    if kind is ObjectNotFound:
        key = where.key or ""
        fix = (
            f"check that {where.uri} exists (it may have been moved or deleted): "
            f"aws s3api head-object --bucket {bucket} --key '{key}'"
        )
    elif kind is ContainerNotFound:
        fix = (
            f"check the bucket name {bucket!r}, and the connection's region "
            f"({identity.config.region}) and endpoint: aws s3api head-bucket --bucket {bucket}"
        )
    elif kind is KeyAccessDenied:
        key_arn = _KMS_ARN.search(message)
        fix = kms_fix(identity.principal_or_caller(), key_arn[0] if key_arn else "KEY_ARN")
    elif kind is AccessDenied:
        fix = _bucket_policy_fix(identity, bucket)
    else:
        fix = f"retry; if it persists, check {endpoint} and the bucket {bucket!r}"
    return kind(detail, fix=fix, bucket=bucket, key=where.key)


def _bucket_policy_fix(identity: _Identity, bucket: str) -> str:
    policy = dumps(bucket_policy(identity.principal_or_caller(), bucket))
    command = put_bucket_policy_command(bucket, identity.config.endpoint_url)
    return (
        f"grant read access: save this as policy.json\n{policy}\nthen run:\n{command}\n"
        "(merge it into the bucket's existing policy if it has one)"
    )


def _assume_error(exc: _AssumeRoleFailed, identity: _Identity) -> InsituError:
    failing = exc.role
    if isinstance(exc.cause, _UNREACHABLE):
        return StorageUnreachable(
            f"assuming {failing.role_arn} failed: cannot reach AWS STS ({exc.cause})",
            fix="check that STS is reachable from the insitu servers (AWS_ENDPOINT_URL_STS)",
        )
    code, message, _ = _code_of(exc.cause)
    detail = f"assuming {failing.role_arn} failed: {code} ({' '.join(message.split())[:300]})"
    if failing.external_id is not None:
        assumer = identity.platform_role or identity_arn_of(identity)
        name = failing.role_arn.rsplit("/", 1)[-1]
        fix = (
            f"let insitu assume the role with the org's external ID: save this as trust.json\n"
            f"{dumps(trust_policy(assumer, failing.external_id))}\nthen run:\n"
            f"aws iam update-assume-role-policy --role-name {name} "
            "--policy-document file://trust.json"
        )
    else:
        fix = (
            f"the platform role {failing.role_arn} must exist and trust insitu's servers; "
            "ask the insitu operator (INSITU_AWS_PLATFORM_ROLE_TEMPLATE)"
        )
    return AccessDenied(detail, fix=fix, role_arn=failing.role_arn)


def identity_arn_of(identity: _Identity) -> str:
    """The ARN insitu's servers run as before assuming customer roles."""
    try:
        arn = _session(identity.config.region).client("sts", config=_config())
        return _role_of(arn.get_caller_identity()["Arn"])
    except Exception:
        return _PLACEHOLDER_PRINCIPAL


# --- the store ----------------------------------------------------------------------------


def _obstore_can_address(key: str) -> bool:
    """Whether obstore's path rules keep ``key`` exactly (else boto3 serves it)."""
    if not key or key[0] == "/" or key[-1] == "/" or not key.isprintable():
        return False
    return all(part not in ("", ".", "..") for part in key.split("/"))


class S3ObjectStore:
    """Read-only access to one bucket; thread-safe; clients are shared per identity."""

    def __init__(self, identity: _Identity, bucket: str) -> None:
        self.identity = identity
        self.bucket = bucket

    def _where(self, key: str | None = None) -> _Where:
        return _Where(self.identity, self.bucket, key)

    def list_pages(
        self, prefix: str, *, cursor: str | None = None, page_size: int = 1000
    ) -> Iterator[ListPage]:
        """ListObjectsV2 pages in key order; the cursor is the page's last key (StartAfter).

        Folder placeholders (empty objects whose key ends in ``/``) are not files: left out.
        """
        client = self.identity.client("s3")
        after = cursor
        while True:
            args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": page_size}
            if after:
                args["StartAfter"] = after
            try:
                response = client.list_objects_v2(**args)
            except Exception as exc:
                raise _error(exc, f"listing {self._where(prefix).uri}", self._where()) from exc
            contents = response.get("Contents", [])
            objects = [
                ObjectInfo(
                    key=item["Key"],
                    size=item["Size"],
                    etag=item.get("ETag", "").strip('"') or None,
                    last_modified=item.get("LastModified"),
                )
                for item in contents
                if not (item["Key"].endswith("/") and item["Size"] == 0)
            ]
            more = bool(response.get("IsTruncated")) and bool(contents)
            if contents:
                after = contents[-1]["Key"]
            yield ListPage(objects, after if more else None)
            if not more:
                return

    def head(self, key: str) -> ObjectInfo:
        """HEAD one object: size, ETag (unquoted), version, SSE algorithm and KMS key."""
        try:
            response = self.identity.client("s3").head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            raise _error(exc, f"HEAD {self._where(key).uri}", self._where(key)) from exc
        return ObjectInfo(
            key=key,
            size=response["ContentLength"],
            etag=response.get("ETag", "").strip('"') or None,
            version=response.get("VersionId"),
            last_modified=response.get("LastModified"),
            encryption=response.get("ServerSideEncryption"),
            encryption_key=response.get("SSEKMSKeyId"),
        )

    def get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)``: fewer at the object's end, none past it."""
        if start < 0 or end < start:
            raise ValueError(f"invalid range [{start}, {end})")
        if end == start:
            return b""
        try:
            if _obstore_can_address(key):
                self.identity.frozen_credentials()  # STS errors surface here, not inside obstore
                return bytes(
                    obstore.get_range(self.identity.store(self.bucket), key, start=start, end=end)
                )
            response = self.identity.client("s3").get_object(
                Bucket=self.bucket, Key=key, Range=f"bytes={start}-{end - 1}"
            )
            data: bytes = response["Body"].read()
            return data
        except Exception as exc:
            if _code_of(exc)[0] in ("InvalidRange", "416"):
                return b""
            what = f"ranged GET bytes={start}-{end - 1} of {self._where(key).uri}"
            raise _error(exc, what, self._where(key)) from exc

    def sign(self, key: str, *, ttl: timedelta) -> SignedURL:
        """A presigned GET for exactly ``key``; expires after ``ttl`` or with the role session."""
        seconds = max(1, int(ttl.total_seconds()))
        now = datetime.now(UTC)
        try:
            if _obstore_can_address(key):
                self.identity.frozen_credentials()
                url = obstore.sign(
                    self.identity.store(self.bucket), "GET", key, timedelta(seconds=seconds)
                )
                credentials_expire = self.identity.obstore_expiry
            else:
                url = self.identity.client("s3").generate_presigned_url(
                    "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=seconds
                )
                credentials_expire = self.identity.roles[-1].expiry if self.identity.roles else None
        except Exception as exc:
            raise _error(
                exc, f"signing a URL for {self._where(key).uri}", self._where(key)
            ) from exc
        expires_at = now + timedelta(seconds=seconds)
        if credentials_expire is not None:
            expires_at = min(expires_at, credentials_expire)
        return SignedURL(url, expires_at)

    def close(self) -> None:
        """Nothing to release: connections are pooled per identity for the process."""


# --- the provider -------------------------------------------------------------------------


class S3Provider:
    """The ``s3`` provider. ``event_hooks`` are botocore handlers put on every boto3 client."""

    name: ClassVar[str] = "s3"
    schemes: ClassVar[tuple[str, ...]] = ("s3",)
    config_model: ClassVar[type[ProviderConfig]] = S3Config
    example_uri: ClassVar[str] = "s3://my-bucket/images/"

    def __init__(self, event_hooks: Sequence[EventHook] = (), cache_size: int = 1024) -> None:
        self.event_hooks = tuple(event_hooks)
        self._cache_size = cache_size
        self._identities: OrderedDict[tuple[Any, ...], _Identity] = OrderedDict()
        self._lock = threading.Lock()

    # parsing and configuration

    def parse(self, uri: str) -> Location:
        """``s3://bucket/prefix/`` or ``s3://bucket/key``; keys are kept raw (no decoding)."""
        example = "write it as s3://my-bucket/images/ (a prefix) or s3://my-bucket/images/a.png"
        if not isinstance(uri, str) or not uri[:5].lower() == "s3://":
            raise InvalidLocation(f"{uri!r} is not an s3:// URI", fix=example)
        bucket, _, key = uri[5:].partition("/")
        if not bucket:
            raise InvalidLocation(f"{uri!r} names no bucket", fix=example)
        problem = _bucket_problem(bucket)
        if problem:
            raise InvalidLocation(
                f"{bucket!r} in {uri!r} is not a valid S3 bucket name: {problem}",
                fix=f"{example}; bucket names are 3-63 lowercase letters, digits, dots and hyphens",
            )
        return Location("s3", "s3", bucket, key)

    def validate_config(self, config: ProviderConfig, context: ProviderContext) -> None:
        """Refuse a customer role without the org's external ID, or with another one."""
        config = _s3_config(config)
        template = context.settings.aws_platform_role_template
        if template:
            platform_role_arn(template, context.org_id)
        if config.mode != "customer_role":
            return
        if not context.external_id:
            raise InvalidConfiguration(
                "insitu refuses to assume a customer role without the organization's external ID",
                fix="create the organization's external ID first (GET /v1/organization/aws), "
                "then require it in the role's trust policy",
            )
        if config.external_id is not None and config.external_id != context.external_id:
            raise InvalidConfiguration(
                "the connection's external_id is not this organization's external ID",
                fix=f"set external_id to {context.external_id!r} (or leave it out), and require "
                "that value in the role's trust policy",
            )

    # stores

    def open(
        self, config: ProviderConfig, *, location: Location, context: ProviderContext
    ) -> S3ObjectStore:
        """A store on ``location``'s bucket; no network call until it is used."""
        config = _s3_config(config)
        self.validate_config(config, context)
        key = (
            config.model_dump_json(),
            context.org_id,
            context.external_id,
            context.settings.aws_platform_role_template,
            _env_endpoint(),
            os.environ.get("AWS_ENDPOINT_URL_STS"),
            os.environ.get("AWS_ACCESS_KEY_ID"),
            os.environ.get("AWS_PROFILE"),
        )
        with self._lock:
            identity = self._identities.get(key)
            if identity is None:
                identity = _Identity(config, context, self.event_hooks)
                self._identities[key] = identity
                if len(self._identities) > self._cache_size:
                    self._identities.popitem(last=False)
            else:
                self._identities.move_to_end(key)
        return S3ObjectStore(identity, location.bucket)

    def clear_cache(self) -> None:
        """Forget cached identities, clients and credentials (tests; rotated platform keys)."""
        with self._lock:
            self._identities.clear()

    # verification

    def verify(
        self, config: ProviderConfig, *, location: Location, context: ProviderContext
    ) -> list[Check]:
        """Assume role, list, HEAD, kms:Decrypt, ranged GET, signed URL, CORS: each with a fix."""
        config = _s3_config(config)
        steps = steps_.Steps()
        try:
            self.validate_config(config, context)
            identity = _Identity(config, context, self.event_hooks)  # fresh: no cached grants
        except InsituError as exc:
            steps.add(Check("assume role", False, exc.detail, exc.fix))
            return [*steps.checks, *_skipped(steps, with_cors=True)]
        store = S3ObjectStore(identity, location.bucket)
        steps.add(*_check_identity(identity))
        sample = steps.run(steps_.LIST, lambda: steps_.list_sample(store, location.key))
        info = steps.run(
            steps_.HEAD, lambda: steps_.head_sample(store, sample.key if sample else "")
        )
        if info is not None and info.encryption == "aws:kms":
            steps.run("kms:Decrypt", lambda: _check_kms(identity, location.bucket, info))
        first = steps.run(
            steps_.RANGE, lambda: steps_.read_first_byte(store, info.key if info else "")
        )
        steps.run(
            steps_.SIGNED_URL,
            lambda: steps_.fetch_signed_url(
                store, info.key if info else "", expected=first, ttl=timedelta(minutes=1),
                fix=f"check that the bucket is in the connection's region "
                f"({config.region}): aws s3api get-bucket-location --bucket {location.bucket}",
            ),
        )  # fmt: skip
        origins = context.settings.portal_origins
        if steps.checks[0].ok:
            steps.run_anyway(lambda: _check_cors(identity, location.bucket, origins))
        else:
            steps.skip(steps_.CORS)
        return steps.checks

    def cors_advice(self, origins: Sequence[str]) -> CorsAdvice:
        """The ``cors.json`` for ``put-bucket-cors`` allowing GET and HEAD from ``origins``."""
        return CorsAdvice("s3", cors_configuration(origins), put_cors_command())


def _skipped(steps: steps_.Steps, *, with_cors: bool) -> list[Check]:
    names = [steps_.LIST, steps_.HEAD, steps_.RANGE, steps_.SIGNED_URL]
    if with_cors:
        names.append(steps_.CORS)
    reason = f"needs '{steps.blocked_by}' to pass first"
    return [Check(name, False, f"skipped: {reason}") for name in names]


def _bucket_problem(bucket: str) -> str | None:
    # Only today's rules: legacy names (capitals, underscores) can no longer be created and
    # break virtual-hosted addressing and TLS; S3-compatible stores follow these rules too.
    if not 3 <= len(bucket) <= 63:
        return f"it has {len(bucket)} characters, not 3-63"
    if not _BUCKET.match(bucket):
        return "use lowercase letters, digits, dots, hyphens; start and end with a letter/digit"
    if ".." in bucket or ".-" in bucket or "-." in bucket:
        return "dots may not be doubled or next to a hyphen"
    if _IPV4.match(bucket):
        return "it may not look like an IP address"
    return None


def _s3_config(config: ProviderConfig) -> S3Config:
    if isinstance(config, S3Config):
        return config
    raise InvalidConfiguration(
        f"an s3 connection needs S3Config settings, not {type(config).__name__}",
        fix="create the connection with provider 's3'",
    )


def _check_identity(identity: _Identity) -> tuple[Check, None]:
    """Assume the roles (customer role with the external ID) and say who insitu is."""
    try:
        arn = identity.client("sts").get_caller_identity()["Arn"]
    except Exception as exc:
        error = _error(exc, "getting AWS credentials", _Where(identity, ""))
        return Check("assume role", False, error.detail, error.fix), None
    if identity.config.mode == "customer_role":
        detail = f"assumed {identity.config.role_arn} with the organization's external ID ({arn})"
    elif identity.platform_role:
        detail = f"assumed the platform role {identity.platform_role} ({arn})"
    else:
        detail = f"using the platform's own AWS identity {arn} (no platform role template)"
    return Check("assume role", True, detail), None


def _check_kms(identity: _Identity, bucket: str, info: ObjectInfo) -> tuple[Check, None]:
    """A 1-byte GET of an SSE-KMS object, which needs kms:Decrypt on its key."""
    key_arn = info.encryption_key or "KEY_ARN"
    try:
        identity.client("s3").get_object(Bucket=bucket, Key=info.key, Range="bytes=0-0")[
            "Body"
        ].read()
    except Exception as exc:
        error = _error(
            exc,
            f"reading SSE-KMS object s3://{bucket}/{info.key}",
            _Where(identity, bucket, info.key),
        )
        if isinstance(error, AccessDenied):
            principal = identity.principal_or_caller()
            detail = (
                f"{principal} may not use kms:Decrypt on {key_arn}, which encrypts "
                f"s3://{bucket}/{info.key}: {error.detail}"
            )
            return Check("kms:Decrypt", False, detail, kms_fix(principal, key_arn)), None
        return Check("kms:Decrypt", False, error.detail, error.fix), None
    return Check("kms:Decrypt", True, f"kms:Decrypt on {key_arn} works"), None


def _check_cors(identity: _Identity, bucket: str, origins: Sequence[str]) -> tuple[Check, None]:
    """Read the bucket's CORS rules and compare them with the portal origins."""
    existing: list[dict[str, Any]] = []
    try:
        existing = identity.client("s3").get_bucket_cors(Bucket=bucket)["CORSRules"]
    except botocore.exceptions.ClientError as exc:
        if _code_of(exc)[0] != "NoSuchCORSConfiguration":
            error = _error(
                exc, f"reading the CORS configuration of {bucket}", _Where(identity, bucket)
            )
            return Check(steps_.CORS, False, error.detail, error.fix), None
    except Exception as exc:
        error = _error(exc, f"reading the CORS configuration of {bucket}", _Where(identity, bucket))
        return Check(steps_.CORS, False, error.detail, error.fix), None
    rules = [
        steps_.CorsRule.of(rule.get("AllowedOrigins", []), rule.get("AllowedMethods", []))
        for rule in existing
    ]
    command = put_cors_command(bucket, identity.config.endpoint_url)
    fix = (
        f"save this as cors.json\n{dumps(cors_configuration(origins, existing))}\n"
        f"then run:\n{command}"
    )
    return steps_.check_cors(rules, origins, fix=fix, where=f"bucket {bucket}")


PROVIDER = S3Provider()
