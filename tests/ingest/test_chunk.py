"""Chunking with the model's own tokenizer: offsets, limits, sentence boundaries, question context."""

from __future__ import annotations

import re
import statistics

import pytest

from rag.ingest.chunk import ChunkSettings, chunk_document
from rag.ingest.clean import _segmenter, sentence_spans
from rag.ingest.parse import parse_document, read_transcript
from rag.types import Chunk, Document, Paragraph
from tests.conftest import DOCS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def settings(embedder) -> ChunkSettings:
    return ChunkSettings(max_tokens=192, overlap_sentences=1, model_max_tokens=embedder.max_tokens)


@pytest.fixture(scope="module")
def seed_chunks(embedder, settings) -> list[tuple[Document, list[Chunk]]]:
    out = []
    for path in sorted(DOCS.glob("*.txt")):
        text, sha = read_transcript(path)
        doc = parse_document(path.stem, text, sha, str(path))
        out.append((doc, chunk_document(doc, embedder.count_tokens, settings)))
    return out


def test_no_embedding_input_exceeds_the_model_window(seed_chunks, embedder):
    tokenizer = embedder.model.tokenizer
    for _, chunks in seed_chunks:
        for chunk in chunks:
            n = len(tokenizer(chunk.embedding_input, verbose=False)["input_ids"])  # with [CLS] and [SEP]
            assert n <= embedder.max_tokens, chunk.chunk_id


def test_offsets_ids_and_token_counts(seed_chunks, embedder):
    ids = set()
    for doc, chunks in seed_chunks:
        for chunk in chunks:
            assert doc.text[chunk.start : chunk.end] == chunk.text
            assert chunk.n_tokens == embedder.count_tokens(chunk.text) <= 192
            ids.add(chunk.chunk_id)
    assert len(ids) == sum(len(c) for _, c in seed_chunks)


def test_chunks_never_cut_a_sentence(seed_chunks):
    for doc, chunks in seed_chunks:
        starts = {p.start for p in doc.paragraphs}
        ends = {p.end for p in doc.paragraphs}
        for chunk in chunks:
            sentence_starts = {s for p in doc.paragraphs for s, _ in sentence_spans(doc.text, p.start, p.end)}
            assert chunk.start in starts or chunk.start in sentence_starts
            assert chunk.end in ends or re.search(r"[.?!…][\"'”’»)]*$", chunk.text)


def test_passages_are_compact(seed_chunks):
    words = [len(c.text.split()) for _, chunks in seed_chunks for c in chunks if not c.is_question]
    assert 60 <= statistics.median(words) <= 250
    assert max(words) <= 250


def test_answers_carry_their_question_as_context(seed_chunks):
    doc, chunks = next((d, c) for d, c in seed_chunks if d.doc_id.startswith("001"))
    reply = next(c for c in chunks if c.text.startswith("Sergey Lavrov: This is not a subject"))
    assert reply.context.startswith("Question: Was the detention of Russian national Dmitry Ukrainsky")
    assert reply.embedding_input.endswith(reply.text)
    question = next(c for c in chunks if c.is_question)
    assert question.speaker == "Question" and question.context == ""


def test_chunking_is_deterministic(seed_chunks, embedder, settings):
    doc, chunks = seed_chunks[0]
    assert chunk_document(doc, embedder.count_tokens, settings) == chunks


def test_a_long_paragraph_is_split_at_sentences_with_overlap(embedder, settings):
    sentences = [
        f"Sentence number {i} talks about cooperation between Russia and ASEAN in area {i} today."
        for i in range(60)
    ]
    text = " ".join(sentences)
    doc = Document(
        "long",
        "Long",
        None,
        None,
        None,
        "Sergey Lavrov",
        text,
        (Paragraph(0, len(text), "Sergey Lavrov"),),
        "0",
        "test",
    )
    chunks = chunk_document(doc, embedder.count_tokens, settings)
    assert len(chunks) > 2
    for previous, current in zip(chunks, chunks[1:], strict=False):
        overlap = previous.text.split(". ")[-1]
        assert current.text.startswith(overlap)  # one sentence shared with the previous window
    assert all(c.text.endswith(".") and c.n_tokens <= 192 for c in chunks)


def test_sentence_spans_respect_abbreviations():
    text = "Mr. Kerry met U.S. officials. Then they left! Did they? Yes."
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "Mr. Kerry met U.S. officials.",
        "Then they left!",
        "Did they?",
        "Yes.",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "  Thank you, Jen  ",  # no mark at all: kept whole without pysbd
        "Why now?",
        "Wait, what?!",
        "Really...",
        "He said \"stop\" and left!\u201d ",
        "Mr. Kerry met officials",  # an abbreviation: pysbd decides
        "So?Yes",
        "1) first 2) second",
        "one line\nand another",
        "Yes. No.",
        "   ",
    ],
)
def test_a_turn_with_nothing_to_break_at_skips_pysbd_and_gets_what_pysbd_gives(text):
    """The fast path for one-sentence text returns exactly pysbd's spans; text pysbd could break goes to it."""
    pieces = [s.strip() for s in _segmenter("en").segment(text) if s.strip()]
    assert [text[a:b] for a, b in sentence_spans(text)] == pieces


def test_a_passages_sentences_are_its_paragraphs_sentences_segmented_once(seed_chunks):
    """Each passage carries its sentences, in order and inside it, and they are exactly its paragraphs'
    sentences (a sentence never runs across paragraphs); every word of the passage is in one of them."""
    for doc, chunks in seed_chunks:
        for chunk in chunks:
            assert chunk.sentences, chunk.chunk_id
            paragraphs = [p for p in doc.paragraphs if p.start < chunk.end and chunk.start < p.end]
            expected = [
                (a - chunk.start, b - chunk.start)
                for p in paragraphs
                for a, b in sentence_spans(doc.text, p.start, p.end)
                if chunk.start <= a and b <= chunk.end
            ]
            if len(expected) <= 64:
                assert list(chunk.sentences) == expected, chunk.chunk_id
            covered = " ".join(chunk.text[a:b] for a, b in chunk.sentences)
            assert covered.split() == chunk.text.split(), chunk.chunk_id
