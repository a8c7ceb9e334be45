"""insitu in one tenant on one storage account: credential, client, delegation key."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from azure.storage.blob import BlobServiceClient, LinearRetry, UserDelegationKey

from insitu.errors import InvalidConfiguration
from insitu.storage.azure.config import AzureConfig
from insitu.storage.azure.errors import SDK_ERRORS, Where, map_error

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from insitu.config import Settings

RequestHook = Callable[[Any], None]
# A user-delegation key may live 7 days; insitu asks for a few hours and renews it when a new
# URL would outlive it. Its start is backdated against clock skew.
KEY_LIFETIME = timedelta(hours=6)
_KEY_MAX_LIFETIME = timedelta(days=7)
_KEY_RENEW_MARGIN = timedelta(minutes=5)
_CLOCK_SKEW = timedelta(minutes=5)


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


def run_hooks(hooks: Sequence[RequestHook]) -> RequestHook:
    def run(request: Any) -> None:
        for hook in hooks:
            hook(request)

    return run


class Identity:
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
            raw_request_hook=run_hooks(hooks) if hooks else None,
            # A redirect would carry the tenant's token (or the request) to a host nobody
            # checked: the answer is reported instead of followed.
            permit_redirects=False,
            # One quick retry of its own (the storage SDK's default waits 15 s, then 18 s):
            # throttling (503 ServerBusy, 429, 500 OperationTimedOut) reaches storage.throttle,
            # which slows every request to the account down and backs off, instead of each
            # thread sleeping through retries alone.
            # (Seconds are typed int in the SDK but used as floats: random.uniform.)
            retry_policy=LinearRetry(retry_total=1, backoff=0.2, random_jitter_range=0.1),  # type: ignore[arg-type]
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
                except SDK_ERRORS as exc:
                    what = f"getting a user-delegation key for storage account {self.account}"
                    raise map_error(exc, what, Where(self), operation="delegate") from exc
                self._key, self._key_expiry = key, expiry
            return self._key, self._key_expiry
