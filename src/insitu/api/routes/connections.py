from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from insitu.api.deps import CallerDep, OperatorDep, SessionDep, SettingsDep
from insitu.connections import health
from insitu.connections import service as connections
from insitu.connections.schemas import (
    CheckRead,
    ConnectionCreate,
    ConnectionRead,
    ConnectionUpdate,
    CorsRead,
    VerifyRead,
    VerifyRequest,
)
from insitu.storage.registry import get_provider, provider_names

router = APIRouter(tags=["connections"])


@router.post("/v1/connections", status_code=status.HTTP_201_CREATED)
def create_connection(
    data: ConnectionCreate,
    caller: CallerDep,
    session: SessionDep,
    settings: SettingsDep,
    operator: OperatorDep,
) -> ConnectionRead:
    # Whoever presents the operator key acts as the operator, through this org's key.
    actor = replace(caller.actor, id="operator") if operator else caller.actor
    connection = connections.create(
        session, org=caller.org, data=data, settings=settings, operator=operator, actor=actor
    )
    return connections.read(connection, settings=settings)


@router.get("/v1/connections")
def list_connections(
    caller: CallerDep, session: SessionDep, settings: SettingsDep
) -> list[ConnectionRead]:
    rows = connections.list_for_org(session, org=caller.org)
    return [connections.read(connection, settings=settings) for connection in rows]


@router.get("/v1/connections/{connection_id}")
def get_connection(
    connection_id: str, caller: CallerDep, session: SessionDep, settings: SettingsDep
) -> ConnectionRead:
    connection = connections.get(session, org=caller.org, connection_id=connection_id)
    return connections.read(connection, settings=settings)


@router.patch("/v1/connections/{connection_id}")
def update_connection(
    connection_id: str,
    data: ConnectionUpdate,
    caller: CallerDep,
    session: SessionDep,
    settings: SettingsDep,
    operator: OperatorDep,
) -> ConnectionRead:
    """Rename the connection or replace its settings (rotated keys, another role) in place;
    with new settings, a connection in use has its access checked again before this answers."""
    actor = replace(caller.actor, id="operator") if operator else caller.actor
    connection = connections.get(session, org=caller.org, connection_id=connection_id)
    health.update_and_check(
        session, org=caller.org, connection=connection, data=data, settings=settings,
        actor=actor, operator=operator,
    )  # fmt: skip
    return connections.read(connection, settings=settings)


@router.delete("/v1/connections/{connection_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_connection(connection_id: str, caller: CallerDep, session: SessionDep) -> Response:
    connection = connections.get(session, org=caller.org, connection_id=connection_id)
    connections.delete(session, connection=connection, actor=caller.actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/v1/connections/{connection_id}/verify")
def verify_connection(
    connection_id: str,
    data: VerifyRequest,
    caller: CallerDep,
    session: SessionDep,
    settings: SettingsDep,
) -> VerifyRead:
    """Try every step labelers will need, and say how to fix each one that fails."""
    connection = connections.get(session, org=caller.org, connection_id=connection_id)
    checks = connections.verify(
        connection, org=caller.org, source=data.source, settings=settings, actor=caller.actor
    )
    return VerifyRead(
        ok=all(check.ok for check in checks),
        source=data.source,
        checks=[
            CheckRead(name=check.name, ok=check.ok, detail=check.detail, fix=check.fix)
            for check in checks
        ],
    )


@router.get("/v1/cors")
def get_cors(
    _caller: CallerDep,
    settings: SettingsDep,
    provider: Annotated[str, Query(description=f"One of {', '.join(provider_names())}.")],
) -> CorsRead:
    """The bucket CORS rules that let the portal origins GET and HEAD files."""
    advice = get_provider(provider).cors_advice(settings.portal_origins)
    return CorsRead(
        provider=advice.provider,
        origins=settings.portal_origins,
        rules=advice.rules,
        command=advice.command,
    )
