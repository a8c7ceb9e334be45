"""Azure Blob Storage, read through insitu's multi-tenant Entra ID application.

Identity: each customer tenant admin-consents once to insitu's application (``insitu.azure``
records which tenants an org connected); insitu then gets tokens for that tenant with its own
client secret (``INSITU_AZURE_CLIENT_ID`` / ``INSITU_AZURE_CLIENT_SECRET``), or from
``INSITU_AZURE_CREDENTIAL_FACTORY`` when the operator (or a test) supplies another credential.
Per storage account the customer assigns the application **Storage Blob Data Reader** (list,
read) and **Storage Blob Delegator** (user-delegation keys) at the *account* level.

Signed URLs are user-delegation SAS: read-only, one blob, short-lived. A delegation key is
fetched once per account and tenant and reused for every URL until shortly before it
expires (a SAS is refused once its key has expired, so a URL never outlives its key).

URIs: ``az://ACCOUNT/CONTAINER/PREFIX`` (key kept raw),
``https://ACCOUNT.blob.core.windows.net/CONTAINER/PREFIX`` (any cloud's ``blob.`` endpoint,
percent-decoded as a URL is), and path-style emulator URLs
``https://127.0.0.1:PORT/ACCOUNT/CONTAINER/PREFIX``. The SDK is imported only here.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, unquote, urlsplit

import httpx
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import (
    BlobSasPermissions,
    BlobServiceClient,
    UserDelegationKey,
    generate_blob_sas,
)
from pydantic import field_validator

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
from insitu.storage.azure_advice import (
    DATA_READER,
    DELEGATOR,
    TENANTS,
    consent_fix,
    cors_command,
    cors_rules,
    role_fix,
)
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

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from insitu.config import Settings

__all__ = ["PROVIDER", "STORAGE_SCOPE", "TENANTS", "AzureConfig", "AzureProvider", "AzureStore"]

STORAGE_SCOPE = "https://storage.azure.com/.default"
TOKEN = "Azure token"
DELEGATION_KEY = "user delegation key"

_ACCOUNT = re.compile(r"^[a-z0-9]{3,24}$")
_CONTAINER = re.compile(r"^(?:\$root|\$web|\$logs|[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62})$")
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_HOST = re.compile(r"^(?P<account>[a-z0-9]{3,24})\.blob\.(?P<suffix>[a-z0-9.-]+)$")
_EXAMPLE = (
    "write it as az://ACCOUNT/CONTAINER/PREFIX, e.g. az://mystorage/images/scans/, "
    "or https://mystorage.blob.core.windows.net/images/scans/"
)
# A user-delegation key may live 7 days; insitu asks for a few hours and renews it when a new
# URL would outlive it. Its start is backdated against clock skew.
_KEY_LIFETIME = timedelta(hours=6)
_KEY_MAX_LIFETIME = timedelta(days=7)
_KEY_RENEW_MARGIN = timedelta(minutes=5)
_CLOCK_SKEW = timedelta(minutes=5)


# --- configuration and URIs ---------------------------------------------------------------


def _is_loopback_or_ip(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def account_of_url(account_url: str) -> str:
    """The storage account an account endpoint URL names (host or, for emulators, path)."""
    parts = urlsplit(account_url)
    host = (parts.hostname or "").lower()
    match = _HOST.match(host)
    if match:
        return match["account"]
    return parts.path.strip("/")


class AzureConfig(ProviderConfig):
    """An Azure connection: the storage account's blob endpoint and the tenant it lives in."""

    account_url: str
    tenant_id: str

    @field_validator("account_url")
    @classmethod
    def _account_endpoint(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        host = (parts.hostname or "").lower()
        example = "e.g. https://mystorage.blob.core.windows.net"
        problem = None
        if parts.scheme == "http":
            problem = (
                "insitu authenticates with Entra ID tokens, which are only sent over HTTPS "
                "(run an emulator with --oauth basic --cert --key)"
            )
        elif parts.scheme != "https" or not host:
            problem = "it must be https://ACCOUNT.blob.core.windows.net"
        elif parts.username or parts.password or parts.query or parts.fragment:
            problem = "it must not carry credentials, a query (a SAS) or a fragment"
        elif _HOST.match(host):
            if parts.path.strip("/"):
                problem = "it is the account endpoint only: leave the container out"
        elif _is_loopback_or_ip(host):
            if not _ACCOUNT.match(parts.path.strip("/")):
                problem = "an emulator endpoint ends with the account, e.g. /devstoreaccount1"
        else:
            problem = "the host must be ACCOUNT.blob.<cloud suffix> (or an emulator's IP)"
        if problem:
            raise ValueError(f"account_url {value!r} is invalid: {problem}, {example}")
        path = parts.path.rstrip("/")
        return f"{parts.scheme}://{parts.netloc.lower()}{path}"

    @field_validator("tenant_id")
    @classmethod
    def _tenant_is_a_guid(cls, value: str) -> str:
        tenant = value.strip().lower()
        if not _GUID.match(tenant):
            raise ValueError(
                f"tenant_id {value!r} is not a tenant ID; use the directory (tenant) ID GUID, "
                "e.g. 72f988bf-86f1-41af-91ab-2d7cd011db47 (az account show --query tenantId)"
            )
        return tenant

    @property
    def account(self) -> str:
        return account_of_url(self.account_url)


def parse_uri(uri: str) -> Location:
    """``az://`` or an ``https://`` blob URL (host- or emulator path-style) as a Location."""
    if not isinstance(uri, str) or "://" not in uri:
        raise InvalidLocation(f"{uri!r} is not an Azure Blob Storage URI", fix=_EXAMPLE)
    scheme = uri.split("://", 1)[0].lower()
    if scheme == "az":
        account, _, rest = uri[5:].partition("/")
        container, _, key = rest.partition("/")
    elif scheme == "https":
        parts = urlsplit(uri)
        if parts.query or parts.fragment:
            raise InvalidLocation(
                f"{uri!r} has a query or fragment (a SAS token?)",
                fix="give the blob path without '?...': insitu signs its own URLs; " + _EXAMPLE,
            )
        host = (parts.hostname or "").lower()
        path = unquote(parts.path.removeprefix("/"))
        match = _HOST.match(host)
        if match:
            account = match["account"]
        elif _is_loopback_or_ip(host):
            account, _, path = path.partition("/")
        else:
            raise InvalidLocation(
                f"{uri!r} is not a blob endpoint URL (the host must be ACCOUNT.blob.<cloud>)",
                fix=_EXAMPLE,
            )
        container, _, key = path.partition("/")
    else:
        raise InvalidLocation(f"{uri!r} is not an Azure Blob Storage URI", fix=_EXAMPLE)
    if not _ACCOUNT.match(account):
        raise InvalidLocation(
            f"{account!r} in {uri!r} is not a storage account name "
            "(3-24 lowercase letters and digits)",
            fix=_EXAMPLE,
        )
    if not _CONTAINER.match(container):
        raise InvalidLocation(
            f"{container!r} in {uri!r} is not a container name (3-63 lowercase letters, "
            "digits and single hyphens, starting with a letter or digit)",
            fix=_EXAMPLE,
        )
    return Location("azure", "az", container, key, account)


# --- identity: credential, client, cached delegation key -----------------------------------


def make_credential(tenant_id: str, settings: Settings) -> TokenCredential:
    """insitu's application credential in ``tenant_id`` (or the configured factory's)."""
    if settings.azure_credential_factory is not None:
        credential: TokenCredential = settings.azure_credential_factory(tenant_id, settings)
        return credential
    if not settings.azure_client_id or settings.azure_client_secret is None:
        raise InvalidConfiguration(
            "this server has no Azure application configured",
            fix="the operator sets INSITU_AZURE_CLIENT_ID and INSITU_AZURE_CLIENT_SECRET to "
            "insitu's multi-tenant Entra ID application",
        )
    from azure.identity import AzureAuthorityHosts, ClientSecretCredential

    authority = settings.azure_authority_host.rstrip("/")
    known = {
        f"https://{host}" for name, host in vars(AzureAuthorityHosts).items() if name.isupper()
    }
    return ClientSecretCredential(
        tenant_id,
        settings.azure_client_id,
        settings.azure_client_secret.get_secret_value(),
        authority=authority,
        # Microsoft's clouds are discovered; any other authority (a proxy, a test) is trusted.
        disable_instance_discovery=authority not in known,
    )


def _run_hooks(hooks: Sequence[RequestHook]) -> RequestHook:
    def run(request: Any) -> None:
        for hook in hooks:
            hook(request)

    return run


class _Identity:
    """insitu in one tenant, on one account: token credential, client, delegation key."""

    def __init__(
        self,
        config: AzureConfig,
        settings: Settings,
        hooks: Sequence[RequestHook],
        key_lifetime: timedelta,
    ) -> None:
        self.config, self.settings = config, settings
        self.account = config.account
        self.key_lifetime = key_lifetime
        self.credential = make_credential(config.tenant_id, settings)
        self.service = BlobServiceClient(
            config.account_url,
            credential=self.credential,
            raw_request_hook=_run_hooks(hooks) if hooks else None,
            retry_total=2,
            connection_timeout=10,
            read_timeout=30,
        )
        self._lock = threading.Lock()
        self._key: UserDelegationKey | None = None
        self._key_expiry: datetime | None = None

    def delegation_key(self, needed_until: datetime) -> tuple[UserDelegationKey, datetime]:
        """A cached key valid past ``needed_until``; fetched again only when it is not."""
        with self._lock:
            if (
                self._key is None
                or self._key_expiry is None
                or (self._key_expiry - _KEY_RENEW_MARGIN < needed_until)
            ):
                now = datetime.now(UTC).replace(microsecond=0)
                expiry = min(
                    max(now + self.key_lifetime, needed_until + self.key_lifetime),
                    now + _KEY_MAX_LIFETIME - timedelta(minutes=1),
                )
                try:
                    key = self.service.get_user_delegation_key(now - _CLOCK_SKEW, expiry)
                except Exception as exc:
                    what = f"getting a user-delegation key for storage account {self.account}"
                    raise _error(exc, what, _Where(self), operation="delegate") from exc
                self._key, self._key_expiry = key, expiry
            return self._key, self._key_expiry


@dataclass(frozen=True)
class _Where:
    identity: _Identity
    container: str | None = None
    key: str | None = None

    @property
    def uri(self) -> str:
        container = f"/{self.container}" if self.container else ""
        key = f"/{self.key}" if self.key is not None and self.container else ""
        return f"az://{self.identity.account}{container}{key}"


# --- errors: the SDK's codes mapped once ---------------------------------------------------

# Azure error code -> (insitu error, which fix). Codes as Azure sends them in x-ms-error-code.
_ERRORS: dict[str, tuple[type[InsituError], str]] = {
    "BlobNotFound": (ObjectNotFound, "blob"),
    "ContainerNotFound": (ContainerNotFound, "container"),
    "ResourceNotFound": (ContainerNotFound, "container"),
    "AuthorizationPermissionMismatch": (AccessDenied, "role"),
    "AuthorizationFailure": (AccessDenied, "role"),
    "InsufficientAccountPermissions": (AccessDenied, "role"),
    "AuthorizationSourceIPMismatch": (AccessDenied, "network"),
    "AuthorizationProtocolMismatch": (AccessDenied, "network"),
    "InvalidAuthenticationInfo": (AccessDenied, "tenant"),
    "AuthenticationFailed": (AccessDenied, "tenant"),
    "AccountIsDisabled": (AccessDenied, "disabled"),
    "BlobUsesCustomerSpecifiedEncryption": (KeyAccessDenied, "cpk"),
}
# Entra ID sign-in errors (AADSTS codes in the token error) -> which fix.
_TOKEN_ERRORS = {
    "AADSTS700016": "consent",  # the application is not in the tenant: no admin consent yet
    "AADSTS650051": "consent",
    "AADSTS65001": "consent",
    "AADSTS90002": "tenant_id",  # tenant not found
    "AADSTS900023": "tenant_id",
    "AADSTS90072": "tenant_id",
    "AADSTS7000215": "secret",  # invalid client secret
    "AADSTS7000222": "secret",  # expired client secret
    "AADSTS700024": "secret",
}
RequestHook = Callable[[Any], None]
_NETWORK_HINTS = ("Failed to resolve", "Max retries exceeded", "Connection refused", "timed out")
_UNREACHABLE = (ServiceRequestError, ServiceResponseError, httpx.TransportError)


def _code_of(exc: Exception) -> str:
    code = getattr(exc, "error_code", None)
    if code is None and isinstance(exc, HttpResponseError):
        headers = getattr(exc.response, "headers", None) or {}
        code = headers.get("x-ms-error-code")
    return str(getattr(code, "value", code) or "")


def _error(exc: Exception, what: str, where: _Where, *, operation: str = "read") -> InsituError:
    """Map an SDK or sign-in error to insitu's error tree, with what failed and the fix."""
    if isinstance(exc, InsituError):
        return exc
    identity = where.identity
    settings, account = identity.settings, identity.account
    endpoint = identity.config.account_url
    message = " ".join(str(getattr(exc, "message", None) or exc).split())
    if isinstance(exc, _UNREACHABLE):
        return StorageUnreachable(
            f"{what} failed: cannot reach {endpoint} ({message[:200]})",
            fix=f"check that {endpoint} is reachable from the insitu servers (network, DNS, "
            "the account's firewall and private endpoints)",
        )
    token_error = next((fix for code, fix in _TOKEN_ERRORS.items() if code in message), None)
    if token_error is not None or (
        isinstance(exc, ClientAuthenticationError) and not _code_of(exc)
    ):
        return _token_error(exc, what, identity, token_error, message)
    code = _code_of(exc)
    kind, fix_kind = _ERRORS.get(code, (StorageError, ""))
    detail = f"{what} failed: {code or type(exc).__name__}"
    if kind is not ObjectNotFound:
        detail += f" ({message.split(' RequestId:')[0][:300]})"
    if fix_kind == "role":
        role = DELEGATOR if operation == "delegate" else DATA_READER
        fix = role_fix(settings, role, account)
        if code == "AuthorizationFailure":
            fix += (
                f"\nif the role is assigned, the account's firewall may block insitu: "
                f"allow insitu's servers under Networking for {account}"
            )
    elif fix_kind == "network":
        fix = (
            f"the storage account {account} refuses insitu's network address or protocol: "
            "allow insitu's servers under the account's Networking settings and use https"
        )
    elif fix_kind == "tenant":
        fix = (
            f"check that storage account {account} belongs to tenant "
            f"{identity.config.tenant_id} (az storage account show --name {account}), and "
            "that the connection's tenant_id is that tenant"
        )
    elif fix_kind == "disabled":
        fix = f"the storage account {account} is disabled; re-enable it in the Azure portal"
    elif fix_kind == "cpk":
        fix = (
            f"{where.uri} is encrypted with a customer-provided key, which a SAS URL cannot "
            "carry; store it with Microsoft-managed or customer-managed (Key Vault) keys instead"
        )
    elif fix_kind == "blob":
        fix = (
            f"check that {where.uri} exists (it may have been moved or deleted): az storage "
            f"blob show --account-name {account} --container-name {where.container} "
            f"--name '{where.key}' --auth-mode login"
        )
    elif fix_kind == "container":
        fix = (
            f"check the container name {where.container!r} and the account URL {endpoint}: "
            f"az storage container list --account-name {account} --auth-mode login"
        )
    else:
        fix = f"retry; if it persists, check the storage account {account} ({endpoint})"
    return kind(detail, fix=fix, account=account, container=where.container, key=where.key)


def _token_error(
    exc: Exception, what: str, identity: _Identity, kind: str | None, message: str
) -> InsituError:
    tenant, settings = identity.config.tenant_id, identity.settings
    if kind is None and any(hint in message for hint in _NETWORK_HINTS):
        authority = settings.azure_authority_host
        return StorageUnreachable(
            f"{what} failed: cannot reach the sign-in service {authority} ({message[:300]})",
            fix=f"check that {authority} is reachable from the insitu servers "
            "(network, proxy, INSITU_AZURE_AUTHORITY_HOST)",
        )
    detail = f"{what} failed: no token for tenant {tenant} ({message[:300]})"
    if kind == "tenant_id":
        fix = f"tenant {tenant} does not exist; set the connection's tenant_id to the tenant " + (
            "of the storage account (az account show --query tenantId)"
        )
    elif kind == "secret":
        fix = (
            "insitu's own client secret is invalid or expired: the operator sets a new "
            "INSITU_AZURE_CLIENT_SECRET for the application"
        )
    else:
        fix = consent_fix(settings, tenant)
    return AccessDenied(detail, fix=fix, tenant_id=tenant)


# --- the store -----------------------------------------------------------------------------


def _etag(value: str | None) -> str | None:
    return value.strip('"') if value else None


class AzureStore:
    """Read-only access to one container; thread-safe; the client is shared per identity."""

    def __init__(self, identity: _Identity, container: str) -> None:
        self.identity = identity
        self.container = container
        self._client = identity.service.get_container_client(container)

    def _where(self, key: str | None = None) -> _Where:
        return _Where(self.identity, self.container, key)

    def list_pages(
        self, prefix: str, *, cursor: str | None = None, page_size: int = 1000
    ) -> Iterator[ListPage]:
        """List Blobs pages in name order; the cursor is Azure's continuation marker.

        Folder placeholders (empty blobs whose name ends in ``/``) are not files: left out.
        """
        what = f"listing {self._where(prefix).uri}"
        try:
            pages = self._client.list_blobs(
                name_starts_with=prefix or None, results_per_page=page_size
            ).by_page(continuation_token=cursor)
        except Exception as exc:
            raise _error(exc, what, self._where()) from exc
        while True:
            try:
                page = next(pages, None)
                if page is None:
                    return
                blobs = list(page)
            except Exception as exc:
                raise _error(exc, what, self._where()) from exc
            objects = [
                ObjectInfo(
                    key=blob.name,
                    size=blob.size,
                    etag=_etag(blob.etag),
                    version=blob.version_id,
                    last_modified=blob.last_modified,
                )
                for blob in blobs
                if not (blob.name.endswith("/") and blob.size == 0)
            ]
            token = getattr(pages, "continuation_token", None) or None
            yield ListPage(objects, token)
            if token is None:
                return

    def head(self, key: str) -> ObjectInfo:
        """Blob properties: size, ETag (unquoted), version, customer-provided-key encryption."""
        try:
            props = self._client.get_blob_client(key).get_blob_properties()
        except Exception as exc:
            raise _error(exc, f"HEAD {self._where(key).uri}", self._where(key)) from exc
        cpk = props.encryption_key_sha256
        return ObjectInfo(
            key=key,
            size=props.size,
            etag=_etag(props.etag),
            version=props.version_id,
            last_modified=props.last_modified,
            encryption="customer-provided-key" if cpk else props.encryption_scope,
            encryption_key=cpk,
        )

    def get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)``: fewer at the blob's end, none past it."""
        if start < 0 or end < start:
            raise ValueError(f"invalid range [{start}, {end})")
        if end == start:
            return b""
        try:
            downloader = self._client.get_blob_client(key).download_blob(
                offset=start, length=end - start, max_concurrency=1
            )
            return downloader.readall()
        except Exception as exc:
            if _code_of(exc) == "InvalidRange":
                return b""
            what = f"ranged GET bytes={start}-{end - 1} of {self._where(key).uri}"
            raise _error(exc, what, self._where(key)) from exc

    def sign(self, key: str, *, ttl: timedelta) -> SignedURL:
        """A user-delegation SAS URL: read permission on exactly ``key``, until ``ttl``."""
        now = datetime.now(UTC).replace(microsecond=0)
        wanted = now + timedelta(seconds=max(1, int(ttl.total_seconds())))
        delegation_key, key_expiry = self.identity.delegation_key(wanted)
        expires_at = min(wanted, key_expiry)
        account_url = self.identity.config.account_url
        try:
            sas = generate_blob_sas(
                self.identity.account,
                self.container,
                key,
                user_delegation_key=delegation_key,
                permission=BlobSasPermissions(read=True),
                expiry=expires_at,
                protocol="https",
            )
        except Exception as exc:
            raise _error(exc, f"signing {self._where(key).uri}", self._where(key)) from exc
        url = f"{account_url}/{self.container}/{quote(key, safe='/~')}?{sas}"
        return SignedURL(url, expires_at)

    def close(self) -> None:
        """Nothing to release: the client is pooled per identity for the process."""


# --- the provider --------------------------------------------------------------------------


class AzureProvider:
    """The ``azure`` provider. ``request_hooks`` see every request the SDK sends (tests)."""

    name: ClassVar[str] = "azure"
    schemes: ClassVar[tuple[str, ...]] = ("az", "https")
    config_model: ClassVar[type[ProviderConfig]] = AzureConfig
    example_uri: ClassVar[str] = "az://mystorage/images/scans/"

    def __init__(
        self,
        request_hooks: Sequence[RequestHook] = (),
        *,
        key_lifetime: timedelta = _KEY_LIFETIME,
        cache_size: int = 256,
    ) -> None:
        self.request_hooks = tuple(request_hooks)
        self.key_lifetime = key_lifetime
        self._cache_size = cache_size
        self._identities: OrderedDict[tuple[Any, ...], _Identity] = OrderedDict()
        self._lock = threading.Lock()

    def parse(self, uri: str) -> Location:
        """``az://ACCOUNT/CONTAINER/PREFIX`` or an ``https://`` blob URL."""
        return parse_uri(uri)

    def validate_config(self, config: ProviderConfig, context: ProviderContext) -> None:
        """Refuse a tenant the organization has not connected (admin consent or operator)."""
        config = _azure_config(config)
        tenants = context.extra.get(TENANTS)
        if tenants is None:
            raise InvalidConfiguration(
                "insitu cannot tell which Azure tenants this organization connected",
                fix="create Azure connections through the API or CLI",
            )
        if config.tenant_id not in set(tenants()):
            raise InvalidConfiguration(
                f"tenant {config.tenant_id} is not connected to this organization",
                fix=consent_fix(context.settings, config.tenant_id)
                + "; GET /v1/organization/azure lists the connected tenants",
            )

    def open(
        self, config: ProviderConfig, *, location: Location, context: ProviderContext
    ) -> AzureStore:
        """A store on ``location``'s container; no network call until it is used."""
        config = _azure_config(config)
        _same_account(config, location)
        settings = context.settings
        cache_key = (
            config.account_url,
            config.tenant_id,
            settings.azure_client_id,
            settings.azure_authority_host,
            settings.azure_credential_factory,
        )
        with self._lock:
            identity = self._identities.get(cache_key)
            if identity is None:
                identity = _Identity(config, settings, self.request_hooks, self.key_lifetime)
                self._identities[cache_key] = identity
                if len(self._identities) > self._cache_size:
                    self._identities.popitem(last=False)
            else:
                self._identities.move_to_end(cache_key)
        return AzureStore(identity, location.bucket)

    def clear_cache(self) -> None:
        """Forget cached credentials, clients and delegation keys."""
        with self._lock:
            self._identities.clear()

    def verify(
        self, config: ProviderConfig, *, location: Location, context: ProviderContext
    ) -> list[Check]:
        """Token, delegation key, list, HEAD, ranged read, SAS fetch, CORS: each with a fix."""
        config = _azure_config(config)
        steps = steps_.Steps()
        later = [DELEGATION_KEY, steps_.LIST, steps_.HEAD, steps_.RANGE, steps_.SIGNED_URL]
        try:
            self.validate_config(config, context)
            _same_account(config, location)
            identity = _Identity(config, context.settings, self.request_hooks, self.key_lifetime)
        except InsituError as exc:
            steps.add(Check(TOKEN, False, exc.detail, exc.fix))
            for name in [*later, steps_.CORS]:
                steps.skip(name)
            return steps.checks
        if steps.add(*_check_token(identity)) is None:
            for name in [*later, steps_.CORS]:
                steps.skip(name)
            return steps.checks
        store = AzureStore(identity, location.bucket)
        account = identity.account
        key_ok = steps.run_anyway(lambda: _check_delegation_key(identity))
        reader = role_fix(context.settings, DATA_READER, account)
        sample = steps.run_anyway(lambda: steps_.list_sample(store, location.key, fix=reader))
        info = first = None
        if sample is None:
            for name in (steps_.HEAD, steps_.RANGE):
                steps.skip(name, f"needs '{steps_.LIST}' to pass first")
        else:
            info = steps.run_anyway(lambda: steps_.head_sample(store, sample.key, fix=reader))
            first = steps.run_anyway(lambda: steps_.read_first_byte(store, sample.key, fix=reader))
        signed_url = None
        if key_ok is None or info is None or first is None:
            blocker = DELEGATION_KEY if key_ok is None else steps_.LIST if info is None else "read"
            steps.skip(steps_.SIGNED_URL, f"needs '{blocker}' to pass first")
        else:
            with httpx.Client(timeout=15) as client:
                signed_url = steps.run_anyway(
                    lambda: steps_.fetch_signed_url(
                        store, info.key, expected=first, ttl=timedelta(minutes=2), client=client
                    )
                )
        steps.run_anyway(lambda: _check_cors(identity, context.settings, signed_url))
        return steps.checks

    def cors_advice(self, origins: Sequence[str]) -> CorsAdvice:
        """Blob-service CORS rules allowing GET and HEAD from ``origins``, and the az command."""
        return CorsAdvice("azure", cors_rules(origins), cors_command(origins, "ACCOUNT"))


PROVIDER = AzureProvider()


def _azure_config(config: ProviderConfig) -> AzureConfig:
    if isinstance(config, AzureConfig):
        return config
    raise InvalidConfiguration(
        f"an azure connection needs AzureConfig settings, not {type(config).__name__}",
        fix="create the connection with provider 'azure'",
    )


def _same_account(config: AzureConfig, location: Location) -> None:
    if location.account != config.account:
        raise InvalidLocation(
            f"{location.uri} is in storage account {location.account!r} but the connection is "
            f"for {config.account!r} ({config.account_url})",
            fix=f"use az://{config.account}/CONTAINER/PREFIX, or create a connection for "
            f"account {location.account!r}",
        )


# --- verify steps --------------------------------------------------------------------------


def _claims(token: str) -> dict[str, Any]:
    """The (unverified) claims of a JWT access token, for telling the user who insitu is."""
    try:
        payload = token.split(".")[1]
        decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * 4))
        return decoded
    except (IndexError, ValueError):
        return {}


def _check_token(identity: _Identity) -> tuple[Check, bool | None]:
    tenant = identity.config.tenant_id
    try:
        token = identity.credential.get_token(STORAGE_SCOPE)
    except Exception as exc:
        error = _error(exc, f"getting a token for tenant {tenant}", _Where(identity))
        return Check(TOKEN, False, error.detail, error.fix), None
    claims = _claims(token.token)
    who = claims.get("oid") or claims.get("appid") or "insitu's application"
    detail = f"got a token for Azure Storage in tenant {tenant} as service principal {who}"
    return Check(TOKEN, True, detail), True


def _check_delegation_key(identity: _Identity) -> tuple[Check, bool | None]:
    try:
        _, expiry = identity.delegation_key(datetime.now(UTC) + timedelta(minutes=5))
    except InsituError as exc:
        return Check(DELEGATION_KEY, False, exc.detail, exc.fix), None
    detail = f"got a user-delegation key for storage account {identity.account} (until {expiry})"
    return Check(DELEGATION_KEY, True, detail), True


def _split(value: Any) -> list[str]:
    items = value if isinstance(value, list | tuple) else [value or ""]
    return [part.strip() for item in items for part in str(item).split(",") if part.strip()]


def _check_cors(
    identity: _Identity, settings: Settings, signed_url: str | None
) -> tuple[Check, None]:
    """Read the blob service's CORS rules; if insitu may not, probe them with preflights."""
    origins = settings.portal_origins
    account = identity.account
    fix = (
        f"allow GET and HEAD from the portal on the Blob service of {account} (Resource "
        f"sharing (CORS) > Blob service in the Azure portal), or run:\n"
        f"{cors_command(origins, account)}"
    )
    try:
        found = identity.service.get_service_properties().get("cors") or []
    except Exception as exc:
        error = _error(exc, f"reading the blob service CORS rules of {account}", _Where(identity))
        if not isinstance(error, AccessDenied):
            return Check(steps_.CORS, False, error.detail, error.fix), None
        if signed_url is not None:
            return _check_cors_by_preflight(signed_url, origins, account, fix)
        detail = (
            f"{error.detail}; insitu's roles may not read the Blob service properties, and "
            "without a working signed URL it cannot test CORS as a browser would"
        )
        check_it = (
            f"\ncheck the rules with: az storage cors list --services b --account-name {account}"
        )
        return Check(steps_.CORS, False, detail, fix + check_it), None
    rules = [
        steps_.CorsRule.of(_split(rule.allowed_origins), _split(rule.allowed_methods))
        for rule in found
    ]
    where = f"the Blob service of storage account {account}"
    return steps_.check_cors(rules, origins, fix=fix, where=where)


def _check_cors_by_preflight(
    url: str, origins: Sequence[str], account: str, fix: str
) -> tuple[Check, None]:
    """Ask the service as a browser would: a CORS preflight per origin and method."""
    missing = []
    with httpx.Client(timeout=15) as client:
        for origin in origins:
            for method in steps_.CORS_METHODS:
                response = client.options(
                    url, headers={"Origin": origin, "Access-Control-Request-Method": method}
                )
                allowed = response.headers.get("access-control-allow-origin", "")
                if response.status_code != 200 or allowed not in ("*", origin):
                    missing.append(f"{method} from {origin}")
    if missing:
        detail = f"the Blob service of {account} refuses CORS preflights for {', '.join(missing)}"
        return Check(steps_.CORS, False, detail, fix), None
    detail = f"CORS preflights from {', '.join(origins)} for GET and HEAD are allowed"
    return Check(steps_.CORS, True, detail), None
