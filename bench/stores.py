"""The local store and Milvus Lite side by side on the same corpus: ingest, search latency, size on disk,
and the per-passage figures the README's capacity table is built from.

    .venv/bin/python -m bench.stores [--docs DIR] [--copies N]

The corpus is DIR's transcripts (default docs_raw/), each copied N times under other names (default 4) so
that there is something to measure. Per passage: the embedding's CPU-seconds (process CPU time, all
threads, divided by passages), vector bytes (dimension x 4), text bytes (UTF-8 of text and question).
Search: k = 10, hybrid, over the eval questions, query embedding included, after one untimed pass.
Milvus Lite stands in for Milvus to check correctness; its speed says nothing of a Milvus cluster's.
"""

from __future__ import annotations

import argparse
import functools
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import DOCS, ROOT, latencies
from rag.config import Settings
from rag.embed import Embedder
from rag.evaluate import load_questions
from rag.service import Service


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=Path, default=DOCS)
    parser.add_argument("--copies", type=int, default=4)
    args = parser.parse_args()
    questions = [q.question for q in load_questions(ROOT / "eval" / "questions.jsonl")]
    with tempfile.TemporaryDirectory() as scratch:
        corpus = Path(scratch) / "docs"
        corpus.mkdir()
        for i in range(args.copies):
            for path in sorted(args.docs.glob("*.txt")):
                shutil.copy(path, corpus / f"c{i}_{path.name}")
        embedder = Embedder.from_settings(Settings())
        probe = Service(Settings(index_dir=Path(scratch) / "probe", docs_dir=corpus), embedder)
        docs = [probe.prepare_upload(p.stem, p.read_bytes(), replace=True) for p in sorted(corpus.iterdir())]
        chunks = [c for doc in docs for c in probe.chunk(doc)]
        embedder.encode([chunks[0].embedding_input])  # the model loads outside the measure
        cpu = time.process_time()
        vectors = embedder.encode([c.embedding_input for c in chunks])
        cpu = time.process_time() - cpu
        text_bytes = np.mean([len((c.text + c.context).encode()) for c in chunks])
        print(
            f"{len(docs)} documents, {len(chunks)} passages; backend {embedder.backend}; per passage: "
            f"embedding {cpu / len(chunks) * 1000:.1f} CPU-ms, vector {vectors.shape[1] * 4} bytes, "
            f"text {text_bytes:.0f} bytes (UTF-8, passage + question)"
        )
        print("| store | ingest s | disk MB | bytes/passage | hybrid p50 ms | p99 | dense p50 | bm25 p50 |")
        print("|---|---|---|---|---|---|---|---|")
        for store in ("local", "milvus"):
            base = Path(scratch) / store
            settings = Settings(
                index_dir=base / "index", docs_dir=corpus, store=store, milvus_uri=str(base / "milvus.db")
            )
            service = Service(settings, embedder)
            started = time.perf_counter()
            report = service.ingest()
            ingest = time.perf_counter() - started
            latency: dict[str, float] = {}
            for mode in ("hybrid", "dense", "bm25"):
                for q in questions:  # warm
                    service.search(q, k=10, mode=mode)
                ms = latencies(functools.partial(service.search, k=10, mode=mode), questions)
                latency[mode] = float(np.percentile(ms, 50))
                latency[mode + "99"] = float(np.percentile(ms, 99))
            disk = _size(base)
            print(
                f"| {store} | {ingest:.1f} | {disk / 2**20:.1f} | {disk / report.chunks:.0f} | "
                f"{latency['hybrid']:.1f} | {latency['hybrid99']:.1f} | {latency['dense']:.1f} | "
                f"{latency['bm25']:.1f} |"
            )


if __name__ == "__main__":
    main()
