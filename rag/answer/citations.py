"""Citation checking: every quote must be verbatim in its passage and in the document at [start, end)."""

from __future__ import annotations

from rag.types import Citation, Passage


class CitationError(AssertionError):
    """A citation whose quote is not where it claims to be: a bug, never shown to a user."""


def cite(n: int, passage: Passage, start: int, end: int) -> Citation:
    """A citation of passage.text[start:end] (offsets relative to the passage), checked."""
    citation = Citation(
        n=n,
        chunk_id=passage.chunk_id,
        doc_id=passage.doc_id,
        quote=passage.text[start:end],
        start=passage.start + start,
        end=passage.start + end,
        t_start=passage.t_start,
        t_end=passage.t_end,
        transcript=passage.transcript,
    )
    check(citation, passage)
    return citation


def check(citation: Citation, passage: Passage) -> None:
    """Raise CitationError unless the quote is the passage's text at the citation's document span.

    A passage's text is the document's text at [passage.start, passage.end), so this also proves
    `document.text[citation.start:citation.end] == citation.quote`.
    """
    inner = passage.text[citation.start - passage.start : citation.end - passage.start]
    if (
        citation.chunk_id != passage.chunk_id
        or not citation.quote
        or inner != citation.quote
        or not passage.start <= citation.start < citation.end <= passage.end
    ):
        raise CitationError(f"citation [{citation.n}] does not quote {passage.chunk_id} verbatim")
