"""What else speeds up the ONNX models on a CPU: graph optimisation level, threads, length bucketing.

    .venv/bin/python -m bench.onnx_options [--texts 320]

Runs the exported float32 model and the int8 model of each requested config through ONNX Runtime directly
(the same files the embedder loads), on seed passages tokenised as the embedder does, and prints texts/s
for each setting. Sorted batches are what the embedder does (longest first, so each batch pads to similar
lengths); unsorted is the naive order.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from bench import DOCS
from rag.config import Settings
from rag.embed import Embedder, onnx_export
from rag.service import Service

LEVELS = {
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


def rate(model: Path, batches: list[dict[str, np.ndarray]], level: str, threads: int) -> float:
    options = ort.SessionOptions()
    options.graph_optimization_level = LEVELS[level]
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    session.run(None, {k: v for k, v in batches[0].items() if k in names})  # warm-up
    started = time.perf_counter()
    for batch in batches:
        session.run(None, {k: v for k, v in batch.items() if k in names})
    return sum(len(b["input_ids"]) for b in batches) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=320, help="seed passages to encode (repeated)")
    parser.add_argument("--configs", nargs="+", default=["avx2", "avx512_vnni"])
    args = parser.parse_args()
    settings = Settings()
    with tempfile.TemporaryDirectory() as tmp:
        seed = Service(Settings(index_dir=Path(tmp) / "index", docs_dir=DOCS))
        seed.ingest()
        texts = [text for _, text in seed.retriever.all_chunks()]
    texts = (texts * (args.texts // len(texts) + 1))[: args.texts]
    tokenizer = Embedder(settings.model, 32, "onnx", settings.cache_dir).model.tokenizer

    def batches(order: list[str]) -> list[dict[str, np.ndarray]]:
        return [
            dict(tokenizer(order[i : i + 32], padding=True, truncation=True, return_tensors="np"))
            for i in range(0, len(order), 32)
        ]

    sorted_batches = batches(sorted(texts, key=len, reverse=True))
    shuffled = list(texts)
    np.random.default_rng(0).shuffle(shuffled)
    models = {"float32": onnx_export(settings.model, None, settings.cache_dir)}
    models |= {f"int8 {q}": onnx_export(settings.model, q, settings.cache_dir) for q in args.configs}
    cores = os.cpu_count() or 1
    print(f"{len(texts)} seed passages, batches of 32, {cores} cores; texts/s")
    print(f"{'model':<18}{'level':<10}{'threads':>8}{'sorted':>9}{'unsorted':>10}")
    for name, path in models.items():
        for level in LEVELS:
            for threads in sorted({1, cores}):
                fast = rate(path, sorted_batches, level, threads)
                slow = rate(path, batches(shuffled), level, threads) if level == "all" else float("nan")
                print(f"{name:<18}{level:<10}{threads:>8}{fast:>9.1f}{slow:>10.1f}")


if __name__ == "__main__":
    main()
