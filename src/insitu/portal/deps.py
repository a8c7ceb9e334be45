"""Who is signed in to the portal, and the CSRF check every form and htmx request passes."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request

from insitu.api.deps import Caller, SessionDep, SettingsDep, request_actor
from insitu.config import Settings
from insitu.errors import Forbidden, Unauthenticated
from insitu.organizations import service as organizations
from insitu.portal import session as portal_session
from insitu.portal.session import CSRF_FIELD, CSRF_HEADER, PortalSession

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class SignInRequired(Exception):
    """No session, or its key was revoked or expired: sign in, then come back to ``next_path``."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path

    @property
    def sign_in_url(self) -> str:
        return "/sign-in?next=" + quote(self.next_path, safe="/")


def current_session(request: Request, settings: Settings) -> PortalSession | None:
    """The request's portal session, read once per request."""
    if not hasattr(request.state, "portal_session"):
        request.state.portal_session = portal_session.read(request, settings)
    session: PortalSession | None = request.state.portal_session
    return session


def get_portal_caller(request: Request, session: SessionDep, settings: SettingsDep) -> Caller:
    """The signed-in admin key's caller; SignInRequired sends anyone else to the sign-in page."""
    portal = current_session(request, settings)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if portal is None or portal.session_id is None:
        raise SignInRequired(here)
    try:
        org, api_key = organizations.portal_session_caller(session, session_id=portal.session_id)
    except Unauthenticated as exc:
        raise SignInRequired(here) from exc
    return Caller(org=org, api_key=api_key, actor=request_actor(request, api_key.id))


async def require_csrf(request: Request, settings: SettingsDep) -> None:
    """Refuse a form or htmx request that does not carry its session's CSRF token."""
    if request.method not in UNSAFE_METHODS:
        return
    token = request.headers.get(CSRF_HEADER)
    if token is None:
        form = await request.form()  # parsed once: the route's own Form fields reuse it
        value = form.get(CSRF_FIELD)
        token = value if isinstance(value, str) else None
    portal = current_session(request, settings)
    if portal is None or not portal.accepts(token):
        raise Forbidden(
            "this form was not sent by an insitu page of your session, or the page is too old",
            fix="reload the page and submit it again",
        )


async def posted_form(request: Request) -> dict[str, Any]:
    """The posted form's fields. Awaited here, on the event loop, so that a route taking it can
    be a plain ``def``: FastAPI runs those in worker threads, and a route that verifies access
    or creates a connection waits on a customer's cloud, which must not stall the server."""
    return dict(await request.form())


PortalCallerDep = Annotated[Caller, Depends(get_portal_caller)]
FormDep = Annotated[dict[str, Any], Depends(posted_form)]
