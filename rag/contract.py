"""What every edge (HTTP, CLI, MCP) shares with the facade: input limits, validation and the JSON shape
of a document (CONTRACT.md)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from rag.errors import BadInput, NotFound
from rag.ids import SEE_IDS, UPLOAD, shown
from rag.types import Document, Filters

MAX_QUESTION_CHARS = 2000
MAX_K = 50
MAX_FILTER_DOCS = 1000  # doc_ids in one filter; SQLite binds each as a variable


def validate_question(question: str, name: str = "question") -> str:
    question = question.strip()
    if not question:
        example = "What did Lavrov say about ASEAN?" if name == "question" else "ASEAN is our partner"
        raise BadInput(f'{name} is empty: give one, e.g. "{example}"')
    if len(question) > MAX_QUESTION_CHARS:
        raise BadInput(f"{name} is {len(question)} characters long; the limit is {MAX_QUESTION_CHARS}")
    return question


def parse_date(value: str, name: str = "date") -> str:
    """An ISO date (YYYY-MM-DD), checked; raises BadInput with the expected form."""
    try:
        return date.fromisoformat(value).isoformat()
    except (TypeError, ValueError):
        raise BadInput(f"{name} must be a date as YYYY-MM-DD, got {value!r}") from None


def check_k(k: int) -> None:
    if not 1 <= k <= MAX_K:
        raise BadInput(f"k must be between 1 and {MAX_K}, got {k}")


def check_filters(filters: Filters, known_doc_ids: Callable[[Sequence[str]], set[str]]) -> None:
    """Filters within the limits, naming documents that `known_doc_ids` (the index's) knows, with dates
    in order.

    Raises:
        BadInput: too many doc_ids, a date not YYYY-MM-DD, or since after until.
        NotFound: a doc_id the index lacks.
    """
    if len(filters.doc_ids) > MAX_FILTER_DOCS:
        raise BadInput(
            f"filters name {len(filters.doc_ids):,} doc_ids; the limit is {MAX_FILTER_DOCS:,}: "
            "filter by speaker or date instead, or search in several requests"
        )
    if filters.doc_ids:
        known = known_doc_ids(filters.doc_ids)
        if unknown := [d for d in filters.doc_ids if d not in known]:
            raise NotFound(f"unknown doc_id {shown(unknown[0])} in filters: {SEE_IDS}")
    for name in ("since", "until"):
        value = getattr(filters, name)
        if value is not None:
            parse_date(value, name)
    if filters.since and filters.until and filters.since > filters.until:
        raise BadInput(f"since ({filters.since}) is after until ({filters.until})")


def document_fields(doc: Document, chunks: int) -> dict[str, Any]:
    """A document as the HTTP API and `--json` show it (CONTRACT.md's Document)."""
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
        "origin": "upload" if doc.source == UPLOAD else "file",
        "transcript": doc.transcript,
        "recording": dataclasses.asdict(doc.recording) if doc.recording else None,
    }
