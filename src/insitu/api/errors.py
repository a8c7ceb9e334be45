"""Every error leaves the API as ``{"error", "detail", "fix"}`` with its status."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from insitu.errors import InsituError

log = logging.getLogger(__name__)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(InsituError)
    async def _insitu_error(_request: Request, exc: InsituError) -> JSONResponse:
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
    async def _http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        code = "not_found" if exc.status_code == 404 else "http_error"
        fix = "see /docs for the API's routes" if exc.status_code in (404, 405) else None
        body = {"error": code, "detail": str(exc.detail), "fix": fix}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        body = {
            "error": "internal_error",
            "detail": "insitu hit an unexpected error; nothing was changed by this request",
            "fix": "retry; if it persists, send the server log to the operator",
        }
        return JSONResponse(body, status_code=500)
