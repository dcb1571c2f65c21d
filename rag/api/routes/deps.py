"""Dependencies shared by the routers: the service, readiness, and the optional API key."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from rag.api.schemas import ErrorBody
from rag.service import Service

_bearer = HTTPBearer(auto_error=False, description="Required when the server has RAG_API_KEY set.")


def get_service(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


def require_key(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]
) -> None:
    """Compare the bearer token with RAG_API_KEY in constant time; no key configured means open."""
    expected = request.app.state.settings.api_key
    if not expected:
        return
    given = credentials.credentials if credentials and credentials.scheme.lower() == "bearer" else ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(
            401, "missing or wrong API key: send Authorization: Bearer <key>", {"WWW-Authenticate": "Bearer"}
        )


def require_ready(request: Request) -> None:
    readiness = request.app.state.readiness
    if readiness.error:
        raise HTTPException(503, f"the embedding model failed to load: {readiness.error}")
    if not readiness.model_loaded.is_set():
        raise HTTPException(503, "starting: the embedding model is loading; retry in a few seconds")


ServiceDep = Annotated[Service, Depends(get_service)]
# The errors of an endpoint that queries the index, for the OpenAPI schema.
QUERY_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "API key missing or wrong"},
    404: {"model": ErrorBody, "description": "Unknown doc_id in filters"},
    422: {"model": ErrorBody, "description": "Invalid input"},
    503: {"model": ErrorBody, "description": "No index loaded yet"},
}
