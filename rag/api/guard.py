"""Checks made before a request's body is read: the API key, and the size of the body."""

from __future__ import annotations

import hmac
import json

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag.config import Settings

# Open without a key: the web page and its files, liveness, readiness, and the API's own description.
PUBLIC = ("/static/", "/static-offline-docs/")
PUBLIC_PATHS = {"/", "/healthz", "/readyz", "/docs", "/docs/oauth2-redirect", "/openapi.json"}
_MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around an upload's bytes


class Guard:
    """ASGI middleware: a request to a protected route without the right key gets 401 before its body is
    read, and no body is read past the limit of its route (413)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if not (path in PUBLIC_PATHS or path.startswith(PUBLIC)):
            refusal = key_refusal(headers.get("authorization"), self.settings.api_key)
            if refusal is not None:
                await _reply(send, 401, refusal, {"www-authenticate": "Bearer"})
                return
        upload = path.startswith("/documents") and scope["method"] in ("POST", "PUT")
        limit, setting = self.settings.max_request_bytes, "RAG_MAX_REQUEST_BYTES"
        if upload:
            multipart = headers.get("content-type", "").startswith("multipart/form-data")
            limit = upload_limit(self.settings, multipart) + (_MULTIPART_OVERHEAD if multipart else 0)
            recording = multipart and self.settings.max_recording_bytes > self.settings.max_upload_bytes
            setting = "RAG_MAX_RECORDING_BYTES" if recording else "RAG_MAX_UPLOAD_BYTES"
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _reply(send, 413, _too_large(int(declared), limit, setting))
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise HTTPException(413, _too_large(received, limit, setting))
            return message

        await self.app(scope, limited, send)


def key_refusal(authorization: str | None, expected: str | None) -> str | None:
    """Why an Authorization header does not open the API (None when it does, or no key is set).
    The key is compared in constant time."""
    if not expected:
        return None
    scheme, _, given = (authorization or "").partition(" ")
    if not authorization or scheme.lower() != "bearer":
        return "missing API key: send Authorization: Bearer <key>"
    if not hmac.compare_digest(given.strip().encode(), expected.encode()):
        return "wrong API key: check the key and send Authorization: Bearer <key>"
    return None


def upload_limit(settings: Settings, multipart: bool) -> int:
    """The most bytes an upload's body may hold: a recording comes as multipart, a text may come as either."""
    return max(settings.max_upload_bytes, settings.max_recording_bytes if multipart else 0)


def _too_large(size: int, limit: int, setting: str) -> str:
    return f"request body is over {limit:,} bytes ({size:,} so far): the limit is set by {setting}"


async def _reply(send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
