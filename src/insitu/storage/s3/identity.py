"""Who insitu is on AWS for one connection: credentials, the STS role chain, cached clients.

The platform's identity comes from boto3's standard chain; the org's platform role and then the
customer's role (with the org's external ID) are assumed from it as configured. A connection
with its own access keys signs with those alone (no platform identity, no role). One
``Identity`` holds the boto3 clients and obstore stores made with those credentials; clients on
a customer's endpoint check every connection's address and follow no redirect (``transport``).
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import boto3
import botocore.credentials
import botocore.exceptions
import botocore.loaders
import botocore.session
import botocore.utils
from botocore.config import Config
from obstore.store import S3Store

from insitu.storage.base import ProviderContext
from insitu.storage.s3.config import S3Config
from insitu.storage.s3.heads import USABLE, HeadReader
from insitu.storage.s3.parsing import parse_listings_once
from insitu.storage.s3.policies import platform_role_arn
from insitu.storage.s3.transport import guard_connections, refuse_redirects

EventHook = tuple[str, Callable[..., Any]]
# The errors botocore raises for a failed call; anything else is a bug and propagates.
BOTO_ERRORS = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)
_PLACEHOLDER_PRINCIPAL = "arn:aws:iam::ACCOUNT_ID:role/ROLE_NAME"
# obstore re-asks for credentials at least this often, so botocore's refresh reaches it.
_CREDENTIAL_CACHE = timedelta(minutes=5)


class _FixedCredentials(botocore.credentials.CredentialProvider):
    METHOD = "insitu-assumed-role"

    def __init__(self, credentials: botocore.credentials.Credentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> botocore.credentials.Credentials:
        return self._credentials


def _timestamp(value: str) -> datetime:
    """botocore's timestamp parser, without dateutil for the ISO 8601 times S3 lists.

    dateutil's parser was half of the CPU a listing took (a timestamp per object).
    """
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return botocore.utils.parse_timestamp(value)  # type: ignore[no-any-return]
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


class _SearchPaths(list[str]):
    """A loader's folders, each once: every boto3 session appends its own data folder to its
    loader's, which a loader shared by all sessions would collect without end."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


@cache
def _models() -> botocore.loaders.Loader:
    """One loader of botocore's service models for every session: each session would read
    and parse them again (about 0.1 s of CPU for each connection's first client). Its folders
    are AWS_DATA_PATH's, as botocore's own loader's are, then botocore's."""
    extra = os.environ.get("AWS_DATA_PATH")
    folders = extra.split(os.pathsep) if extra else []
    paths = _SearchPaths(os.path.expanduser(os.path.expandvars(path)) for path in folders)
    return botocore.loaders.Loader(extra_search_paths=paths)  # keeps this list: not a copy


def _session(
    region: str, credentials: botocore.credentials.Credentials | None = None
) -> boto3.Session:
    """A boto3 session on the standard chain, or on ``credentials`` when given."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _models())
    core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=_timestamp)
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
        except BOTO_ERRORS as exc:
            raise AssumeRoleFailed(self, exc) from exc
        self.expiry = creds["Expiration"]
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": creds["Expiration"].isoformat(),
        }


class AssumeRoleFailed(Exception):
    """AssumeRole of ``role`` failed; carries which role, for the error's fix."""

    def __init__(self, role: _AssumedRole, cause: Exception) -> None:
        super().__init__(f"assuming {role.role_arn} failed: {cause}")
        self.role, self.cause = role, cause


class Identity:
    """One way of reaching S3 (who, which region and endpoint), with its cached clients."""

    def __init__(
        self, config: S3Config, context: ProviderContext, hooks: Sequence[EventHook]
    ) -> None:
        self.config, self.hooks = config, hooks
        self.endpoint = config.endpoint_url or env_endpoint()
        self.private_endpoints = tuple(context.private_endpoints)
        template = context.settings.aws_platform_role_template
        self.platform_role = (
            platform_role_arn(template, context.org_id)
            if template and not config.has_own_keys
            else None
        )
        self.roles: list[_AssumedRole] = []
        session = _session(config.region)
        name = f"insitu-{context.org_id}"[:64]
        if config.access_key_id is not None and config.secret_access_key is not None:
            own = botocore.credentials.Credentials(
                config.access_key_id.get_secret_value(),
                config.secret_access_key.get_secret_value(),
                method="insitu-connection-keys",
            )
            session = _session(config.region, own)
        elif self.platform_role:
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
        # Never for a customer's endpoint: libcurl, like obstore, is kept off those.
        self.heads = (
            HeadReader(self.endpoint, config.region)
            if USABLE and not self.customer_endpoint
            else None
        )

    @property
    def customer_endpoint(self) -> bool:
        """Whether requests go to an endpoint the connection named (not AWS, not the operator's)."""
        return self.config.endpoint_url is not None

    @property
    def uses_obstore(self) -> bool:
        """Whether obstore may send requests: not to a customer endpoint (it follows redirects)."""
        return not self.customer_endpoint

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
        if self.config.has_own_keys and self.customer_endpoint:
            return _PLACEHOLDER_PRINCIPAL  # AWS STS does not know an S3-compatible store's keys
        if self._caller is None:
            try:
                self._caller = _role_of(self.client("sts").get_caller_identity()["Arn"])
            except BOTO_ERRORS:
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
                    parse_listings_once(client)
                    if self.customer_endpoint:
                        guard_connections(client, self.private_endpoints)
                        refuse_redirects(client)
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
                        # Keep a connection for every request in flight: a smaller idle pool
                        # closes and reopens connections all the time under a busy import.
                        "pool_max_idle_per_host": "1024",
                    },
                    # storage.throttle retries (and slows down on) throttling and timeouts.
                    retry_config={"max_retries": 0, "retry_timeout": timedelta(seconds=30)},
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


def env_endpoint() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


def _role_of(arn: str) -> str:
    """The role ARN behind an assumed-role session ARN (other ARNs unchanged)."""
    match = re.match(r"^arn:([\w-]+):sts::(\d{12}):assumed-role/([^/]+)/", arn)
    return f"arn:{match[1]}:iam::{match[2]}:role/{match[3]}" if match else arn


def identity_arn_of(identity: Identity) -> str:
    """The ARN insitu's servers run as before assuming customer roles."""
    try:
        arn = _session(identity.config.region).client("sts", config=_config())
        return _role_of(arn.get_caller_identity()["Arn"])
    except BOTO_ERRORS:
        return _PLACEHOLDER_PRINCIPAL
