"""Connect to Azure: admin-consent URLs with a signed state, the callback, tenant records.

The consent ``state`` is ``payload.signature``: the payload names the org, a random nonce and
an expiry, signed with a key derived from INSITU_SECRET_KEY. The callback accepts a state once:
its nonce is recorded when redeemed, so a replayed (or intercepted and reused) state is refused.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session

from insitu.azure.models import AzureConsentState, AzureTenant
from insitu.azure.schemas import (
    AzureApplicationRead,
    AzureConnectRead,
    AzureSettingsRead,
    AzureTenantRead,
)
from insitu.azure.tenant_ids import normalize_tenant_id
from insitu.config import Settings
from insitu.db import utcnow
from insitu.errors import InvalidConfiguration, InvalidInput, NotFound, Unauthenticated
from insitu.organizations.models import Organization
from insitu.security import Signer
from insitu.storage.azure.advice import ROLES, TENANTS, role_command

STORAGE_SCOPE = "https://storage.azure.com/.default"
STATE_TTL = timedelta(minutes=30)
CALLBACK_PATH = "/v1/azure/callback"


def _signer(settings: Settings) -> Signer:
    return Signer(settings.secret_key, "azure-consent-state")


def redirect_uri(settings: Settings) -> str:
    return settings.azure_redirect_url or settings.public_url.rstrip("/") + CALLBACK_PATH


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def new_state(org: Organization, *, settings: Settings, now: float | None = None) -> str:
    """A signed, expiring, single-use state binding a consent to ``org``."""
    expires = int((now if now is not None else time.time()) + STATE_TTL.total_seconds())
    payload = _b64(
        json.dumps({"org": org.id, "nonce": secrets.token_hex(16), "exp": expires}).encode()
    )
    return f"{payload}.{_signer(settings).signature(payload)}"


def read_state(state: str, *, settings: Settings) -> dict[str, Any]:
    """The state's claims if its signature holds and it has not expired; else Unauthenticated."""
    restart = "start again from GET /v1/azure/connect (the link is valid for 30 minutes)"
    payload, _, signature = state.partition(".")
    if not payload or not signature or not _signer(settings).verify(signature, payload):
        raise Unauthenticated("the consent state is not one insitu issued", fix=restart)
    try:
        claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * 4))
        expires = int(claims["exp"])
        str(claims["org"]), str(claims["nonce"])
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise Unauthenticated("the consent state is malformed", fix=restart) from exc
    if Signer.expired(expires):
        raise Unauthenticated("the consent state has expired", fix=restart)
    return claims


def consent_link(org: Organization, *, settings: Settings) -> AzureConnectRead:
    """The admin-consent URL of insitu's multi-tenant application, with a state for ``org``."""
    if not settings.azure_client_id:
        raise InvalidConfiguration(
            "this server has no Azure application configured",
            fix="the operator sets INSITU_AZURE_CLIENT_ID (and INSITU_AZURE_CLIENT_SECRET) to "
            "insitu's multi-tenant Entra ID application",
        )
    state = new_state(org, settings=settings)
    expires_at = datetime.fromtimestamp(read_state(state, settings=settings)["exp"], UTC)
    query = urlencode(
        {
            "client_id": settings.azure_client_id,
            "scope": STORAGE_SCOPE,
            "redirect_uri": redirect_uri(settings),
            "state": state,
        }
    )
    authority = settings.azure_authority_host.rstrip("/")
    url = f"{authority}/organizations/v2.0/adminconsent?{query}"
    return AzureConnectRead(url=url, expires_at=expires_at, redirect_uri=redirect_uri(settings))


def complete_consent(
    session: Session,
    *,
    state: str,
    tenant: str | None,
    admin_consent: str | None,
    error: str | None,
    error_description: str | None,
    settings: Settings,
) -> AzureTenant:
    """Redeem the callback's state (once) and record the tenant on the state's org."""
    claims = read_state(state, settings=settings)
    if error or (admin_consent or "").lower() != "true":
        reason = error_description or error or "admin_consent was not True"
        raise InvalidInput(
            f"Azure did not grant admin consent: {' '.join(reason.split())[:300]}",
            fix="sign in as a Global Administrator (or Privileged Role / Cloud Application "
            "Administrator) of the tenant and accept, from a new GET /v1/azure/connect link",
        )
    try:
        tenant_id = normalize_tenant_id(tenant or "")
    except ValueError as exc:
        raise InvalidInput(f"the callback's tenant: {exc}", fix="retry the consent") from exc
    org = session.get(Organization, claims["org"])
    if org is None:
        raise NotFound("the organization of this consent no longer exists")
    now = utcnow()
    session.execute(delete(AzureConsentState).where(AzureConsentState.expires_at < now))
    redeemed = AzureConsentState(
        nonce=claims["nonce"],
        org_id=org.id,
        expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        used_at=now,
    )
    try:
        with session.begin_nested():  # a savepoint: the unique nonce decides, even in a race
            session.add(redeemed)
    except IntegrityError as exc:
        raise Unauthenticated(
            "this consent state was already used",
            fix="start again from GET /v1/azure/connect; each link connects a tenant once",
        ) from exc
    return add_tenant(session, org=org, tenant_id=tenant_id, how="consent")


def add_tenant(
    session: Session, *, org: Organization, tenant_id: str, how: str = "manual"
) -> AzureTenant:
    """Record ``tenant_id`` on ``org``; a tenant already there is kept (consent wins)."""
    tenant_id = normalize_tenant_id(tenant_id)
    existing = _find(session, org_id=org.id, tenant_id=tenant_id)
    if existing is not None:
        if how == "consent":
            existing.how, existing.consented_at = "consent", utcnow()
            session.flush()
        return existing
    row = AzureTenant(org_id=org.id, tenant_id=tenant_id, how=how, consented_at=utcnow())
    session.add(row)
    session.flush()
    return row


def _find(session: Session, *, org_id: str, tenant_id: str) -> AzureTenant | None:
    query = select(AzureTenant).where(
        AzureTenant.org_id == org_id, AzureTenant.tenant_id == tenant_id
    )
    return session.scalar(query)


def get_tenant(session: Session, *, org: Organization, tenant_id: str) -> AzureTenant:
    """The org's tenant record; another org's (or none) is simply not found."""
    try:
        tenant_id = normalize_tenant_id(tenant_id)
    except ValueError:
        tenant_id = ""
    row = _find(session, org_id=org.id, tenant_id=tenant_id) if tenant_id else None
    if row is None:
        raise NotFound(
            f"Azure tenant {tenant_id or '?'} is not connected to this organization",
            fix="GET /v1/organization/azure lists the connected tenants",
        )
    return row


def list_tenants(session: Session, *, org_id: str) -> Sequence[AzureTenant]:
    query = select(AzureTenant).where(AzureTenant.org_id == org_id)
    return session.scalars(query.order_by(AzureTenant.consented_at)).all()


def provider_extra(org: Organization) -> dict[str, Any]:
    """What the azure provider needs in ProviderContext.extra: a lookup of the org's tenants."""
    return {TENANTS: tenant_lookup(org)}


def tenant_lookup(org: Organization) -> Callable[[], list[str]]:
    """The org's tenant IDs, queried only when a provider asks."""

    def tenants() -> list[str]:
        session = object_session(org)
        if session is None:
            raise InvalidConfiguration(
                "insitu cannot look up the organization's Azure tenants here",
                fix="retry; if it persists, report it to the operator",
            )
        return [row.tenant_id for row in list_tenants(session, org_id=org.id)]

    return tenants


def settings_for(session: Session, *, org: Organization, settings: Settings) -> AzureSettingsRead:
    """The org's tenants, and what a customer admin does in Azure to let insitu read data."""
    name, client_id = settings.azure_app_name, settings.azure_client_id
    assignee = client_id or "APP_CLIENT_ID"
    commands = [role_command(settings, role) for role in ROLES]
    return AzureSettingsRead(
        application=AzureApplicationRead(name=name, client_id=client_id),
        tenants=[
            AzureTenantRead.model_validate(row) for row in list_tenants(session, org_id=org.id)
        ],
        connect_url="/v1/azure/connect",
        roles=list(ROLES),
        role_commands=commands,
        instructions=[
            "Connect each Azure tenant once: open the URL from GET /v1/azure/connect as a "
            "tenant admin and accept.",
            f"On each storage account, under Access Control (IAM) > Role assignments, assign "
            f"the application {name!r} ({assignee}) Storage Blob Data Reader and Storage Blob "
            "Delegator at the storage account level (container level is not enough: the "
            "user-delegation key is an account-level operation).",
            f"If {name!r} is not offered as a member, the tenant has not been connected yet.",
            "Then allow the portal's origins in the account's Blob service CORS "
            "(GET /v1/cors?provider=azure), and connect the account with provider 'azure'.",
        ],
    )
