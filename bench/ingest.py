"""Ingestion throughput: chunks and tokens per second on docs_raw and on a larger repeated corpus.

    .venv/bin/python -m bench.ingest [--copies 20]

The larger corpus repeats docs_raw under distinct doc ids (at least 2,000 chunks by default). Each run
builds a fresh index in a temporary directory with the model already loaded, so the figures measure
parsing, chunking, embedding and writing, not the one-off model load.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from rag.config import Settings
from rag.embed import Embedder
from rag.service import Service

ROOT = Path(__file__).resolve().parent.parent


def measure(docs: Path, embedder: Embedder, work: Path) -> tuple[int, int, float]:
    service = Service(Settings(index_dir=work / "index", docs_dir=docs), embedder)
    started = time.perf_counter()
    report = service.ingest()
    seconds = time.perf_counter() - started
    tokens = sum(c.n_tokens for d in service.documents() for c in service.retriever.store.chunks(d.doc_id))
    return report.chunks, tokens, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=20, help="repeats of docs_raw in the large corpus")
    args = parser.parse_args()
    embedder = Embedder(Settings().model, Settings().batch_size)
    embedder.encode(["warm up"])
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        large = work / "large"
        large.mkdir()
        for i in range(args.copies):
            for path in (ROOT / "docs_raw").glob("*.txt"):
                shutil.copy(path, large / f"r{i:03d}_{path.name}")
        print(f"{'corpus':<22}{'chunks':>8}{'tokens':>9}{'seconds':>9}{'chunks/s':>10}{'tokens/s':>10}")
        for name, docs in (("docs_raw", ROOT / "docs_raw"), (f"docs_raw x{args.copies}", large)):
            run = work / name.replace(" ", "_")
            chunks, tokens, seconds = measure(docs, embedder, run)
            rates = f"{chunks / seconds:>10.1f}{tokens / seconds:>10.0f}"
            print(f"{name:<22}{chunks:>8}{tokens:>9}{seconds:>9.1f}{rates}")


if __name__ == "__main__":
    main()
