"""Connect to Azure: an OpenID Connect sign-in that proves the tenant, and tenant records.

Connecting a tenant is an authorization-code flow against insitu's multi-tenant application
(``/organizations/oauth2/v2.0/authorize`` with ``prompt=consent``, so an admin can consent for
the whole organization). The callback's ``tenant``/``admin_consent`` query values are *not*
evidence (Microsoft documents that they are unauthenticated, and anyone can type them); the
tenant is the ``tid`` of an ID token insitu itself redeems, server to server, at the token
endpoint with the application's secret. That token arrives over TLS straight from Entra ID, so
(OpenID Connect Core 3.1.3.7) TLS server validation stands in for its signature; insitu still
checks ``aud`` (the client ID), ``iss`` (``{authority}/{tid}/v2.0``), ``exp`` and ``nonce``.

The ``state`` is ``payload.signature``: the payload names the org, a random nonce and an
expiry, signed with a key derived from INSITU_SECRET_KEY. The nonce is also the OIDC ``nonce``
(the ID token must carry it, so a code from another sign-in cannot be replayed into this
state) and seeds the PKCE verifier. A state is accepted once: its nonce is recorded when
redeemed, so a replayed state is refused.

Admin check: if the ID token carries ``wids`` (tenant-wide directory roles; emitted when the
application's ``groupMembershipClaims`` includes ``DirectoryRole``), the signer must hold one of
:data:`ADMIN_ROLES`. A token without ``wids`` is accepted unless INSITU_AZURE_REQUIRE_ADMIN_ROLE
is set: operators should add the claim to the app registration and turn that setting on, since
without it a tenant that lets users consent lets a non-admin connect the tenant.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlencode

import httpx
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session

from insitu.audit import service as audit
from insitu.audit.service import OPERATOR, SYSTEM, Actor
from insitu.azure.models import AzureConsentState, AzureTenant
from insitu.azure.schemas import AzureConnectRead
from insitu.azure.tenant_ids import normalize_tenant_id
from insitu.config import Settings
from insitu.db import session_scope, utcnow
from insitu.errors import (
    Conflict,
    InsituError,
    InvalidConfiguration,
    InvalidInput,
    NotFound,
    Unauthenticated,
)
from insitu.organizations.models import Organization
from insitu.security import Signer, same_secret
from insitu.storage.azure.advice import TENANTS
from insitu.storage.cards import CardAccount

# An ID token (openid), the signer's name (profile), and consent, which puts insitu's service
# principal in the tenant. Storage access itself comes from RBAC roles on app-only tokens, so
# no delegated storage permission is requested.
OIDC_SCOPE = "openid profile"
STATE_TTL = timedelta(minutes=30)
CALLBACK_PATH = "/v1/azure/callback"
TOKEN_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
CLOCK_SKEW = 120  # seconds of leeway on the ID token's exp / nbf
# Directory roles that may grant tenant-wide consent (wids values are role *template* IDs).
ADMIN_ROLES = {
    "62e90394-69f5-4237-9190-012177145e10": "Global Administrator",
    "e8611ab8-c189-46e8-94e1-60213ab1f814": "Privileged Role Administrator",
    "158c047a-c907-4556-b7ef-446551a6b5f7": "Cloud Application Administrator",
    "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3": "Application Administrator",
}
# Personal Microsoft accounts all sign in to this one tenant; it has no storage accounts.
CONSUMER_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
# Sovereign clouds whose issuer host differs from the sign-in host.
ISSUER_HOSTS = {"https://login.chinacloudapi.cn": ("https://login.partner.microsoftonline.cn",)}
RESTART = "start again from GET /v1/azure/connect (the link is valid for 30 minutes)"
ADMIN_FIX = (
    "sign in as a Global Administrator (or Privileged Role / Cloud Application / Application "
    "Administrator) of the tenant and accept for the organization, from a new GET "
    "/v1/azure/connect link"
)


class SignInUnavailable(InsituError):
    """Entra ID's token endpoint could not be reached or answered nonsense."""

    code: ClassVar[str] = "azure_sign_in_unavailable"
    status_code: ClassVar[int] = 502


class NotTenantAdmin(InsituError):
    """The ID token's signer holds no directory role that may consent for the tenant."""

    code: ClassVar[str] = "not_tenant_admin"
    status_code: ClassVar[int] = 403


def _signer(settings: Settings) -> Signer:
    return Signer(settings.secret_keys, "azure-consent-state")


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
    restart = RESTART
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


def _pkce_verifier(nonce: str, settings: Settings) -> str:
    """The PKCE code verifier of the sign-in with ``nonce``: derived, so nothing is stored."""
    return Signer(settings.secret_keys, "azure-consent-pkce").signature(nonce)


def _pkce_challenge(verifier: str) -> str:
    return _b64(hashlib.sha256(verifier.encode()).digest())


def _authority(settings: Settings) -> str:
    return settings.azure_authority_host.rstrip("/")


def _require_application(settings: Settings) -> tuple[str, str]:
    """The application's client ID and secret; InvalidConfiguration if either is missing."""
    secret = settings.azure_client_secret
    if not settings.azure_client_id or secret is None or not secret.get_secret_value():
        raise InvalidConfiguration(
            "this server has no Azure application configured",
            fix="the operator sets INSITU_AZURE_CLIENT_ID and INSITU_AZURE_CLIENT_SECRET to "
            "insitu's multi-tenant Entra ID application (the secret redeems the sign-in code)",
        )
    if not _authority(settings).startswith("https://"):
        raise InvalidConfiguration(
            f"INSITU_AZURE_AUTHORITY_HOST {settings.azure_authority_host!r} is not https",
            fix="set INSITU_AZURE_AUTHORITY_HOST to an https:// Entra ID host, e.g. "
            "https://login.microsoftonline.com: the sign-in's proof of tenant relies on TLS",
        )
    return settings.azure_client_id, secret.get_secret_value()


def consent_link(org: Organization, *, settings: Settings) -> AzureConnectRead:
    """The sign-in-and-consent URL of insitu's application, with a state for ``org``."""
    client_id, _secret = _require_application(settings)
    state = new_state(org, settings=settings)
    claims = read_state(state, settings=settings)
    expires_at = datetime.fromtimestamp(claims["exp"], UTC)
    query = urlencode(
        {
            "client_id": client_id,
            "response_type": "code",
            "response_mode": "query",
            "scope": OIDC_SCOPE,
            "redirect_uri": redirect_uri(settings),
            "prompt": "consent",
            "state": state,
            "nonce": claims["nonce"],
            "code_challenge": _pkce_challenge(_pkce_verifier(claims["nonce"], settings)),
            "code_challenge_method": "S256",
        }
    )
    url = f"{_authority(settings)}/organizations/oauth2/v2.0/authorize?{query}"
    return AzureConnectRead(url=url, expires_at=expires_at, redirect_uri=redirect_uri(settings))


def _reason(text: str) -> str:
    return " ".join(text.split())[:300]


def redeem_code(code: str, *, nonce: str, settings: Settings) -> dict[str, Any]:
    """Exchange ``code`` at the token endpoint; the ID token's claims, not yet validated."""
    client_id, secret = _require_application(settings)
    url = f"{_authority(settings)}/organizations/oauth2/v2.0/token"
    form = {
        "grant_type": "authorization_code",
        "client_id": client_id,
        "client_secret": secret,
        "code": code,
        "redirect_uri": redirect_uri(settings),
        "scope": OIDC_SCOPE,
        "code_verifier": _pkce_verifier(nonce, settings),
    }
    try:
        response = httpx.post(url, data=form, timeout=TOKEN_TIMEOUT, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise SignInUnavailable(
            f"insitu could not reach Entra ID's token endpoint {url}: {exc!r}"[:400],
            fix="retry in a minute from a new GET /v1/azure/connect link; if it persists, the "
            "operator checks outbound HTTPS to INSITU_AZURE_AUTHORITY_HOST",
        ) from exc
    try:
        body = response.json()
        if not isinstance(body, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        raise SignInUnavailable(
            f"Entra ID's token endpoint answered HTTP {response.status_code} without JSON",
            fix="retry from a new GET /v1/azure/connect link; if it persists, the operator "
            "checks INSITU_AZURE_AUTHORITY_HOST",
        ) from exc
    if response.status_code != 200 or "error" in body:
        error = str(body.get("error") or f"HTTP {response.status_code}")
        reason = _reason(str(body.get("error_description") or error))
        if error in ("invalid_client", "unauthorized_client"):
            raise InvalidConfiguration(
                f"Entra ID refused insitu's application credentials: {reason}",
                fix="the operator checks INSITU_AZURE_CLIENT_ID and INSITU_AZURE_CLIENT_SECRET "
                "(the secret's value, not its ID, and not expired) and that the redirect URI "
                f"{redirect_uri(settings)} is registered on the application",
            )
        raise Unauthenticated(
            f"Entra ID refused the sign-in code ({error}): {reason}",
            fix="codes are single-use and expire within minutes; " + RESTART,
        )
    id_token = body.get("id_token")
    if not isinstance(id_token, str):
        raise Unauthenticated(
            "Entra ID's token response carried no ID token",
            fix="the operator checks that the application may sign users in (openid); " + RESTART,
        )
    return _jwt_claims(id_token)


def _jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a compact JWT; its signature is not checked (see the module docstring)."""
    parts = token.split(".")
    try:
        if len(parts) != 3:
            raise ValueError("not a compact JWT")
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        if not isinstance(claims, dict):
            raise ValueError("not a JSON object")
    except (binascii.Error, ValueError) as exc:
        raise Unauthenticated("Entra ID's ID token is malformed", fix=RESTART) from exc
    return claims


def tenant_of(claims: dict[str, Any], *, nonce: str, settings: Settings) -> str:
    """The tenant an ID token proves, after checking it was issued for this sign-in."""

    def refuse(what: str) -> Unauthenticated:
        return Unauthenticated(f"Entra ID's ID token {what}", fix=RESTART)

    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if settings.azure_client_id not in audiences:
        raise refuse(f"is for audience {audience!r}, not insitu's application")
    try:
        tenant_id = normalize_tenant_id(str(claims.get("tid") or ""))
    except ValueError as exc:
        raise refuse("names no tenant (tid)") from exc
    hosts = (_authority(settings), *ISSUER_HOSTS.get(_authority(settings), ()))
    if claims.get("iss") not in {f"{host}/{tenant_id}/v2.0" for host in hosts}:
        raise refuse(f"was issued by {claims.get('iss')!r}, not {hosts[0]}/{tenant_id}/v2.0")
    if not isinstance(claims.get("nonce"), str) or not same_secret(nonce, claims["nonce"]):
        raise refuse("was issued for another sign-in (its nonce does not match this state)")
    now = time.time()
    try:
        expires = float(claims["exp"])
        not_before = float(claims.get("nbf", 0))
    except (KeyError, TypeError, ValueError) as exc:
        raise refuse("has no valid expiry (exp)") from exc
    if expires + CLOCK_SKEW < now:
        raise refuse("has expired")
    if not_before - CLOCK_SKEW > now:
        raise refuse("is not valid yet (nbf); check this server's clock")
    if tenant_id == CONSUMER_TENANT:
        raise InvalidInput(
            "a personal Microsoft account has no Azure tenant to connect",
            fix="sign in with a work or school account of the tenant that owns the storage",
        )
    wids = claims.get("wids")
    if wids is None:
        if settings.azure_require_admin_role:
            raise InvalidConfiguration(
                "the ID token does not say which directory roles the signer holds (no wids)",
                fix="the operator sets the application's groupMembershipClaims to include "
                "DirectoryRole (Token configuration > Add groups claim > Directory roles), or "
                "unsets INSITU_AZURE_REQUIRE_ADMIN_ROLE",
            )
    elif not isinstance(wids, list) or not set(map(str, wids)) & ADMIN_ROLES.keys():
        name = claims.get("preferred_username") or claims.get("name") or "the signer"
        raise NotTenantAdmin(
            f"{name} is not an administrator of tenant {tenant_id}; only an admin may connect it",
            fix=ADMIN_FIX,
        )
    return tenant_id


def complete_consent(
    session: Session,
    *,
    state: str,
    code: str | None,
    error: str | None,
    error_description: str | None,
    settings: Settings,
) -> AzureTenant:
    """Redeem the callback's state (once) and code; record the ID token's tenant on the org.

    The state stays usable if the sign-in fails (declined, refused code or token), so the
    admin can retry; it is spent only when a tenant is recorded.
    """
    claims = read_state(state, settings=settings)
    if error:
        reason = _reason(error_description or error)
        raise InvalidInput(f"Azure did not grant consent: {reason}", fix=ADMIN_FIX)
    if not code:
        raise InvalidInput(
            "Azure's callback carried no authorization code", fix="open the link from " + RESTART
        )
    token = redeem_code(code, nonce=claims["nonce"], settings=settings)
    tenant_id = tenant_of(token, nonce=claims["nonce"], settings=settings)
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
    return add_tenant(session, org=org, tenant_id=tenant_id, how="consent", actor=SYSTEM)


def add_tenant(
    session: Session,
    *,
    org: Organization,
    tenant_id: str,
    how: str = "manual",
    actor: Actor = OPERATOR,
) -> AzureTenant:
    """Record ``tenant_id`` on ``org``; kept if already there (consent wins); Conflict if taken.

    A tenant belongs to one org: whoever holds its record reads every storage account it opened
    to insitu. A claim for a tenant another org holds is refused without naming that org; only
    the operator moves it (``move_tenant``). The unique tenant_id decides between racing claims.
    """
    tenant_id = normalize_tenant_id(tenant_id)
    existing = _find(session, tenant_id=tenant_id)
    if existing is None:
        row = AzureTenant(org_id=org.id, tenant_id=tenant_id, how=how, consented_at=utcnow())
        try:
            with session.begin_nested():  # a savepoint: a concurrent claim's commit decides
                session.add(row)
        except IntegrityError as exc:
            existing = _find(session, tenant_id=tenant_id)
            if existing is None or existing.org_id != org.id:
                raise tenant_taken(tenant_id, org) from exc
        else:
            _connected(session, row, actor=actor)
            return row
    if existing.org_id != org.id:
        raise tenant_taken(tenant_id, org)
    if how == "consent" and existing.how != "consent":
        existing.how, existing.consented_at = "consent", utcnow()
        session.flush()
        _connected(session, existing, actor=actor)
    return existing


def tenant_taken(tenant_id: str, org: Organization) -> Conflict:
    """The refusal of a claim on a tenant another org holds; it never says which org."""
    return Conflict(
        f"Azure tenant {tenant_id} is connected to another organization; a tenant is "
        "connected to one organization only",
        fix="if this organization should read that tenant's storage instead, ask the insitu "
        f"operator to move it: insitu azure tenant move {tenant_id} --to {org.id}",
    )


def _connected(session: Session, row: AzureTenant, *, actor: Actor) -> None:
    audit.record(
        session,
        actor=actor,
        action="azure.tenant_connected",
        org_id=row.org_id,
        target_type="azure_tenant",
        target_id=row.tenant_id,
        details={"how": row.how},
    )


def move_tenant(session: Session, *, tenant_id: str, to_org: Organization) -> AzureTenant:
    """Operators only: hand a tenant to ``to_org``, recorded in both orgs' audit logs."""
    try:
        tenant_id = normalize_tenant_id(tenant_id)
    except ValueError as exc:
        raise InvalidInput(str(exc), fix="pass the tenant's directory ID GUID") from exc
    row = _find(session, tenant_id=tenant_id)
    if row is None:
        raise NotFound(
            f"Azure tenant {tenant_id} is not connected to any organization",
            fix="there is nothing to move: connect it to the organization with "
            f"insitu azure tenant add {tenant_id} --org {to_org.id}, or GET /v1/azure/connect",
        )
    from_org = row.org_id
    if from_org == to_org.id:
        return row
    row.org_id = to_org.id
    session.flush()
    for org_id in (from_org, to_org.id):
        audit.record(
            session,
            actor=OPERATOR,
            action="azure.tenant_moved",
            org_id=org_id,
            target_type="azure_tenant",
            target_id=tenant_id,
            details={"from_org": from_org, "to_org": to_org.id},
        )
    return row


def tenant_owner(session: Session, *, tenant_id: str) -> str | None:
    """The ID of the org holding ``tenant_id`` (operators only: orgs never learn it)."""
    try:
        tenant_id = normalize_tenant_id(tenant_id)
    except ValueError:
        return None
    row = _find(session, tenant_id=tenant_id)
    return row.org_id if row else None


def _find(session: Session, *, tenant_id: str, org_id: str | None = None) -> AzureTenant | None:
    query = select(AzureTenant).where(AzureTenant.tenant_id == tenant_id)
    if org_id is not None:
        query = query.where(AzureTenant.org_id == org_id)
    return session.scalar(query)


def get_tenant(session: Session, *, org: Organization, tenant_id: str) -> AzureTenant:
    """The org's tenant record; another org's (or none) is simply not found."""
    try:
        tenant_id = normalize_tenant_id(tenant_id)
    except ValueError:
        tenant_id = ""
    row = _find(session, tenant_id=tenant_id, org_id=org.id) if tenant_id else None
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
    """The org's tenant IDs, queried only when a provider asks (each time: they can move).

    An org loaded by a job that has since closed its session is looked up in a new one.
    """
    org_id = org.id

    def tenants() -> list[str]:
        session = object_session(org)
        if session is not None:
            return [row.tenant_id for row in list_tenants(session, org_id=org_id)]
        with session_scope() as own:
            return [row.tenant_id for row in list_tenants(own, org_id=org_id)]

    return tenants


def card_accounts(org: Organization) -> Callable[[], dict[str, list[CardAccount]]]:
    """The org's tenants as its Azure settings card lists them, queried only when asked."""
    org_id = org.id

    def accounts() -> dict[str, list[CardAccount]]:
        session = object_session(org)
        if session is not None:
            rows = list_tenants(session, org_id=org_id)
        else:
            with session_scope() as own:
                rows = list_tenants(own, org_id=org_id)
        return {
            "azure": [
                CardAccount(
                    row.tenant_id,
                    f"Tenant {row.tenant_id}",
                    f"{'consented' if row.how == 'consent' else 'registered by the operator'} "
                    f"on {row.consented_at:%Y-%m-%d %H:%M} UTC",
                )
                for row in rows
            ]
        }

    return accounts
