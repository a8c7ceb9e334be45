from __future__ import annotations

from fastapi import APIRouter, status

from insitu.api.deps import AfterQuery, CallerDep, LimitQuery, SessionDep
from insitu.projects import service as projects
from insitu.reconcile import service as reconciles
from insitu.reconcile.schemas import ReconcileRead
from insitu.schemas import Page

router = APIRouter(tags=["reconcile"])


@router.post("/v1/projects/{project_id}/reconcile", status_code=status.HTTP_202_ACCEPTED)
def start_reconcile(project_id: str, caller: CallerDep, session: SessionDep) -> ReconcileRead:
    """Compare the project's assets with its buckets: removed, moved, changed, new files.

    One list request per 1,000 objects; unchanged files cost nothing more. A reconcile
    already queued or running for the project is returned instead of a second one.
    """
    project = projects.get(session, org=caller.org, project_id=project_id)
    return reconciles.read(reconciles.start(session, project=project, by=caller.api_key.id))


@router.get("/v1/reconciles/{reconcile_id}")
def get_reconcile(reconcile_id: str, caller: CallerDep, session: SessionDep) -> ReconcileRead:
    return reconciles.read(reconciles.get(session, org=caller.org, reconcile_id=reconcile_id))


@router.get("/v1/projects/{project_id}/reconciles")
def list_reconciles(
    project_id: str,
    caller: CallerDep,
    session: SessionDep,
    after: AfterQuery = None,
    limit: LimitQuery = 100,
) -> Page[ReconcileRead]:
    """A project's reconciles, newest first: asked for, or run on the schedule."""
    project = projects.get(session, org=caller.org, project_id=project_id)
    rows, next_cursor = reconciles.list_for_project(
        session, project=project, after=after, limit=limit
    )
    return Page(items=[reconciles.read(job) for job in rows], next=next_cursor)
