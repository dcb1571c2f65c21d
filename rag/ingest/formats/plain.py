"""Plain text with no header: paragraphs with optional speaker labels; a first line is the title only when
it looks like one, otherwise the title comes from the file name."""

from __future__ import annotations

import re

from rag.ingest.clean import (
    attribute,
    build_document,
    known_labels,
    opens_turn,
    paragraphs,
    speaker_label,
    title_from_name,
)
from rag.types import Document

FORMAT = "text"
_TITLE_MAX_WORDS = 20
_SENTENCE_END = re.compile(r"[.?!…;,:\"”»]$")


def sniff(text: str, name: str) -> float:
    """Anything readable is plain text: the fallback every other format must beat."""
    return 0.1


def parse(doc_id: str, text: str, sha256: str, source: str) -> Document:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\n \t\ufeff").split("\n", 1)
    first = " ".join(lines[0].split()).lstrip("#").strip()
    if looks_like_title(first):
        title, body = first, lines[1] if len(lines) > 1 else ""
    else:
        title, body = title_from_name(doc_id), text
    return build_document(
        doc_id,
        attribute(paragraphs(body, opens_turn), known=known_labels(body)),
        title=title,
        sha256=sha256,
        source=source,
        format=FORMAT,
    )


def looks_like_title(line: str) -> bool:
    """Short, without sentence-final punctuation, and not a speaker's words."""
    return (
        bool(line)
        and len(line.split()) <= _TITLE_MAX_WORDS
        and not _SENTENCE_END.search(line)
        and speaker_label(line + " ") is None
    )
