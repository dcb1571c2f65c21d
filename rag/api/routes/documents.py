"""The documents resource: list, read, upload (file or JSON text), delete."""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from rag.api.routes.deps import ServiceDep, require_key, require_ready
from rag.api.schemas import Deleted, Document, DocumentList, DocumentWithText, ErrorBody, TextUpload
from rag.types import Document as CoreDocument

router = APIRouter(
    prefix="/documents", tags=["documents"], dependencies=[Depends(require_key), Depends(require_ready)]
)
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "API key missing or wrong"},
    404: {"model": ErrorBody, "description": "Unknown doc_id"},
    503: {"model": ErrorBody, "description": "No index loaded yet"},
}
_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "A transcript: .txt, .md, .vtt or .srt",
                        },
                        "doc_id": {"type": "string", "description": "Defaults to the file name's stem"},
                    },
                }
            },
            "application/json": {"schema": TextUpload.model_json_schema()},
        },
    }
}


def _model(doc: CoreDocument, chunks: int) -> dict:
    return {
        "doc_id": doc.doc_id,
        "title": doc.title,
        "date": doc.date,
        "place": doc.place,
        "speakers": doc.speakers,
        "chunks": chunks,
        "sha256": doc.sha256,
        "format": doc.format,
        "language": doc.language,
        "source_url": doc.source_url,
    }


@router.get("", response_model=DocumentList, responses=_ERRORS, summary="Every document in the index")
def list_documents(service: ServiceDep) -> DocumentList:
    counts = service.retriever.store.chunk_counts()
    return DocumentList.model_validate(
        {"documents": [_model(d, counts.get(d.doc_id, 0)) for d in service.documents()]}
    )


@router.get(
    "/{doc_id}", response_model=DocumentWithText, responses=_ERRORS, summary="A document and its text"
)
def get_document(doc_id: str, service: ServiceDep) -> DocumentWithText:
    doc = service.document(doc_id)
    chunks = service.retriever.store.chunk_counts().get(doc_id, 0)
    return DocumentWithText.model_validate(_model(doc, chunks) | {"text": doc.text})


@router.post(
    "",
    status_code=201,
    response_model=Document,
    responses=_ERRORS
    | {
        413: {"model": ErrorBody, "description": "Upload over the size limit"},
        422: {"model": ErrorBody, "description": "Empty, binary or malformed upload"},
    },
    openapi_extra=_UPLOAD_BODY,
    summary="Upload a transcript: searchable when this returns",
)
async def upload(request: Request, service: ServiceDep) -> Document:
    limit = service.settings.max_upload_bytes
    body = await _read_limited(request, limit)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        doc_id, raw = await _from_form(request, body)
    elif content_type.startswith("application/json"):
        try:
            upload = TextUpload.model_validate_json(body)
        except ValidationError as exc:
            raise HTTPException(422, _validation_line(exc)) from None
        doc_id, raw = upload.doc_id, upload.text.encode()
    else:
        raise HTTPException(415, "send multipart/form-data with a `file` field, or JSON {doc_id, text}")
    doc = await run_in_threadpool(service.upload, doc_id, raw)
    chunks = service.retriever.store.chunk_counts().get(doc.doc_id, 0)
    return Document.model_validate(_model(doc, chunks))


@router.delete(
    "/{doc_id}", response_model=Deleted, responses=_ERRORS, summary="Remove a document from the index"
)
def delete_document(doc_id: str, service: ServiceDep) -> Deleted:
    service.delete_document(doc_id)
    return Deleted(doc_id=doc_id)


async def _read_limited(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is over the limit (before anything is written)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(
            413, f"upload is {int(declared):,} bytes; the limit is {limit:,} (RAG_MAX_UPLOAD_BYTES)"
        )
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, f"upload is over the limit of {limit:,} bytes (RAG_MAX_UPLOAD_BYTES)")
    return bytes(body)


async def _from_form(request: Request, body: bytes) -> tuple[str, bytes]:
    async def replay() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form()
    except Exception as exc:  # noqa: BLE001 - any parser failure is a malformed upload
        raise HTTPException(422, f"malformed multipart body ({exc})") from None
    file = form.get("file")
    if not isinstance(file, UploadFile):
        raise HTTPException(422, "multipart upload needs a `file` field holding the transcript")
    given = form.get("doc_id")
    doc_id = given if isinstance(given, str) and given else PurePath(file.filename or "").stem
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}", doc_id):
        raise HTTPException(422, f"doc_id {doc_id!r} must be letters, digits, '_', '.' or '-' (at most 128)")
    return doc_id, await file.read()


def _validation_line(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(x) for x in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())
