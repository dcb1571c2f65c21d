"""POST /search and POST /ask."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from rag.api.routes.deps import ServiceDep, require_key, require_ready
from rag.api.schemas import AskRequest, AskResponse, ErrorBody, SearchRequest, SearchResponse

router = APIRouter(tags=["questions"], dependencies=[Depends(require_key), Depends(require_ready)])
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "API key missing or wrong"},
    404: {"model": ErrorBody, "description": "Unknown doc_id in filters"},
    422: {"model": ErrorBody, "description": "Invalid input"},
    503: {"model": ErrorBody, "description": "No index loaded yet"},
}


@router.post(
    "/search", response_model=SearchResponse, responses=_ERRORS, summary="Passages that answer a question"
)
def search(body: SearchRequest, service: ServiceDep) -> SearchResponse:
    started = time.perf_counter()
    filters = body.filters.to_core() if body.filters else None
    passages = service.search(body.question, body.k, filters)
    took_ms = (time.perf_counter() - started) * 1000
    return SearchResponse.model_validate({"passages": [asdict(p) for p in passages], "took_ms": took_ms})


@router.post(
    "/ask",
    response_model=AskResponse,
    responses=_ERRORS
    | {200: {"content": {"text/event-stream": {}}, "description": "JSON, or SSE with stream"}},
    summary="An answer of verbatim, cited quotes",
)
def ask(body: AskRequest, service: ServiceDep) -> AskResponse | StreamingResponse:
    started = time.perf_counter()
    answer = service.ask(body.question, body.k, body.filters.to_core() if body.filters else None)
    result = asdict(answer) | {"took_ms": (time.perf_counter() - started) * 1000}
    if not body.stream:
        return AskResponse.model_validate(result)
    return StreamingResponse(
        _events(result), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


def _events(result: dict) -> Iterator[str]:
    """passages, then the answer in pieces (answer events with a delta), then done with everything."""
    yield _sse("passages", {"passages": result["passages"]})
    words = result["answer"].split(" ")
    for i in range(0, len(words), 8):
        yield _sse("answer", {"delta": " ".join(words[i : i + 8]) + (" " if i + 8 < len(words) else "")})
    yield _sse("done", result)


def _sse(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
