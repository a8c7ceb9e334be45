"""The portal's session cookie: which sign-in this browser is, and its CSRF token.

The cookie holds no secret of the customer's: only the id of a portal session row (see
``organizations.service.start_portal_session``) and the CSRF token, signed (HMAC,
itsdangerous) with INSITU_SECRET_KEYS. Every request looks the row and its key up again, so
signing out, revoking or expiring the key ends the session at once, for every copy of the
cookie; a session also ends INSITU_PORTAL_SESSION_HOURS after sign-in. Before sign-in the
cookie carries a CSRF token alone, so the sign-in form is protected like every other one.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from insitu.config import Settings
from insitu.security import same_secret

COOKIE = "insitu_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_SALT = "insitu.portal.session"


@dataclass(frozen=True)
class PortalSession:
    csrf_token: str
    session_id: str | None = None  # the portal session row, once signed in

    @property
    def signed_in(self) -> bool:
        return self.session_id is not None

    def accepts(self, token: str | None) -> bool:
        """Whether ``token`` is this session's CSRF token."""
        return bool(token) and same_secret(self.csrf_token, token or "")


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
    session_id = data.get("sid")
    return PortalSession(
        csrf_token=data["csrf"], session_id=session_id if isinstance(session_id, str) else None
    )


def new(session_id: str | None = None) -> PortalSession:
    """A fresh session; each sign-in gets a new CSRF token, so a token seen before is useless."""
    return PortalSession(csrf_token=secrets.token_urlsafe(32), session_id=session_id)


def store(response: Response, session: PortalSession, *, settings: Settings, https: bool) -> None:
    value = _serializer(settings).dumps({"sid": session.session_id, "csrf": session.csrf_token})
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
