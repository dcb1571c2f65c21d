"""Document -> Chunks that follow speaker turns and never cut a sentence. Pure; tokens are counted by a
callable so that the limits are those of the embedding model's own tokenizer."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from rag.types import Chunk, Document, Paragraph

TokenCounter = Callable[[str], int]

# A sentence ends at . ? ! or … (optionally followed by a closing quote or bracket), then whitespace,
# then something that can open a sentence.
_BOUNDARY = re.compile(r"(?<=[.?!…])[\"'”’»)\]]*\s+(?=[\"'“‘«(\[]?[A-ZА-ЯЁ0-9])")
_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "st",
        "jr",
        "sr",
        "no",
        "nos",
        "vs",
        "etc",
        "e.g",
        "i.e",
        "u.s",
        "u.k",
        "u.n",
        "gen",
        "col",
        "lt",
        "sgt",
        "rev",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "art",
        "para",
        "fig",
        "approx",
    ]
)


@dataclass(frozen=True)
class ChunkSettings:
    """How passages are cut; recorded in the index manifest."""

    max_tokens: int
    overlap_sentences: int
    model_max_tokens: int  # the model's window, special tokens included


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence boundaries in text[start:end] as absolute (start, end) offsets, whitespace excluded."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    begin = start
    for match in _BOUNDARY.finditer(text, start, end):
        words = text[begin : match.start()].split()
        last_word = words[-1].rstrip(".").lower() if words else ""
        if last_word in _ABBREVIATIONS or (len(last_word) == 1 and last_word.isalpha()):
            continue  # "Mr. Kerry", "J. Kerry": not the end of a sentence
        closing = len(match.group()) - len(match.group().lstrip("\"'”’»)]"))
        spans.append((begin, match.start() + closing))
        begin = match.end()
    if text[begin:end].strip():
        spans.append((begin, end))
    return spans


def chunk_document(doc: Document, count_tokens: TokenCounter, settings: ChunkSettings) -> list[Chunk]:
    """Cut a document into passages: whole paragraphs of one speaker turn packed up to max_tokens;
    a paragraph longer than that is split at sentence boundaries with a small overlap. A reply carries
    the question it answers as embedding context, fitted into what the model's window leaves."""
    chunks: list[Chunk] = []
    question = ""
    for turn in _turns(doc.paragraphs):
        spans = list(_pack(doc.text, turn, count_tokens, settings))
        turn_text = doc.text[turn[0].start : turn[-1].end]
        for start, end in spans:
            text = doc.text[start:end]
            n_tokens = count_tokens(text)
            context = "" if turn[0].is_question else _fit_context(question, n_tokens, count_tokens, settings)
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
                )
            )
        question = turn_text if turn[0].is_question else ""
    return chunks


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
    text: str, turn: list[Paragraph], count: TokenCounter, settings: ChunkSettings
) -> Iterator[tuple[int, int]]:
    """Spans of whole paragraphs (or sentence windows of an over-long one) within max_tokens."""
    units: list[tuple[int, int]] = []
    for para in turn:
        if count(text[para.start : para.end]) <= settings.max_tokens:
            units.append((para.start, para.end))
        else:
            units.extend(_sentence_windows(text, para, count, settings))
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
    text: str, para: Paragraph, count: TokenCounter, settings: ChunkSettings
) -> Iterator[tuple[int, int]]:
    """Windows of whole sentences within max_tokens, consecutive windows sharing `overlap` sentences."""
    sentences = sentence_spans(text, para.start, para.end)
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


def _fit_context(question: str, n_tokens: int, count: TokenCounter, settings: ChunkSettings) -> str:
    """The question, trimmed to its last sentences so that context + passage fit the model's window."""
    if not question:
        return ""
    budget = settings.model_max_tokens - 3 - n_tokens  # [CLS], [SEP] and the joining newline
    sentences = [question[s:e] for s, e in sentence_spans(question)]
    while sentences and count(" ".join(sentences)) > budget:
        sentences.pop(0)
    return " ".join(sentences)
