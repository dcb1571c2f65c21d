"""Index scale: build time, size on disk, serving memory, search latency and ANN recall by corpus size.

    .venv/bin/python -m bench.scale [--sizes 10000 100000 1000000] [--real-up-to 10000] [--keep DIR]
    .venv/bin/python -m bench.scale --probe DIR/1000000   # probe a kept index again, after a change

Passages are real text: 3 to 7 sentences drawn at random from the cleaned docs_raw transcripts, 1,000
passages to a document. Up to --real-up-to passages, their vectors are real embeddings of that text
(backend of the settings). Beyond it they are synthetic, because embedding a million passages takes
hours here: the normalised mean of the real embeddings of the passage's sentences, so that vectors
keep the structure of real ones and agree with the text that BM25 searches.

Each index is written as a generation exactly as ingest writes one (SQLite + FTS5, FAISS by size,
manifest) and then served by a fresh process that loads it as `rag serve` does; that process reports
its resident memory and times `search` (k=10, query embedding included) over the eval questions in
each mode, then measures recall@10 of the dense index against exact search for those questions, and
how much of BM25's top 10 within its budget (RAG_BM25_BUDGET) scores as high as BM25 over every match.
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from bench import DOCS, ROOT, latencies
from rag.config import Settings
from rag.embed import Embedder
from rag.evaluate import load_questions
from rag.index.base import MAX_SENTENCES
from rag.index.dense import DenseIndex
from rag.index.lexical import ChunkStore
from rag.index.local import LocalPassages
from rag.index.store import DATABASE, DENSE, SENTENCES, Manifest, new_staging, publish
from rag.ingest.clean import sentence_spans
from rag.ingest.parse import parse_document, read_transcript
from rag.retrieve import MODES
from rag.service import Service
from rag.types import Chunk, Document, Filters

PER_DOCUMENT = 1000


def sentences() -> list[str]:
    """Every distinct sentence of the cleaned seed transcripts."""
    seen: dict[str, None] = {}
    for path in sorted(DOCS.glob("*.txt")):
        text, sha256 = read_transcript(path)
        doc = parse_document(path.stem, text, sha256, str(path))
        for p in doc.paragraphs:
            for start, end in sentence_spans(doc.text, p.start, p.end):
                if len(sentence := doc.text[start:end]) > 20:
                    seen[sentence] = None
    return list(seen)


def passages(n: int, pool: int, seed: int = 0) -> list[list[int]]:
    """n passages, each the indices of 3 to 7 sentences of the pool."""
    rng = random.Random(seed)
    return [rng.sample(range(pool), rng.randint(3, 7)) for _ in range(n)]


def synthetic_vectors(picks: list[list[int]], sentence_vectors: np.ndarray) -> np.ndarray:
    out = np.empty((len(picks), sentence_vectors.shape[1]), dtype=np.float32)
    for begin in range(0, len(picks), 50_000):
        batch = picks[begin : begin + 50_000]
        flat = np.fromiter((i for p in batch for i in p), dtype=np.int64)
        offsets = np.cumsum([0] + [len(p) for p in batch[:-1]])
        out[begin : begin + len(batch)] = np.add.reduceat(sentence_vectors[flat], offsets)
    faiss.normalize_L2(out)
    return out


def build(
    index_dir: Path,
    texts: list[str],
    vectors: np.ndarray,
    service: Service,
    picks: list[list[int]],
    sentence_vectors: np.ndarray,
) -> float:
    """Write one generation of the given passages and vectors, as ingest does (the sentence vectors of
    each passage are the real embeddings of the pool sentences it is made of); returns seconds."""
    started = time.perf_counter()
    staging = new_staging(index_dir)
    store = ChunkStore(staging / DATABASE, create=True)
    documents = {}
    for first in range(0, len(texts), PER_DOCUMENT):
        doc_id = f"scale_{first // PER_DOCUMENT:05d}"
        body = texts[first : first + PER_DOCUMENT]
        chunks, offset = [], 0
        for text in body:
            end = offset + len(text)
            chunks.append(
                Chunk(
                    chunk_id=f"{doc_id}:{offset}-{end}",
                    doc_id=doc_id,
                    speaker="Sergey Lavrov",
                    start=offset,
                    end=end,
                    text=text,
                    n_tokens=len(text.split()),
                )
            )
            offset += len(text) + 2
        doc = Document(
            doc_id=doc_id,
            title=f"Scale document {doc_id}",
            date="2020-01-01",
            time=None,
            place="Moscow",
            speaker="Sergey Lavrov",
            text="\n\n".join(body),
            paragraphs=(),
            sha256=doc_id,
            source="upload",
        )
        store.put(doc, chunks, range(first, first + len(body)))
        documents[doc_id] = {"sha256": doc_id, "chunks": len(body), "source": "upload"}
    store.commit()
    store.close()
    dense = DenseIndex.empty(vectors.shape[1])
    dense.add(vectors, np.arange(len(texts)))
    dense.fit(service.settings.ann_threshold)
    dense.save(staging / DENSE)
    sentences_index = DenseIndex.empty(vectors.shape[1], "sq8")
    for begin in range(0, len(picks), 50_000):
        batch = picks[begin : begin + 50_000]
        ids = [(begin + r) * MAX_SENTENCES + j for r, p in enumerate(batch) for j in range(len(p))]
        flat = np.fromiter((i for p in batch for i in p), dtype=np.int64)
        sentences_index.add(sentence_vectors[flat], np.array(ids))
    sentences_index.fit(service.settings.ann_threshold)
    sentences_index.save(staging / SENTENCES)
    signature = service.signature
    Manifest(
        model=signature["model"],
        backend=signature["backend"],
        quantisation=signature["quantisation"],
        prompts=signature["prompts"],
        dimension=dense.dimension,
        model_max_tokens=service.embedder.max_tokens,
        chunking=signature["chunking"],
        dense=dense.params,
        sentences=sentences_index.params,
        documents=documents,
        chunks=len(dense),
    ).save(staging)
    publish(index_dir, staging)
    return time.perf_counter() - started


def probe(index_dir: Path) -> None:
    """In a fresh process: load the index as the server does, report memory, latency and recall.

    One untimed pass first pages the memory-mapped index in, as on a server that has been running.
    Latency is then measured twice per mode, BM25's cache of word counts emptied each time so that no
    mode gains from another's pass: "cold", the timed questions straight after; and "warm", after the
    other eval set's questions (eval/wh) have been asked untimed, as on a server that has answered other
    questions before: the counts of words common to both are cached, those of the timed ones' own are not.
    """
    questions = [q.question for q in load_questions(ROOT / "eval" / "questions.jsonl")]
    others = [q.question for q in load_questions(ROOT / "eval" / "wh" / "questions.jsonl")]
    service = Service(Settings(index_dir=index_dir))
    for q in questions:
        service.search(q, k=10, mode="hybrid")
    latency = {}
    for warm in (False, True):
        for mode in MODES:
            service.retriever.store._matches.cache_clear()
            for q in others if warm else []:
                service.search(q, k=10, mode=mode)
            ms = latencies(functools.partial(service.search, k=10, mode=mode), questions)
            latency[f"{mode} {'warm' if warm else 'cold'}"] = (
                float(np.percentile(ms, 50)),
                float(np.percentile(ms, 99)),
            )
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    memory = {key: int(status[key].split()[0]) / 1024 for key in ("VmRSS", "RssAnon", "RssFile", "VmHWM")}
    store = service.retriever.store
    queries = service.embedder.encode(questions)
    found = [store.dense_index.search(q, 10, None)[0] for q in queries]
    vectors, rows = store.dense_index.contents()
    _, exact = faiss.knn(queries, vectors, 10, metric=faiss.METRIC_INNER_PRODUCT)
    recall = np.mean([len(set(f) & set(rows[e])) / 10 for f, e in zip(found, exact, strict=True)])
    unbounded = LocalPassages(store.chunk_store, store.dense_index, bm25_budget=len(store))
    agreement = np.mean([_bm25_agreement(store, unbounded, q) for q in questions])
    print(
        json.dumps(
            {
                "latency": latency,
                "memory": memory,
                "recall": float(recall),
                "bm25_agreement": float(agreement),
                "index": store.dense_index.params,
            }
        )
    )


def _bm25_agreement(budgeted: LocalPassages, unbounded: LocalPassages, question: str) -> float:
    """The share of BM25's top 10 within its budget that score, over every word, at least as high as the
    10th of the top 10 over every match. Scores, not passages: the repeated sentences of these corpora
    make many passages tie, and which of them come first is arbitrary."""
    best = unbounded.bm25(question, 10, Filters())
    if not best:
        return 1.0
    bar = best[-1][1]  # FTS5 scores are negative: lower is better
    found = budgeted.bm25(question, 10, Filters())
    return sum(score <= bar + 1e-9 * abs(bar) for _, score in found) / len(best)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--real-up-to", type=int, default=10_000, help="larger sizes get synthetic vectors")
    parser.add_argument("--keep", type=Path, help="keep each index built under this folder")
    parser.add_argument("--probe", type=Path, help="only probe an index kept by --keep (its folder)")
    args = parser.parse_args()
    if args.probe:
        probe(args.probe)
        return
    settings = Settings()
    embedder = Embedder.from_settings(settings)
    pool = sentences()
    sentence_vectors = embedder.encode(pool)
    print(
        f"{len(pool)} distinct sentences from docs_raw; backend {settings.backend}; "
        f"exact search below {settings.ann_threshold} passages; search k=10, milliseconds, p50/p99"
    )
    head = (
        f"{'passages':>9} {'vectors':<9}{'embed s':>8}{'build s':>8}{'disk MB':>8}{'RSS MB':>7}{'anon MB':>8}"
    )
    modes = [f"{m} {w}" for w in ("cold", "warm") for m in MODES]
    print(head + "".join(f"{m + ' p50/p99':>21}" for m in modes) + f"{'recall@10':>10}{'bm25@10':>8}  index")
    for size in args.sizes:
        picks = passages(size, len(pool))
        texts = [" ".join(pool[i] for i in p) for p in picks]
        started = time.perf_counter()
        if size <= args.real_up_to:
            kind, vectors = "real", embedder.encode(texts)
        else:
            kind, vectors = "synthetic", synthetic_vectors(picks, sentence_vectors)
        embed_seconds = time.perf_counter() - started
        with tempfile.TemporaryDirectory() as tmp:
            index_dir = args.keep / str(size) if args.keep else Path(tmp)
            index_dir.mkdir(parents=True, exist_ok=True)
            seconds = build(index_dir, texts, vectors, Service(settings, embedder), picks, sentence_vectors)
            del texts, vectors
            disk = sum(f.stat().st_size for f in index_dir.rglob("*") if f.is_file()) / 2**20
            probed = subprocess.run(
                [sys.executable, "-m", "bench.scale", "--probe", str(index_dir)],
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            if probed.returncode:
                raise SystemExit(f"the probe of {size} passages failed:\n{probed.stderr}")
            result = json.loads(probed.stdout.strip().splitlines()[-1])
        latency = "".join(f"{p50:>14.1f}/{p99:<6.1f}" for p50, p99 in result["latency"].values())
        memory = result["memory"]
        index = result["index"]
        described = index["type"] + (
            f" nlist={index['nlist']} nprobe={index['nprobe']}" if "nlist" in index else ""
        )
        print(
            f"{size:>9} {kind:<9}{embed_seconds:>8.1f}{seconds:>8.1f}{disk:>8.0f}{memory['VmRSS']:>7.0f}"
            f"{memory['RssAnon']:>8.0f}{latency}{result['recall']:>10.3f}{result['bm25_agreement']:>8.3f}"
            f"  {described}",
            flush=True,
        )


if __name__ == "__main__":
    main()
