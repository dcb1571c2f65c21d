"""Markdown with YAML front matter: title, date, source_url and the rest come from it; the body is the
transcript (a briefing's turns when it has them, else labelled or plain paragraphs)."""

from __future__ import annotations

import datetime as dt
import logging
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
log = logging.getLogger(__name__)
FIELD_MAX_CHARS = 1000  # a title, place or address longer than this is not one
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
    title = _clean(meta.get("title"), "title")
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
        place=_clean(meta.get("place"), "place") or place,
        source_url=_clean(meta.get("source_url") or meta.get("url"), "source_url"),
    )


class _Loader(yaml.SafeLoader):
    """YAML for front matter: scalars stay the strings they are written as (an impossible date such as
    `2018-13-45` is not a ValueError), and an alias is refused (nine aliases a level expand a few hundred
    bytes into megabytes)."""

    def compose_node(self, parent, index):  # type: ignore[no-untyped-def]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases are not allowed in front matter", event.start_mark
            )
        return super().compose_node(parent, index)


_NULLS = {"~", "null", "Null", "NULL"}
# Every plain scalar is a string: no timestamps, numbers or booleans resolved (and so none constructed).
_Loader.yaml_implicit_resolvers = {}


def _front_matter(text: str) -> tuple[dict[str, object], str]:
    """(metadata, body); a front matter that is not a YAML mapping, or that is refused (aliases, tags such
    as `!!python/object`), is left in the body with a warning: its words are kept, nothing is run."""
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    try:
        meta = yaml.load(match["yaml"], Loader=_Loader)  # noqa: S506 - a SafeLoader without aliases
    except yaml.YAMLError as exc:
        log.warning("front matter not read, kept as text: %s", " ".join(str(exc).split())[:200])
        return {}, text
    return (meta, text[match.end() :]) if isinstance(meta, dict) else ({}, text)


def _clean(value: object, field: str = "field") -> str | None:
    """A metadata string with its whitespace (non-breaking spaces included) collapsed; a value that is not
    a string (a list, a mapping) is ignored, and one longer than FIELD_MAX_CHARS cut there, with a warning."""
    if value is None or (isinstance(value, str) and value in _NULLS):
        return None
    if not isinstance(value, str):
        log.warning("front matter %s ignored: not a string (%s)", field, type(value).__name__)
        return None
    cleaned = " ".join(value.split())
    if len(cleaned) > FIELD_MAX_CHARS:
        log.warning("front matter %s cut to %d characters (was %d)", field, FIELD_MAX_CHARS, len(cleaned))
        cleaned = cleaned[:FIELD_MAX_CHARS].rstrip()
    return cleaned or None


def _date(value: object) -> str | None:
    """An ISO date, or a date written out ("July 26, 2016"); an impossible one is ignored with a warning."""
    text = _clean(value, "date")
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        if found := title_case_date(text):
            return found
        log.warning("front matter date ignored: %r is not a date", text[:40])
        return None
