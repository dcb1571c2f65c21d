"""Lexical engines side by side: SQLite FTS5 (the local store's BM25) and tantivy, same fields and weights.

    .venv/bin/python -m bench.lexical_engines [--sizes 10000 100000] [--threads 1]

Needs `pip install tantivy` (not a dependency of the project). Each corpus is the passages of
bench/scale.py (3 to 7 real sentences of docs_raw, 1,000 to a document) written into a ChunkStore as
ingest writes one; tantivy indexes the very values of its FTS5 columns (text, context, speaker, title,
place, date), each a field with its own BM25 weight as a boost, stemmed by its English stemmer
("en_stem"). FTS5 is queried as the store serves (LocalPassages.bm25 within RAG_BM25_BUDGET), tantivy
with the question's content words OR-ed over every field.

Per size: seconds to index (FTS5: the whole put and commit, records included), p50/p95 milliseconds
of a top-10 query over the eval questions (eval/questions.jsonl and eval/wh), and how the tops agree:
`overlap`, the share of FTS5's top 10 passages in tantivy's, and `fts5@10`, the share of tantivy's top 10
that FTS5 scores at least as high as its own 10th (the repeated sentences of these corpora tie many
passages, so passages alone understate agreement). Then, on the seed corpus (docs_raw, ingested into
the eval cache as `rag eval` does), hit@1/5/10 of each engine's own ranking (no fusion) over the
answerable seed questions.
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import numpy as np
import tantivy

from bench import DOCS, ROOT, latencies
from bench.scale import PER_DOCUMENT, passages, sentences
from rag.config import Settings
from rag.embed import Embedder
from rag.evaluate import corpus_service, is_relevant, load_questions
from rag.index.dense import DenseIndex
from rag.index.lexical import BM25_WEIGHTS, COLUMNS, ChunkStore
from rag.index.local import LocalPassages, fts_query
from rag.text import content_words
from rag.types import Chunk, Document, Filters

K = 10


class Tantivy:
    """The FTS5 columns of a ChunkStore indexed by tantivy, one field each, searched with their weights."""

    def __init__(self, store: ChunkStore, directory: Path, threads: int) -> None:
        schema = tantivy.SchemaBuilder()
        schema.add_integer_field("row", stored=True, indexed=True)
        for column in COLUMNS:
            schema.add_text_field(column, tokenizer_name="en_stem")
        self.index = tantivy.Index(schema.build(), path=str(directory))
        writer = self.index.writer(heap_size=256 * 2**20, num_threads=threads)
        for row, *values in store.db.execute(f"SELECT rowid, {', '.join(COLUMNS)} FROM chunks_fts"):
            writer.add_document(tantivy.Document(row=row, **dict(zip(COLUMNS, values, strict=True))))
        writer.commit()
        writer.wait_merging_threads()
        self.index.reload()
        self.searcher = self.index.searcher()
        self.boosts = dict(zip(COLUMNS, BM25_WEIGHTS, strict=True))

    def search(self, question: str, k: int) -> list[int]:
        words = content_words(question)
        if not words:
            return []
        query = self.index.parse_query(" ".join(words), list(COLUMNS), field_boosts=self.boosts)
        found = self.searcher.search(query, k).hits
        return [self.searcher.doc(address)["row"][0] for _, address in found]


def scale_store(path: Path, size: int) -> tuple[ChunkStore, float]:
    """A ChunkStore of `size` passages of bench/scale.py's kind, and the seconds writing it took."""
    pool = sentences()
    texts = [" ".join(pool[i] for i in p) for p in passages(size, len(pool))]
    started = time.perf_counter()
    store = ChunkStore(path, create=True)
    for first in range(0, size, PER_DOCUMENT):
        doc_id = f"scale_{first // PER_DOCUMENT:05d}"
        body = texts[first : first + PER_DOCUMENT]
        chunks, offset = [], 0
        for text in body:
            chunks.append(
                Chunk(f"{doc_id}:{offset}", doc_id, "Sergey Lavrov", offset, offset + len(text), text, 0)
            )
            offset += len(text) + 2
        doc = Document(
            doc_id, f"Scale document {doc_id}", "2020-01-01", None, "Moscow", "Sergey Lavrov",
            "\n\n".join(body), (), doc_id, "upload",
        )  # fmt: skip
        store.put(doc, chunks, range(first, first + len(body)))
    store.commit()
    return store, time.perf_counter() - started


def agreement(fts5: LocalPassages, engine: Tantivy, questions: list[str]) -> tuple[float, float]:
    """(overlap, fts5@10) over the questions, as the module's docstring says."""
    overlaps, scored = [], []
    for question in questions:
        ours = fts5.bm25(question, K, Filters())
        theirs = engine.search(question, K)
        if not ours:
            continue
        overlaps.append(len({row for row, _ in ours} & set(theirs)) / len(ours))
        bar = ours[-1][1]  # FTS5 scores are negative: lower is better
        marks = ",".join("?" * len(theirs))
        weights = ", ".join(map(str, BM25_WEIGHTS))
        sql = f"SELECT bm25(chunks_fts, {weights}) FROM chunks_fts WHERE chunks_fts MATCH ? AND rowid IN "
        scores = fts5.chunk_store.db.execute(f"{sql}({marks})", [fts_query(content_words(question)), *theirs])
        scored.append(sum(s <= bar + 1e-9 * abs(bar) for (s,) in scores) / len(ours))
    return float(np.mean(overlaps)), float(np.mean(scored))


def timed(call: Callable[[str], object], questions: list[str]) -> str:
    call(questions[0])
    ms = latencies(call, questions)
    return f"{np.percentile(ms, 50):>7.2f}/{np.percentile(ms, 95):<7.2f}"


def seed_hits(threads: int, tmp: Path) -> None:
    """hit@1/5/10 of each engine's own ranking over the answerable seed questions."""
    settings = Settings()
    service = corpus_service(DOCS, settings, Embedder.from_settings(settings))
    fts5 = service.retriever.store
    engine = Tantivy(fts5.chunk_store, tmp, threads)
    questions = [q for q in load_questions(ROOT / "eval" / "questions.jsonl") if q.answerable]
    texts = dict(fts5.chunk_store.db.execute("SELECT row, text FROM chunks"))
    for name, ranked in (
        ("fts5", lambda q: [row for row, _ in fts5.bm25(q, K, Filters())]),
        ("tantivy", lambda q: engine.search(q, K)),
    ):
        firsts = []
        for q in questions:
            rows = ranked(q.question)
            firsts.append(
                next((i for i, r in enumerate(rows) if is_relevant(texts[r], q.relevant_passages)), K)
            )
        hits = "  ".join(f"hit@{k} {np.mean([f < k for f in firsts]):.3f}" for k in (1, 5, 10))
        print(f"seed ({len(questions)} answerable questions, {len(texts)} passages) {name:<8} {hits}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--threads", type=int, default=1, help="tantivy's indexing threads")
    args = parser.parse_args()
    questions = [
        q.question
        for name in ("questions.jsonl", "wh/questions.jsonl")
        for q in load_questions(ROOT / "eval" / name)
    ]
    budget = Settings().bm25_budget
    print(
        f"{len(questions)} questions; top {K}; FTS5 budget {budget}; tantivy {version('tantivy')}"
        f" with {args.threads} indexing thread(s); milliseconds p50/p95"
    )
    print(f"{'passages':>9}{'fts5 index s':>13}{'tantivy index s':>16}{'fts5 query':>16}{'tantivy query':>16}"
          f"{'overlap':>8}{'fts5@10':>8}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            store, fts5_seconds = scale_store(Path(tmp) / f"{size}.sqlite", size)
            fts5 = LocalPassages(store, DenseIndex.empty(1), budget)
            started = time.perf_counter()
            (folder := Path(tmp) / f"tantivy-{size}").mkdir()
            engine = Tantivy(store, folder, args.threads)
            tantivy_seconds = time.perf_counter() - started
            overlap, scored = agreement(fts5, engine, questions)
            fts5._matches.cache_clear()  # its counts of words, as on a fresh server
            fts5_ms = timed(functools.partial(fts5.bm25, depth=K, filters=Filters()), questions)
            tantivy_ms = timed(functools.partial(engine.search, k=K), questions)
            print(f"{size:>9}{fts5_seconds:>13.1f}{tantivy_seconds:>16.1f}{fts5_ms:>16}{tantivy_ms:>16}"
                  f"{overlap:>8.3f}{scored:>8.3f}", flush=True)  # fmt: skip
            store.close()
        (folder := Path(tmp) / "tantivy-seed").mkdir()
        seed_hits(args.threads, folder)


if __name__ == "__main__":
    main()
