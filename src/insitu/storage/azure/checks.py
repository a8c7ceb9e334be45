"""The Azure-specific verify checks: token, user-delegation key, Blob service CORS."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx

from insitu.errors import AccessDenied, InsituError
from insitu.storage import verify as steps_
from insitu.storage.azure.advice import cors_command
from insitu.storage.azure.errors import SDK_ERRORS, Where, map_error
from insitu.storage.base import Check

if TYPE_CHECKING:
    from insitu.config import Settings
    from insitu.storage.azure.identity import Identity

STORAGE_SCOPE = "https://storage.azure.com/.default"
TOKEN = "Azure token"
DELEGATION_KEY = "user delegation key"


def _claims(token: str) -> dict[str, Any]:
    """The (unverified) claims of a JWT access token, for telling the user who insitu is."""
    try:
        payload = token.split(".")[1]
        decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * 4))
        return decoded
    except (IndexError, ValueError):
        return {}


def check_token(identity: Identity) -> tuple[Check, bool | None]:
    tenant = identity.config.tenant_id
    try:
        token = identity.credential.get_token(STORAGE_SCOPE)
    except SDK_ERRORS as exc:
        error = map_error(exc, f"getting a token for tenant {tenant}", Where(identity))
        return Check(TOKEN, False, error.detail, error.fix), None
    claims = _claims(token.token)
    who = claims.get("oid") or claims.get("appid") or "insitu's application"
    detail = f"got a token for Azure Storage in tenant {tenant} as service principal {who}"
    return Check(TOKEN, True, detail), True


def check_delegation_key(identity: Identity) -> tuple[Check, bool | None]:
    try:
        _, expiry = identity.delegation_key(datetime.now(UTC) + timedelta(minutes=5))
    except InsituError as exc:
        return Check(DELEGATION_KEY, False, exc.detail, exc.fix), None
    detail = f"got a user-delegation key for storage account {identity.account} (until {expiry})"
    return Check(DELEGATION_KEY, True, detail), True


def _split(value: Any) -> list[str]:
    items = value if isinstance(value, list | tuple) else [value or ""]
    return [part.strip() for item in items for part in str(item).split(",") if part.strip()]


def check_cors(
    identity: Identity, settings: Settings, signed_url: str | None
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
    except SDK_ERRORS as exc:
        error = map_error(exc, f"reading the blob service CORS rules of {account}", Where(identity))
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
                try:
                    response = client.options(
                        url, headers={"Origin": origin, "Access-Control-Request-Method": method}
                    )
                except httpx.HTTPError as exc:
                    detail = f"a CORS preflight to the Blob service of {account} failed: {exc!r}"
                    return Check(steps_.CORS, False, detail[:400], fix), None
                allowed = response.headers.get("access-control-allow-origin", "")
                if response.status_code != 200 or allowed not in ("*", origin):
                    missing.append(f"{method} from {origin}")
    if missing:
        detail = f"the Blob service of {account} refuses CORS preflights for {', '.join(missing)}"
        return Check(steps_.CORS, False, detail, fix), None
    detail = f"CORS preflights from {', '.join(origins)} for GET and HEAD are allowed"
    return Check(steps_.CORS, True, detail), None
