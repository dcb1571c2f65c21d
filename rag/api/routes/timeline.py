"""GET /timeline: the passages that answer a question, counted per month and speaker."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from rag.api.routes.deps import API_KEY, QUERY_ERRORS, ServiceDep, require_ready
from rag.api.schemas import TimelineResponse
from rag.contract import MAX_FILTER_DOCS, MAX_QUESTION_CHARS
from rag.types import Filters

router = APIRouter(tags=["questions"], dependencies=[API_KEY, Depends(require_ready)])


@router.get(
    "/timeline",
    response_model=TimelineResponse,
    response_model_exclude_none=True,
    responses=QUERY_ERRORS,
    summary="When it was said and by whom: passages that answer, per month and speaker",
)
def timeline(
    service: ServiceDep,
    q: Annotated[str, Query(max_length=MAX_QUESTION_CHARS, description="The question.")],
    speaker: Annotated[str | None, Query(description="Case-insensitive part of the speaker's name.")] = None,
    since: Annotated[dt.date | None, Query(description="Documents dated on or after (inclusive).")] = None,
    until: Annotated[dt.date | None, Query(description="Documents dated on or before (inclusive).")] = None,
    doc_ids: Annotated[
        list[str] | None, Query(description="Only these documents: repeated, or separated by commas.")
    ] = None,
) -> TimelineResponse:
    ids = tuple(i for value in doc_ids or () for i in value.split(",") if i)
    filters = Filters(
        doc_ids=ids[: MAX_FILTER_DOCS + 1],  # one past the limit: the service names the limit
        speaker=speaker or None,
        since=since.isoformat() if since else None,
        until=until.isoformat() if until else None,
    )
    return TimelineResponse.model_validate(service.timeline(q, filters).to_dict())
