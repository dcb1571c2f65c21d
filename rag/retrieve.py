"""Dense, lexical and hybrid retrieval with filters, question-to-answer promotion and de-duplication."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from rag.fusion import SIGNALS, fitted_weights, rank_feature
from rag.index.base import PassageReader
from rag.signals import date_match, question_dates
from rag.text import normalise
from rag.types import Filters, Passage, transcript_of

Mode = Literal["dense", "bm25", "hybrid"]
MODES: tuple[Mode, ...] = ("dense", "bm25", "hybrid")

# Dense searches run here while the calling thread searches BM25 (both release the GIL locally).
_SEARCHES = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="dense-search")


@dataclass(frozen=True)
class FusionSettings:
    """The weight of each signal in the fused score (rag.fusion), and how far each retriever looks."""

    weights: dict[str, float] = field(default_factory=fitted_weights)  # signal -> weight (SIGNALS)
    rrf_k: int = 10
    depth: int = 100  # candidates taken from each retriever before fusion
    question_penalty: float = 0.5  # a journalist's question ranks below the answer it gets
    duplicate_threshold: float = 0.8  # word-shingle overlap above which two passages are one statement


@dataclass(frozen=True)
class Hit:
    """A fused candidate: its row and, for abstention, its best cosine similarity to the question."""

    row: int
    score: float
    cosine: float | None


@dataclass(frozen=True)
class Candidates:
    """The passages any retriever found for a question, and each one's signals (columns: SIGNALS)."""

    rows: list[int]
    features: np.ndarray  # float64, (len(rows), len(SIGNALS))
    # The passage's cosine similarity to the question: of its own vector or of its best sentence,
    # whichever is higher, where dense or sentence search found it (abstention reads it)
    cosines: dict[int, float]

    def scores(self, weights: dict[str, float]) -> dict[int, float]:
        fused = self.features @ np.array([weights.get(name, 0.0) for name in SIGNALS])
        return dict(zip(self.rows, fused.tolist(), strict=True))


class Retriever:
    """Fuses a store's candidates and signals into passages. Thread-safe for readers."""

    def __init__(self, store: PassageReader, fusion: FusionSettings) -> None:
        self.store = store
        self.fusion = fusion

    def close(self) -> None:
        """Release the store version's files and connections now."""
        self.store.close()

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
        found = self.candidates(question, query_vector, max(self.fusion.depth, 4 * k), filters, mode)
        fused = self._promote_answers(found.scores(self.fusion.weights), filters)
        ordered = sorted(fused.items(), key=lambda item: -item[1])
        return self._passages(ordered, found.cosines, k, collapse_duplicates)

    def candidates(
        self,
        question: str,
        query_vector: np.ndarray | None,
        depth: int,
        filters: Filters,
        mode: Mode = "hybrid",
    ) -> Candidates:
        """Every passage among the top `depth` of dense, sentence and BM25 search (as the mode allows), with
        its signals: each ranking as rank_feature reads it, the speaker the question names, its dates.
        A signal the store does not have (sentence vectors, speaker fields: rag.index.base) stays 0."""
        dense = sentence = None
        if mode in ("dense", "hybrid") and query_vector is not None:  # dense and BM25 run side by side
            dense = _SEARCHES.submit(self.store.dense, query_vector, depth, filters)
            if mode == "hybrid":  # a passage's sentences: enough to find depth passages, most often
                sentence = _SEARCHES.submit(self.store.sentences, query_vector, 4 * depth, filters)
        rankings: dict[str, list[int]] = {}
        if mode in ("bm25", "hybrid"):
            rankings["bm25"] = self.store.lexical(question, depth, filters)
        cosines: dict[int, float] = {}
        if dense is not None:
            dense_rows, scores = dense.result()
            cosines = dict(zip(dense_rows, scores, strict=True))
            rankings["dense"] = dense_rows
        if sentence is not None and (found := sentence.result()) is not None:
            best = _best_per_row(*found, depth)
            rankings["sentence"] = list(best)
            cosines = {row: max(cosines.get(row, -1.0), best.get(row, -1.0)) for row in cosines | best}
        rows = list(dict.fromkeys(row for name in SIGNALS for row in rankings.get(name, ())))
        features = np.zeros((len(rows), len(SIGNALS)))
        for column, name in enumerate(SIGNALS):
            if name in rankings:
                ranks = rank_feature(rankings[name], self.fusion.rrf_k)
                features[:, column] = [ranks.get(row, 0.0) for row in rows]
        if mode == "hybrid" and rows:
            features[:, SIGNALS.index("speaker")] = self.store.speaker_match(question, rows)
            features[:, SIGNALS.index("date")] = self._date_match(question, rows)
        return Candidates(rows, features, cosines)

    def _date_match(self, question: str, rows: list[int]) -> list[float]:
        """How well each passage's document date matches the dates the question names (rag.signals)."""
        mentions = question_dates(question)
        if not mentions:
            return [0.0] * len(rows)
        records = self.store.records(rows)
        return [date_match(mentions, records[row]["date"] if row in records else None) for row in rows]

    def evidence(self, question: str, hits: Sequence[Hit], coverage_weight: float, top: int = 3) -> float:
        """How well the top passages support an answer: the best, over the top hits, of cosine similarity
        plus coverage_weight x the IDF-weighted share of the question's words found in the passage.

        Coverage catches names and numbers the dense model misses ("Kelly Clements"); the IDF weights keep
        common words ("world", "2018") from making an off-topic question look answered.
        """
        rows = [h.row for h in hits[:top]]
        if not rows:
            return 0.0
        coverage = self._coverage(question, rows)
        return max((h.cosine or 0.0) + coverage_weight * coverage[h.row] for h in hits[:top])

    def answering(
        self,
        question: str,
        query_vector: np.ndarray,
        depth: int,
        filters: Filters,
        threshold: float,
        coverage_weight: float,
    ) -> list[Passage]:
        """Every passage, not the top k, that answers on its own evidence: among the top `depth` of each
        retriever, those whose cosine plus coverage_weight x coverage (as in evidence) reaches the
        threshold; each statement once, journalists' questions left out (they ask, they do not say)."""
        found = self.candidates(question, query_vector, depth, filters, "hybrid")
        if not found.rows:
            return []
        asked = set(self.store.follow_ups(found.rows, filters))
        coverage = self._coverage(question, found.rows)
        scores = found.scores(self.fusion.weights)
        ordered = sorted(
            (
                (row, score)
                for row, score in scores.items()
                if row not in asked
                and found.cosines.get(row, 0.0) + coverage_weight * coverage[row] >= threshold
            ),
            key=lambda item: -item[1],
        )
        return self._passages(ordered, found.cosines, max(1, len(ordered)), collapse=True)[0]

    def _coverage(self, question: str, rows: list[int]) -> dict[int, float]:
        """Per row, the IDF-weighted share of the question's content words it holds."""
        found = self.store.word_matches(question, rows)
        n = found.passages
        weights = {word: math.log((n + 1) / (count + 0.5)) for word, (count, _) in found.words.items()}
        total = sum(weights.values())
        share = {row: sum(w for word, w in weights.items() if row in found.words[word][1]) for row in rows}
        return {row: value / total if total else 0.0 for row, value in share.items()}

    def phrase_spans(self, phrases: Sequence[str], filters: Filters, limit: int = 5) -> list[tuple[str, int]]:
        """(doc_id, start) of the passages holding each phrase word for word, up to limit per phrase: the
        places a quote's sentences were said exactly."""
        return self.store.phrase_spans(phrases, filters, limit)

    def all_chunks(self) -> list[tuple[str, str]]:
        """(chunk_id, text) of every chunk, for evaluation."""
        return self.store.all_chunks()

    def _promote_answers(self, fused: dict[int, float], filters: Filters) -> dict[int, float]:
        """A matching journalist's question lends its score to the reply that follows it."""
        rows = list(fused)
        if not rows or self.fusion.question_penalty == 1.0:
            return fused
        for row, reply in self.store.follow_ups(rows, filters).items():
            score = fused[row]
            fused[row] = score * self.fusion.question_penalty
            if reply is not None:
                fused[reply] = max(fused.get(reply, 0.0), score)
        return fused

    def _passages(
        self, ordered: list[tuple[int, float]], cosines: dict[int, float], k: int, collapse: bool
    ) -> tuple[list[Passage], list[Hit]]:
        passages: list[Passage] = []
        hits: list[Hit] = []
        shingles: list[set[str]] = []
        for begin in range(0, len(ordered), 4 * k):
            batch = ordered[begin : begin + 4 * k]
            records = self.store.records([row for row, _ in batch])
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
                        t_start=r["t_start"],
                        t_end=r["t_end"],
                        source_url=r["source_url"],
                        transcript=transcript_of(r["format"]),
                    )
                )
                hits.append(Hit(row, score, cosines.get(row)))
                if len(passages) == k:
                    return passages, hits
        return passages, hits


def _best_per_row(rows: list[int], scores: list[float], depth: int) -> dict[int, float]:
    """Up to depth rows in the order of their best sentence (hits nearest first), with its similarity."""
    best: dict[int, float] = {}
    for row, score in zip(rows, scores, strict=True):
        if len(best) == depth:
            break
        best.setdefault(row, score)
    return best


def _shingles(text: str, n: int = 5) -> set[str]:
    words = normalise(text, typography=False).split()
    return {" ".join(words[i : i + n]) for i in range(max(1, len(words) - n + 1))}


def _overlap(a: set[str], b: set[str]) -> float:
    """Share of the smaller passage's shingles found in the other: 1.0 when one contains the other."""
    return len(a & b) / max(1, min(len(a), len(b)))
