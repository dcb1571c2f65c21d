"""POST /verify: is a quote in the transcripts?"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from rag.api.routes.deps import ServiceDep, require_key, require_ready
from rag.api.schemas import ErrorBody, VerifyRequest, VerifyResponse

router = APIRouter(tags=["quotes"], dependencies=[Depends(require_key), Depends(require_ready)])
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "API key missing or wrong"},
    404: {"model": ErrorBody, "description": "Unknown doc_id in filters"},
    422: {"model": ErrorBody, "description": "Invalid input"},
    503: {"model": ErrorBody, "description": "No index loaded yet"},
}


@router.post(
    "/verify",
    response_model=VerifyResponse,
    response_model_exclude_unset=True,  # speaker_matches only when a speaker was named
    responses=_ERRORS,
    summary="Is a quote in the transcripts verbatim, close to what was said, or not found?",
)
def verify(body: VerifyRequest, service: ServiceDep) -> VerifyResponse:
    result = service.verify(body.quote, body.filters.to_core() if body.filters else None)
    return VerifyResponse.model_validate(result.to_dict())
