"""POST /verify: is a quote in the transcripts?"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from rag.api.routes.deps import API_KEY, QUERY_ERRORS, ServiceDep, require_ready
from rag.api.schemas import VerifyRequest, VerifyResponse

router = APIRouter(tags=["quotes"], dependencies=[API_KEY, Depends(require_ready)])


@router.post(
    "/verify",
    response_model=VerifyResponse,
    response_model_exclude_unset=True,  # speaker_matches only when a speaker was named
    responses=QUERY_ERRORS,
    summary="Is a quote in the transcripts verbatim, close to what was said, or not found?",
)
def verify(body: VerifyRequest, service: ServiceDep) -> VerifyResponse:
    result = service.verify(body.quote, body.filters.to_core() if body.filters else None)
    return VerifyResponse.model_validate(result.to_dict())
