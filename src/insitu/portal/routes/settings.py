"""Organization Settings: self-hosting by default, the portal origins bucket CORS rules must
allow, and the organization's connections."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from insitu.api.deps import Caller, SessionDep, SettingsDep
from insitu.config import Settings
from insitu.connections import service as connections
from insitu.organizations import service as organizations
from insitu.organizations.schemas import OrganizationUpdate
from insitu.portal.deps import PortalCallerDep, require_csrf
from insitu.portal.pages import is_htmx, render

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])


@router.get("/settings")
def settings_page(
    request: Request, session: SessionDep, caller: PortalCallerDep, settings: SettingsDep
) -> Response:
    return render(request, "settings.html", caller=caller, **_context(session, caller, settings))


@router.post("/settings/self-host")
def set_self_host_default(
    request: Request,
    session: SessionDep,
    caller: PortalCallerDep,
    self_host_default: Annotated[bool, Form()] = False,
) -> Response:
    """Whether the org's new projects are self-hosted unless their request says otherwise."""
    organizations.update(
        session, org=caller.org, changes=OrganizationUpdate(self_host_default=self_host_default)
    )
    if not is_htmx(request):
        return RedirectResponse("/settings", status_code=303)
    return render(request, "_self_host.html", caller=caller, saved=True)


def _context(session: Session, caller: Caller, settings: Settings) -> dict[str, Any]:
    listed = connections.list_for_org(session, org=caller.org)
    return {
        "portal_origins": settings.portal_origins,
        "connections": [connections.read(c, settings=settings) for c in listed],
    }
