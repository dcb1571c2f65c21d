"""The FastAPI application: built by create_app, with the model and index loaded in the lifespan."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.routing import Route

from rag.api.guard import Guard
from rag.api.routes import documents, health, questions, quotes, timeline
from rag.api.routes.deps import describe_errors
from rag.config import Settings
from rag.errors import (
    BadInput,
    Conflict,
    IndexBusy,
    IndexMismatch,
    IndexMissing,
    NotFound,
    NotTranscript,
    RagError,
    Refused,
    one_line,
)
from rag.jobs import Jobs
from rag.service import Service

log = logging.getLogger("rag.api")
STATIC = Path(__file__).resolve().parent / "static"


class ShortPaths(logging.Filter):
    """Cuts a long request path in uvicorn's access log: a client may send any id, of any length."""

    LIMIT = 200

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if (
            isinstance(args, tuple)
            and len(args) >= 3
            and isinstance(args[2], str)
            and len(args[2]) > self.LIMIT
        ):
            record.args = (*args[:2], f"{args[2][: self.LIMIT]}… ({len(args[2]):,} characters)", *args[3:])
        return True


class Readiness:
    """How far the start-up has got (the model, then the index); the index is checked again on every
    /readyz."""

    def __init__(self) -> None:
        self.model_loaded = threading.Event()
        self.settled = threading.Event()  # the start-up is over: ready, waiting for an index, or failed
        self.step = "loading the embedding model"
        self.error: str | None = None

    def refusal(self) -> str | None:
        """Why a request cannot be answered yet (HTTP 503), or None once the model is loaded."""
        if self.error:
            return f"not ready: {self.error}"
        if not self.model_loaded.is_set():
            return "starting: the embedding model is loading; retry in a few seconds"
        return None

    def wait(self, timeout: float) -> str | None:
        """None once the start-up is over and did not fail; else why the server cannot serve: the step
        that failed, or the one still under way after timeout seconds."""
        if not self.settled.wait(timeout):
            self.error = (
                f"not ready after {timeout:g} s, still {self.step}: see the log above, "
                "or raise RAG_READY_TIMEOUT if it is only slow"
            )
        return self.error


def create_app(settings: Settings, service: Service | None = None) -> FastAPI:
    """An app over one Service. The model loads in a background thread so /healthz answers at once."""
    service = service or Service(settings)
    readiness = Readiness()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        access = logging.getLogger("uvicorn.access")
        if not any(isinstance(f, ShortPaths) for f in access.filters):
            access.addFilter(ShortPaths())

        def warm_up() -> None:
            try:
                service.embedder.encode(["warm up"])
                readiness.model_loaded.set()
                readiness.step = f"opening the index in {service.store.where}"
                try:
                    service.retriever  # noqa: B018 - opens the index now rather than on the first request
                except (IndexMissing, IndexMismatch) as exc:
                    log.warning("not ready: %s", exc)  # an upload or `rag ingest` makes it ready
            except Exception as exc:  # noqa: BLE001 - reported by /readyz and `rag serve`, one line
                reason = str(exc) if isinstance(exc, RagError) else one_line(exc)
                readiness.error = f"{readiness.step} failed: {reason}"
                log.error("%s", readiness.error)
            finally:
                readiness.settled.set()

        if settings.api_key:
            log.info("index %s; API key required (Authorization: Bearer)", settings.index_dir)
        else:
            log.warning(
                "index %s; no RAG_API_KEY set: the API is open to anyone who can reach it", settings.index_dir
            )
        # Uploads accepted (202) before a restart: answered for at once, resumed once the start-up is over.
        app.state.jobs.resume(lambda: readiness.settled.wait() and readiness.error is None)
        threading.Thread(target=warm_up, name="warm-up", daemon=True).start()
        async with mcp_running():
            yield

    # Swagger UI from the installed fastapi-offline package: /docs works with no internet. No ReDoc page:
    # its bundle fetches a logo from a CDN.
    app = FastAPIOffline(
        redoc_url=None,
        title="Transcript QA",
        summary="Cited, verbatim answers from diplomatic transcripts.",
        version="0.1.0",
        lifespan=lifespan,
        responses={422: {"description": "Invalid input", "model": None}},
    )
    app.state.service = service
    app.state.settings = settings
    app.state.readiness = readiness
    app.state.jobs = Jobs(service)
    app.add_middleware(Guard, settings=settings)
    mcp_running = _mount_mcp(app, service, settings, readiness)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        """The web page: open even with an API key set (it asks for the key itself)."""
        return FileResponse(STATIC / "index.html")

    app.include_router(health.router)
    app.include_router(questions.router)
    app.include_router(documents.router)
    app.include_router(quotes.router)
    app.include_router(timeline.router)
    _install_error_handlers(app)
    return app


def _mount_mcp(
    app: FastAPI, service: Service, settings: Settings, readiness: Readiness
) -> Callable[[], AbstractAsyncContextManager[None]]:
    """The MCP server over streamable HTTP at /mcp, behind the Guard's API key like every route. Returns
    what runs its session manager, entered in the app's lifespan; without the [mcp] extra, /mcp says how
    to install it (501)."""
    from rag.mcp_server import build_server

    try:
        server = build_server(service, readiness.refusal)
    except RagError as exc:
        reason = str(exc)

        async def missing(request: Request) -> JSONResponse:
            return JSONResponse({"detail": reason}, status_code=501)

        app.router.routes.append(Route("/mcp", missing, methods=["GET", "POST", "DELETE"]))
        return nullcontext
    from mcp.server.streamable_http_manager import StreamableHTTPASGIApp

    server.streamable_http_app(streamable_http_path="/mcp", transport_security=_mcp_security(settings))
    # An ASGI app as the endpoint: the session manager answers POST, GET (its event stream) and DELETE.
    app.router.routes.append(Route("/mcp", StreamableHTTPASGIApp(server.session_manager)))
    return server.session_manager.run


def _mcp_security(settings: Settings) -> Any:
    """DNS-rebinding protection (the SDK's): the Host and Origin a request to /mcp may carry are loopback's
    and RAG_PUBLIC_URL's."""
    from urllib.parse import urlsplit

    from mcp.server.transport_security import TransportSecuritySettings

    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost", "[::1]"]
    public = urlsplit(settings.public_url)
    if public.netloc:
        hosts += [public.netloc, f"{public.hostname}:*", public.hostname or ""]
    origins = [f"{scheme}://{host}" for host in hosts for scheme in ("http", "https")]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


def _install_error_handlers(app: FastAPI) -> None:
    """Every error body is {"detail": str}; domain errors map to their status, never to a 500."""

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": describe_errors(exc.errors())}, status_code=422)

    @app.exception_handler(RagError)
    async def domain(request: Request, exc: RagError) -> JSONResponse:
        status = (
            404
            if isinstance(exc, NotFound)
            else 409
            if isinstance(exc, Conflict)
            else 403
            if isinstance(exc, Refused)
            else 415
            if isinstance(exc, NotTranscript)
            else 422
            if isinstance(exc, BadInput)
            else 503
        )
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, IndexBusy) else None
        return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": f"internal error ({exc.__class__.__name__}); see the server log"}, 500)
