"""The portal's own stylesheet and scripts, and htmx from its npm package: no CDN, ever."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from insitu.errors import NotFound

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).with_name("static")
# `make install` runs `npm ci` in the project root; INSITU_NODE_MODULES names another place.
NODE_MODULES = Path(
    os.environ.get("INSITU_NODE_MODULES", Path(__file__).resolve().parents[3] / "node_modules")
)
# The files of npm packages the portal serves, by the name pages load them as.
VENDOR_FILES = {"htmx.min.js": NODE_MODULES / "htmx.org" / "dist" / "htmx.min.js"}

router = APIRouter(include_in_schema=False)
static = StaticFiles(directory=STATIC_DIR)
_CACHE = {"Cache-Control": "public, max-age=3600"}


@router.get("/portal/vendor/{name}")
def vendor_file(name: str) -> FileResponse:
    path = VENDOR_FILES.get(name)
    if path is None or not path.is_file():
        raise NotFound(
            f"the portal file {name} is not installed",
            fix="run 'make install' (it runs 'npm ci') in insitu's directory",
        )
    return FileResponse(path, media_type="text/javascript", headers=_CACHE)


def warn_if_missing() -> None:
    """Say at start-up, not in a customer's browser, that the live parts would not work."""
    for name, path in VENDOR_FILES.items():
        if not path.is_file():
            log.warning(
                "the portal's %s is missing (%s): pages will not update live; "
                "run 'make install' (npm ci) to install it",
                name,
                path,
            )
