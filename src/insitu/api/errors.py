"""Every error leaves the API as ``{"error", "detail", "fix"}`` with its status."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from insitu.api.denials import audit_if_denied
from insitu.api.headers import security_headers
from insitu.errors import InsituError

log = logging.getLogger(__name__)

# Renders an error body as an HTML page (the portal installs one).
ErrorPage = Callable[[Request, int, dict[str, Any]], Response]


class ErrorRead(BaseModel):
    """The body of every error: what failed, why, and how to put it right."""

    # Some errors add context (a validation error's ``problems``, a conflict's IDs).
    model_config = ConfigDict(extra="allow")

    error: str = Field(description="A stable code, e.g. not_found or invalid_location.")
    detail: str = Field(description="What failed and why.")
    fix: str | None = Field(description="What to do about it.")


_DESCRIPTIONS = {
    401: "No API key, or one that is unknown, revoked or expired.",
    403: "The key may not do this, or the store refused insitu access.",
    404: "No such object in the caller's organization.",
    409: "The request conflicts with the object's current state.",
    413: "The request body is larger than the server accepts (INSITU_MAX_BODY_BYTES).",
    422: "The request is malformed or names something insitu cannot use.",
    429: "Too many requests; wait for Retry-After seconds.",
}

# Documented on every route of the app (FastAPI(responses=...)).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorRead, "description": description}
    for status, description in _DESCRIPTIONS.items()
}

# Documented on the routes that hand out signed URLs (they check the connection's health).
UNAVAILABLE_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: {
        "model": ErrorRead,
        "description": "The asset's connection is failing its access health check "
        "(storage_unavailable): the body names the failing check and its fix; the assets stay.",
    }
}

# Paths whose errors are always JSON, even for a browser: the API and its reference.
_API_PATHS = ("/v1/", "/docs", "/openapi.json", "/healthz")


def _page_for(request: Request, status_code: int, body: dict[str, Any]) -> Response | None:
    """The portal's error page for a browser's page request, if a portal is installed."""
    error_page: ErrorPage | None = getattr(request.app.state, "error_page", None)
    if error_page is None or request.url.path.startswith(_API_PATHS):
        return None
    wants_page = "text/html" in request.headers.get("accept", "")
    if not wants_page and request.headers.get("HX-Request") != "true":
        return None
    return error_page(request, status_code, body)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(InsituError)
    async def _insitu_error(request: Request, exc: InsituError) -> Response:
        await audit_if_denied(request, exc)
        page = _page_for(request, exc.status_code, exc.as_dict())
        if page is not None:
            return page
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else {}
        headers.update(exc.headers)
        return JSONResponse(exc.as_dict(), status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"field": ".".join(str(part) for part in error["loc"]), "message": error["msg"]}
            for error in exc.errors()
        ]
        detail = "; ".join(f"{problem['field']}: {problem['message']}" for problem in problems)
        body = {
            "error": "invalid_request",
            "detail": f"the request is invalid: {detail}",
            "fix": "correct the fields listed in 'problems'; the schema is at /docs",
            "problems": problems,
        }
        return JSONResponse(body, status_code=422)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        fix = "see /docs for the API's routes" if exc.status_code in (404, 405) else None
        body = {"error": code, "detail": str(exc.detail), "fix": fix}
        if exc.status_code == 404:
            page_body = {**body, "detail": "There is no page at this address."}
            page_body["fix"] = "Check the address, or go back to your projects."
            page = _page_for(request, 404, page_body)
            if page is not None:
                return page
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        body = {
            "error": "internal_error",
            "detail": "insitu hit an unexpected error; nothing was changed by this request",
            "fix": "retry; if it persists, send the server log to the operator",
        }
        # This response is sent outside the middleware that adds these to every other one.
        headers = security_headers(request.scope, html=False)
        return JSONResponse(body, status_code=500, headers=headers)
