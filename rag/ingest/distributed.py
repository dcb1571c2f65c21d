"""`rag ingest --ray [ADDRESS]`: chunking and embedding as Ray Data stages, on a Ray cluster (extra [scale]).

    documents -> chunk (actor pool: each actor holds the model's tokenizer; sentences too, where the
                 store keeps sentence vectors)
              -> sort by input length (each embedding batch pads to similar lengths)
              -> embed (actor pool: each actor holds the embedder, one per CPU)
              -> back to the driver, which writes each document to the store as soon as all its
                 passages are embedded (the store writes in batches; nothing is visible until the end)

Files are read, checked against the index (sha256) and parsed on the driver: a file that fails to parse
must keep its previous version, which is decided before anything is written. The workers run the
embedder with the backend (and int8 config) the driver chose, so their vectors are the driver's. Every
worker needs this package installed and the model available offline, as the driver does.
"""

from __future__ import annotations

import logging
import os
import pickle  # between this driver and its own workers
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.config import Settings
from rag.errors import RagError
from rag.index.base import Embedded
from rag.ingest.indexer import Progress, chunking, split
from rag.types import Document

if TYPE_CHECKING:
    from rag.embed import Embedder

_CHUNK_BATCH = 8  # documents per chunking call


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RagError("`rag ingest --ray` needs Ray: pip install 'transcript-rag[scale]'") from None
    return ray


class _Worker:
    """What a stage's actor holds: the embedder, built as the driver's runs (model, backend, int8)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        from rag.embed import Embedder

        self.embedder = Embedder(
            spec["model"],
            spec["batch_size"],
            spec["backend"],
            spec["cache_dir"],
            quantisation=spec["quantisation"],
        )
        self.chunking = spec["chunking"]
        self.sentences = spec["sentences"]


class Chunker(_Worker):
    """Stage 1: documents -> one row per passage (a document without passages gives one empty row).

    Documents and passages travel pickled: Arrow has no type for them."""

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[Any]]:
        keys = ("doc_id", "i", "of", "chunk", "input", "spans", "length")
        rows: dict[str, list[Any]] = {key: [] for key in keys}
        for pickled in batch["doc"]:
            doc: Document = pickle.loads(pickled)
            pairs = split(doc, self.embedder, self.chunking)
            for i, (chunk, spans) in enumerate(pairs or [(None, [])]):
                text = chunk.embedding_input if chunk else ""
                row = (doc.doc_id, i, len(pairs), pickle.dumps(chunk), text, pickle.dumps(spans), len(text))
                for key, value in zip(rows, row, strict=True):
                    rows[key].append(value)
        return rows


class Encoder(_Worker):
    """Stage 2: passages -> their normalised vectors (and their sentences', where the store keeps them,
    from the same pass of the model)."""

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        spans = [pickle.loads(s) for s in batch["spans"]] if self.sentences else None
        vectors, said = self.embedder.encode_passages([str(t) for t in batch["input"]], spans)
        sentences = [pickle.dumps(s) for s in said] if said else [pickle.dumps(None)] * len(vectors)
        return {**batch, "vector": vectors, "sentence_vectors": sentences}


def embed_on_ray(
    docs: list[Document],
    embedder: Embedder,
    settings: Settings,
    sentences: bool,
    address: str,
    progress: Progress | None,
) -> Iterator[Embedded]:
    """Each document with its passages and vectors, in the order their embedding completes.

    Args:
        embedder: the driver's, whose model, backend and int8 config every worker builds its own with.
        sentences: whether the store keeps sentence vectors (then each passage's are embedded too).
        address: a Ray cluster's address (`ray start --head` prints it), or "" for a local cluster.
    """
    if not docs:
        return
    ray = _ray()
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(
            address=address or None,
            num_cpus=None if address else settings.ray_cpus,
            include_dashboard=False,
            logging_level=logging.ERROR,
            log_to_driver=False,
            configure_logging=False,
        )
    try:
        yield from _pipeline(ray, docs, embedder, settings, sentences, progress)
    finally:
        if started_here:
            ray.shutdown()


def _pipeline(
    ray: Any,
    docs: list[Document],
    embedder: Embedder,
    settings: Settings,
    sentences: bool,
    progress: Progress | None,
) -> Iterator[Embedded]:
    from ray.data import ActorPoolStrategy, DataContext

    context = DataContext.get_current()
    context.enable_progress_bars = False  # the CLI shows its own
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # its notes on what it just did
    spec = {
        "model": embedder.name,
        "batch_size": settings.batch_size,
        "backend": embedder.backend,
        "quantisation": embedder.quantisation,
        "cache_dir": settings.cache_dir,
        "chunking": chunking(settings, embedder),
        "sentences": sentences,
    }
    workers = max(1, int(ray.cluster_resources().get("CPU", os.cpu_count() or 1)) - 1)
    passages = (
        ray.data.from_items([{"doc": pickle.dumps(doc)} for doc in docs])
        .map_batches(
            Chunker,
            fn_constructor_kwargs={"spec": spec},
            batch_size=_CHUNK_BATCH,
            compute=ActorPoolStrategy(min_size=1, max_size=workers),
        )
        .sort("length", descending=True)
        .materialize()
    )
    total = passages.count()
    embedded = passages.map_batches(
        Encoder,
        fn_constructor_kwargs={"spec": spec},
        batch_size=4 * settings.batch_size,
        compute=ActorPoolStrategy(min_size=1, max_size=workers),
    )
    by_id = {doc.doc_id: doc for doc in docs}
    pending: dict[str, dict[int, tuple[Any, np.ndarray, np.ndarray]]] = {}
    done = 0
    columns = ("doc_id", "i", "of", "chunk", "vector", "sentence_vectors")
    for batch in embedded.iter_batches(batch_size=256, batch_format="numpy"):
        for doc_id, i, of, chunk, vector, said in zip(*(batch[c] for c in columns), strict=True):
            parts = pending.setdefault(str(doc_id), {})
            parts[int(i)] = (pickle.loads(chunk), vector, pickle.loads(said))
            if len(parts) >= max(1, int(of)):
                del pending[str(doc_id)]
                ordered = [parts[n] for n in range(int(of))]
                vectors = np.stack([v for _, v, _ in ordered]) if ordered else np.empty((0, 0))
                per_sentence = [s for _, _, s in ordered] if sentences else None
                chunks = [c for c, _, _ in ordered]
                yield Embedded(by_id[str(doc_id)], chunks, vectors.astype(np.float32), per_sentence)
        done += len(batch["doc_id"])
        if progress:
            progress(done, total)
