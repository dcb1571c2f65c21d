"""Dependencies shared by the routers: the service, readiness, and the optional API key's declaration."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import HTTPBearer

from rag.api.schemas import ErrorBody
from rag.service import Service


def get_service(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


# The API key, as the OpenAPI schema shows it; the Guard middleware checks it, before a body is read.
API_KEY = Security(HTTPBearer(auto_error=False, description="Required when the server has RAG_API_KEY set."))


def describe_errors(errors: Sequence[Any]) -> str:
    """Pydantic's errors as one readable line, the same for every route: 'k: Input should be ...; ...'."""
    parts = []
    for error in errors:
        where = ".".join(str(x) for x in error.get("loc", ()) if x != "body") or "body"
        message = str(error.get("msg", "invalid"))
        if error.get("type") == "json_invalid":
            where, message = "body", f"malformed JSON ({error.get('ctx', {}).get('error', 'cannot parse')})"
        elif error.get("type") == "extra_forbidden":
            message = "unknown field"
        parts.append(f"{where}: {message.removeprefix('Value error, ')}")
    return "; ".join(parts) or "invalid request"


def require_ready(request: Request) -> None:
    if (refusal := request.app.state.readiness.refusal()) is not None:
        raise HTTPException(503, refusal)


ServiceDep = Annotated[Service, Depends(get_service)]
# The errors of an endpoint that queries the index, for the OpenAPI schema.
QUERY_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "API key missing or wrong"},
    404: {"model": ErrorBody, "description": "Unknown doc_id in filters"},
    422: {"model": ErrorBody, "description": "Invalid input"},
    503: {"model": ErrorBody, "description": "No index loaded yet"},
}
