"""Ingestion throughput of each embedding backend, side by side, and their parity with PyTorch.

    .venv/bin/python -m bench.ingest [--copies 20] [--backends torch onnx onnx-int8 onnx-int8:avx2]

`onnx-int8` uses the int8 config this CPU would get (avx512_vnni, avx512, avx2 or arm64); `onnx-int8:CFG`
forces one, so the AVX2 config's speed can be set against float32 on any x86 machine. The line before the
table says which backend `auto` picks here.

For each backend, builds a fresh index of docs_raw repeated under distinct doc ids (2,260 chunks with
the default 20 copies) with the model already loaded, so the figures measure parsing, chunking,
embedding and writing, not the one-off model load or ONNX export. Then compares each backend's
embeddings of the seed chunks with PyTorch's: the minimum and mean cosine similarity.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from bench import DOCS, repeated_corpus
from rag.config import Settings
from rag.embed import BACKENDS, QUANTISATIONS, Cpu, Embedder, choose_backend
from rag.service import Service
from rag.types import Chunk


def chunks(service: Service) -> list[Chunk]:
    return [c for d in service.documents() for c in service.retriever.store.chunks(d.doc_id)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=20, help="repeats of docs_raw in the corpus")
    variants = [*reversed(BACKENDS), *(f"onnx-int8:{q}" for q in QUANTISATIONS)]
    default = [*reversed(BACKENDS), "onnx-int8:avx2"]
    parser.add_argument("--backends", nargs="+", choices=variants, default=default)
    args = parser.parse_args()
    settings = Settings()
    cpu = Cpu.detect()
    auto = choose_backend("auto", cpu)
    print(f"{cpu.describe()}: auto -> {auto.backend} {auto.quantisation or ''} ({auto.reason})")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        corpus = repeated_corpus(work / "corpus", args.copies)
        seed = Service(Settings(index_dir=work / "seed", docs_dir=DOCS))
        seed.ingest()
        seed_inputs = [c.embedding_input for c in chunks(seed)]
        print(f"docs_raw x{args.copies}; {settings.batch_size} per batch; torch threads = cores")
        print(
            f"{'backend':<23}{'chunks':>8}{'tokens':>9}{'seconds':>9}{'chunks/s':>10}{'tokens/s':>10}"
            f"{'vs torch':>10}{'min cos':>9}{'mean cos':>10}"
        )
        reference: np.ndarray | None = None
        torch_rate = None
        for variant in args.backends:
            backend, _, config = variant.partition(":")
            embedder = Embedder(
                settings.model, settings.batch_size, backend, settings.cache_dir, quantisation=config or None
            )
            vectors = embedder.encode(seed_inputs)  # loads (and on first use exports) the model
            name = f"{backend} {embedder.quantisation or ''}".strip()
            service = Service(Settings(index_dir=work / variant, docs_dir=corpus, backend=backend), embedder)
            report = service.ingest()
            tokens = sum(c.n_tokens for c in chunks(service))
            rate = report.chunks / report.seconds
            if backend == "torch":
                reference, torch_rate = vectors, rate
            speedup = f"{rate / torch_rate:>9.2f}x" if torch_rate else f"{'':>10}"
            cosines = np.sum(vectors * reference, axis=1) if reference is not None else None
            parity = f"{cosines.min():>9.4f}{cosines.mean():>10.4f}" if cosines is not None else ""
            print(
                f"{name:<23}{report.chunks:>8}{tokens:>9}{report.seconds:>9.1f}{rate:>10.1f}"
                f"{tokens / report.seconds:>10.0f}{speedup}{parity}"
            )
        print(f"parity over the {len(seed_inputs)} seed chunks")


if __name__ == "__main__":
    main()
