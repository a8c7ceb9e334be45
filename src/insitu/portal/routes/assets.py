"""A project's Assets tab: the grid loaded straight from the bucket, removing and restoring
assets, and Sync now (a reconcile) with its counts.

Each page of the grid signs its URLs through the same audited path as the API's circulation
route, and names the origins of exactly those URLs in its Content-Security-Policy. Paging is
by plain links, so every page's policy matches the URLs it shows.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from insitu.api.deps import Caller, SessionDep, SettingsDep
from insitu.assets import service as assets
from insitu.assets.models import ACTIVE, REMOVAL_REASONS, REMOVED
from insitu.config import Settings
from insitu.errors import InsituError, NotFound
from insitu.portal import csp
from insitu.portal.deps import PortalCallerDep, require_csrf
from insitu.portal.pages import is_htmx, render
from insitu.portal.tiles import REASONS, Tile, tile
from insitu.projects import service as projects
from insitu.projects.models import Project
from insitu.reconcile import service as reconciles
from insitu.reconcile.models import FINISHED_STATUSES

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])

PAGE_SIZE = 24
PAST_SYNCS = 5
# What a redirect after a change says on the page it lands on (fixed words: nothing from the URL
# is written into the page but a count).
DONE = {
    "removed": "{count} left circulation. They are listed under Removed, with why.",
    "restored": "The asset is back in circulation.",
    "nothing": "Select the assets to remove first.",
}


@router.get("/projects/{project_id}/assets")
def assets_tab(
    project_id: str,
    request: Request,
    session: SessionDep,
    caller: PortalCallerDep,
    settings: SettingsDep,
    status: Annotated[str, Query()] = ACTIVE,
    reason: Annotated[str | None, Query()] = None,
    after: Annotated[str | None, Query(max_length=64)] = None,
    done: Annotated[str | None, Query()] = None,
    count: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    project = projects.get(session, org=caller.org, project_id=project_id)
    if status not in (ACTIVE, REMOVED):
        status = ACTIVE
    if reason not in REMOVAL_REASONS or status != REMOVED:
        reason = None
    counts = assets.count_by_reason(session, project=project)
    problem: InsituError | None = None
    if status == ACTIVE:
        tiles, next_cursor, problem = _circulating(session, project, caller, settings, after)
    else:
        rows, next_cursor = assets.list_for_project(
            session, project=project, status=REMOVED, reason=reason, after=after, limit=PAGE_SIZE
        )
        tiles = [tile(row) for row in rows]
    origins = csp.media_origins(t.url for t in tiles if t.url)
    portal_origin = str(request.base_url).rstrip("/")
    return render(
        request,
        "project_assets.html",
        caller=caller,
        project=project,
        tab="assets",
        status=status,
        reason=reason,
        reasons=REASONS,
        tiles=tiles,
        in_circulation=counts.get(None, 0),
        removed_counts={r: counts[r] for r in REMOVAL_REASONS if counts.get(r)},
        removed_total=sum(n for r, n in counts.items() if r is not None),
        first_page=None if after is None else _here(project, status, reason),
        next_page=None if next_cursor is None else _here(project, status, reason, next_cursor),
        problem=problem,
        done=_done_message(done, count),
        sync=_sync_context(session, project, caller),
        url_minutes=max(1, settings.url_ttl_seconds // 60),
        portal_origin=portal_origin,
        portal_origins=settings.portal_origins,
        origin_allowed=portal_origin in settings.portal_origins,
        headers={"Content-Security-Policy": csp.policy_for_media(origins)},
    )


def _circulating(
    session: Session, project: Project, caller: Caller, settings: Settings, after: str | None
) -> tuple[list[Tile], str | None, InsituError | None]:
    """A page of assets in circulation with their signed URLs, issued and audited as the API's
    circulation route issues them. A store that cannot sign (its connection's secret is gone,
    say) still leaves the grid readable, without pictures, and says why."""
    try:
        signed, next_cursor = assets.circulation(
            session, project=project, actor=caller.actor, after=after, limit=PAGE_SIZE,
            settings=settings,
        )  # fmt: skip
    except InsituError as exc:
        rows, next_cursor = assets.circulation_rows(
            session, project=project, after=after, limit=PAGE_SIZE
        )
        return [tile(row) for row in rows], next_cursor, exc
    return [tile(row, url.url) for row, url in signed], next_cursor, None


def _here(project: Project, status: str, reason: str | None, after: str | None = None) -> str:
    query = {"status": status, "reason": reason, "after": after}
    return f"/projects/{project.id}/assets?" + urlencode({k: v for k, v in query.items() if v})


def _done_message(done: str | None, count: int) -> str | None:
    template = DONE.get(done or "")
    if template is None:
        return None
    assets_word = "1 asset" if count == 1 else f"{count:,} assets"
    return template.format(count=assets_word)


@router.post("/projects/{project_id}/assets/remove")
def remove_assets(
    project_id: str,
    session: SessionDep,
    caller: PortalCallerDep,
    asset_ids: Annotated[list[str] | None, Form(max_length=PAGE_SIZE * 10)] = None,
) -> Response:
    """Take the selected assets out of circulation (``canceled``); their records stay."""
    project = projects.get(session, org=caller.org, project_id=project_id)
    back = f"/projects/{project.id}/assets"
    if not asset_ids:
        return RedirectResponse(back + "?done=nothing", status_code=303)
    # Only the project's own assets are touched: ids of any other project's are ignored.
    removed = assets.remove_from_project(
        session, project=project, actor=caller.actor, asset_ids=asset_ids
    )
    return RedirectResponse(f"{back}?done=removed&count={removed}", status_code=303)


@router.post("/projects/{project_id}/assets/{asset_id}/restore")
def restore_asset(
    project_id: str,
    asset_id: str,
    request: Request,
    session: SessionDep,
    caller: PortalCallerDep,
    settings: SettingsDep,
) -> Response:
    """Bring a removed asset back, once one HEAD shows its file unchanged in the bucket."""
    project = projects.get(session, org=caller.org, project_id=project_id)
    asset = assets.get(session, org=caller.org, asset_id=asset_id)
    if asset.project_id != project.id:
        raise NotFound(f"asset {asset_id} is not an asset of this project", fix="reload the page")
    assets.restore(session, org=caller.org, asset=asset, actor=caller.actor, settings=settings)
    back = f"/projects/{project.id}/assets?status=removed&done=restored"
    if is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": back})
    return RedirectResponse(back, status_code=303)


@router.post("/projects/{project_id}/sync")
def sync_now(
    project_id: str, request: Request, session: SessionDep, caller: PortalCallerDep
) -> Response:
    """Start a reconcile (or find the one already under way) and show its progress."""
    project = projects.get(session, org=caller.org, project_id=project_id)
    reconciles.start(session, project=project, by=caller.api_key.id)
    if not is_htmx(request):
        return RedirectResponse(f"/projects/{project.id}/assets", status_code=303)
    return _sync_fragment(request, session, caller, project)


@router.get("/projects/{project_id}/sync")
def sync_status(
    project_id: str, request: Request, session: SessionDep, caller: PortalCallerDep
) -> Response:
    """The Sync section alone: htmx polls it while a reconcile runs."""
    project = projects.get(session, org=caller.org, project_id=project_id)
    return _sync_fragment(request, session, caller, project)


def _sync_fragment(
    request: Request, session: Session, caller: Caller, project: Project
) -> Response:
    return render(
        request,
        "_sync.html",
        caller=caller,
        project=project,
        sync=_sync_context(session, project, caller),
    )


def _sync_context(session: Session, project: Project, caller: Caller) -> dict[str, object]:
    jobs, _ = reconciles.list_for_project(session, project=project, after=None, limit=PAST_SYNCS)
    latest = jobs[0] if jobs else None
    return {
        "latest": reconciles.read(latest) if latest else None,
        "running": latest is not None and latest.status not in FINISHED_STATUSES,
        "past": [reconciles.read(job) for job in jobs],
        "me": caller.api_key.id,
    }
