"""The local store: FAISS vectors and SQLite FTS5 passages in immutable generations of the index directory.

The default, and much faster than Milvus on one machine. Lexical search is FTS5's BM25 over the passage
and the question it replies to; on a large index the words of a question found in more passages than
`bm25_budget` are left out of the FTS5 query and scored afterwards (LocalPassages.bm25).
"""

from __future__ import annotations

import functools
import math
import re
import shutil
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from rag.index.base import MAX_SENTENCES, Update, WordMatches, manifest_entry
from rag.index.dense import DenseIndex
from rag.index.lexical import BM25_WEIGHTS, TEXT_COLUMNS, ChunkStore, SpeakerFields
from rag.index.store import (
    DATABASE,
    DENSE,
    SENTENCES,
    Manifest,
    current_generation,
    new_staging,
    publish,
    writer_lock,
)
from rag.ingest.roles import speaker_fields
from rag.text import WORD, content_words, visible
from rag.types import Chunk, Document, Filters

_BM25_K1, _BM25_B = 1.2, 0.75  # FTS5's bm25() constants


class LocalPassages:
    """One generation: its SQLite database (documents, passages, FTS5) and its FAISS index."""

    def __init__(
        self,
        chunk_store: ChunkStore,
        dense_index: DenseIndex,
        bm25_budget: int = 10_000,
        sentence_index: DenseIndex | None = None,
    ) -> None:
        self.chunk_store = chunk_store
        self.dense_index = dense_index
        self.sentence_index = sentence_index  # ids row * MAX_SENTENCES + i (absent: no sentence signal)
        self.bm25_budget = bm25_budget
        self._count: int | None = None  # a generation never changes: counted once, and so are matches
        self._matches = functools.lru_cache(maxsize=8192)(chunk_store.matches)
        self._allowed = functools.lru_cache(maxsize=64)(self._allowed_rows)
        self._statistics: tuple[int, float] | None = None
        self._speakers: SpeakerFields | None = None  # built on the first question that needs them
        self._speakers_lock = threading.Lock()

    def close(self) -> None:
        """Release the generation's files now (its SQLite connection and the mapped vectors), rather
        than whenever the garbage collector gets to them."""
        self._matches.cache_clear()
        self._allowed.cache_clear()
        self.chunk_store.close()
        if self._speakers is not None:
            self._speakers.close()
        self.dense_index.close()
        if self.sentence_index is not None:
            self.sentence_index.close()

    def __len__(self) -> int:
        return len(self.dense_index)

    def dense(self, vector: np.ndarray, depth: int, filters: Filters) -> tuple[list[int], list[float]]:
        allowed = self._allowed(filters) if filters else None
        if allowed is not None and not allowed.size:
            return [], []
        return self.dense_index.search(vector, depth, allowed)

    def sentences(
        self, vector: np.ndarray, limit: int, filters: Filters
    ) -> tuple[list[int], list[float]] | None:
        if self.sentence_index is None:
            return None
        allowed = self._allowed(filters) if filters else None
        ids = None
        if allowed is not None:
            if not allowed.size:
                return [], []
            ids = (allowed[:, None] * MAX_SENTENCES + np.arange(MAX_SENTENCES)).ravel()
        found, scores = self.sentence_index.search(vector, limit, ids)
        return [i // MAX_SENTENCES for i in found], scores

    def speaker_match(self, question: str, rows: list[int]) -> list[float]:
        """BM25 of the question over the rows' speaker fields (the label, and the names and roles the
        transcript gives), relative to the best match among the rows.

        Scored over the generation's distinct speaker fields (a few hundred, in memory), not its passages:
        the score of a speaker does not depend on the length of the passage, and the cost does not grow
        with the index (over the passages, FTS5 gathered its statistics anew for every row asked about).
        """
        words = content_words(question)
        if not words or not rows:
            return [0.0] * len(rows)
        marks = ",".join("?" * len(rows))
        field = dict(
            self.chunk_store.db.execute(
                f"SELECT rowid, speaker FROM chunks_fts WHERE rowid IN ({marks})", rows
            ).fetchall()
        )
        with self._speakers_lock:
            if self._speakers is None:
                distinct = self.chunk_store.db.execute("SELECT DISTINCT speaker FROM chunks_fts").fetchall()
                self._speakers = SpeakerFields([value for (value,) in distinct])
            scores = self._speakers.match(fts_query(words))
        values = [scores.get(field.get(row, ""), 0.0) for row in rows]
        best = max(values, default=0.0)
        return [value / best if best > 0 else 0.0 for value in values]

    def lexical(self, question: str, depth: int, filters: Filters) -> list[int]:
        return [row for row, _ in self.bm25(question, depth, filters)]

    def bm25(self, question: str, depth: int, filters: Filters) -> list[tuple[int, float]]:
        """The top rows by BM25 and their scores (FTS5's: negative, lower is better)."""
        match, left_out = self._lexical_query(question)
        if not match:
            return []
        # Passages and documents are joined only to filter: the joins cost as much as the ranking itself
        # (on a million passages, 20 of 35 ms for a budget of 10,000)
        where, params = _filter_sql(filters) if filters else ("1", [])
        joins = "JOIN chunks c ON c.row = f.rowid JOIN documents d USING (doc_id)" if filters else ""
        weights = ", ".join(map(str, BM25_WEIGHTS))
        scored = self.chunk_store.db.execute(
            f"SELECT row, score FROM (SELECT f.rowid AS row, bm25(chunks_fts, {weights}) AS score "
            f"FROM chunks_fts f {joins} WHERE chunks_fts MATCH ? AND {where} LIMIT ?) ORDER BY score LIMIT ?",
            [match, *params, self.bm25_budget, depth],
        ).fetchall()
        if left_out and scored:
            return self._score_left_out(scored, left_out)
        return scored

    def _lexical_query(self, question: str) -> tuple[str, list[str]]:
        """The FTS5 query for a question, chosen so that BM25 ranks at most bm25_budget passages, and the
        words it leaves out.

        FTS5 scores every passage that matches, so on a large index a frequent word ("Russia" in half
        the passages) costs seconds. All the question's words are searched when their passages fit the
        budget, as they always do on a small index; otherwise the rarest words whose passages fit; and
        when even the rarest word is in more passages than the budget, the rarest words together (AND),
        added until the passages holding all of them fit or the words run out, then only the first
        bm25_budget of those are ranked. The words left out still count: _score_left_out.
        """
        budget = self.bm25_budget
        counts = {w: self._matches(fts_query([w]), budget + 1) for w in content_words(question)}
        words = sorted((w for w in counts if counts[w]), key=counts.__getitem__)
        chosen: list[str] = []
        total = 0
        for word in words:
            if chosen and total + counts[word] > budget:
                break
            chosen.append(word)
            total += counts[word]
        if total <= budget:
            return fts_query(chosen), words[len(chosen) :]
        n = 1
        while n < len(words) and self._matches(fts_query(words[:n], "AND"), budget + 1) > budget:
            n += 1
        return fts_query(words[:n], "AND"), words[n:]

    def _score_left_out(self, scored: list[tuple[int, float]], words: list[str]) -> list[tuple[int, float]]:
        """Rank the top passages as if the words left out of the FTS5 query had been searched too: add their
        terms to FTS5's bm25() scores (negative: lower is better) exactly as bm25() computes them, with
        k1 1.2, b 0.75, IDF log((N - n + 0.5) / (n + 0.5)) floored at 1e-6, and lengths over all columns.

        Measured on BEIR SciFact with the budget at 4% of the passages: BM25 nDCG@10 0.597 without, 0.669
        with, against 0.668 searching every word (README, "Performance").
        """
        if self._statistics is None:
            self._statistics = self.chunk_store.bm25_statistics()
        n_rows, mean_length = self._statistics
        lengths, frequencies = self.chunk_store.term_frequencies([row for row, _ in scored], words)
        extra: dict[int, float] = {}
        for word, per_row in frequencies.items():
            if not per_row:  # in none of the top passages: nothing to add, and no need to count it
                continue
            # Counted only up to a half of the passages: beyond it the IDF is at its floor, and a word in
            # every passage (a speaker, a place) costs 36 ms to count on a million passages
            n = self._matches(fts_query([word]), n_rows // 2 + 1)
            idf = max(math.log((n_rows - n + 0.5) / (n + 0.5)), 1e-6)
            for row, f in per_row.items():
                norm = _BM25_K1 * (1 - _BM25_B + _BM25_B * lengths[row] / mean_length)
                extra[row] = extra.get(row, 0.0) + idf * f * (_BM25_K1 + 1) / (f + norm)
        return sorted(((row, score - extra.get(row, 0.0)) for row, score in scored), key=lambda item: item[1])

    def word_matches(self, question: str, rows: list[int]) -> WordMatches:
        """FTS5's match counts over what was said (not the speaker, title... fields); words matched as
        FTS5 stems them (porter)."""
        marks = ",".join("?" * len(rows))
        words: dict[str, tuple[int, set[int]]] = {}
        for term in content_words(question):
            quoted = f"{TEXT_COLUMNS} : {fts_query([term])}"
            holders = self.chunk_store.db.execute(
                f"SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ? AND rowid IN ({marks})",
                (quoted, *rows),
            )
            words[term] = (self._matches(quoted, self._chunk_count()), {row for (row,) in holders})
        return WordMatches(self._chunk_count(), words)

    def follow_ups(self, rows: Sequence[int], filters: Filters) -> dict[int, int | None]:
        marks = ",".join("?" * len(rows))
        db = self.chunk_store.db
        questions = db.execute(
            f'SELECT row, doc_id, "end" FROM chunks WHERE is_question = 1 AND row IN ({marks})', list(rows)
        ).fetchall()
        allowed = set(self._allowed(filters).tolist()) if filters else None
        replies: dict[int, int | None] = {}
        for row, doc_id, end in questions:
            reply = db.execute(
                "SELECT row, is_question FROM chunks WHERE doc_id = ? AND start >= ? ORDER BY start LIMIT 1",
                (doc_id, end),
            ).fetchone()
            ok = reply and not reply[1] and (allowed is None or reply[0] in allowed)
            replies[row] = reply[0] if ok else None
        return replies

    def phrase_spans(self, phrases: Sequence[str], filters: Filters, limit: int = 5) -> list[tuple[str, int]]:
        """FTS5 phrase search in the text column."""
        where, params = _filter_sql(filters) if filters else ("1", [])
        found: list[tuple[str, int]] = []
        for phrase in phrases:
            quoted = '"' + " ".join(WORD.findall(visible(phrase))) + '"'
            found += self.chunk_store.db.execute(
                "SELECT c.doc_id, c.start FROM chunks_fts f JOIN chunks c ON c.row = f.rowid "
                f"JOIN documents d USING (doc_id) WHERE chunks_fts MATCH ? AND {where} LIMIT ?",
                ["text : " + quoted, *params, limit],
            ).fetchall()
        return [(doc_id, start) for doc_id, start in found]

    def records(self, rows: list[int]) -> dict[int, Mapping[str, Any]]:
        marks = ",".join("?" * len(rows))
        return {
            r["row"]: r
            for r in self.chunk_store.db.execute(
                'SELECT c.row, c.chunk_id, c.doc_id, c.speaker, c.text, c.start, c."end", '
                "c.t_start, c.t_end, d.title, d.date, d.place, d.source_url, d.format "
                f"FROM chunks c JOIN documents d USING (doc_id) WHERE c.row IN ({marks})",
                rows,
            )
        }

    def all_chunks(self) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self.chunk_store.db.execute("SELECT chunk_id, text FROM chunks")]

    def known_doc_ids(self, doc_ids: Sequence[str]) -> set[str]:
        marks = ",".join("?" * len(doc_ids))
        sql = f"SELECT doc_id FROM documents WHERE doc_id IN ({marks})"
        return {r[0] for r in self.chunk_store.db.execute(sql, list(doc_ids))}

    def documents(self) -> list[Document]:
        return self.chunk_store.documents()

    def document(self, doc_id: str) -> Document | None:
        return self.chunk_store.document(doc_id)

    def chunks(self, doc_id: str) -> list[Chunk]:
        return self.chunk_store.chunks(doc_id)

    def chunk_counts(self) -> dict[str, int]:
        return self.chunk_store.chunk_counts()

    def _chunk_count(self) -> int:
        if self._count is None:
            self._count = self.chunk_store.chunk_count()
        return self._count

    def _allowed_rows(self, filters: Filters) -> np.ndarray:
        where, params = _filter_sql(filters)
        rows = self.chunk_store.db.execute(
            f"SELECT c.row FROM chunks c JOIN documents d USING (doc_id) WHERE {where}", params
        )
        return np.fromiter((r[0] for r in rows), dtype=np.int64)


class LocalStore:
    """The index directory's generations (rag.index.store): a write builds a new one aside, then switches."""

    sentence_vectors = True  # writes bring each passage's sentence vectors (the sentence signal)

    def __init__(self, index_dir: Path, ann_threshold: int = 100_000, bm25_budget: int = 10_000) -> None:
        self.index_dir = index_dir
        self.where = str(index_dir)
        self.ann_threshold = ann_threshold
        self.bm25_budget = bm25_budget

    def live(self) -> str | None:
        generation = current_generation(self.index_dir)
        return str(generation) if generation else None

    def manifest(self) -> Manifest | None:
        generation = current_generation(self.index_dir)
        return Manifest.load(generation) if generation else None

    def open(self, key: str) -> LocalPassages:
        path = Path(key)
        store = ChunkStore(path / DATABASE, readonly=True)
        dense, sentences = (
            DenseIndex.load(path / DENSE, mmap=True),
            DenseIndex.load(path / SENTENCES, mmap=True),
        )
        return LocalPassages(store, dense, self.bm25_budget, sentences)

    def lock(self, timeout: float | None) -> Any:
        return writer_lock(self.index_dir, timeout)

    def write(self, update: Update) -> int:
        """Build the next generation aside (from the live one, or from scratch) and switch to it."""
        base = current_generation(self.index_dir) if update.base else None
        staging = new_staging(self.index_dir)
        try:
            if base:
                store = ChunkStore.copy(base / DATABASE, staging / DATABASE)
                manifest = Manifest.load(base)
                dense = DenseIndex.load(base / DENSE, manifest.dense.get("calibration"))
                sentences = DenseIndex.load(base / SENTENCES, manifest.sentences.get("calibration"))
                for doc_id in update.drop:
                    gone = store.delete(doc_id)
                    dense.remove(gone)
                    sentences.remove(sentence_ids(gone))
            else:
                store = ChunkStore(staging / DATABASE, create=True)
                dense = DenseIndex.empty(update.manifest.dimension)
                sentences = DenseIndex.empty(update.manifest.dimension, "sq8")
            row = store.next_row()
            for item in update.fresh:
                chunks = item.chunks
                store.put(item.doc, chunks, range(row, row + len(chunks)), speaker_fields(item.doc))
                if chunks:
                    dense.add(item.vectors, np.arange(row, row + len(chunks)))
                    said = item.sentences or []
                    ids = [(row + n) * MAX_SENTENCES + i for n, v in enumerate(said) for i in range(len(v))]
                    if ids:
                        sentences.add(np.concatenate(said), np.array(ids))
                update.documents[item.doc.doc_id] = manifest_entry(item.doc, len(chunks))
                row += len(chunks)
            dense.fit(self.ann_threshold)
            sentences.fit(self.ann_threshold)
            store.commit()
            store.close()
            dense.save(staging / DENSE)
            sentences.save(staging / SENTENCES)
            update.manifest.dense = dense.params
            update.manifest.sentences = sentences.params
            update.manifest.documents = update.documents
            update.manifest.chunks = len(dense)
            update.manifest.save(staging)
            publish(self.index_dir, staging)
            return len(dense)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


def sentence_ids(rows: Sequence[int]) -> list[int]:
    """Every id a sentence vector of these passages can have (row * MAX_SENTENCES + i)."""
    return [row * MAX_SENTENCES + i for row in rows for i in range(MAX_SENTENCES)]


def fts_query(words: Sequence[str], operator: Literal["OR", "AND"] = "OR") -> str:
    """An FTS5 query of words (content_words: letters and digits only), each quoted as a phrase."""
    return f" {operator} ".join(f'"{w}"' for w in words)


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
