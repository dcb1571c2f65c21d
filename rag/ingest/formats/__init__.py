"""Transcript formats, one module each, chosen by sniffing the content (the file name only breaks ties).

Each module has `sniff(text, name) -> float` (0: not this format, 1: certainly) and
`parse(doc_id, text, sha256, source) -> Document`; plain text is the fallback.
"""

from __future__ import annotations

from types import ModuleType

from rag.ingest.formats import briefing, captions, markdown, midru, plain
from rag.types import Document

FORMATS: tuple[ModuleType, ...] = (captions, markdown, midru, briefing, plain)


def detect(text: str, name: str) -> ModuleType:
    """The format module whose sniff scores highest (the first listed on a tie)."""
    return max(FORMATS, key=lambda module: module.sniff(text, name))


def parse(doc_id: str, text: str, sha256: str, source: str, name: str = "") -> Document:
    return detect(text, name or doc_id).parse(doc_id, text, sha256, source)
