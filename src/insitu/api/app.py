"""The FastAPI application: one router per domain, one error format, CORS for the portal."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy import Engine

from insitu import __version__
from insitu.api import docs
from insitu.api.body_limit import BodyLimitMiddleware
from insitu.api.errors import ERROR_RESPONSES, install_error_handlers
from insitu.api.headers import SecurityHeadersMiddleware
from insitu.api.routes import (
    assets,
    connections,
    imports,
    keys,
    local_files,
    organization,
    projects,
    reconcile,
    watch,
)
from insitu.api.routes import audit as audit_routes
from insitu.api.routes import azure as azure_routes
from insitu.api.routes import gcs as gcs_routes
from insitu.config import Settings, get_settings
from insitu.db import get_engine
from insitu.reconcile.schedule import ReconcileSchedule
from insitu.watch.supervisor import EventSupervisor

log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    engine: Engine | None = None,
    *,
    resume_jobs: bool = False,
    schedule_reconciles: bool = False,
    consume_events: bool = False,
) -> FastAPI:
    """The insitu API; ``resume_jobs`` re-queues imports a previous process left unfinished,
    ``schedule_reconciles`` reconciles every project every INSITU_RECONCILE_INTERVAL_SECONDS,
    ``consume_events`` keeps a consumer on every watched event queue."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if resume_jobs:
            _resume_interrupted_imports(app)
        schedule = None
        if schedule_reconciles and settings.reconcile_interval_seconds:
            schedule = ReconcileSchedule(
                app.state.engine, interval_seconds=settings.reconcile_interval_seconds
            )
            schedule.start()
        supervisor = None
        if consume_events:
            supervisor = EventSupervisor(app.state.engine, settings=settings)
            supervisor.start()
        yield
        if supervisor is not None:
            supervisor.stop()
        if schedule is not None:
            schedule.stop()

    app = FastAPI(
        title="insitu",
        version=__version__,
        description="Label files that never leave the customer's own cloud.",
        lifespan=lifespan,
        # Every route may answer with these errors, all in the same {error, detail, fix} shape.
        responses=ERROR_RESPONSES,
        # /docs is served from installed assets (api/docs.py); ReDoc would load from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine or get_engine(settings.database_url)
    # The last added is the outermost: CORS, then the security headers, then the body cap.
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.portal_origins,
        allow_methods=["GET", "HEAD", "POST", "PATCH", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "Range"],
        expose_headers=["Content-Length", "Content-Range", "ETag"],
    )
    install_error_handlers(app)
    for module in (
        organization,
        keys,
        connections,
        projects,
        imports,
        assets,
        reconcile,
        watch,
        local_files,
    ):
        app.include_router(module.router)
    app.include_router(gcs_routes.router)
    app.include_router(azure_routes.router)
    app.include_router(audit_routes.router)
    app.include_router(docs.router)

    from insitu import portal

    portal.install(app)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app


def _resume_interrupted_imports(app: FastAPI) -> None:
    from insitu import jobs
    from insitu.db import session_scope
    from insitu.imports import service as imports

    with session_scope(app.state.engine) as session:
        for job in imports.interrupted(session):
            imports.resume(session, job=job)
            jobs.enqueue(session, imports.RUN_TASK, job_id=job.id)
            log.info("resuming import %s", job.id)


def serve_app() -> FastAPI:
    """The app ``insitu serve`` runs in each server process."""
    settings = get_settings()
    return create_app(
        settings,
        resume_jobs=settings.job_backend == "inline",
        schedule_reconciles=True,
        consume_events=True,
    )
