"""Rendering the portal's pages: one Jinja2 environment, the context every page shares."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import HTMLResponse

from insitu import __version__
from insitu.api.deps import Caller
from insitu.portal.session import CSRF_FIELD, PortalSession

templates = Jinja2Templates(directory=Path(__file__).with_name("templates"))


def render(
    request: Request,
    template: str,
    *,
    caller: Caller | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """``template`` with ``context``, the signed-in org and the session's CSRF token."""
    session: PortalSession | None = getattr(request.state, "portal_session", None)
    shared = {
        "version": __version__,
        "org": caller.org if caller else None,
        "csrf_field": CSRF_FIELD,
        "csrf_token": session.csrf_token if session else "",
        "path": request.url.path,
    }
    return templates.TemplateResponse(
        request, template, {**shared, **context}, status_code=status_code, headers=headers
    )


def is_htmx(request: Request) -> bool:
    """Whether htmx sent the request (it wants a fragment, not a whole page)."""
    return request.headers.get("HX-Request") == "true"
