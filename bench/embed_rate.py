"""How many bytes of transcript this machine indexes in a minute: the basis of RAG_MAX_UPLOAD_BYTES.

    .venv/bin/python -m bench.embed_rate [--bytes 150000] [--backend onnx-int8]

Uploads a transcript of about --bytes characters (distinct sentences from docs_raw) into a fresh index
with the model already loaded, as `POST /documents` would, and prints the rate and what it gives for a
minute of work. An upload larger than that ties the writer up for longer than a minute.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from bench import DOCS
from rag.config import Settings
from rag.embed import BACKENDS
from rag.service import Service


def transcript(size: int) -> bytes:
    words = " ".join(p.read_text() for p in sorted(DOCS.glob("*.txt"))).split()
    rng = random.Random(0)
    paragraphs = ["Briefing on many matters, Moscow, May 5, 2021"]
    while sum(map(len, paragraphs)) < size:
        paragraphs.append(f"Sergey Lavrov: {' '.join(rng.choice(words) for _ in range(30))}.")
    return "\n\n".join(paragraphs).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bytes", type=int, default=150_000, help="size of the uploaded transcript")
    parser.add_argument("--backend", choices=("auto", *BACKENDS), default=Settings().backend)
    args = parser.parse_args()
    raw = transcript(args.bytes)
    with tempfile.TemporaryDirectory() as tmp:
        service = Service(Settings(index_dir=Path(tmp) / "index", backend=args.backend))
        service.embedder.encode(["warm up"])  # the model load is not part of an upload
        started = time.perf_counter()
        service.upload("bench", raw)
        seconds = time.perf_counter() - started
        chunks = service.chunk_counts()["bench"]
        backend = service.embedder.backend
    per_minute = len(raw) / seconds * 60
    print(f"backend {backend}: {len(raw):,} bytes, {chunks} passages indexed in {seconds:.1f} s")
    print(f"{len(raw) / seconds:,.0f} bytes/s, {chunks / seconds:.1f} passages/s")
    print(f"one minute of indexing: {per_minute:,.0f} bytes (RAG_MAX_UPLOAD_BYTES)")


if __name__ == "__main__":
    main()
