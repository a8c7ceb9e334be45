"""Signing in with an organization's API key, and out again."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from insitu.api.denials import audit_denied
from insitu.api.deps import SessionDep, SettingsDep, client_address, rate_limiter, request_actor
from insitu.api.headers import is_https
from insitu.audit import service as audit
from insitu.errors import RateLimited, Unauthenticated
from insitu.organizations import service as organizations
from insitu.portal import session as portal_session
from insitu.portal.deps import (
    PortalCallerDep,
    SignInRequired,
    current_session,
    get_portal_caller,
    require_csrf,
)
from insitu.portal.pages import render
from insitu.portal.routes.projects import projects_page

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])

SIGNED_IN = "portal.signed_in"
SIGNED_OUT = "portal.signed_out"


def safe_next(next_path: str | None) -> str:
    """Where to go after signing in: a path on this server, never another site."""
    if not next_path or not next_path.startswith("/") or next_path.startswith(("//", "/\\")):
        return "/"
    if any(ord(char) < 32 for char in next_path) or next_path.startswith("/sign-"):
        return "/"
    return next_path


@router.get("/")
def home(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """The portal for a signed-in user, the sign-in page for anyone else."""
    try:
        caller = get_portal_caller(request, session, settings)
    except SignInRequired:
        return sign_in_page(request, settings, next_path="/")
    return projects_page(request, session, caller)


@router.get("/sign-in")
def sign_in_form(
    request: Request, session: SessionDep, settings: SettingsDep, next: str = "/"
) -> Response:
    current = current_session(request, settings)
    if current is not None and current.signed_in:
        try:
            organizations.portal_session_caller(session, session_id=current.session_id or "")
            return RedirectResponse(safe_next(next), status_code=303)
        except Unauthenticated:
            pass
    return sign_in_page(request, settings, next_path=next)


def sign_in_page(
    request: Request,
    settings: SettingsDep,
    *,
    next_path: str,
    error: str | None = None,
    fix: str | None = None,
    status_code: int = 200,
) -> Response:
    """The sign-in form, with a session cookie whose CSRF token the form carries."""
    current = current_session(request, settings)
    fresh = current is None or current.signed_in
    anonymous = portal_session.new() if fresh else current
    request.state.portal_session = anonymous
    response = render(
        request,
        "sign_in.html",
        next_path=safe_next(next_path),
        error=error,
        fix=fix,
        status_code=status_code,
    )
    if fresh and anonymous is not None:
        portal_session.store(response, anonymous, settings=settings, https=is_https(request.scope))
    return response


@router.post("/sign-in")
def sign_in(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    api_key: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    limiter, address = rate_limiter(request), client_address(request)
    key = api_key.strip()
    try:
        limiter.admit(address, None)
    except RateLimited as exc:
        return sign_in_page(
            request, settings, next_path=next, error=exc.detail, fix=exc.fix, status_code=429
        )
    try:
        if not key:
            raise Unauthenticated(
                "no API key was entered", fix="paste an API key of your organization"
            )
        org, api_key_row = organizations.authenticate(session, key=key)
    except Unauthenticated as exc:
        if key:
            limiter.failed(address)
            audit_denied(request, exc, bearer=key)
        fix = exc.fix
        if exc.detail == organizations.unknown_key().detail:
            fix = "paste the whole key (it starts with insitu_); an admin can make a new one"
        return sign_in_page(
            request, settings, next_path=next, error=exc.detail, fix=fix, status_code=401
        )
    if api_key_row.scope != organizations.ADMIN:
        return sign_in_page(
            request,
            settings,
            next_path=next,
            error=f"this is a {api_key_row.scope} key: it may read assets through the API, "
            "but the portal manages the organization",
            fix="sign in with an admin key of your organization",
            status_code=403,
        )
    audit.record(
        session,
        actor=request_actor(request, api_key_row.id),
        action=SIGNED_IN,
        org_id=org.id,
        target_type="api_key",
        target_id=api_key_row.id,
    )
    response = RedirectResponse(safe_next(next), status_code=303)
    session_id = organizations.start_portal_session(
        session, api_key=api_key_row, hours=settings.portal_session_hours
    )
    signed_in = portal_session.new(session_id)
    portal_session.store(response, signed_in, settings=settings, https=is_https(request.scope))
    return response


@router.post("/sign-out")
def sign_out(request: Request, session: SessionDep, caller: PortalCallerDep) -> Response:
    audit.record(
        session,
        actor=caller.actor,
        action=SIGNED_OUT,
        org_id=caller.org.id,
        target_type="api_key",
        target_id=caller.api_key.id,
    )
    signed_out = request.state.portal_session
    organizations.end_portal_session(session, session_id=signed_out.session_id)
    response = RedirectResponse("/sign-in", status_code=303)
    portal_session.forget(response, https=is_https(request.scope))
    return response
