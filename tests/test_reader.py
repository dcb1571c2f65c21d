"""The reader (`rag tune`): pairs mined from a store's question and reply turns, split by transcript; a tiny
tune run end to end, stored in the index, used by the service, stale after the index changes, off with
RAG_READER=off."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from rag.doctor import _reader
from rag.reader import Reader, mine_pairs, reader_state, tune
from rag.types import Chunk, Document, Filters, Paragraph

ROOT = Path(__file__).resolve().parent.parent


def _document(doc_id: str, turns: list[tuple[str, bool, str]]) -> tuple[Document, list[Chunk]]:
    """A transcript of (speaker, is_question, text) turns, one paragraph and one passage per turn."""
    text, paragraphs, chunks = "", [], []
    for n, (speaker, is_question, said) in enumerate(turns):
        start = len(text)
        text += said + "\n\n"
        paragraphs.append(Paragraph(start, start + len(said), speaker, is_question))
        chunks.append(
            Chunk(f"{doc_id}-{n}", doc_id, speaker, start, start + len(said), said, 9, "", is_question)
        )
    doc = Document(doc_id, doc_id, None, None, None, None, text, tuple(paragraphs), "0", "test")
    return doc, chunks


class _Store:
    """The part of a PassageReader that mining reads: documents, their passages, BM25 by shared words."""

    def __init__(self, docs: list[tuple[Document, list[Chunk]]]) -> None:
        self.docs = docs
        self.rows = [c for _, chunks in docs for c in chunks]

    def documents(self) -> list[Document]:
        return [d for d, _ in self.docs]

    def chunks(self, doc_id: str) -> list[Chunk]:
        return next(c for d, c in self.docs if d.doc_id == doc_id)

    def lexical(self, question: str, depth: int, filters: Filters) -> list[int]:
        words = set(question.lower().split())
        shared = [(len(words & set(c.text.lower().split())), row) for row, c in enumerate(self.rows)]
        return [row for n, row in sorted(shared, key=lambda s: -s[0]) if n][:depth]

    def records(self, rows: list[int]) -> dict[int, dict[str, Any]]:
        return {r: {"doc_id": self.rows[r].doc_id, "text": self.rows[r].text} for r in rows}


def _briefing(n: int) -> tuple[Document, list[Chunk]]:
    return _document(
        f"brief-{n}",
        [
            ("MS. PSAKI", False, f"Good afternoon, welcome to briefing {n}."),
            ("Q", True, f"What about the tariffs on steel, briefing {n}?"),
            ("MS. PSAKI", False, f"The steel tariffs stay in place {n}."),
            ("MS. PSAKI", False, f"We review them every year {n}."),
            ("Q", True, f"And the vaccine mandate {n}?"),
            ("MS. PSAKI", False, f"I don't have anything for you on that {n}."),
        ],
    )


def test_a_question_pairs_with_its_reply_against_other_replies_and_another_transcript():
    store = _Store([_briefing(n) for n in range(10)])
    mined = mine_pairs(store, max_pairs=1000)  # type: ignore[arg-type]
    assert len(mined.validation_docs) == 2 and len(mined.train_docs) == 8
    assert not set(mined.validation_docs) & set(mined.train_docs)
    assert {p.doc_id for p in mined.train} == set(mined.train_docs)  # never learns a held-out transcript
    steel = [p for p in mined.train if p.doc_id == mined.train_docs[0] and "steel" in p.question]
    n = mined.train_docs[0].removeprefix("brief-")
    assert {p.passage for p in steel if p.label == 1} == {
        f"The steel tariffs stay in place {n}.",
        f"We review them every year {n}.",
    }
    negatives = [p.passage for p in steel if p.label == 0]
    assert len(negatives) == 2
    assert negatives[0] in {
        f"Good afternoon, welcome to briefing {n}.",
        f"I don't have anything for you on that {n}.",
    }
    assert "steel" in negatives[1] and not negatives[1].endswith((f"{n}.", f"{n}?"))  # BM25's, elsewhere
    evasive = [p for p in mined.train if "vaccine" in p.question and p.label == 1]
    assert evasive and all(p.passage.startswith("I don't have anything") for p in evasive)  # still a reply
    assert all("?" not in p.passage for p in mined.train if p.label == 1)  # a question is no reply
    reply, others = mined.validation[0]
    assert reply.doc_id in mined.validation_docs and not set(reply.passages) & set(others)


def test_pairs_are_capped_and_the_same_on_every_run():
    store = _Store([_briefing(n) for n in range(10)])
    first = mine_pairs(store, max_pairs=12)  # type: ignore[arg-type]
    assert len(first.train) == 12
    assert first == mine_pairs(store, max_pairs=12)  # type: ignore[arg-type]  # a resumed run sees the same


BRIEFINGS = sorted((ROOT / "eval" / "wh" / "docs").glob("2021-10-30-*steel*"))


@pytest.mark.slow
def test_tune_stores_a_reader_the_service_uses_until_turned_off(make_service, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for path in BRIEFINGS:
        shutil.copy(path, docs)
    service = make_service(docs, reader="auto")
    service.ingest()
    assert reader_state(service.settings, service.store.live())[0] == "absent"
    assert service.reranker is None
    key = service.store.live()
    assert key is not None
    report = tune(service.settings, service.retriever.store, key, max_pairs=24, max_length=96, batch_size=8)
    manifest = json.loads((service.settings.index_dir / "reader" / "manifest.json").read_text())
    pairs = manifest["pairs"]["train"]
    assert manifest["generation"] == key and 8 < pairs <= 24 and manifest["steps"] == -(-pairs // 8)
    assert manifest["base_model"] == "all-MiniLM-L6-v2"
    # Only one of the three calls has reporters' question turns: nothing is left to hold out.
    assert manifest["transcripts"] == {"train": 1, "validation": 0} and manifest["validation"]["questions"] == 0
    assert f"learned the reader from {pairs} pairs" in report.summary()
    again = tune(service.settings, service.retriever.store, key, max_pairs=24, max_length=96, batch_size=8)
    assert again.up_to_date and "up to date" in again.summary()

    reading = make_service(docs, reader="auto")
    assert isinstance(reading.reranker, Reader)
    question = "What did the administration say about the steel and aluminum tariffs with the EU?"
    fused = make_service(docs)  # RAG_READER=off, the default
    assert fused.reranker is None
    read = reading.search(question, k=5)
    plain = {p.chunk_id: p.score for p in fused.search(question, k=reading.settings.reader_depth)}
    assert [p.score for p in read] == sorted((p.score for p in read), reverse=True)
    weight = reading.settings.reader_weight
    assert all(plain[p.chunk_id] < p.score < plain[p.chunk_id] + weight for p in read)  # fused + w x read
    assert _reader(reading.settings).detail.startswith("present")

    (docs / BRIEFINGS[0].name).unlink()
    reading.ingest()
    assert reader_state(reading.settings, reading.store.live())[0] == "stale"
    check = _reader(reading.settings)
    assert check.status == "warn" and "stale" in check.detail and "rag tune" in (check.fix or "")
    assert _reader(fused.settings).detail.startswith("off")
