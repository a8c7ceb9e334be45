"""The portal's session: a signed cookie naming the API key that signed in, and a CSRF token.

The cookie holds no secret of the customer's: only the key's id, the session's CSRF token and
when it was issued, signed (HMAC, itsdangerous) with INSITU_SECRET_KEYS. Every request looks
the key up again, so revoking or expiring it ends its sessions at once; a session also ends
INSITU_PORTAL_SESSION_HOURS after sign-in. Before sign-in the cookie carries a CSRF token
alone, so the sign-in form is protected like every other one.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from insitu.config import Settings

COOKIE = "insitu_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_SALT = "insitu.portal.session"


@dataclass(frozen=True)
class PortalSession:
    csrf_token: str
    api_key_id: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.api_key_id is not None

    def accepts(self, token: str | None) -> bool:
        """Whether ``token`` is this session's CSRF token."""
        return bool(token) and hmac.compare_digest(self.csrf_token, token or "")


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    # itsdangerous signs with the last key and verifies with any; insitu's ring is newest first.
    return URLSafeTimedSerializer(list(reversed(settings.secret_keys)), salt=_SALT)


def max_age_seconds(settings: Settings) -> int:
    return int(settings.portal_session_hours * 3600)


def read(request: Request, settings: Settings) -> PortalSession | None:
    """The request's session, or None if it has none, or one that is forged or expired."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data: Any = _serializer(settings).loads(raw, max_age=max_age_seconds(settings))
    except BadSignature:  # also SignatureExpired
        return None
    if not isinstance(data, dict) or not isinstance(data.get("csrf"), str):
        return None
    key_id = data.get("key")
    return PortalSession(
        csrf_token=data["csrf"], api_key_id=key_id if isinstance(key_id, str) else None
    )


def new(api_key_id: str | None = None) -> PortalSession:
    """A fresh session; each sign-in gets a new CSRF token, so a token seen before is useless."""
    return PortalSession(csrf_token=secrets.token_urlsafe(32), api_key_id=api_key_id)


def store(response: Response, session: PortalSession, *, settings: Settings, https: bool) -> None:
    value = _serializer(settings).dumps({"key": session.api_key_id, "csrf": session.csrf_token})
    response.set_cookie(
        COOKIE,
        value,
        max_age=max_age_seconds(settings),
        path="/",
        httponly=True,
        samesite="lax",
        secure=https,
    )


def forget(response: Response, *, https: bool) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax", secure=https)
