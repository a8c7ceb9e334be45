"""A cap on request bodies (INSITU_MAX_BODY_BYTES), answered with a 413 in the error format.

A declared ``Content-Length`` over the cap is refused before a byte of the body is read; a
body sent without one (chunked) is read only until it passes the cap. The body is read here
and handed to the app whole: insitu's requests are small JSON documents, never uploads (files
stay in the customer's bucket), so holding at most the cap in memory is the point.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def too_large(limit: int) -> JSONResponse:
    body = {
        "error": "payload_too_large",
        "detail": f"the request body is larger than this server accepts ({limit:,} bytes)",
        "fix": "send less in one request: split a long source_files list over several "
        "imports, or import the files' common prefix without source_files",
    }
    # The rest of the body is not read, so the connection cannot carry another request.
    return JSONResponse(body, status_code=413, headers={"Connection": "close"})


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left; there is no one to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # after the body: wait for the client to disconnect
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        await too_large(self.limit)(scope, receive, send)
