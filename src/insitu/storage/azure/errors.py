"""The Azure SDK's and Entra ID's errors mapped once to insitu's, with their fixes.

Only the SDKs' own errors are mapped (``SDK_ERRORS``: azure-core's ``AzureError`` tree, which
azure-identity's errors belong to); callers catch exactly those, so anything else (a bug in
insitu) propagates unchanged and is answered as an internal error with its traceback logged,
not blamed on the customer's storage account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

from insitu.errors import (
    AccessDenied,
    ContainerNotFound,
    InsituError,
    KeyAccessDenied,
    ObjectNotFound,
    StorageError,
    StorageUnreachable,
    StoreThrottled,
    StoreUnavailable,
)
from insitu.storage.azure.advice import DATA_READER, DELEGATOR, consent_fix, role_fix

if TYPE_CHECKING:
    from insitu.storage.azure.identity import Identity


@dataclass(frozen=True)
class Where:
    identity: Identity
    container: str | None = None
    key: str | None = None

    @property
    def uri(self) -> str:
        container = f"/{self.container}" if self.container else ""
        key = f"/{self.key}" if self.key is not None and self.container else ""
        return f"az://{self.identity.account}{container}{key}"


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
    # Transient: retried with backoff by storage.throttle, never a per-file failure.
    "ServerBusy": (StoreThrottled, "transient"),  # 503: over the account's request rate
    "TooManyRequests": (StoreThrottled, "transient"),
    "OperationTimedOut": (StoreUnavailable, "transient"),  # 500
    "InternalError": (StoreUnavailable, "transient"),  # 500
}
# Statuses that are transient whatever their code (HEAD errors carry no body, a proxy's none).
_TRANSIENT_STATUSES: dict[int, type[InsituError]] = {
    429: StoreThrottled,
    503: StoreThrottled,
    500: StoreUnavailable,
    502: StoreUnavailable,
    504: StoreUnavailable,
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
_UNREACHABLE = (ServiceRequestError, ServiceResponseError)
# Sent, but no (whole) answer came back: a read timeout or a dropped connection. The account
# is there, just failing for now (a request that could not be sent at all is unreachable).
_INTERRUPTED = (ServiceResponseError,)
# What callers catch and map; everything else is a bug and propagates as it is.
SDK_ERRORS: tuple[type[AzureError], ...] = (AzureError,)


def code_of(exc: Exception) -> str:
    code = getattr(exc, "error_code", None)
    if code is None and isinstance(exc, HttpResponseError):
        headers = getattr(exc.response, "headers", None) or {}
        code = headers.get("x-ms-error-code")
    return str(getattr(code, "value", code) or "")


def map_error(exc: AzureError, what: str, where: Where, *, operation: str = "read") -> InsituError:
    """Map an SDK or sign-in error (one of ``SDK_ERRORS``) to insitu's, with the fix."""
    identity = where.identity
    settings, account = identity.settings, identity.account
    endpoint = identity.config.account_url
    message = " ".join(str(getattr(exc, "message", None) or exc).split())
    if isinstance(exc, _INTERRUPTED):
        return StoreUnavailable(
            f"{what} failed: {endpoint} did not answer ({type(exc).__name__}: {message[:200]})",
            fix=f"retry later; if it persists, check {endpoint} and the network to it",
            account=account,
            container=where.container,
            key=where.key,
        )
    if isinstance(exc, _UNREACHABLE):
        return StorageUnreachable(
            f"{what} failed: cannot reach {endpoint} ({message[:200]})",
            fix=f"check that {endpoint} is reachable from the insitu servers (network, DNS, "
            "the account's firewall and private endpoints)",
        )
    token_error = next((fix for code, fix in _TOKEN_ERRORS.items() if code in message), None)
    if token_error is not None or (isinstance(exc, ClientAuthenticationError) and not code_of(exc)):
        return _token_error(exc, what, identity, token_error, message)
    code = code_of(exc)
    status = getattr(exc, "status_code", None)
    if isinstance(exc, HttpResponseError) and isinstance(status, int) and 300 <= status < 400:
        return _redirected(exc, status, what, where)
    kind, fix_kind = _ERRORS.get(code, (StorageError, ""))
    if kind is StorageError and isinstance(status, int) and status in _TRANSIENT_STATUSES:
        kind, fix_kind = _TRANSIENT_STATUSES[status], "transient"
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
    elif fix_kind == "transient":
        fix = (
            f"retry later; if it keeps happening, the storage account {account} is over its "
            "request rate: lower INSITU_STORE_MAX_IN_FLIGHT or INSITU_IMPORT_CONCURRENCY"
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


def _caused_by(exc: BaseException, kinds: tuple[type[BaseException], ...]) -> bool:
    """Whether ``exc`` or an error it was raised from is one of ``kinds`` (azure-identity wraps
    a network failure of the sign-in in ClientAuthenticationError)."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, kinds):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _redirected(exc: HttpResponseError, status: int, what: str, where: Where) -> InsituError:
    headers = getattr(exc.response, "headers", None) or {}
    target = headers.get("Location") or headers.get("location") or "elsewhere"
    endpoint = where.identity.config.account_url
    return StorageError(
        f"{what} failed: {endpoint} answered HTTP {status} redirecting to {target}, and insitu "
        "does not follow redirects from a storage endpoint",
        fix=f"set the connection's account_url to the storage account's own blob endpoint "
        f"(az storage account show --name {where.identity.account} --query "
        "primaryEndpoints.blob); a proxy in front of it must answer, not redirect",
        account=where.identity.account,
        container=where.container,
        key=where.key,
    )


def _token_error(
    exc: AzureError, what: str, identity: Identity, kind: str | None, message: str
) -> InsituError:
    tenant, settings = identity.config.tenant_id, identity.settings
    if kind is None and _caused_by(exc, _UNREACHABLE):
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
