"""Doc-id rules: the id a file, an upload or a web page gets, and how an id a caller chose is checked."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from pathlib import PurePath
from urllib.parse import urlsplit

from rag.errors import BadInput
from rag.ingest.parse import SUFFIXES
from rag.ingest.recording import RECORDINGS

UPLOAD = "upload"  # the source of a document that came without a file
MAX_DOC_ID = 255  # characters: the longest file name most file systems allow
SEE_IDS = "see `rag documents` or `GET /documents` for the ids in the index"
_WORD_CHAR = re.compile(r"\w")


def doc_id_for(filename: str) -> str:
    """The doc_id of a transcript file, the same for `rag ingest` and an upload: the file name without
    its extension, with each run of other characters than letters, digits, '.' and '-' made one '_'
    and '_', '.', '-' trimmed from its ends (a name made of none of them gets 'document'); at most 255,
    the longest file name most file systems allow."""
    known = PurePath(filename).suffix.lower() in (*SUFFIXES, *RECORDINGS)
    return slug(PurePath(filename).stem if known else filename)


def url_doc_id(url: str) -> str:
    """The doc_id of a web page: its host and path, e.g. 'www.state.gov_briefings_2024-01-10'."""
    parts = urlsplit(url)
    return slug(f"{parts.hostname or ''}{parts.path}".rstrip("/").removesuffix(".html"))


def _id_char(c: str) -> bool:
    """A character a doc_id may hold: a letter or digit of any script, a combining mark (the vowel signs of
    हिन्दी, the accent of a decomposed é), '_', '.' or '-'."""
    return c in "_.-" or bool(_WORD_CHAR.match(c)) or unicodedata.category(c).startswith("M")


def _id_start(c: str) -> bool:
    return c != "_" and bool(_WORD_CHAR.match(c))


def _is_doc_id(doc_id: str) -> bool:
    return 0 < len(doc_id) <= MAX_DOC_ID and _id_start(doc_id[0]) and all(map(_id_char, doc_id))


def slug(stem: str) -> str:
    """A name made a doc_id: NFC, each run of characters an id may not hold one '_', its ends trimmed."""
    stem = unicodedata.normalize("NFC", stem)  # one visible name, one id: macOS writes names decomposed
    if _is_doc_id(stem):
        return stem
    made = re.sub("_+", "_", "".join(c if _id_char(c) else "_" for c in stem))
    while made and not _id_start(made[0]):
        made = made[1:]
    made = made[:MAX_DOC_ID].rstrip("_.-")
    return made or "document"


def check_doc_id(doc_id: str) -> str:
    """A doc_id chosen by the caller, in Unicode NFC and checked: the form doc_id_for gives."""
    doc_id = unicodedata.normalize("NFC", doc_id)
    if not _is_doc_id(doc_id):
        raise BadInput(
            f"doc_id {shown(doc_id)} must start with a letter or digit and hold only letters (with their "
            f"marks), digits, '_', '.' or '-' (at most {MAX_DOC_ID}), e.g. {doc_id_for(doc_id)!r}"
        )
    return doc_id


def case_twin(doc_id: str, doc_ids: Iterable[str]) -> str | None:
    """Another doc_id that differs from this one only in case ("CROSS" and "cross"): one document to a
    reader, so never two in one index."""
    folded = doc_id.casefold()
    return next((other for other in doc_ids if other != doc_id and other.casefold() == folded), None)


def shown(doc_id: str, limit: int = 80) -> str:
    """A doc_id as an error message quotes it: a long one is cut (it may be anything a client sent)."""
    return repr(doc_id if len(doc_id) <= limit else doc_id[:limit] + "…")
