"""Transcript file -> Document: decoding, then the format module that recognises the content.
Pure; no models."""

from __future__ import annotations

import hashlib
from pathlib import Path

from rag.errors import SkippedFile
from rag.ingest import formats
from rag.ingest.clean import decode
from rag.types import Document

SUFFIXES = (".txt", ".md", ".vtt", ".srt")


def read_transcript(path: Path) -> tuple[str, str]:
    """Decode a transcript file.

    Returns:
        (text, sha256 of the raw bytes)
    Raises:
        SkippedFile: the file is empty, binary or cannot be decoded.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SkippedFile(f"{path}: cannot read ({exc.strerror or exc})") from exc
    return decode(raw, str(path)), hashlib.sha256(raw).hexdigest()


def parse_document(doc_id: str, raw_text: str, sha256: str, source: str, name: str = "") -> Document:
    """Parse a transcript's text into a Document with cleaned text and speaker-attributed paragraphs.

    Raises:
        SkippedFile: a caption file whose cues cannot be read, or no transcript text is left.
    """
    doc = formats.parse(doc_id, raw_text, sha256, source, name)
    if not doc.text:
        raise SkippedFile(f"{name or doc_id}: no transcript text left after cleaning")
    return doc
