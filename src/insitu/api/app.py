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
    webhooks,
)
from insitu.api.routes import audit as audit_routes
from insitu.api.routes import azure as azure_routes
from insitu.config import Settings, get_settings
from insitu.connections import health
from insitu.db import get_engine
from insitu.jobs.periodic import Periodic, scheduled
from insitu.process import tune_garbage_collector
from insitu.reconcile import service as reconciles
from insitu.watch.supervisor import EventSupervisor
from insitu.webhooks.sweep import DeliverySweep

log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    engine: Engine | None = None,
    *,
    resume_jobs: bool = False,
    schedule_reconciles: bool = False,
    schedule_health_checks: bool = False,
    sweep_webhooks: bool = False,
    consume_events: bool = False,
) -> FastAPI:
    """The insitu API; ``resume_jobs`` runs the import sweep (which takes up imports a dead
    worker or a previous process left unfinished),
    ``schedule_reconciles`` reconciles every project every INSITU_RECONCILE_INTERVAL_SECONDS,
    ``schedule_health_checks`` checks each connection in use every
    INSITU_HEALTH_INTERVAL_SECONDS, ``sweep_webhooks`` sends due webhook deliveries every
    INSITU_WEBHOOK_SWEEP_SECONDS, ``consume_events`` keeps a consumer on every watched event
    queue."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        background: list[Periodic] = []
        if resume_jobs:
            from insitu.imports.sweep import sweeper

            # The in-process queue (inline backend) died with the previous process.
            background.append(
                sweeper(settings, queue_lost_on_start=settings.job_backend == "inline")
            )
        if schedule_reconciles and settings.reconcile_interval_seconds:
            background.append(
                scheduled(
                    app.state.engine,
                    "reconciles",
                    settings.reconcile_interval_seconds,
                    lambda session, interval: reconciles.start_due(session, interval=interval),
                )
            )
        if schedule_health_checks and settings.health_interval_seconds:
            background.append(
                scheduled(
                    app.state.engine,
                    "connection health checks",
                    settings.health_interval_seconds,
                    lambda session, interval: health.queue_due(session, interval=interval),
                )
            )
        if sweep_webhooks and settings.webhook_sweep_seconds:
            background.append(DeliverySweep(app.state.engine, settings=settings))
        if consume_events:
            background.append(EventSupervisor(app.state.engine, settings=settings))
        for task in background:
            task.start()
        yield
        for task in reversed(background):
            task.stop()

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
        webhooks,
        watch,
        local_files,
    ):
        app.include_router(module.router)
    app.include_router(azure_routes.router)
    app.include_router(audit_routes.router)
    app.include_router(docs.router)

    from insitu import portal

    portal.install(app)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app


def serve_app() -> FastAPI:
    """The app ``insitu serve`` runs in each server process."""
    tune_garbage_collector()  # a process of its own when serve runs several
    settings = get_settings()
    return create_app(
        settings,
        resume_jobs=True,
        schedule_reconciles=True,
        schedule_health_checks=True,
        sweep_webhooks=True,
        consume_events=True,
    )
