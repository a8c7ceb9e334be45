"""Editing a connection in place: rotated keys, another role or region, a new name.

Its form is made from the provider's config model, like the New connection form; secret
fields start empty (a secret is never shown) and an empty one keeps the current value, as
do settings with no input (an S3 connection's event queue).
Saving checks the connection's access again, so the page answers with its new health.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from insitu.api.deps import Caller, SessionDep, SettingsDep
from insitu.connections import health
from insitu.connections import service as connections
from insitu.connections.schemas import ConnectionRead, ConnectionUpdate, unusable_name
from insitu.errors import InsituError
from insitu.portal import connection_form
from insitu.portal.deps import FormDep, PortalCallerDep, require_csrf
from insitu.portal.pages import render
from insitu.storage.registry import get_provider

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])


@router.get("/connections/{connection_id}/edit")
def edit_page(
    connection_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    caller: PortalCallerDep,
) -> Response:
    connection = connections.get(session, org=caller.org, connection_id=connection_id)
    shown = connections.read(connection, settings=settings)
    values = {name: "" if value is None else str(value) for name, value in shown.settings.items()}
    return _page(request, caller, shown, name=shown.name, values=values)


@router.post("/connections/{connection_id}/edit")
def save(
    connection_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    caller: PortalCallerDep,
    form: FormDep,
) -> Response:
    connection = connections.get(session, org=caller.org, connection_id=connection_id)
    model = get_provider(connection.provider).config_model
    name = str(form.get("name") or "").strip()
    try:
        try:
            data = ConnectionUpdate(
                name=name or None, settings=connection_form.edited_settings(form, model)
            )
        except ValidationError as exc:  # only the name is checked here; settings by the service
            raise unusable_name(exc) from exc
        health.update_and_check(
            session, org=caller.org, connection=connection, data=data, settings=settings,
            actor=caller.actor,
        )  # fmt: skip
    except InsituError as exc:
        session.rollback()
        connection = connections.get(session, org=caller.org, connection_id=connection_id)
        return _page(
            request, caller, connections.read(connection, settings=settings), name=name,
            values=connection_form.values_from(form), error=exc, status_code=exc.status_code,
        )  # fmt: skip
    shown = connections.read(connection, settings=settings)
    return _page(
        request, caller, shown, name=shown.name, saved=True,
        values=connection_form.values_from(form),
    )  # fmt: skip


def _page(
    request: Request,
    caller: Caller,
    connection: ConnectionRead,
    *,
    name: str,
    values: dict[str, str],
    saved: bool = False,
    error: InsituError | None = None,
    status_code: int = 200,
) -> Response:
    provider = get_provider(connection.provider)
    fields = connection_form.fields(provider.config_model)
    secrets = provider.config_model.secret_fields()
    labels = {field.name: field.label for field in fields}
    follow = [labels[name] for name in provider.config_model.secrets_follow if name in labels]
    context: dict[str, Any] = {
        "connection": connection,
        "provider": provider,
        "fields": fields,
        "name": name,
        "values": {key: value for key, value in values.items() if key not in secrets},
        "saved": saved,
        "secrets_follow": follow,
        "error": error,
    }
    return render(
        request, "connection_edit.html", caller=caller, status_code=status_code, **context
    )
