"""POST /search and POST /ask."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, StreamingResponse

from rag.answer.compose import Delta, Event, Found
from rag.api.routes.deps import API_KEY, ServiceDep, require_ready
from rag.api.routes.deps import QUERY_ERRORS as _ERRORS
from rag.api.schemas import AskRequest, AskResponse, SearchRequest, SearchResponse

router = APIRouter(tags=["questions"], dependencies=[API_KEY, Depends(require_ready)])


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
def ask(body: AskRequest, service: ServiceDep) -> Any:
    started = time.perf_counter()
    filters = body.filters.to_core() if body.filters else None
    if not body.stream:
        answer = service.ask(body.question, body.k, filters, body.llm)
        return JSONResponse(answer.to_dict() | {"took_ms": (time.perf_counter() - started) * 1000})
    events = service.ask_events(body.question, body.k, filters, body.llm)
    first = next(events)  # bad input raises here, before the 200 is sent
    return StreamingResponse(
        _sse_stream(first, events, started),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache"},
    )


def _sse_stream(first: Event, events: Iterator[Event], started: float) -> Iterator[str]:
    """passages, then answer events with a delta each, then done with the whole, checked response."""
    for event in itertools.chain([first], events):
        if isinstance(event, Found):
            yield _sse("passages", {"passages": [asdict(p) for p in event.passages]})
        elif isinstance(event, Delta):
            yield _sse("answer", {"delta": event.text})
        else:
            took_ms = (time.perf_counter() - started) * 1000
            yield _sse("done", event.answer.to_dict() | {"took_ms": took_ms})


def _sse(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
