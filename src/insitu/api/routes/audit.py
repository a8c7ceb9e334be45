"""The org's audit log: paged newest first, or exported whole as JSON lines."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from insitu.api.deps import AfterQuery, CallerDep, LimitQuery, SessionDep
from insitu.audit import service as audit
from insitu.audit.schemas import AuditEventRead
from insitu.db import session_scope
from insitu.schemas import Page

router = APIRouter(tags=["audit"])

ActionQuery = Annotated[
    list[str] | None,
    Query(
        description="Only these actions (repeat the parameter for several), e.g. "
        "connection.created, request.denied, url.issued."
    ),
]


@router.get("/v1/audit")
def list_audit_events(
    caller: CallerDep,
    session: SessionDep,
    action: ActionQuery = None,
    after: AfterQuery = None,
    limit: LimitQuery = 100,
) -> Page[AuditEventRead]:
    """Every security-relevant action in this organization, newest first."""
    items, next_cursor = audit.page(
        session, org_id=caller.org.id, actions=action or (), after=after, limit=limit
    )
    return Page(items=items, next=next_cursor)


@router.get(
    "/v1/audit/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "One AuditEventRead per line, newest first.",
            "content": {"application/x-ndjson": {}},
        }
    },
)
def export_audit_events(
    request: Request, caller: CallerDep, action: ActionQuery = None
) -> StreamingResponse:
    """This organization's whole audit log as JSON lines, streamed."""
    with session_scope(request.app.state.engine) as session:  # reading the log is on it too
        audit.record(
            session,
            actor=caller.actor,
            action="audit.exported",
            org_id=caller.org.id,
            details={"actions": action or None},
        )
    events = audit.export(request.app.state.engine, org_id=caller.org.id, actions=action or ())
    lines: Iterator[str] = (event.model_dump_json() + "\n" for event in events)
    return StreamingResponse(
        lines,
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="insitu-audit.jsonl"'},
    )
