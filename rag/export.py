"""Export of an answer or a search, for pasting into notes: one function per format (Markdown, CSV, JSON).

The web page builds the same Markdown and CSV from the API's response (rag/api/static/app.js, "export")."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from rag.types import MACHINE, Answer, Passage, clock

CSV_COLUMNS = (
    "rank",
    "doc_id",
    "title",
    "date",
    "place",
    "speaker",
    "start",
    "end",
    "t_start",
    "t_end",
    "source_url",
    "transcript",
    "citation",
    "text",
)


def permalink(p: Passage, base_url: str) -> str:
    """The web page's address that opens the transcript at the passage's span."""
    return f"{base_url.rstrip('/')}/#/t/{p.doc_id}/{p.start}-{p.end}"


def _block_quote(text: str) -> str:
    return "\n".join(f"> {line}".rstrip() for line in text.splitlines())


def _passage_markdown(p: Passage, base_url: str) -> str:
    lines = [
        f"### [{p.rank}] {p.title}",
        "",
        f"- Citation: {p.citation}",
        f"- Span: {p.doc_id} [{p.start}:{p.end}]",
    ]
    if p.transcript == MACHINE:
        lines.append("- Transcript: machine (speech recognition from the recording: check the recording)")
    if p.t_start is not None:
        lines.append(f"- Time: {clock(p.t_start)}" + (f"–{clock(p.t_end)}" if p.t_end is not None else ""))
    if p.source_url:
        lines.append(f"- Source: {p.source_url}")
    lines.append(f"- Link: {permalink(p, base_url)}")
    if p.question:
        lines.append(f"- In reply to: {p.question}")
    return "\n".join([*lines, "", _block_quote(p.text)])


def to_markdown(
    question: str, passages: Sequence[Passage], base_url: str, answer: Answer | None = None
) -> str:
    """The question, the answer and its citations (for an ask), then every passage: its ready citation,
    span, time and links, and its words verbatim as a block quote."""
    parts = [f"# {question}"]
    if answer is not None:
        parts += ["## Not in the transcripts" if answer.abstained else "## Answer", answer.answer]
        if answer.llm_error:
            parts.append(f"*The LLM failed ({answer.llm_error}); the answer is quoted from the transcripts.*")
        if answer.citations:
            by_rank = {p.rank: p.citation for p in passages}
            cited = [
                f"- [{c.n}] {by_rank.get(c.n, c.doc_id)}\n\n{_block_quote(c.quote)}" for c in answer.citations
            ]
            parts += ["## Citations", "\n\n".join(cited)]
    parts.append("## Passages")
    parts += [_passage_markdown(p, base_url) for p in passages] or ["No passages found."]
    return "\n\n".join(parts) + "\n"


# What a spreadsheet reads as the start of a formula (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A cell as written: empty when unknown; text a spreadsheet would run as a formula (`=HYPERLINK(...)`,
    `-2+3`, `@SUM(...)`) prefixed with a single quote, as OWASP advises, so that it is shown, never run."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def to_csv(passages: Sequence[Passage]) -> str:
    """One row per passage, with a header row (CSV_COLUMNS); empty cells where a field is unknown, and text
    that would start a formula escaped (csv_cell)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for p in passages:
        writer.writerow([csv_cell(getattr(p, name)) for name in CSV_COLUMNS])
    return out.getvalue()


def to_json(document: dict[str, Any]) -> str:
    """The HTTP API's document, as `--json` prints it."""
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
