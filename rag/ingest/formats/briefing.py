"""Briefing-room transcripts (the White House's and their like): upper-case speaker labels with honorifics,
reporters as `Q`, a place line and start and end time lines, stage notes, hard-wrapped lines."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.ingest.clean import (
    Block,
    attribute,
    build_document,
    known_labels,
    paragraphs,
    speaker_label,
    title_case_date,
    title_from_name,
    turn_opener,
)
from rag.ingest.formats.plain import looks_like_title
from rag.types import Document

FORMAT = "briefing"

_UPPER_TURN = re.compile(
    r"^[ \t\u00a0]*(?:[A-Z][A-Z.'’\-]*[ \t]+){0,5}[A-Z][A-Z.'’\-]*[ \t]*:[ \t\u00a0]", re.MULTILINE
)
_Q_TURN = re.compile(r"^[ \t\u00a0]*Q(?::|[ \t\u00a0]{1,8})\S", re.MULTILINE)
# "2:00 P.M. EST", "END 3:15 P.M. EST", "11:02 A.M. EDT"
_TIME = re.compile(
    r"^(?P<end>END\s+)?(?P<h>\d{1,2}):(?P<m>\d{2})\s*(?P<ap>[AP])\.?\s*M\.?(?:\s+[A-Z]{2,4})?$"
)
_END = re.compile(r"^(?:END|\\?#{3}|\\?\*\s*\\?\*\s*\\?\*)$")


@dataclass
class Body:
    blocks: list[Block]
    place: str | None
    time: str | None  # HH:MM, 24-hour


def sniff(text: str, name: str) -> float:
    """Several upper-case labels or `Q` turns: a briefing-room transcript."""
    sample = text[:50000]
    turns = len(_UPPER_TURN.findall(sample)) + len(_Q_TURN.findall(sample))
    return 0.8 if turns >= 3 else 0.0


def parse(doc_id: str, text: str, sha256: str, source: str) -> Document:
    lines = text.lstrip("\ufeff \t\n").split("\n", 1)
    first = " ".join(lines[0].split())
    has_title = looks_like_title(first) and not _TIME.match(first)
    body = parse_body(lines[1] if has_title and len(lines) > 1 else text)
    title = first if has_title else title_from_name(doc_id)
    return build_document(
        doc_id,
        body.blocks,
        title=title,
        sha256=sha256,
        source=source,
        format=FORMAT,
        date=title_case_date(title),
        time=body.time,
        place=body.place,
    )


def parse_body(text: str) -> Body:
    """Turns of a briefing: the place and time lines before the first turn and the END line become
    metadata; every other paragraph is kept, stage notes in the turn they interrupt."""
    place = time = None
    kept: list[str] = []
    known = known_labels(text, upper_only=True)
    for paragraph in paragraphs(text, turn_opener(known, upper_only=True)):
        clock = _TIME.match(paragraph)
        if clock:
            if not clock["end"] and time is None and not kept:
                hour = int(clock["h"]) % 12 + (12 if clock["ap"] == "P" else 0)
                time = f"{hour:02d}:{clock['m']}"
            continue
        if _END.match(paragraph):
            continue
        if (
            not kept
            and place is None
            and looks_like_title(paragraph)
            and not speaker_label(paragraph, upper_only=True)
        ):
            place = paragraph
            continue
        kept.append(paragraph)
    return Body(attribute(kept, upper_only=True, known=known), place, time)
