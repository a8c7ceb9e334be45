"""/docs: Swagger UI from the installed ``swagger-ui-py`` package, not from a CDN.

FastAPI's own /docs loads Swagger UI from a CDN and starts it with an inline script; both are
refused by the pages' Content-Security-Policy (scripts from insitu's origin only). Here the
page, its script and its assets all come from insitu itself.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from html import escape
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from insitu.errors import InsituError, NotFound

router = APIRouter(include_in_schema=False)

# The only files of the package the page uses; nothing else under its directory is served.
_ASSETS = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "favicon-32x32.png": "image/png",
}

_INITIALIZER = """window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: document.body.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
    layout: "BaseLayout",
  });
});
"""


class DocsUnavailable(InsituError):
    code = "docs_unavailable"
    status_code = 503


@cache
def _assets_directory() -> Path:
    spec = importlib.util.find_spec("swagger_ui")  # located, not imported
    if spec is None or not spec.submodule_search_locations:
        raise DocsUnavailable(
            "the API reference needs the swagger-ui-py package, which is not installed",
            fix="reinstall insitu (pip install insitu), which depends on it",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "static"


@router.get("/docs", response_class=HTMLResponse)
def docs(request: Request) -> HTMLResponse:
    _assets_directory()
    root = escape(request.scope.get("root_path", "").rstrip("/"))
    openapi = escape(root + (request.app.openapi_url or "/openapi.json"))
    page = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>insitu API reference</title>
  <link rel="stylesheet" href="{root}/docs/assets/swagger-ui.css">
  <link rel="icon" type="image/png" href="{root}/docs/assets/favicon-32x32.png">
</head>
<body data-openapi-url="{openapi}">
  <div id="swagger-ui"></div>
  <script src="{root}/docs/assets/swagger-ui-bundle.js"></script>
  <script src="{root}/docs/assets/init.js"></script>
</body>
</html>
"""
    return HTMLResponse(page)


@router.get("/docs/assets/init.js")
def docs_initializer() -> Response:
    return Response(_INITIALIZER, media_type="text/javascript")


@router.get("/docs/assets/{name}")
def docs_asset(name: str) -> FileResponse:
    media_type = _ASSETS.get(name)
    if media_type is None:
        raise NotFound(f"/docs/assets/{name} does not exist", fix="open /docs")
    headers = {"Cache-Control": "public, max-age=86400"}
    return FileResponse(_assets_directory() / name, media_type=media_type, headers=headers)
