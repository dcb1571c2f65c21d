"""Markdown with YAML front matter: title, date, source_url and the rest come from it; the body is the
transcript (a briefing's turns when it has them, else labelled or plain paragraphs)."""

from __future__ import annotations

import datetime as dt
import re

import yaml

from rag.ingest.clean import (
    attribute,
    build_document,
    known_labels,
    opens_turn,
    paragraphs,
    title_case_date,
    title_from_name,
)
from rag.ingest.formats import briefing
from rag.types import Document

FORMAT = "markdown"
_FRONT_MATTER = re.compile(
    r"\A\ufeff?---[ \t]*\r?\n(?P<yaml>.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.DOTALL
)
# Markdown's backslash escapes ("\\[sic\\]", "\\#hashtag"): the reader sees the character alone.
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|<>~$])")
_HEADING = re.compile(r"^#{1,6}[ \t]+(?P<title>.+?)[ \t]*#*$", re.MULTILINE)


def sniff(text: str, name: str) -> float:
    if _FRONT_MATTER.match(text) and isinstance(_front_matter(text)[0], dict):
        return 0.9
    return 0.3 if name.lower().endswith(".md") and _HEADING.match(text.lstrip()) else 0.0


def parse(doc_id: str, text: str, sha256: str, source: str) -> Document:
    meta, body = _front_matter(text)
    body = _ESCAPE.sub(r"\1", body)
    title = _clean(meta.get("title"))
    if not title and (heading := _HEADING.match(body.lstrip())):
        title = heading["title"].strip()
        body = body.lstrip().split("\n", 1)[1] if "\n" in body.lstrip() else ""
    title = title or title_from_name(doc_id)
    date = _date(meta.get("date")) or title_case_date(title)
    if briefing.sniff(body, doc_id):
        parsed = briefing.parse_body(body)
        blocks, place, time = parsed.blocks, parsed.place, parsed.time
    else:
        blocks, place, time = attribute(paragraphs(body, opens_turn), known=known_labels(body)), None, None
    return build_document(
        doc_id,
        blocks,
        title=title,
        sha256=sha256,
        source=source,
        format=FORMAT,
        date=date,
        time=time,
        place=_clean(meta.get("place")) or place,
        source_url=_clean(meta.get("source_url") or meta.get("url")),
    )


def _front_matter(text: str) -> tuple[dict[str, object], str]:
    """(metadata, body); a front matter that is not a YAML mapping is left in the body."""
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    try:
        meta = yaml.safe_load(match["yaml"])
    except yaml.YAMLError:
        return {}, text
    return (meta, text[match.end() :]) if isinstance(meta, dict) else ({}, text)


def _clean(value: object) -> str | None:
    """A metadata string with its whitespace (non-breaking spaces included) collapsed."""
    return " ".join(str(value).split()) or None if value is not None else None


def _date(value: object) -> str | None:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()[:10]).isoformat()
        except ValueError:
            return title_case_date(value)
    return None
