"""The local store's lexical statistics, read by documented means only, against FTS5's own bm25()."""

from __future__ import annotations

import math

import pytest

from rag.index.lexical import BM25_WEIGHTS, ChunkStore
from rag.types import Chunk, Document

SAID = (
    "Russia and Syria discussed the ceasefire in Geneva.",
    "The ceasefire holds, the minister said; the talks go on.",
    "Nothing about it today.",
    "Ceasefire, ceasefire and again the ceasefire: Syria wants it kept.",
)


def document(doc_id: str, texts: tuple[str, ...]) -> tuple[Document, list[Chunk]]:
    text = "\n\n".join(texts)
    chunks, start = [], 0
    for said in texts:
        chunks.append(Chunk(f"{doc_id}:{start}", doc_id, "Sergey Lavrov", start, start + len(said), said, 8))
        start += len(said) + 2
    doc = Document(
        doc_id, f"Briefing {doc_id}", "2021-01-22", None, "Moscow", None, text, (), doc_id, "upload"
    )
    return doc, chunks


def fts5_bm25(store: ChunkStore, word: str) -> dict[int, float]:
    weights = ", ".join(map(str, BM25_WEIGHTS))
    sql = f"SELECT rowid, bm25(chunks_fts, {weights}) FROM chunks_fts WHERE chunks_fts MATCH ?"
    return dict(store.db.execute(sql, (f'"{word}"',)))


def our_bm25(store: ChunkStore, word: str, rows: list[int]) -> dict[int, float]:
    """FTS5's bm25() of one word, from bm25_statistics and term_frequencies (negative, as FTS5's)."""
    n_rows, mean = store.bm25_statistics()
    lengths, frequencies = store.term_frequencies(rows, [word])
    n = len(frequencies[word])
    idf = max(math.log((n_rows - n + 0.5) / (n + 0.5)), 1e-6)
    return {
        row: -idf * f * 2.2 / (f + 1.2 * (0.25 + 0.75 * lengths[row] / mean))
        for row, f in frequencies[word].items()
    }


def test_statistics_give_fts5s_own_scores_after_writes_and_deletes(tmp_path):
    store = ChunkStore(tmp_path / "chunks.sqlite", create=True)
    for i in range(3):
        doc, chunks = document(f"d{i}", SAID[i:] + SAID[:i])
        store.put(doc, chunks, range(4 * i, 4 * i + 4))
    store.delete("d1")
    store.commit()
    rows = [r for (r,) in store.db.execute("SELECT row FROM chunks")]
    assert store.bm25_statistics()[0] == len(rows) == 8
    for word in ("ceasefire", "syria", "moscow", "lavrov"):
        expected = fts5_bm25(store, word)
        assert expected and our_bm25(store, word, rows) == pytest.approx(expected, rel=1e-9)
