"""Pages of the Russian Foreign Ministry's site (mid.ru) and their reposts: a date and time header, the
title, a language switcher, a table of contents and tags around the transcript, footers in other languages.

Every line of a page is a paragraph of its own: the site never wraps lines, and its 2022+ design separates
paragraphs by single line breaks."""

from __future__ import annotations

import re

from rag.ingest.clean import (
    NAME,
    TITLE_DATE,
    attribute,
    build_document,
    iso_date,
    known_labels,
    paragraphs,
    speaker_label,
    title_case_date,
)
from rag.text import STOPWORDS, normalise
from rag.types import Document

FORMAT = "mid.ru"

_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
# "2 August 201818:22": the site glues the date and the time together; either may be missing.
_HEADER = re.compile(
    rf"^(?:(?P<day>\d{{1,2}})\s+(?P<month>{_MONTHS})\s+(?P<year>\d{{4}}))?\s*"
    r"(?P<time>\d{1,2}:\d{2})?$",
    re.IGNORECASE,
)
# Embassy reposts date their pages "June 4, 2016" or "10 november / 2017".
_REPOST_DATE = re.compile(
    rf"^(?:(?P<month>{_MONTHS})\s+(?P<day>\d{{1,2}}),\s+(?P<year>\d{{4}})"
    rf"|(?P<day2>\d{{1,2}})\s+(?P<month2>{_MONTHS})\s*/\s*(?P<year2>\d{{4}}))$",
    re.IGNORECASE,
)
# Repost chrome: "Category: News", "Written by Press Office", "Hits: 1234"; whole short lines only, so that a
# sentence opening "Written by hand, ..." stays.
_REPOST_CHROME = re.compile(
    r"^(?:Category:\s*[^.!?]{1,60}|Written by\s+[^.!?]{1,60}|Hits:\s*[\d\s,]+)$", re.IGNORECASE
)
# A table of contents: "1. Opening remarks" or, in the 2022+ design, "- Opening remarks".
_NUMBERED = re.compile(r"^(?P<n>\d{1,2})[.)]\s+(?P<heading>\S.{0,200})$")
_BULLET = re.compile(r"^[-–•]\s+(?P<heading>\S.{0,200})$")
_SEPARATOR = re.compile(r"^\*(?:\s*\*){2,}$")  # "* * *" between sections
_HEAD_BLOCKS = 12  # the header, title, switcher and contents come before the transcript
# "..., Vientiane, July 26, 2016": the place is the comma-separated segment just before the date.
_TITLE_PLACE = re.compile(rf",\s*(?P<place>[A-Z][\w'’.\- ]{{1,40}}?),\s*(?:{TITLE_DATE.pattern})\s*$")
_ROLE = (
    r"(?:Minister|President|Spokesperson|Spokeswoman|Spokesman|Secretary|Ambassador|Director|"
    r"Envoy|Representative|Chairman|Chair|Premier|Chancellor)"
)
# "Foreign Minister Sergey Lavrov's remarks", "Remarks and replies by Foreign Minister Sergey Lavrov at ..."
_TITLE_ROLE_NAME = re.compile(rf"\b{_ROLE}\s+(?P<name>{NAME}(?:\s+{NAME}){{1,3}}?)(?=['’]s\b|\s+[a-z]|,|$)")
# "Comment by the Information and Press Department on ..."
_TITLE_BY = re.compile(
    r"\bby\s+(?:the\s+)?(?P<name>[A-Z][\w'’\-]*(?:\s+(?:[A-Z][\w'’\-]*|and|of|for))*?)"
    r"\s+(?:on|at|regarding|concerning|following|in|to|about)\b"
)
_TITLE_POSSESSIVE = re.compile(rf"^(?P<name>{NAME}(?:\s+{NAME}){{1,3}})['’]s\b")

# Site chrome: navigation labels, the language switcher, organisation tags.
_CHROME_LINES = {
    "additional materials",
    "advanced settings",
    "print",
    "share",
    "photo",
    "video",
    "asset publisher",
}
_LANG_SWITCH = re.compile(r"^(?:•?\s*[a-z]{2}-[A-Z]{2}\d*\s*)+$")
_ACRONYM = r"[A-Z][A-Za-z&\-]{1,11}"
_TAG_LINE = re.compile(rf"^(?:{_ACRONYM}\s+\([^()]{{3,90}}\)|[A-Z][^()]{{2,90}}\s+\({_ACRONYM}\))$")
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")


def sniff(text: str, name: str) -> float:
    """How much the text looks like a mid.ru page: its header, language switcher or site chrome."""
    head = _lines(text[:4000])[:_HEAD_BLOCKS]
    score = 0.0
    if head and _header(head[0]):
        score += 0.5
    if any(_REPOST_CHROME.match(p) for p in head):
        score += 0.5
    if any(_LANG_SWITCH.match(p) for p in head) or any(p.lower() in _CHROME_LINES for p in head):
        score += 0.5
    if "mid.ru" in text[:20000]:
        score += 0.3
    return min(score, 1.0)


def parse(doc_id: str, text: str, sha256: str, source: str) -> Document:
    blocks = [b for b in _lines(text) if b.lower() not in _CHROME_LINES and not _REPOST_CHROME.match(b)]
    date = time = title = None
    at = 0
    # The header, in whatever order the site or the repost gives it: date and time (glued, apart, or
    # either alone), the title, the language switcher, the table of contents.
    while at < min(len(blocks), _HEAD_BLOCKS):
        block = blocks[at]
        if header := _header(block):
            time = time or header["time"]
            if header["year"] and not date:
                date = iso_date(header["day"], header["month"], header["year"])
        elif repost := _REPOST_DATE.match(block):
            date = date or iso_date(
                repost["day"] or repost["day2"],
                repost["month"] or repost["month2"],
                repost["year"] or repost["year2"],
            )
        elif title is None and not _LANG_SWITCH.match(block):
            title = block.lstrip("#").strip()
        elif title is not None and (contents := _contents(blocks, at)):
            at += contents - 1
        elif not _is_chrome(block):
            break
        at += 1
    title = title or doc_id
    body = _strip_trailing_chrome([b for b in blocks[at:] if not _is_chrome(b) and not _SEPARATOR.match(b)])
    date = date or title_case_date(title) or next(filter(None, map(title_case_date, body[:3])), None)
    place_match = _TITLE_PLACE.search(title)
    place = place_match["place"].strip() if place_match and len(place_match["place"].split()) <= 4 else None
    principal = principal_speaker(title)
    return build_document(
        doc_id,
        attribute(body, principal, known=known_labels("\n".join(body))),
        title=title,
        sha256=sha256,
        source=source,
        format=FORMAT,
        date=date,
        time=time,
        place=place,
        speaker=principal,
        dedupe=True,
    )


def _lines(text: str) -> list[str]:
    return paragraphs(text, lambda line: True)


def _header(block: str) -> re.Match[str] | None:
    """The site's date and time line ("2 August 201818:22", "2 August 2018", "18:22")."""
    header = _HEADER.match(block)
    return header if header and (header["year"] or header["time"]) else None


def _contents(blocks: list[str], at: int) -> int:
    """How many blocks from `at` are a table of contents: numbered from 1 or bulleted, at least two
    headings, each of which recurs in the transcript after it (so nothing said is dropped)."""
    numbered = bool(_NUMBERED.match(blocks[at]))
    headings: list[str] = []
    for block in blocks[at:]:
        item = _NUMBERED.match(block) if numbered else _BULLET.match(block)
        if not item or (numbered and int(item["n"]) != len(headings) + 1):
            break
        headings.append(item["heading"])
    if len(headings) < 2:
        return 0
    rest = normalise(" ".join(blocks[at + len(headings) :]), typography=False)
    return len(headings) if all(normalise(h, typography=False) in rest for h in headings) else 0


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


def _is_chrome(block: str) -> bool:
    return bool(_LANG_SWITCH.match(block) or _TAG_LINE.match(block))


def _is_english_prose(block: str) -> bool:
    """A sentence of English, or a labelled turn: what a transcript body is made of."""
    if speaker_label(block):
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
