"""AzureProvider: parse, open, verify and CORS advice; ``PROVIDER`` is the instance."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, ClassVar

import httpx

from insitu.errors import InsituError, InvalidConfiguration, InvalidLocation
from insitu.storage import verify as steps_
from insitu.storage.azure.advice import (
    DATA_READER,
    TENANTS,
    consent_fix,
    cors_command,
    cors_rules,
    role_fix,
)
from insitu.storage.azure.checks import (
    DELEGATION_KEY,
    TOKEN,
    check_cors,
    check_delegation_key,
    check_token,
)
from insitu.storage.azure.config import AzureConfig, parse_uri
from insitu.storage.azure.endpoints import check_account_url
from insitu.storage.azure.identity import KEY_LIFETIME, Identity, RequestHook
from insitu.storage.azure.onboarding import settings_card
from insitu.storage.azure.store import AzureStore
from insitu.storage.base import (
    Check,
    CorsAdvice,
    Location,
    ProviderConfig,
    ProviderContext,
    provider_config,
)
from insitu.storage.cache import IdentityCache
from insitu.storage.cards import CardContext, SettingsCard
from insitu.storage.throttle import for_bucket

if TYPE_CHECKING:
    from insitu.config import Settings


class AzureProvider:
    """The ``azure`` provider. ``request_hooks`` see every request the SDK sends (tests)."""

    name: ClassVar[str] = "azure"
    schemes: ClassVar[tuple[str, ...]] = ("az", "https")
    config_model: ClassVar[type[ProviderConfig]] = AzureConfig
    example_uri: ClassVar[str] = "az://mystorage/images/scans/"
    title: ClassVar[str] = "Azure"
    short_name: ClassVar[str] = "Azure"
    verify_label: ClassVar[str] = "Verify access"
    path_help: ClassVar[str] = (
        "The container path, as az://ACCOUNT/CONTAINER/PREFIX/ or as the blob URL "
        "https://ACCOUNT.blob.core.windows.net/CONTAINER/PREFIX/"
    )
    instructions: ClassVar[tuple[str, ...]] = (
        "Connect your Azure tenant once: a tenant admin consents to insitu's application "
        "(Organization Settings).",
        "In the storage account, assign insitu's application the roles Storage Blob Data "
        "Reader and Storage Blob Delegator at the storage account level (the container "
        "level is not enough).",
        "Let labelers' browsers load the files: apply these CORS rules to the storage account.",
    )
    operator_only: ClassVar[bool] = False

    def __init__(
        self,
        request_hooks: Sequence[RequestHook] = (),
        *,
        key_lifetime: timedelta = KEY_LIFETIME,
        cache_size: int = 256,
    ) -> None:
        self.request_hooks = tuple(request_hooks)
        self.key_lifetime = key_lifetime
        self._identities: IdentityCache[Identity] = IdentityCache(cache_size)

    def parse(self, uri: str) -> Location:
        """``az://ACCOUNT/CONTAINER/PREFIX`` or an ``https://`` blob URL."""
        return parse_uri(uri)

    def validate_config(self, config: ProviderConfig, context: ProviderContext) -> None:
        """Refuse a tenant the org does not hold, and an endpoint of another cloud or host.

        The tenant first: it is known here, whereas the endpoint's check resolves its name,
        which a refused tenant need not wait for (nor depend on)."""
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
        check_account_url(config.account_url, context.settings, context.private_endpoints)

    def open(
        self, config: ProviderConfig, *, location: Location, context: ProviderContext
    ) -> AzureStore:
        """A store on ``location``'s container; no network call until it is used."""
        config = _azure_config(config)
        # Checked on every open, not only when the connection was made: the operator may have
        # moved the tenant to another org, or withdrawn the endpoint, since.
        self.validate_config(config, context)
        _same_account(config, location)
        settings = context.settings
        cache_key = (
            config.account_url,
            config.tenant_id,
            settings.azure_client_id,
            settings.azure_authority_host,
            settings.azure_credential_factory,
        )
        identity = self._identities.get(
            cache_key, lambda: Identity(config, settings, self.request_hooks, self.key_lifetime)
        )
        throttle = for_bucket(
            ("azure", config.account_url, location.bucket), settings.store_max_in_flight
        )
        return AzureStore(identity, location.bucket, throttle)

    def offered(self, settings: Settings) -> bool:
        return True  # any org may connect its own account

    def clear_cache(self) -> None:
        """Forget cached credentials, clients and delegation keys."""
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
            identity = Identity(config, context.settings, self.request_hooks, self.key_lifetime)
        except InsituError as exc:
            steps.add(Check(TOKEN, False, exc.detail, exc.fix))
            return steps.skip_all([*later, steps_.CORS])
        if steps.add(*check_token(identity)) is None:
            return steps.skip_all([*later, steps_.CORS])
        store = AzureStore(identity, location.bucket)
        account = identity.account
        key_ok = steps.run_anyway(lambda: check_delegation_key(identity))
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
                        store,
                        info.key,
                        allowed=context.private_endpoints,
                        expected=first,
                        ttl=timedelta(minutes=2),
                        client=client,
                    )
                )
        steps.run_anyway(
            lambda: check_cors(
                identity, context.settings, signed_url, allowed=context.private_endpoints
            )
        )
        return steps.checks

    def cors_advice(self, origins: Sequence[str]) -> CorsAdvice:
        """Blob-service CORS rules allowing GET and HEAD from ``origins``, and the az command."""
        return CorsAdvice("azure", cors_rules(origins), cors_command(origins, "ACCOUNT"))

    def settings_card(self, context: CardContext) -> SettingsCard:
        """Connect to Azure, the connected tenants, the role assignments and CORS."""
        return settings_card(context)


PROVIDER = AzureProvider()


def _azure_config(config: ProviderConfig) -> AzureConfig:
    return provider_config(config, AzureConfig, "azure")


def _same_account(config: AzureConfig, location: Location) -> None:
    if location.account != config.account:
        raise InvalidLocation(
            f"{location.uri} is in storage account {location.account!r} but the connection is "
            f"for {config.account!r} ({config.account_url})",
            fix=f"use az://{config.account}/CONTAINER/PREFIX, or create a connection for "
            f"account {location.account!r}",
        )
