"""Liveness and readiness; open even when an API key is set."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from rag.api.routes.deps import ServiceDep, require_ready
from rag.api.schemas import ErrorBody, Health
from rag.errors import IndexMismatch, IndexMissing

router = APIRouter(tags=["health"])


@router.get(
    "/healthz", response_model=Health, response_model_exclude_none=True, summary="The process is alive"
)
def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz", response_model=Health, responses={503: {"model": ErrorBody}}, summary="The index is loaded"
)
def readyz(request: Request, service: ServiceDep) -> Health:
    require_ready(request)
    try:
        with service.reading() as retriever:
            return Health(
                status="ready", documents=len(retriever.store.chunk_counts()), chunks=len(retriever.store)
            )
    except (IndexMissing, IndexMismatch) as exc:
        raise HTTPException(503, f"{exc} (or upload one with POST /documents)") from None
