"""A local stand-in for the Google APIs fake-gcs-server does not emulate, with their real shapes.

``FakeGoogleApis`` is an HTTP server that answers like Google does:

- OAuth 2.0 JWT-bearer token grants (``POST /token``) for service-account key files;
- IAM Credentials ``generateAccessToken`` and ``signBlob`` for accounts whose keys Google keeps,
  allowed only to callers holding ``roles/iam.serviceAccountTokenCreator`` on them;
- GCS JSON API ``testIamPermissions`` and bucket GET with ``cors``, from per-bucket grants;
- 401 for missing tokens and 403 for missing permissions, with GCS's error bodies and wording
  ("X does not have storage.objects.list access ... Permission '...' denied ...");
- V4 signed URLs checked (signature, expiry, signer's ``storage.objects.get``), answering
  ``SignatureDoesNotMatch`` / ``ExpiredToken`` / ``AccessDenied`` XML as GCS does.

Everything else (listing, metadata, ranged media downloads, signed URL bodies) is forwarded to
fake-gcs-server, so the data still comes from a real GCS protocol server. Bodies follow the
responses documented at https://cloud.google.com/storage/docs/json_api and recorded from GCS.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, unquote, urlsplit

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.goog4 import GoogV4Error, URLExpired, verify_signed_url

OBJECT_VIEWER = frozenset({"storage.objects.get", "storage.objects.list"})
LEGACY_BUCKET_READER = frozenset({"storage.buckets.get", "storage.objects.list"})
_HOP_HEADERS = {"connection", "transfer-encoding", "content-length", "keep-alive", "date"}


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def json_error(status: int, message: str, reason: str) -> dict[str, Any]:
    """A GCS JSON API error body."""
    return {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
        }
    }


def iam_error(permission: str, target: str) -> dict[str, Any]:
    """An IAM Credentials API 403 body."""
    return {
        "error": {
            "code": 403,
            "message": f"Permission '{permission}' denied on resource (or it may not exist).",
            "status": "PERMISSION_DENIED",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "IAM_PERMISSION_DENIED",
                    "domain": "iam.googleapis.com",
                    "metadata": {"permission": permission, "resource": target},
                }
            ],
        }
    }


def denied_message(email: str, permission: str, on: str) -> str:
    return (
        f"{email} does not have {permission} access to the Google Cloud Storage {on}. "
        f"Permission '{permission}' denied on resource (or it may not exist)."
    )


def xml_error(code: str, message: str, details: str) -> bytes:
    return (
        "<?xml version='1.0' encoding='UTF-8'?>"
        f"<Error><Code>{code}</Code><Message>{message}</Message><Details>{details}</Details></Error>"
    ).encode()


class FakeGoogleApis:
    """Fake OAuth, IAM Credentials and GCS IAM/CORS endpoints in front of fake-gcs-server."""

    def __init__(self, emulator: str) -> None:
        self.emulator = emulator.rstrip("/")
        self.public_keys: dict[str, rsa.RSAPublicKey] = {}
        self.google_keys: dict[str, rsa.RSAPrivateKey] = {}
        self.tokens: dict[str, str] = {}
        self.token_creators: dict[str, set[str]] = {}
        self.grants: dict[str, dict[str, set[str]]] = {}
        self.cors: dict[str, list[dict[str, Any]]] = {}
        self.calls: list[tuple[str, str, str | None]] = []
        self._lock = threading.Lock()
        self._upstream = httpx.Client(base_url=self.emulator, timeout=30)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    # -- set-up ------------------------------------------------------------------------

    def add_key_file_account(self, email: str, public_key: rsa.RSAPublicKey) -> None:
        """An account whose key file the platform holds (Google knows its public key)."""
        self.public_keys[email] = public_key

    def add_google_managed_account(self, email: str) -> rsa.RSAPublicKey:
        """An account with only Google-held keys (signBlob signs for it); its public key."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.google_keys[email] = key
        self.public_keys[email] = key.public_key()
        return key.public_key()

    def grant(self, bucket: str, email: str, permissions: frozenset[str] = OBJECT_VIEWER) -> None:
        with self._lock:
            self.grants.setdefault(bucket, {}).setdefault(email, set()).update(permissions)

    def allow_impersonation(self, caller: str, target: str) -> None:
        """``caller`` gets roles/iam.serviceAccountTokenCreator on ``target``."""
        self.token_creators.setdefault(target, set()).add(caller)

    def set_cors(self, bucket: str, entries: list[dict[str, Any]]) -> None:
        self.cors[bucket] = entries

    def issue_token(self, email: str) -> str:
        token = f"ya29.fake-{uuid.uuid4().hex}"
        with self._lock:
            self.tokens[token] = email
        return token

    def allowed(self, bucket: str, email: str | None, permission: str) -> bool:
        return email is not None and permission in self.grants.get(bucket, {}).get(email, set())

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._upstream.close()

    # -- requests ----------------------------------------------------------------------

    def caller(self, authorization: str | None) -> str | None:
        """The account a bearer token (an issued token or a self-signed JWT) belongs to."""
        if not authorization or not authorization.startswith("Bearer "):
            return None
        token = authorization.removeprefix("Bearer ")
        with self._lock:
            if token in self.tokens:
                return self.tokens[token]
        claims = self._verified_jwt(token)
        return str(claims["iss"]) if claims else None

    def _verified_jwt(self, token: str) -> dict[str, Any] | None:
        try:
            header, payload, signature = token.split(".")
            claims = json.loads(_b64url_decode(payload))
            key = self.public_keys[claims["iss"]]
            key.verify(
                _b64url_decode(signature),
                f"{header}.{payload}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except (ValueError, KeyError, InvalidSignature):
            return None
        if claims.get("exp", 0) < datetime.now(UTC).timestamp():
            return None
        return dict(claims)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        apis = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802
                apis._dispatch(self, "GET")

            def do_POST(self) -> None:  # noqa: N802
                apis._dispatch(self, "POST")

            def do_HEAD(self) -> None:  # noqa: N802
                apis._dispatch(self, "HEAD")

        return Handler

    def _dispatch(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        caller = self.caller(handler.headers.get("Authorization"))
        self.calls.append((method, parts.path, caller))
        try:
            status, headers, content = self._route(handler, method, parts, body, caller)
        except Exception as exc:  # a bug in the fake: make it loud in the test
            status, headers, content = 500, {"Content-Type": "text/plain"}, repr(exc).encode()
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        if method != "HEAD":
            handler.wfile.write(content)

    def _json(self, status: int, document: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        return (
            status,
            {"Content-Type": "application/json; charset=UTF-8"},
            json.dumps(document).encode(),
        )

    def _route(
        self,
        handler: BaseHTTPRequestHandler,
        method: str,
        parts: Any,
        body: bytes,
        caller: str | None,
    ) -> tuple[int, dict[str, str], bytes]:
        path: str = parts.path
        if method == "POST" and path == "/token":
            return self._token(body)
        iam = re.fullmatch(r"/v1/projects/-/serviceAccounts/([^/:]+):(\w+)", path)
        if iam and method == "POST":
            return self._iam(unquote(iam[1]), iam[2], body, caller)
        if "X-Goog-Signature" in parts.query:
            return self._signed_url(handler, method)
        api = re.fullmatch(r"/(?:download/)?storage/v1/b/([^/]+)(/.*)?", path)
        if api:
            if caller is None:
                return self._json(401, json_error(401, "Invalid Credentials", "authError"))
            return self._storage(handler, method, unquote(api[1]), api[2] or "", parts, caller)
        return self._json(404, json_error(404, "Not Found", "notFound"))

    def _token(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        form = dict(parse_qsl(body.decode()))
        claims = self._verified_jwt(form.get("assertion", ""))
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" or not claims:
            return self._json(
                400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
            )
        token = self.issue_token(str(claims["iss"]))
        return self._json(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    def _iam(
        self, email: str, verb: str, body: bytes, caller: str | None
    ) -> tuple[int, dict[str, str], bytes]:
        resource = f"projects/-/serviceAccounts/{email}"
        if caller is None:
            return self._json(401, {"error": {"code": 401, "status": "UNAUTHENTICATED"}})
        if caller not in self.token_creators.get(email, set()):
            permission = {
                "generateAccessToken": "iam.serviceAccounts.getAccessToken",
                "signBlob": "iam.serviceAccounts.signBlob",
            }.get(verb, f"iam.serviceAccounts.{verb}")
            return self._json(403, iam_error(permission, resource))
        if verb == "generateAccessToken":
            expires = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
            return self._json(200, {"accessToken": self.issue_token(email), "expireTime": expires})
        if verb == "signBlob":
            payload = base64.b64decode(json.loads(body)["payload"])
            signature = self.google_keys[email].sign(payload, padding.PKCS1v15(), hashes.SHA256())
            return self._json(
                200,
                {"keyId": uuid.uuid4().hex, "signedBlob": base64.b64encode(signature).decode()},
            )
        return self._json(404, {"error": {"code": 404, "status": "NOT_FOUND"}})

    def _storage(
        self,
        handler: BaseHTTPRequestHandler,
        method: str,
        bucket: str,
        rest: str,
        parts: Any,
        caller: str,
    ) -> tuple[int, dict[str, str], bytes]:
        exists = self._upstream.get(f"/storage/v1/b/{bucket}").status_code == 200
        if not exists:
            message = "The specified bucket does not exist."
            return self._json(404, json_error(404, message, "notFound"))
        if rest == "/iam/testPermissions":
            asked = parse_qs(parts.query).get("permissions", [])
            granted = [name for name in asked if self.allowed(bucket, caller, name)]
            document: dict[str, Any] = {"kind": "storage#testIamPermissionsResponse"}
            if granted:  # Google's JSON APIs leave empty lists out
                document["permissions"] = granted
            return self._json(200, document)
        if rest == "":
            permission, on = "storage.buckets.get", "bucket"
        elif rest == "/o":
            permission, on = "storage.objects.list", "bucket"
        else:
            permission, on = "storage.objects.get", "object"
        if not self.allowed(bucket, caller, permission):
            message = denied_message(caller, permission, on)
            return self._json(403, json_error(403, message, "forbidden"))
        status, headers, content = self._forward(handler, method)
        if rest == "" and status == 200 and bucket in self.cors:
            resource = json.loads(content)
            resource["cors"] = self.cors[bucket]
            content = json.dumps(resource).encode()
        return status, headers, content

    def _signed_url(
        self, handler: BaseHTTPRequestHandler, method: str
    ) -> tuple[int, dict[str, str], bytes]:
        url = f"http://{handler.headers.get('Host')}{handler.path}"
        xml = {"Content-Type": "application/xml; charset=UTF-8"}
        email = unquote(dict(parse_qsl(urlsplit(url).query)).get("X-Goog-Credential", "")).split(
            "/"
        )[0]
        key = self.public_keys.get(email)
        try:
            if key is None:
                raise GoogV4Error(f"unknown signer {email}")
            grant = verify_signed_url(url, key, method="GET" if method == "HEAD" else method)
        except URLExpired as exc:
            return 400, xml, xml_error("ExpiredToken", "Invalid argument.", str(exc))
        except GoogV4Error:
            details = (
                "The request signature we calculated does not match the signature you provided. "
                "Check your Google secret key and signing method."
            )
            return 403, xml, xml_error("SignatureDoesNotMatch", "Access denied.", details)
        if not self.allowed(grant.bucket, email, "storage.objects.get"):
            details = denied_message(email, "storage.objects.get", "object")
            return 403, xml, xml_error("AccessDenied", "Access denied.", details)
        return self._forward(handler, method)

    def _forward(
        self, handler: BaseHTTPRequestHandler, method: str
    ) -> tuple[int, dict[str, str], bytes]:
        headers = {
            name: value
            for name, value in handler.headers.items()
            if name.lower() in ("range", "accept-encoding", "origin")
        }
        response = self._upstream.request(method, handler.path, headers=headers)
        kept = {
            name: value
            for name, value in response.headers.items()
            # The emulator allows every origin; real CORS comes from the bucket, not from it.
            if name.lower() not in _HOP_HEADERS and not name.lower().startswith("access-control-")
        }
        kept.pop("content-encoding", None)
        return response.status_code, kept, response.content
