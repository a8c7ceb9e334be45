"""Errors on the portal's pages are pages: a 404 page, a sign-in redirect, a message for htmx."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from insitu.portal.deps import SignInRequired
from insitu.portal.pages import is_htmx, render

TITLES = {
    401: "Please sign in",
    403: "Not allowed",
    404: "Page not found",
    405: "Not allowed here",
    409: "That conflicts with the current state",
    413: "Too large",
    422: "That cannot be used",
    429: "Too many requests",
}


def install(app: FastAPI) -> None:
    app.state.error_page = error_page

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        if is_htmx(request):
            # htmx follows HX-Redirect with a full page load, so the sign-in page replaces all.
            return Response(status_code=401, headers={"HX-Redirect": exc.sign_in_url})
        return RedirectResponse(exc.sign_in_url, status_code=303)


def error_page(request: Request, status_code: int, body: dict[str, Any]) -> Response:
    """``body`` ({error, detail, fix}) as a page, or as a message htmx shows in the page."""
    template = "_error.html" if is_htmx(request) else "error.html"
    return render(
        request,
        template,
        status_code=status_code,
        title=TITLES.get(status_code, "Something went wrong"),
        status=status_code,
        detail=body.get("detail"),
        fix=body.get("fix"),
    )
