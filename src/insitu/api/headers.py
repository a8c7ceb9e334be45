"""Security headers on every response: the API's JSON, the portal's pages and /docs.

HTML pages may load scripts, styles and images from insitu's own origin only (no CDN, no
inline script); styles may be inline, which the portal's templates and Swagger UI use. Nothing
else (JSON, files) may load anything, and no page may be framed. A route that sets its own
``Content-Security-Policy`` (the local file route's ``sandbox``) keeps it.

``Strict-Transport-Security`` is sent when the request came over HTTPS as the server sees it,
or when INSITU_PUBLIC_URL is https. The scheme is trusted only as uvicorn reports it: uvicorn
takes ``X-Forwarded-Proto`` from the proxies in ``--forwarded-allow-ips`` (127.0.0.1 by
default) and from no one else, so a client cannot switch HSTS on or off by sending the header.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HTML_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
API_POLICY = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
HSTS = "max-age=31536000"


def is_https(scope: Scope) -> bool:
    if scope.get("scheme") == "https":
        return True
    app = scope.get("app")
    settings = getattr(getattr(app, "state", None), "settings", None)
    public_url = getattr(settings, "public_url", "")
    return isinstance(public_url, str) and public_url.lower().startswith("https://")


def security_headers(scope: Scope, *, html: bool) -> dict[str, str]:
    """The headers every response of ``scope`` carries (HTML pages get a looser CSP)."""
    headers = {
        "Content-Security-Policy": HTML_POLICY if html else API_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
    }
    if is_https(scope):
        headers["Strict-Transport-Security"] = HSTS
    return headers


class SecurityHeadersMiddleware:
    """Adds ``security_headers`` to each HTTP response, keeping any the route set itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                html = headers.get("content-type", "").startswith("text/html")
                for name, value in security_headers(scope, html=html).items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
