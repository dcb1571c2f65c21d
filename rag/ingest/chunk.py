"""Document -> Chunks that follow speaker turns and never cut a sentence. Pure; tokens are counted by a
callable so that the limits are those of the embedding model's own tokenizer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from rag.index.base import MAX_SENTENCES
from rag.ingest.clean import sentence_spans
from rag.types import Chunk, Document, Paragraph

TokenCounter = Callable[[str], int]
QUESTION_SHOWN_CHARS = 600  # a question shown beside its reply is cut (at a word) only beyond this


@dataclass(frozen=True)
class ChunkSettings:
    """How passages are cut; recorded in the index manifest."""

    max_tokens: int
    overlap_sentences: int
    model_max_tokens: int  # the model's window, special tokens included


def chunk_document(doc: Document, count_tokens: TokenCounter, settings: ChunkSettings) -> list[Chunk]:
    """Cut a document into passages: whole paragraphs of one speaker turn packed up to max_tokens;
    a paragraph longer than that is split at sentence boundaries with a small overlap. A reply carries
    the question it answers as embedding context, fitted into what the model's window leaves.

    Each paragraph is segmented into sentences once; the passages' windows, their sentences and the
    questions' context all come from those spans."""
    said = {p.start: sentence_spans(doc.text, p.start, p.end) or [(p.start, p.end)] for p in doc.paragraphs}
    chunks: list[Chunk] = []
    question: list[str] = []
    for turn in _turns(doc.paragraphs):
        spans = list(_pack(doc.text, turn, said, count_tokens, settings))
        sentences = [span for para in turn for span in said[para.start]]
        for start, end in spans:
            text = doc.text[start:end]
            n_tokens = count_tokens(text)
            context = "" if turn[0].is_question else _fit_context(question, n_tokens, count_tokens, settings)
            times = [(p.t_start, p.t_end) for p in turn if p.start < end and start < p.end]
            starts = [t for t, _ in times if t is not None]
            ends = [t for _, t in times if t is not None]
            chunks.append(
                Chunk(
                    chunk_id=f"{doc.doc_id}:{start}-{end}",
                    doc_id=doc.doc_id,
                    speaker=turn[0].speaker,
                    start=start,
                    end=end,
                    text=text,
                    n_tokens=n_tokens,
                    context=context,
                    is_question=turn[0].is_question,
                    t_start=min(starts) if starts else None,
                    t_end=max(ends) if ends else None,
                    sentences=_within(sentences, start, end),
                )
            )
        question = [doc.text[a:b] for a, b in sentences] if turn[0].is_question else []
    return chunks


def _within(sentences: list[tuple[int, int]], start: int, end: int) -> tuple[tuple[int, int], ...]:
    """The sentences inside [start, end) as offsets from start: at most MAX_SENTENCES, the last taking
    the rest; the whole span when none is (never: passages are cut at sentence ends)."""
    spans = [(a - start, b - start) for a, b in sentences if start <= a and b <= end] or [(0, end - start)]
    if len(spans) > MAX_SENTENCES:
        spans = [*spans[: MAX_SENTENCES - 1], (spans[MAX_SENTENCES - 1][0], spans[-1][1])]
    return tuple(spans)


def question_answered(doc: Document, start: int) -> str | None:
    """The whole question turn that the reply at offset `start` answers, on one line as shown beside the
    reply (the chunk's context is that question cut to fit the model's window); None when it answers none."""
    previous: list[Paragraph] = []
    for turn in _turns(doc.paragraphs):
        if turn[0].start <= start < turn[-1].end:
            if not previous or not previous[0].is_question or turn[0].is_question:
                return None
            question = " ".join(doc.text[previous[0].start : previous[-1].end].split())
            if len(question) <= QUESTION_SHOWN_CHARS:
                return question
            return question[: question.rfind(" ", 0, QUESTION_SHOWN_CHARS)].rstrip(" ,;:–—-") + " …"
        previous = turn
    return None


def _turns(paragraphs: tuple[Paragraph, ...]) -> Iterator[list[Paragraph]]:
    """Consecutive paragraphs of one speaker; a question always opens a new turn."""
    turn: list[Paragraph] = []
    for para in paragraphs:
        if turn and (para.speaker != turn[-1].speaker or para.is_question != turn[-1].is_question):
            yield turn
            turn = []
        turn.append(para)
    if turn:
        yield turn


def _pack(
    text: str,
    turn: list[Paragraph],
    said: dict[int, list[tuple[int, int]]],
    count: TokenCounter,
    settings: ChunkSettings,
) -> Iterator[tuple[int, int]]:
    """Spans of whole paragraphs (or sentence windows of an over-long one) within max_tokens."""
    units: list[tuple[int, int]] = []
    for para in turn:
        if count(text[para.start : para.end]) <= settings.max_tokens:
            units.append((para.start, para.end))
        else:
            units.extend(_sentence_windows(text, said[para.start], count, settings))
    current: tuple[int, int] | None = None
    for unit in units:
        if current and unit[0] >= current[1] and count(text[current[0] : unit[1]]) <= settings.max_tokens:
            current = (current[0], unit[1])
            continue
        if current:
            yield current
        current = unit
    if current:
        yield current


def _sentence_windows(
    text: str, sentences: list[tuple[int, int]], count: TokenCounter, settings: ChunkSettings
) -> Iterator[tuple[int, int]]:
    """Windows of whole sentences within max_tokens, consecutive windows sharing `overlap` sentences."""
    first = 0
    while first < len(sentences):
        last = first
        while (
            last + 1 < len(sentences)
            and count(text[sentences[first][0] : sentences[last + 1][1]]) <= settings.max_tokens
        ):
            last += 1
        yield sentences[first][0], sentences[last][1]
        if last + 1 >= len(sentences):
            return
        # A single sentence longer than max_tokens stays whole: never cut inside a sentence.
        first = max(last + 1 - settings.overlap_sentences, first + 1)


def _fit_context(question: list[str], n_tokens: int, count: TokenCounter, settings: ChunkSettings) -> str:
    """The question's sentences, trimmed to its last ones so that context + passage fit the model's
    window."""
    budget = settings.model_max_tokens - 3 - n_tokens  # [CLS], [SEP] and the joining newline
    sentences = list(question)
    while sentences and count(" ".join(sentences)) > budget:
        sentences.pop(0)
    return " ".join(sentences)


def sentence_offsets(chunk: Chunk) -> list[tuple[int, int]]:
    """The sentences of a passage as offsets into its embedding input (the question it answers, then
    its text): where late chunking pools each sentence's tokens."""
    lead = len(chunk.context) + 1 if chunk.context else 0
    return [(lead + start, lead + end) for start, end in chunk.sentences]
