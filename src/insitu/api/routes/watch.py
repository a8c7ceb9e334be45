from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from insitu.api.deps import CallerDep, SessionDep, SettingsDep
from insitu.connections import service as connections
from insitu.projects import service as projects
from insitu.watch import service as watches
from insitu.watch.schemas import EventsSetupRead, SetupDocumentRead, WatchRead

router = APIRouter(tags=["watch"])


@router.post("/v1/projects/{project_id}/watch")
def start_watch(
    project_id: str, caller: CallerDep, session: SessionDep, settings: SettingsDep
) -> WatchRead:
    """Follow the project's import prefixes through their buckets' storage events.

    New files are imported, deleted ones leave circulation (``moved_or_deleted``, by
    ``event``) and overwritten ones are probed again, within seconds. Every connection the
    project imported through must have an event queue (422 ``events_unsupported`` otherwise).
    """
    project = projects.get(session, org=caller.org, project_id=project_id)
    return watches.start(session, project=project, settings=settings, actor=caller.actor)


@router.get("/v1/projects/{project_id}/watch")
def get_watch(
    project_id: str, caller: CallerDep, session: SessionDep, settings: SettingsDep
) -> WatchRead:
    """Whether the project is watched, and each watched prefix's queue and consumer."""
    project = projects.get(session, org=caller.org, project_id=project_id)
    return watches.status(session, project=project, settings=settings)


@router.delete("/v1/projects/{project_id}/watch", status_code=status.HTTP_204_NO_CONTENT)
def stop_watch(project_id: str, caller: CallerDep, session: SessionDep) -> Response:
    project = projects.get(session, org=caller.org, project_id=project_id)
    watches.stop(session, project=project, actor=caller.actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/v1/connections/{connection_id}/events/setup")
def events_setup(
    connection_id: str,
    caller: CallerDep,
    session: SessionDep,
    settings: SettingsDep,
    source: Annotated[
        list[str], Query(description="Prefixes to watch, in one bucket, e.g. s3://b/scans/.")
    ],
) -> EventsSetupRead:
    """The exact documents and commands that send a bucket's storage events to insitu."""
    connection = connections.get(session, org=caller.org, connection_id=connection_id)
    documents = connections.events_setup(
        connection, org=caller.org, sources=source, settings=settings
    )
    return EventsSetupRead(
        connection_id=connection.id,
        sources=source,
        documents=[
            SetupDocumentRead(
                name=d.name, description=d.description, document=d.document, command=d.command
            )
            for d in documents
        ],
    )
