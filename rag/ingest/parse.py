"""Transcript file -> Document: decoding, metadata, site-chrome removal and speaker turns. Pure; no models."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import datetime
from pathlib import Path

from charset_normalizer import from_bytes

from rag.errors import SkippedFile
from rag.text import STOPWORDS
from rag.types import Document, Paragraph

SUFFIXES = (".txt", ".md")

_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
# "2 August 201818:22": the site glues the date and the time together; either may be missing.
_HEADER = re.compile(
    rf"^(?:(?P<day>\d{{1,2}})\s+(?P<month>{_MONTHS})\s+(?P<year>\d{{4}}))?\s*"
    r"(?P<time>\d{1,2}:\d{2})?$",
    re.IGNORECASE,
)
_TITLE_DATE = re.compile(
    rf"(?P<month>{_MONTHS})\s+(?P<day>\d{{1,2}}),?\s+(?P<year>\d{{4}})"
    rf"|(?P<day2>\d{{1,2}})\s+(?P<month2>{_MONTHS})\s+(?P<year2>\d{{4}})"
)
# "..., Vientiane, July 26, 2016": the place is the comma-separated segment just before the date.
_TITLE_PLACE = re.compile(rf",\s*(?P<place>[A-Z][\w'’.\- ]{{1,40}}?),\s*(?:{_TITLE_DATE.pattern})\s*$")

_NAME = r"[A-Z][\w.\-]*(?:['’][A-Z][\w\-]*)?"  # O'Brien, but not Lavrov's
_ROLE = (
    r"(?:Minister|President|Spokesperson|Spokeswoman|Spokesman|Secretary|Ambassador|Director|"
    r"Envoy|Representative|Chairman|Chair|Premier|Chancellor)"
)
# "Foreign Minister Sergey Lavrov's remarks", "Remarks and replies by Foreign Minister Sergey Lavrov at ..."
_TITLE_ROLE_NAME = re.compile(rf"\b{_ROLE}\s+(?P<name>{_NAME}(?:\s+{_NAME}){{1,3}}?)(?=['’]s\b|\s+[a-z]|,|$)")
# "Comment by the Information and Press Department on ..."
_TITLE_BY = re.compile(
    r"\bby\s+(?:the\s+)?(?P<name>[A-Z][\w'’\-]*(?:\s+(?:[A-Z][\w'’\-]*|and|of|for))*?)"
    r"\s+(?:on|at|regarding|concerning|following|in|to|about)\b"
)
_TITLE_POSSESSIVE = re.compile(rf"^(?P<name>{_NAME}(?:\s+{_NAME}){{1,3}})['’]s\b")

# A speaker label opens a paragraph: "Sergey Lavrov:", "Question:", "Question (retranslated from English):".
_LABEL = re.compile(
    rf"^(?P<name>{_NAME}(?:\s+(?:{_NAME}|de|da|van|von|al|bin|el)){{0,4}})"
    r"(?:\s*\((?P<note>[^()]{1,80})\))?\s*:\s+"
)
_QUESTION_LABELS = {"question", "remark", "journalist", "interviewer", "correspondent"}
_ROLE_LABELS = _QUESTION_LABELS | {"answer", "moderator", "host", "chairman", "chair", "reply"}
_PERSON = re.compile(rf"^(?P<name>{_NAME}\s+{_NAME}(?:\s+{_NAME})?)\b")

# Site chrome: navigation labels, the language switcher, organisation tags.
_CHROME_LINES = {"additional materials", "advanced settings", "print", "share", "photo", "video"}
_LANG_SWITCH = re.compile(r"^(?:•?\s*[a-z]{2}-[A-Z]{2}\d*\s*)+$")
_ACRONYM = r"[A-Z][A-Za-z&\-]{1,11}"
_TAG_LINE = re.compile(rf"^(?:{_ACRONYM}\s+\([^()]{{3,90}}\)|[A-Z][^()]{{2,90}}\s+\({_ACRONYM}\))$")

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_DEDUPE_MIN_CHARS = 40  # short formulaic paragraphs ("Thank you.") legitimately recur


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
    return decode_transcript(raw, str(path)), hashlib.sha256(raw).hexdigest()


def decode_transcript(raw: bytes, name: str) -> str:
    """UTF-8 first, then a detected legacy encoding (cp1251 is common for Russian sources)."""
    if not raw.strip():
        raise SkippedFile(f"{name}: empty file")
    if b"\x00" in raw[:8192]:
        raise SkippedFile(f"{name}: binary file (contains NUL bytes)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        match = from_bytes(raw).best()
        if match is None:
            raise SkippedFile(f"{name}: unreadable (not UTF-8 and no known encoding fits)") from None
        text = str(match)
    controls = sum(1 for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\n\r\t\f")
    if controls > max(8, len(text) // 100):
        raise SkippedFile(f"{name}: binary file (control characters)")
    return text


def parse_document(doc_id: str, raw_text: str, sha256: str, source: str) -> Document:
    """Parse a transcript's text into a Document with cleaned text and speaker-attributed paragraphs."""
    blocks = _blocks(raw_text)
    date = time = None
    if blocks and (header := _HEADER.match(blocks[0])) and (header["year"] or header["time"]):
        blocks.pop(0)
        time = header["time"]
        if header["year"]:
            date = _iso_date(header["day"], header["month"], header["year"])
    title = blocks.pop(0).lstrip("#").strip() if blocks else doc_id
    if date is None and (found := _TITLE_DATE.search(title)):
        date = _iso_date(
            found["day"] or found["day2"], found["month"] or found["month2"], found["year"] or found["year2"]
        )
    place_match = _TITLE_PLACE.search(title)
    place = place_match["place"].strip() if place_match and len(place_match["place"].split()) <= 4 else None
    principal = principal_speaker(title)

    body = _strip_trailing_chrome([b for b in blocks if not _is_chrome(b)])
    text_parts: list[str] = []
    paragraphs: list[Paragraph] = []
    seen: set[str] = set()
    speaker, is_question, offset = principal, False, 0
    for block in body:
        key = _normalise(block)
        if len(key) >= _DEDUPE_MIN_CHARS:
            if key in seen:
                continue
            seen.add(key)
        label = _LABEL.match(block)
        if label and (resolved := _label_speaker(label["name"], label["note"], principal)):
            speaker, is_question = resolved
        if text_parts:
            offset += 2
        paragraphs.append(Paragraph(offset, offset + len(block), speaker, is_question))
        text_parts.append(block)
        offset += len(block)
    return Document(
        doc_id=doc_id,
        title=title,
        date=date,
        time=time,
        place=place,
        speaker=principal,
        text="\n\n".join(text_parts),
        paragraphs=tuple(paragraphs),
        sha256=sha256,
        source=source,
    )


def principal_speaker(title: str) -> str | None:
    """The person or body a transcript's title names as speaking."""
    if by := _TITLE_BY.search(title):
        # "by Foreign Minister Sergey Lavrov" names a person; "by the ... Department" a body.
        role = _TITLE_ROLE_NAME.search(by["name"])
        return role["name"] if role else by["name"]
    for pattern in (_TITLE_ROLE_NAME, _TITLE_POSSESSIVE):
        if found := pattern.search(title):
            return found["name"]
    return None


def speaker_label(paragraph: str) -> re.Match[str] | None:
    """The speaker label that opens a paragraph ("Sergey Lavrov: "), if it has one."""
    label = _LABEL.match(paragraph)
    return label if label and _label_speaker(label["name"], label["note"], None) else None


def _label_speaker(name: str, note: str | None, principal: str | None) -> tuple[str, bool] | None:
    """(speaker, is_question) for a paragraph label, or None when the colon is not a speaker label."""
    lowered = name.lower()
    if lowered in _QUESTION_LABELS:
        journalist = _PERSON.match(note or "")
        return (journalist["name"] if journalist else "Question"), True
    if lowered in _ROLE_LABELS:
        return (principal or name), False
    if len(name.split()) < 2:
        return None
    return name, False


def _blocks(raw_text: str) -> list[str]:
    """Paragraphs: runs of non-blank lines, each with its whitespace collapsed to single spaces."""
    text = raw_text.replace("\r\n", "\n").replace("\r", "\n")
    blocks = (" ".join(block.split()) for block in re.split(r"\n[ \t\u00a0]*\n", text))
    return [b for b in blocks if b]


def _is_chrome(block: str) -> bool:
    return (
        block.lower().rstrip(":") in _CHROME_LINES
        or bool(_LANG_SWITCH.match(block))
        or bool(_TAG_LINE.match(block))
    )


def _is_english_prose(block: str) -> bool:
    """A sentence of English, or a labelled turn: what a transcript body is made of."""
    if _LABEL.match(block):
        return True
    words = _WORD.findall(block)
    if not words or not re.search(r"[.?!…:\"”»)]$", block):
        return False
    stop = sum(w.lower() in STOPWORDS for w in words)
    ascii_letters = sum(ch.isascii() for ch in "".join(words))
    return stop / len(words) >= 0.2 and ascii_letters / max(1, len("".join(words))) >= 0.9


def _strip_trailing_chrome(blocks: list[str]) -> list[str]:
    """Drop the footer after the last prose paragraph: photo albums, addresses, phones, other languages."""
    end = len(blocks)
    while end and not _is_english_prose(blocks[end - 1]):
        end -= 1
    return blocks[:end]


def _normalise(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _iso_date(day: str, month: str, year: str) -> str:
    return datetime.strptime(f"{int(day)} {month.title()} {year}", "%d %B %Y").date().isoformat()
