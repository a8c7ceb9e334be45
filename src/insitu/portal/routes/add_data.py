"""Add Data: choose a provider, a connection (or make one), a path; read the instructions,
verify access. The Import button posts to ``routes/imports.py``.

Every provider's name, fields, instructions and verify button come from the provider itself
(``insitu.storage``); this module never asks which provider it is showing.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from insitu.api.deps import Caller, SessionDep, SettingsDep
from insitu.config import Settings
from insitu.connections import service as connections
from insitu.connections.schemas import ConnectionCreate, unusable_name
from insitu.errors import InsituError, InvalidInput, NotFound
from insitu.portal import connection_form
from insitu.portal.deps import FormDep, PortalCallerDep, require_csrf
from insitu.portal.errors import TITLES
from insitu.portal.pages import render
from insitu.projects import service as projects
from insitu.projects.models import Project

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])


def chosen_provider(
    session: Session, *, caller: Caller, settings: Settings, name: str | None
) -> tuple[list[connections.ProviderChoice], connections.ProviderChoice | None]:
    """The providers this org may use, and the one called ``name`` (404 if it may not)."""
    choices = connections.choices(session, org=caller.org, settings=settings)
    if not name:
        return choices, None
    chosen = next((choice for choice in choices if choice.provider.name == name), None)
    if chosen is None:
        raise NotFound(
            f"there is no storage provider {name!r} to add data from",
            fix="choose one of the providers listed under Add Data",
        )
    return choices, chosen


def add_data_page(
    request: Request,
    session: Session,
    *,
    caller: Caller,
    settings: Settings,
    project: Project,
    provider: str | None,
    form: dict[str, Any] | None = None,
    error: InsituError | None = None,
    status_code: int = 200,
) -> Response:
    """The Add Data steps; ``form`` is what the person sent, shown again after an error."""
    choices, chosen = chosen_provider(session, caller=caller, settings=settings, name=provider)
    values = form or {}
    context: dict[str, Any] = {}
    if chosen is not None:
        advice = chosen.provider.cors_advice(settings.portal_origins)
        context = {
            "fields": connection_form.fields(chosen.provider.config_model),
            "cors_rules": json.dumps(advice.rules, indent=2),
            "cors_command": advice.command,
            "connection_id": values.get("connection_id") or _first_id(chosen),
            "new_values": connection_form.values_from(values),
            "new_name": values.get("new_name", ""),
            "open_new": bool(values.get("open_new")),
        }
    return render(
        request,
        "add_data.html",
        caller=caller,
        project=project,
        tab="imports",
        choices=choices,
        chosen=chosen,
        source=values.get("source", ""),
        source_files=values.get("source_files", ""),
        error=error,
        status_code=status_code,
        **context,
    )


def _first_id(choice: connections.ProviderChoice) -> str:
    return choice.connections[-1].id if choice.connections else ""


@router.get("/projects/{project_id}/imports/new")
def add_data(
    project_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    caller: PortalCallerDep,
    provider: str | None = None,
) -> Response:
    project = projects.get(session, org=caller.org, project_id=project_id)
    return add_data_page(
        request, session, caller=caller, settings=settings, project=project, provider=provider
    )


@router.post("/projects/{project_id}/imports/new/connections")
def create_connection(
    project_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    caller: PortalCallerDep,
    form: FormDep,
) -> Response:
    """New connection (htmx): the connection step again, the new one chosen, or the problem."""
    project = projects.get(session, org=caller.org, project_id=project_id)
    _, chosen = chosen_provider(
        session, caller=caller, settings=settings, name=str(form.get("provider") or "")
    )
    assert chosen is not None
    model = chosen.provider.config_model
    name = str(form.get("new_name") or "").strip() or None
    context: dict[str, Any] = {"fields": connection_form.fields(model)}
    try:
        if not chosen.can_create:
            raise InvalidInput(
                f"{chosen.provider.title} connections are made by the platform operator",
                fix="ask the operator to connect it for your organization",
            )
        try:
            data = ConnectionCreate(
                provider=chosen.provider.name,
                name=name,
                settings=connection_form.settings_from(form, model),
            )
        except ValidationError as exc:  # only the name is checked here; settings by the service
            raise unusable_name(exc) from exc
        connection = connections.create(
            session, org=caller.org, data=data, settings=settings, actor=caller.actor
        )
    except InsituError as exc:
        context |= {
            "connection_error": exc,
            "connection_id": str(form.get("connection_id") or ""),
            "new_values": connection_form.values_from(form),
            "new_name": name or "",
            "open_new": True,
        }
    else:
        chosen.connections.append(connection)
        context |= {
            "created": connection,
            "connection_id": connection.id,
            "new_values": {},
            "new_name": "",
        }
    return render(
        request,
        "_connection_step.html",
        caller=caller,
        project=project,
        chosen=chosen,
        **context,
    )


@router.post("/projects/{project_id}/imports/new/verify")
def verify(
    project_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    caller: PortalCallerDep,
    form: FormDep,
) -> Response:
    """Verify access (htmx): every check of the chosen connection on the path, with fixes."""
    projects.get(session, org=caller.org, project_id=project_id)
    connection_id = str(form.get("connection_id") or "")
    source = str(form.get("source") or "").strip()
    try:
        if not connection_id:
            raise InvalidInput(
                "no connection is chosen", fix="choose a connection, or create a New connection"
            )
        if not source:
            raise InvalidInput(
                "no path is entered",
                fix="enter the absolute path of the folder or file to import",
            )
        connection = connections.get(session, org=caller.org, connection_id=connection_id)
        checks = connections.verify(
            connection, org=caller.org, source=source, settings=settings, actor=caller.actor
        )
    except InsituError as exc:
        return problem(request, exc, target="#verify-result")
    return render(
        request,
        "_verify_result.html",
        caller=caller,
        source=source,
        checks=checks,
        ok=all(check.ok for check in checks),
    )


def problem(request: Request, exc: InsituError, *, target: str) -> Response:
    """``exc`` as a message in ``target`` (next to what failed), with its real status."""
    return render(
        request,
        "_problem.html",
        status_code=exc.status_code,
        headers={"HX-Retarget": target, "HX-Reswap": "innerHTML"},
        title=TITLES.get(exc.status_code, "Something went wrong"),
        detail=exc.detail,
        fix=exc.fix,
    )
