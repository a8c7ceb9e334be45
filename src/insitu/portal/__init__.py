"""The portal: server-rendered pages (Jinja2 + htmx) that call the same services as the API.

``install`` adds its routes to the API's app: ``/`` (sign-in or the projects), the pages
under ``/projects`` and ``/settings``, and the files under ``/portal``. Errors on its pages are
pages too; the API under ``/v1`` keeps its JSON errors.
"""

from __future__ import annotations

from fastapi import FastAPI

from insitu.portal import errors, static_files
from insitu.portal.routes import add_data, assets, auth, connections, imports, projects, settings


def install(app: FastAPI) -> None:
    # add_data before imports: its /imports/new is not an import's ID.
    for module in (auth, projects, add_data, imports, assets, settings, connections):
        app.include_router(module.router)
    app.include_router(static_files.router)
    app.mount("/portal/static", static_files.static, name="portal-static")
    errors.install(app)
    static_files.warn_if_missing()
