"""Hands each request insitu refuses (401, 403 operator_only/forbidden) to the audit log."""

from __future__ import annotations

import logging

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from insitu.audit.denials import DenialBudget, is_denial, record_denied
from insitu.config import Settings
from insitu.errors import InsituError

log = logging.getLogger(__name__)


async def audit_if_denied(request: Request, error: InsituError) -> None:
    """Record ``error`` if it refused the caller; never fails the response it is part of."""
    if not is_denial(error):
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    bearer = token.strip() if scheme.lower() == "bearer" and token.strip() else None
    await run_in_threadpool(audit_denied, request, error, bearer=bearer)


def audit_denied(request: Request, error: InsituError, *, bearer: str | None) -> None:
    """Record the refusal ``error`` of the key ``bearer`` (if any) in its own transaction."""
    state = request.app.state
    budget: DenialBudget | None = getattr(state, "audit_denial_budget", None)
    if budget is None:
        settings: Settings = state.settings
        budget = state.audit_denial_budget = DenialBudget(
            settings.audit_denials_per_minute, settings.audit_denials_per_minute_total
        )
    try:
        record_denied(
            state.engine,
            budget=budget,
            error=error,
            method=request.method,
            path=request.url.path,
            bearer=bearer,
            client_address=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"),
        )
    except Exception:  # the refusal stands whether or not its record could be written
        log.exception("could not record a denied request in the audit log")
