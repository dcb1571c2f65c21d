"""SQLite store of documents and chunks, with an FTS5 table for BM25 search."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

from rag.text import visible
from rag.types import Chunk, Document, Paragraph, Recording

TOKENIZER = "porter unicode61 remove_diacritics 2"
# The FTS5 columns and their weights in BM25 scores: the passage, the question it replies to, and the
# fields of their own (README, "Retrieval signals"): who speaks (the label and the names and roles the
# transcript gives them), the document's title, place and date (as words: "2021 January 22").
COLUMNS = ("text", "context", "speaker", "title", "place", "date")
BM25_WEIGHTS = (1.0, 0.3, 0.5, 0.2, 0.2, 0.2)
TEXT_COLUMNS = "{text context}"  # an FTS5 column filter: what was said, without the fields

_SCHEMA = f"""
CREATE TABLE documents (
    doc_id TEXT PRIMARY KEY, title TEXT NOT NULL, date TEXT, time TEXT, place TEXT, speaker TEXT,
    text TEXT NOT NULL, paragraphs TEXT NOT NULL, sha256 TEXT NOT NULL, source TEXT NOT NULL,
    format TEXT NOT NULL, language TEXT, source_url TEXT
);
CREATE TABLE chunks (
    row INTEGER PRIMARY KEY, chunk_id TEXT NOT NULL UNIQUE,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    speaker TEXT, start INTEGER NOT NULL, "end" INTEGER NOT NULL, text TEXT NOT NULL,
    context TEXT NOT NULL, n_tokens INTEGER NOT NULL, is_question INTEGER NOT NULL, t_start REAL, t_end REAL
);
CREATE INDEX chunks_by_doc ON chunks(doc_id);
-- The question a reply answers is indexed beside the reply, so that BM25 finds the answer too.
CREATE VIRTUAL TABLE chunks_fts USING fts5({", ".join(COLUMNS)}, tokenize='{TOKENIZER}');
-- The passages in chunks_fts and their tokens over all columns, as bm25() counts them, kept by every write
-- (FTS5 keeps its own in an undocumented record): what scoring the words left out of a query needs.
CREATE TABLE lexical_totals (passages INTEGER NOT NULL, tokens INTEGER NOT NULL);
INSERT INTO lexical_totals VALUES (0, 0);
"""


class ChunkStore:
    """Documents and chunks of one index generation."""

    def __init__(self, path: Path, *, readonly: bool = False, create: bool = False) -> None:
        self.path = path
        uri = f"file:{path}?mode={'ro' if readonly else 'rw'}{'c' if create else ''}"
        self.db = sqlite3.connect(uri, uri=True, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        if create:
            self.db.executescript(_SCHEMA)

    @classmethod
    def copy(cls, source: Path, target: Path) -> ChunkStore:
        """A writable, compacted copy of another generation's database (its free pages left behind)."""
        with contextlib.closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src:
            src.execute("VACUUM INTO ?", (str(target),))
        return cls(target)

    def close(self) -> None:
        self.db.close()

    def put(
        self, doc: Document, chunks: list[Chunk], rows: Iterable[int], speakers: dict[str, str] | None = None
    ) -> None:
        """Store a document and its chunks at rows; `speakers` gives, per speaker label, the words BM25
        finds that speaker by (rag.ingest.roles.speaker_fields; the label alone when missing)."""
        paragraphs = paragraphs_json(doc)
        self.db.execute(
            "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                doc.doc_id,
                doc.title,
                doc.date,
                doc.time,
                doc.place,
                doc.speaker,
                doc.text,
                paragraphs,
                doc.sha256,
                doc.source,
                doc.format,
                doc.language,
                doc.source_url,
            ),
        )
        indexed = []
        for row, c in zip(rows, chunks, strict=True):
            self.db.execute(
                "INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    row,
                    c.chunk_id,
                    c.doc_id,
                    c.speaker,
                    c.start,
                    c.end,
                    c.text,
                    c.context,
                    c.n_tokens,
                    int(c.is_question),
                    c.t_start,
                    c.t_end,
                ),
            )
            speaker = (speakers or {}).get(c.speaker or "", c.speaker or "")
            # Indexed as read (rag.text.visible): an invisible character must not split a word.
            fields = (
                visible(c.text),
                visible(c.context),
                speaker,
                doc.title,
                doc.place or "",
                date_words(doc.date),
            )
            indexed.append((row, *fields))
        marks = ",".join("?" * (len(COLUMNS) + 1))
        self.db.executemany(f"INSERT INTO chunks_fts(rowid, {', '.join(COLUMNS)}) VALUES ({marks})", indexed)
        self._add_totals(indexed, +1)

    def delete(self, doc_id: str) -> list[int]:
        """Remove a document and its chunks; returns the rows whose vectors must go too."""
        rows = [r[0] for r in self.db.execute("SELECT row FROM chunks WHERE doc_id = ?", (doc_id,))]
        self._add_totals(self._indexed(rows), -1)
        self.db.executemany("DELETE FROM chunks_fts WHERE rowid = ?", [(r,) for r in rows])
        self.db.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
        self.db.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))
        return rows

    def _indexed(self, rows: list[int]) -> list[tuple[Any, ...]]:
        """The rows' values in chunks_fts: (rowid, then a value per column of COLUMNS)."""
        marks = ",".join("?" * len(rows))
        sql = f"SELECT rowid, {', '.join(COLUMNS)} FROM chunks_fts WHERE rowid IN ({marks})"
        return [tuple(r) for r in self.db.execute(sql, rows)]

    def _add_totals(self, indexed: Sequence[Sequence[Any]], sign: int) -> None:
        """Count rows of chunks_fts (as _indexed gives them) in lexical_totals (sign 1), or out (-1)."""
        with _tokenised(indexed) as scratch:
            tokens = scratch.execute("SELECT COALESCE(SUM(cnt), 0) FROM r").fetchone()[0]
        sql = "UPDATE lexical_totals SET passages = passages + ?, tokens = tokens + ?"
        self.db.execute(sql, (sign * len(indexed), sign * tokens))

    def commit(self) -> None:
        """Commit, then compact when deletes have left over a quarter of the file's pages free."""
        self.db.commit()
        free = self.db.execute("PRAGMA freelist_count").fetchone()[0]
        if free > self.db.execute("PRAGMA page_count").fetchone()[0] / 4:
            self.db.execute("VACUUM")

    def next_row(self) -> int:
        return int(self.db.execute("SELECT COALESCE(MAX(row), -1) + 1 FROM chunks").fetchone()[0])

    def chunk_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    def matches(self, query: str, limit: int) -> int:
        """How many chunks match an FTS5 query, counted up to limit (counting costs a step per match)."""
        sql = "SELECT COUNT(*) FROM (SELECT 1 FROM chunks_fts WHERE chunks_fts MATCH ? LIMIT ?)"
        return int(self.db.execute(sql, (query, limit)).fetchone()[0])

    def bm25_statistics(self) -> tuple[int, float]:
        """(passages, mean tokens per passage over all columns), as FTS5's bm25() counts them."""
        rows, tokens = self.db.execute("SELECT passages, tokens FROM lexical_totals").fetchone()
        return rows, (tokens / rows if rows else 0.0)

    def term_frequencies(
        self, rows: list[int], words: list[str]
    ) -> tuple[dict[int, int], dict[str, dict[int, float]]]:
        """For rows: the length of each in tokens (all columns), and per word its frequency in each, as
        FTS5's bm25() counts it (an occurrence weighs its column's BM25_WEIGHTS).

        The rows are tokenised by FTS5 itself, in a scratch in-memory table with the index's tokenizer, so
        that words are stemmed and split exactly as in the index; a word of several tokens is left out.
        """
        weights = dict(zip(COLUMNS, BM25_WEIGHTS, strict=True))
        asked = [(-1 - i, w, *[""] * (len(COLUMNS) - 1)) for i, w in enumerate(words)]
        with _tokenised([*self._indexed(rows), *asked]) as scratch:
            tokens: dict[str, list[str]] = {}
            for doc, term in scratch.execute("SELECT doc, term FROM v WHERE doc < 0"):
                tokens.setdefault(words[-1 - doc], []).append(term)
            stems = {word: terms[0] for word, terms in tokens.items() if len(terms) == 1}
            lengths = dict(scratch.execute("SELECT doc, COUNT(*) FROM v WHERE doc >= 0 GROUP BY doc"))
            frequencies: dict[str, dict[int, float]] = {stem: {} for stem in stems.values()}
            marks = ",".join("?" * len(frequencies))
            for term, doc, column, n in scratch.execute(
                f"SELECT term, doc, col, COUNT(*) FROM v WHERE doc >= 0 AND term IN ({marks}) GROUP BY 1,2,3",
                list(frequencies),
            ):
                frequencies[term][doc] = frequencies[term].get(doc, 0.0) + weights[column] * n
        return lengths, {word: frequencies[stem] for word, stem in stems.items()}

    def chunk_counts(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT doc_id, COUNT(*) FROM chunks GROUP BY doc_id").fetchall())

    def documents(self) -> list[Document]:
        return [document_from(r) for r in self.db.execute("SELECT * FROM documents ORDER BY doc_id")]

    def document(self, doc_id: str) -> Document | None:
        row = self.db.execute("SELECT * FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        return document_from(row) if row else None

    def chunks(self, doc_id: str) -> list[Chunk]:
        return [
            chunk_from(r)
            for r in self.db.execute("SELECT * FROM chunks WHERE doc_id = ? ORDER BY start", (doc_id,))
        ]


def date_words(iso: str | None) -> str:
    """A date as BM25 indexes it: "2021-01-22" -> "2021 January 22", so "January 2021" finds it."""
    if not iso:
        return ""
    day = date.fromisoformat(iso)
    return f"{day.year} {day:%B} {day.day}"


def analysed(texts: Sequence[str]) -> list[str]:
    """Each text as the index's FTS5 tokenizer sees it: its tokens (lower-cased, diacritics removed, Porter
    stems) in order, joined by spaces. The Milvus store indexes and searches these, so that its BM25 splits
    and stems words exactly as the local store's does."""
    with contextlib.closing(sqlite3.connect(":memory:")) as scratch:
        scratch.execute(f"CREATE VIRTUAL TABLE t USING fts5(x, tokenize='{TOKENIZER}')")
        scratch.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, instance)")
        scratch.executemany("INSERT INTO t(rowid, x) VALUES (?,?)", enumerate(texts))
        tokens: list[list[str]] = [[] for _ in texts]
        for doc, term in scratch.execute("SELECT doc, term FROM v ORDER BY doc, offset"):
            tokens[doc].append(term)
    return [" ".join(t) for t in tokens]


def paragraphs_json(doc: Document) -> str:
    """A document's paragraphs as stored (both stores): [start, end, speaker, is_question, t_start, t_end],
    a machine transcript's paragraphs with their words' [second, probability] after them, and the whole
    as {"paragraphs": [...], "recording": {...}} for a recording (Document.recording)."""
    paragraphs = [
        [p.start, p.end, p.speaker, p.is_question, p.t_start, p.t_end, *([list(p.words)] if p.words else [])]
        for p in doc.paragraphs
    ]
    if doc.recording is None:
        return json.dumps(paragraphs)
    return json.dumps({"paragraphs": paragraphs, "recording": asdict(doc.recording)}, ensure_ascii=False)


def document_from(r: Mapping[str, Any]) -> Document:
    """A document from its stored fields (a row of `documents`, or the Milvus store's pieces joined)."""
    stored = json.loads(r["paragraphs"])
    recording = Recording(**stored["recording"]) if isinstance(stored, dict) else None
    paragraphs = tuple(
        Paragraph(s, e, sp, bool(q), t0, t1, tuple((w[0], w[1]) for w in (words[0] if words else ())))
        for s, e, sp, q, t0, t1, *words in (stored["paragraphs"] if recording else stored)
    )
    return Document(
        doc_id=r["doc_id"],
        title=r["title"],
        date=r["date"],
        time=r["time"],
        place=r["place"],
        speaker=r["speaker"],
        text=r["text"],
        paragraphs=paragraphs,
        sha256=r["sha256"],
        source=r["source"],
        format=r["format"],
        language=r["language"],
        source_url=r["source_url"],
        recording=recording,
    )


def chunk_from(r: Mapping[str, Any]) -> Chunk:
    """A passage from its stored fields (a row of `chunks`, or of the Milvus store's passages)."""
    return Chunk(
        chunk_id=r["chunk_id"],
        doc_id=r["doc_id"],
        speaker=r["speaker"],
        start=r["start"],
        end=r["end"],
        text=r["text"],
        n_tokens=r["n_tokens"],
        context=r["context"],
        is_question=bool(r["is_question"]),
        t_start=r["t_start"],
        t_end=r["t_end"],
    )


@contextlib.contextmanager
def _tokenised(rows: Sequence[Sequence[Any]]) -> Iterator[sqlite3.Connection]:
    """A scratch in-memory FTS5 table `t` with the index's columns and tokenizer holding rows (rowid, then
    a value per column), and its fts5vocab tables `v` (instance: every token) and `r` (row: per term, its
    rows and occurrences): how FTS5 itself splits and stems."""
    with contextlib.closing(sqlite3.connect(":memory:")) as scratch:
        columns = ", ".join(COLUMNS)
        scratch.execute(f"CREATE VIRTUAL TABLE t USING fts5({columns}, tokenize='{TOKENIZER}')")
        scratch.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, instance)")
        scratch.execute("CREATE VIRTUAL TABLE r USING fts5vocab(t, row)")
        marks = ",".join("?" * (len(COLUMNS) + 1))
        scratch.executemany(f"INSERT INTO t(rowid, {columns}) VALUES ({marks})", rows)
        yield scratch


class SpeakerFields:
    """Distinct speaker fields in an in-memory FTS5 table with the index's tokenizer, searched by BM25."""

    def __init__(self, fields: Sequence[str]) -> None:
        self.db = sqlite3.connect(":memory:", check_same_thread=False)
        self.db.execute(f"CREATE VIRTUAL TABLE speakers USING fts5(speaker, tokenize='{TOKENIZER}')")
        self.db.executemany("INSERT INTO speakers (speaker) VALUES (?)", [(f,) for f in fields])

    def close(self) -> None:
        self.db.close()

    def match(self, query: str) -> dict[str, float]:
        """Each field matching the FTS5 query, with its BM25 score (higher is better)."""
        return dict(
            self.db.execute("SELECT speaker, -bm25(speakers) FROM speakers WHERE speakers MATCH ?", (query,))
        )
