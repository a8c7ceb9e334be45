"""The portal: server-rendered pages that call the same services as the API."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from insitu import __version__

templates = Jinja2Templates(directory=Path(__file__).with_name("templates"))
router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    context = {"version": __version__, "base_url": str(request.base_url).rstrip("/")}
    return templates.TemplateResponse(request, "home.html", context)
