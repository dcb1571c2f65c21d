"""The documents resource: list, read, upload (file or JSON text), replace, delete; and upload jobs."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from rag.api.guard import upload_limit
from rag.api.routes.deps import API_KEY, ServiceDep, describe_errors, require_ready
from rag.api.schemas import (
    Deleted,
    Document,
    DocumentList,
    DocumentWithText,
    ErrorBody,
    JobStatus,
    TextUpload,
    UrlUpload,
)
from rag.contract import document_fields
from rag.errors import WriteTimedOut
from rag.ids import doc_id_for
from rag.ingest.recording import is_recording
from rag.jobs import KEEP, Job
from rag.types import Document as DocumentData

router = APIRouter(tags=["documents"], dependencies=[API_KEY, Depends(require_ready)])
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "API key missing or wrong"},
    404: {"model": ErrorBody, "description": "Unknown doc_id"},
    503: {"model": ErrorBody, "description": "No index loaded yet, or too many writes queued (Retry-After)"},
}
_WRITE_ERRORS = _ERRORS | {
    409: {"model": ErrorBody, "description": "doc_id already in the index (send ?replace=true)"},
    413: {"model": ErrorBody, "description": "Upload over the size limit"},
    415: {"model": ErrorBody, "description": "Neither multipart/form-data nor JSON"},
    422: {"model": ErrorBody, "description": "Empty, binary or malformed upload"},
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
                            "description": "A transcript (.txt, .md, .vtt, .srt), or a recording "
                            "(.mp3 .m4a .wav .ogg .flac .mp4 .webm: transcribed in the background, 202)",
                        },
                        "doc_id": {
                            "type": "string",
                            "description": "Defaults to the file name without its extension, other "
                            "characters than letters, digits, '.' and '-' made '_' (as `rag ingest`)",
                        },
                    },
                }
            },
            "application/json": {
                "schema": {"oneOf": [TextUpload.model_json_schema(), UrlUpload.model_json_schema()]}
            },
        },
    }
}
_REPLACE = Query(False, description="Replace the document of the same doc_id (else 409 when taken).")


@router.get(
    "/documents", response_model=DocumentList, responses=_ERRORS, summary="Every document in the index"
)
def list_documents(service: ServiceDep) -> DocumentList:
    counts = service.chunk_counts()
    return DocumentList.model_validate(
        {"documents": [document_fields(d, counts.get(d.doc_id, 0)) for d in service.documents()]}
    )


@router.get(
    "/documents/{doc_id}",
    response_model=DocumentWithText,
    responses=_ERRORS,
    summary="A document and its text",
)
def get_document(doc_id: str, service: ServiceDep) -> DocumentWithText:
    doc = service.document(doc_id)
    chunks = service.chunk_counts().get(doc_id, 0)
    return DocumentWithText.model_validate(document_fields(doc, chunks) | {"text": doc.text})


@router.post(
    "/documents",
    status_code=201,
    response_model=Document,
    responses=_WRITE_ERRORS
    | {
        202: {
            "model": JobStatus,
            "description": "A large upload, or one the writes before it kept waiting, accepted: poll "
            "GET /jobs/{job_id}",
        }
    },
    openapi_extra=_UPLOAD_BODY,
    summary="Upload a transcript: searchable when this returns (201), or indexed in the background (202)",
)
async def upload(request: Request, service: ServiceDep, replace: bool = _REPLACE) -> Any:
    return await _upload(request, service, None, replace)


@router.put(
    "/documents/{doc_id}",
    status_code=201,
    response_model=Document,
    responses=_WRITE_ERRORS | {202: {"model": JobStatus, "description": "A large upload, accepted"}},
    openapi_extra=_UPLOAD_BODY,
    summary="Upload a transcript as doc_id, replacing the document of that id if there is one",
)
async def replace_document(doc_id: str, request: Request, service: ServiceDep) -> Any:
    return await _upload(request, service, doc_id, True)


@router.delete(
    "/documents/{doc_id}",
    response_model=Deleted,
    response_model_exclude_none=True,
    responses=_ERRORS,
    summary="Remove a document from the index",
)
def delete_document(doc_id: str, service: ServiceDep) -> Deleted:
    note = service.delete_document(doc_id)
    return Deleted(doc_id=doc_id, note=note)


@router.get(
    "/jobs/{job_id}",
    response_model=JobStatus,
    responses=_ERRORS,
    tags=["jobs"],
    summary="A background upload: its progress, then its document or its error",
)
def get_job(job_id: str, request: Request) -> JobStatus:
    job = request.app.state.jobs.get(job_id)
    if job is None:
        raise HTTPException(
            404, f"unknown job_id {job_id[:80]!r}: the newest {KEEP:,} finished jobs are kept"
        )
    return _job(job)


async def _upload(request: Request, service: ServiceDep, doc_id: str | None, replace: bool) -> Any:
    settings = service.settings
    content_type = request.headers.get("content-type", "")
    multipart = content_type.startswith("multipart/form-data")
    body = await request.body()  # the Guard refuses a body over the limit (413) as it arrives
    name = ""
    if multipart:
        given, raw, name = await _from_form(request, body)
        recording = is_recording(name)
        limit = upload_limit(settings, multipart) if recording else settings.max_upload_bytes
        if len(raw) > limit:
            setting = "RAG_MAX_RECORDING_BYTES" if recording else "RAG_MAX_UPLOAD_BYTES"
            raise HTTPException(413, f"upload is over the limit of {limit:,} bytes ({setting})")
        if recording:
            chosen = doc_id or given
            transcribe = await run_in_threadpool(service.prepare_recording, chosen, raw, name, replace)
            jobs = request.app.state.jobs
            return _accepted(
                await run_in_threadpool(jobs.submit_recording, chosen, raw, name, replace, transcribe)
            )
    elif content_type.startswith("application/json"):
        if _asks_for_url(body):
            return await _from_url(request, service, body, doc_id, replace)
        try:
            text_upload = TextUpload.model_validate_json(body)
        except ValidationError as exc:
            raise HTTPException(422, describe_errors(exc.errors())) from None
        given, raw = text_upload.doc_id, text_upload.text.encode()
    else:
        raise HTTPException(415, "send multipart/form-data with a `file` field, or JSON {doc_id, text}")
    if doc_id is not None and given != doc_id and content_type.startswith("application/json"):
        raise HTTPException(422, f"doc_id in the body ({given[:80]!r}) differs from the one in the path")
    doc = await run_in_threadpool(service.prepare_upload, doc_id or given, raw, replace)
    return await _index(request, service, doc, len(raw), replace)


async def _index(request: Request, service: ServiceDep, doc: DocumentData, size: int, replace: bool) -> Any:
    """A parsed document written now (201), or in the background (202): when over RAG_UPLOAD_JOB_BYTES, or
    when the writes before it kept it waiting RAG_WRITE_WAIT_SECONDS (a slow write is never refused; 503
    only when the queue is full)."""
    jobs = request.app.state.jobs
    if size > service.settings.upload_job_bytes:
        return _accepted(await run_in_threadpool(jobs.submit_document, doc, replace))
    try:
        await run_in_threadpool(service.add_documents, [doc], None, replace)
    except WriteTimedOut:
        return _accepted(await run_in_threadpool(jobs.submit_document, doc, replace))
    return Document.model_validate(document_fields(doc, service.chunk_counts().get(doc.doc_id, 0)))


def _asks_for_url(body: bytes) -> bool:
    try:
        return isinstance(parsed := json.loads(body), dict) and "url" in parsed
    except ValueError:
        return False  # malformed JSON: TextUpload's validation says so


async def _from_url(
    request: Request, service: ServiceDep, body: bytes, doc_id: str | None, replace: bool
) -> Any:
    """{"url": ...}: the page fetched (only from hosts RAG_FETCH_HOSTS allows), parsed and indexed."""
    try:
        upload = UrlUpload.model_validate_json(body)
    except ValidationError as exc:
        raise HTTPException(422, describe_errors(exc.errors())) from None
    if doc_id is not None and upload.doc_id not in (None, doc_id):
        raise HTTPException(422, f"doc_id in the body ({upload.doc_id!r:.80}) differs from the path's")
    doc = await run_in_threadpool(service.prepare_url, upload.url, doc_id or upload.doc_id, replace)
    return await _index(request, service, doc, len(doc.text.encode()), replace)


def _accepted(job: Job) -> JSONResponse:
    return JSONResponse(_job(job).model_dump(), status_code=202, headers={"Location": f"/jobs/{job.job_id}"})


def _job(job: Job) -> JobStatus:
    return JobStatus.model_validate(asdict(job))


async def _from_form(request: Request, body: bytes) -> tuple[str, bytes, str]:
    """(doc_id, raw bytes, file name) of a multipart upload: the chosen doc_id, else the one the file name
    gives."""

    async def replay() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form()
    except Exception as exc:  # noqa: BLE001 - any parser failure is a malformed upload
        raise HTTPException(422, f"malformed multipart body ({exc})") from None
    files = [f for f in form.getlist("file") if isinstance(f, UploadFile)]
    if not files:
        raise HTTPException(422, "multipart upload needs a `file` field holding the transcript")
    if (count := len(form.getlist("file"))) > 1:
        raise HTTPException(422, f"multipart upload holds {count} files: send one per request")
    unknown = sorted(set(form.keys()) - {"file", "doc_id"})
    if unknown:
        raise HTTPException(422, f"{unknown[0]}: unknown field")
    given = form.get("doc_id")
    doc_id = given if isinstance(given, str) and given.strip() else doc_id_for(files[0].filename or "")
    return doc_id.strip(), await files[0].read(), files[0].filename or ""
