"""Dense, lexical and hybrid retrieval with filters, question-to-answer promotion and de-duplication."""

from __future__ import annotations

import math
import re
import sqlite3
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from rag.index.dense import DenseIndex
from rag.index.lexical import ChunkStore
from rag.text import content_words
from rag.types import Filters, Passage

Mode = Literal["dense", "bm25", "hybrid"]
MODES: tuple[Mode, ...] = ("dense", "bm25", "hybrid")


@dataclass(frozen=True)
class FusionSettings:
    """Weights of weighted reciprocal rank fusion, and how far each retriever looks."""

    dense_weight: float = 1.0
    bm25_weight: float = 1.0
    rrf_k: int = 60
    depth: int = 100  # candidates taken from each retriever before fusion
    question_penalty: float = 0.5  # a journalist's question ranks below the answer it gets
    duplicate_threshold: float = 0.8  # word-shingle overlap above which two passages are one statement


@dataclass(frozen=True)
class Hit:
    """A fused candidate: its row and, for abstention, its best cosine similarity to the question."""

    row: int
    score: float
    cosine: float | None


def fuse(rankings: Sequence[tuple[Sequence[int], float]], rrf_k: int) -> dict[int, float]:
    """Weighted reciprocal rank fusion: sum over rankings of weight / (rrf_k + rank), ranks from 1."""
    fused: dict[int, float] = {}
    for rows, weight in rankings:
        for rank, row in enumerate(rows, start=1):
            fused[row] = fused.get(row, 0.0) + weight / (rrf_k + rank)
    return fused


class Retriever:
    """Searches one index generation. Thread-safe for readers."""

    def __init__(self, store: ChunkStore, dense: DenseIndex, fusion: FusionSettings) -> None:
        self.store = store
        self.dense = dense
        self.fusion = fusion
        self._count: int | None = None  # a generation never changes: counted once

    def search(
        self,
        question: str,
        query_vector: np.ndarray | None,
        k: int,
        filters: Filters,
        mode: Mode = "hybrid",
        collapse_duplicates: bool = True,
    ) -> tuple[list[Passage], list[Hit]]:
        """The top k passages for a question, each statement once (unless collapse_duplicates is off).

        Returns:
            (passages, hits) where hits[i] carries the evidence scores of passages[i].
        """
        allowed = self._allowed_rows(filters) if filters else None
        if allowed is not None and not allowed.size:
            return [], []
        depth = max(self.fusion.depth, 4 * k)
        cosines: dict[int, float] = {}
        rankings: list[tuple[Sequence[int], float]] = []
        if mode in ("dense", "hybrid") and query_vector is not None:
            dense_rows, scores = self.dense.search(query_vector, depth, allowed)
            cosines = dict(zip(dense_rows, scores, strict=True))
            rankings.append((dense_rows, self.fusion.dense_weight))
        if mode in ("bm25", "hybrid"):
            rankings.append((self._bm25(question, depth, filters), self.fusion.bm25_weight))
        fused = fuse(rankings, self.fusion.rrf_k)
        fused = self._promote_answers(fused, allowed)
        ordered = sorted(fused.items(), key=lambda item: -item[1])
        return self._passages(ordered, cosines, k, collapse_duplicates)

    def evidence(self, question: str, hits: Sequence[Hit], coverage_weight: float, top: int = 3) -> float:
        """How well the top passages support an answer: the best, over the top hits, of cosine similarity
        plus coverage_weight x the IDF-weighted share of the question's words found in the passage.

        Coverage catches names and numbers the dense model misses ("Kelly Clements"); the IDF weights keep
        common words ("world", "2018") from making an off-topic question look answered.
        """
        rows = [h.row for h in hits[:top]]
        if not rows:
            return 0.0
        coverage = self._term_coverage(question, rows)
        return max((h.cosine or 0.0) + coverage_weight * coverage[h.row] for h in hits[:top])

    def _term_coverage(self, question: str, rows: list[int]) -> dict[int, float]:
        """Per row, the IDF-weighted share of the question's content words it contains (FTS5 stemming)."""
        n = self._chunk_count()
        weights: dict[str, float] = {}
        found: dict[int, float] = dict.fromkeys(rows, 0.0)
        marks = ",".join("?" * len(rows))
        for term in content_words(question):
            quoted = f'"{term}"'
            df = self.store.db.execute(
                "SELECT COUNT(*) FROM (SELECT 1 FROM chunks_fts WHERE chunks_fts MATCH ? LIMIT ?)",
                (quoted, n),
            ).fetchone()[0]
            weights[term] = math.log((n + 1) / (df + 0.5))
            for (row,) in self.store.db.execute(
                f"SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ? AND rowid IN ({marks})",
                (quoted, *rows),
            ):
                found[row] += weights[term]
        total = sum(weights.values())
        return {row: (value / total if total else 0.0) for row, value in found.items()}

    def _chunk_count(self) -> int:
        if self._count is None:
            self._count = self.store.chunk_count()
        return self._count

    def all_chunks(self) -> list[tuple[str, str]]:
        """(chunk_id, text) of every chunk, for evaluation."""
        return [(r[0], r[1]) for r in self.store.db.execute("SELECT chunk_id, text FROM chunks")]

    def _allowed_rows(self, filters: Filters) -> np.ndarray:
        where, params = _filter_sql(filters)
        rows = self.store.db.execute(
            f"SELECT c.row FROM chunks c JOIN documents d USING (doc_id) WHERE {where}", params
        )
        return np.fromiter((r[0] for r in rows), dtype=np.int64)

    def _bm25(self, question: str, depth: int, filters: Filters) -> list[int]:
        match = fts_query(question)
        if not match:
            return []
        where, params = _filter_sql(filters) if filters else ("1", [])
        try:
            rows = self.store.db.execute(
                "SELECT f.rowid FROM chunks_fts f JOIN chunks c ON c.row = f.rowid "
                f"JOIN documents d USING (doc_id) WHERE chunks_fts MATCH ? AND {where} "
                "ORDER BY bm25(chunks_fts, 1.0, 0.3) LIMIT ?",
                [match, *params, depth],
            )
            return [r[0] for r in rows]
        except sqlite3.OperationalError:  # a query FTS5 cannot parse finds nothing lexically
            return []

    def _promote_answers(self, fused: dict[int, float], allowed: np.ndarray | None) -> dict[int, float]:
        """A matching journalist's question lends its score to the reply that follows it."""
        rows = list(fused)
        if not rows or self.fusion.question_penalty == 1.0:
            return fused
        marks = ",".join("?" * len(rows))
        questions = self.store.db.execute(
            f'SELECT row, doc_id, "end" FROM chunks WHERE is_question = 1 AND row IN ({marks})', rows
        ).fetchall()
        allowed_set = set(allowed.tolist()) if allowed is not None else None
        for row, doc_id, end in questions:
            reply = self.store.db.execute(
                "SELECT row, is_question FROM chunks WHERE doc_id = ? AND start >= ? ORDER BY start LIMIT 1",
                (doc_id, end),
            ).fetchone()
            score = fused[row]
            fused[row] = score * self.fusion.question_penalty
            if reply and not reply[1] and (allowed_set is None or reply[0] in allowed_set):
                fused[reply[0]] = max(fused.get(reply[0], 0.0), score)
        return fused

    def _passages(
        self, ordered: list[tuple[int, float]], cosines: dict[int, float], k: int, collapse: bool
    ) -> tuple[list[Passage], list[Hit]]:
        passages: list[Passage] = []
        hits: list[Hit] = []
        shingles: list[set[str]] = []
        for begin in range(0, len(ordered), 4 * k):
            batch = ordered[begin : begin + 4 * k]
            records = self._records([row for row, _ in batch])
            for row, score in batch:
                r = records[row]
                if collapse:
                    words = _shingles(r["text"])
                    if any(_overlap(words, seen) >= self.fusion.duplicate_threshold for seen in shingles):
                        continue
                    shingles.append(words)
                passages.append(
                    Passage(
                        rank=len(passages) + 1,
                        score=round(score, 6),
                        chunk_id=r["chunk_id"],
                        doc_id=r["doc_id"],
                        title=r["title"],
                        date=r["date"],
                        place=r["place"],
                        speaker=r["speaker"],
                        text=r["text"],
                        start=r["start"],
                        end=r["end"],
                    )
                )
                hits.append(Hit(row, score, cosines.get(row)))
                if len(passages) == k:
                    return passages, hits
        return passages, hits

    def _records(self, rows: list[int]) -> dict[int, sqlite3.Row]:
        marks = ",".join("?" * len(rows))
        return {
            r["row"]: r
            for r in self.store.db.execute(
                'SELECT c.row, c.chunk_id, c.doc_id, c.speaker, c.text, c.start, c."end", '
                "d.title, d.date, d.place "
                f"FROM chunks c JOIN documents d USING (doc_id) WHERE c.row IN ({marks})",
                rows,
            )
        }


def fts_query(question: str) -> str:
    """An FTS5 OR-query of the question's content words, each quoted so nothing is read as syntax."""
    return " OR ".join(f'"{w}"' for w in content_words(question))


def _filter_sql(filters: Filters) -> tuple[str, list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    if filters.doc_ids:
        clauses.append(f"c.doc_id IN ({','.join('?' * len(filters.doc_ids))})")
        params += filters.doc_ids
    if filters.speaker:
        clauses.append("c.speaker LIKE ? ESCAPE '\\'")
        params.append("%" + re.sub(r"([%_\\])", r"\\\1", filters.speaker.strip()) + "%")
    if filters.since:
        clauses.append("d.date >= ?")
        params.append(filters.since)
    if filters.until:
        clauses.append("d.date <= ?")
        params.append(filters.until)
    return " AND ".join(clauses) or "1", params


def _shingles(text: str, n: int = 5) -> set[str]:
    words = unicodedata.normalize("NFKC", text).casefold().split()
    return {" ".join(words[i : i + n]) for i in range(max(1, len(words) - n + 1))}


def _overlap(a: set[str], b: set[str]) -> float:
    """Share of the smaller passage's shingles found in the other: 1.0 when one contains the other."""
    return len(a & b) / max(1, min(len(a), len(b)))
