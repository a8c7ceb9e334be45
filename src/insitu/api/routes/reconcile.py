from __future__ import annotations

from fastapi import APIRouter, status

from insitu.api.deps import CallerDep, SessionDep
from insitu.projects import service as projects
from insitu.reconcile import service as reconciles
from insitu.reconcile.schemas import ReconcileRead

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
