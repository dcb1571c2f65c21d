"""An optional reranking stage: a local sentence-transformers CrossEncoder (RAG_RERANKER) reorders the top
fused candidates by reading each passage with the question. Off by default; never downloaded."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING

from rag.embed import resolve_model
from rag.errors import RagError, one_line
from rag.retrieve import Hit
from rag.types import Passage

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder


class Reranker:
    """A cross-encoder from a local directory or the local Hugging Face cache, loaded on first use."""

    def __init__(self, model: str, depth: int) -> None:
        self.name = model
        self.depth = depth  # the fused passages it rereads
        self._lock = threading.Lock()

    @cached_property
    def model(self) -> CrossEncoder:
        """Raises RagError (one line, with the fix) when the model cannot be loaded offline."""
        with self._lock:
            from sentence_transformers import CrossEncoder

            try:
                return CrossEncoder(resolve_model(self.name), device="cpu", local_files_only=True)
            except Exception as exc:  # noqa: BLE001 - any failure to load means the setting is wrong
                raise RagError(self.refusal(one_line(exc))) from None

    def refusal(self, reason: str) -> str:
        """Why the model cannot be used, and the fix, on one line."""
        return (
            f"RAG_RERANKER={self.name!r}: cannot load a cross-encoder ({reason}): set it to a local "
            "sentence-transformers CrossEncoder directory or a model in the local Hugging Face cache "
            "(nothing is downloaded), or unset it"
        )

    def scores(self, passages: Sequence[Passage], read: Sequence[float]) -> list[float]:
        """A passage's new score from the cross-encoder's: its own."""
        return list(read)

    def rerank(
        self, question: str, passages: Sequence[Passage], hits: Sequence[Hit], k: int
    ) -> tuple[list[Passage], list[Hit]]:
        """The k passages the cross-encoder scores highest, with its scores, renumbered; hits follow."""
        if not passages:
            return [], []
        read = self.model.predict([(question, p.text) for p in passages], show_progress_bar=False)
        return reordered(passages, hits, self.scores(passages, [float(r) for r in read]), k)


def reordered(
    passages: Sequence[Passage], hits: Sequence[Hit], scores: Sequence[float], k: int
) -> tuple[list[Passage], list[Hit]]:
    """The k passages of the highest scores, each given its score, renumbered; hits follow."""
    order = sorted(range(len(passages)), key=lambda i: -scores[i])[:k]
    reranked = [
        dataclasses.replace(passages[i], rank=rank, score=round(scores[i], 6))
        for rank, i in enumerate(order, start=1)
    ]
    return reranked, [hits[i] for i in order]
