"""Passages read from one generation of the index: a document by id, a span of it as a cited passage, a
span in the context of its speaker turns, and the retrieved passages filled in from their documents."""

from __future__ import annotations

import dataclasses

from rag.errors import BadInput, NotFound
from rag.ids import SEE_IDS, shown
from rag.index.base import PassageReader
from rag.ingest.chunk import question_answered
from rag.types import Document, Excerpt, Passage, format_citation
from rag.verify import turns


def document(store: PassageReader, doc_id: str) -> Document:
    """The document of this id in this generation; NotFound, naming where the ids are, when there is none."""
    doc = store.document(doc_id)
    if doc is None:
        raise NotFound(f"unknown doc_id {shown(doc_id)}: {SEE_IDS}")
    return doc


def span_passage(
    store: PassageReader, doc: Document, start: int, end: int, speaker: str | None, rank: int, score: float
) -> Passage:
    """A span of a document as a passage: its words, the passage it lies in, its time and its citation."""
    chunk = next((c for c in store.chunks(doc.doc_id) if c.start <= start < c.end), None)
    heard = doc.heard(start, end)
    # The span's own time, not its passage's: a quote from a passage's third paragraph was said
    # minutes after the passage began, and the citation must say when.
    t_start, t_end = doc.times(start, end)
    found = Passage(
        rank=rank,
        score=round(score, 4),
        chunk_id=chunk.chunk_id if chunk else "",
        doc_id=doc.doc_id,
        title=doc.title,
        date=doc.date,
        place=doc.place,
        speaker=speaker,
        text=doc.text[start:end],
        start=start,
        end=end,
        t_start=heard.at if heard and heard.at is not None else t_start,
        t_end=t_end,
        source_url=doc.source_url,
        question=question_answered(doc, start),
        transcript=doc.transcript,
    )
    return dataclasses.replace(found, citation=format_citation(found, heard)) if heard else found


def with_questions(passages: list[Passage], store: PassageReader) -> list[Passage]:
    """Each reply with the whole question it answers, read from its document; a machine transcript's
    passage with the recogniser's confidence and unsure words in its citation."""
    docs = {doc_id: store.document(doc_id) for doc_id in {p.doc_id for p in passages}}
    return [_filled_in(p, doc) if (doc := docs[p.doc_id]) else p for p in passages]


def _filled_in(p: Passage, doc: Document) -> Passage:
    p = dataclasses.replace(p, question=question_answered(doc, p.start))
    if heard := doc.heard(p.start, p.end):
        p = dataclasses.replace(p, citation=format_citation(p, heard))
    return p


def excerpt(store: PassageReader, doc: Document, start: int | None, end: int | None) -> Excerpt:
    """A span of a document's text (no span: the whole text), cited, with the speaker turns around it.

    Raises:
        BadInput: a span that is empty or not within the text.
    """
    doc_id = doc.doc_id
    size = len(doc.text)
    start = 0 if start is None else start
    end = size if end is None else end
    if not 0 <= start < end <= size:
        raise BadInput(
            f"span [{start}:{end}] is not within {doc_id}'s text of {size:,} characters: "
            f"give 0 <= start < end <= {size}"
        )
    around = [u for u in turns(doc) if u.start < end and start < u.end]
    speakers = tuple(dict.fromkeys(u.speaker for u in around if u.speaker))
    speaker = speakers[0] if len(speakers) == 1 and len(around) == 1 else None
    passage = span_passage(store, doc, start, end, speaker, 1, 1.0)
    first = min([start, *(u.start for u in around)])
    last = max([end, *(u.end for u in around)])
    return Excerpt(passage, first, last, doc.text[first:last], speakers)
