"""The store a configuration names and its live generation: loaded when it changes (its manifest checked
then), held open while requests read it, closed when a writer has replaced it and its last reader is done."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rag.config import Settings, fusion_weights
from rag.errors import StoreUnavailable
from rag.index.base import Store, require
from rag.retrieve import FusionSettings, Retriever


@dataclasses.dataclass
class _Generation:
    """A loaded index version (a generation of the local store) and how many requests are reading it."""

    key: str
    retriever: Retriever
    readers: int = 0


class Generations:
    """The store's live version as a retriever, for as many concurrent readers as come."""

    def __init__(self, settings: Settings, store: Store, signature: Callable[[], dict[str, Any]]) -> None:
        self.settings = settings
        self.store = store
        self._signature = signature  # what the manifest must match, read at each load
        self._loaded: _Generation | None = None
        self._load_lock = threading.RLock()  # reading() holds it while live() loads

    @contextmanager
    def reading(self) -> Iterator[Retriever]:
        """The live generation's retriever, held open until the block ends; a generation that a writer
        has replaced is closed (its files released) as soon as its last reader is done."""
        with self._load_lock:
            generation = self._live()
            generation.readers += 1
        try:
            yield generation.retriever
        finally:
            with self._load_lock:
                generation.readers -= 1
                if generation.readers == 0 and generation is not self._loaded:
                    generation.retriever.close()

    def live(self) -> Retriever:
        """The live generation's retriever, not held open: for a caller that reads while nothing writes."""
        return self._live().retriever

    def _live(self) -> _Generation:
        """The store's live version, loaded when it changed (the manifest is checked then)."""
        loaded = self._loaded
        if loaded is not None and loaded.key == self.store.live():
            return loaded
        with self._load_lock:
            key, _ = require(self.store, self._signature())
            old = self._loaded
            if old is not None and old.key == key:
                return old
            fusion = FusionSettings(
                weights=fusion_weights(self.settings),
                rrf_k=self.settings.rrf_k,
                question_penalty=self.settings.question_penalty,
            )
            self._loaded = new = _Generation(key, Retriever(self.store.open(key), fusion))
            if old is not None and old.readers == 0:
                old.retriever.close()
            return new


def recorded_backend(store: Store) -> tuple[str, str | None] | None:
    """The embedding backend and int8 config the live index was built with, if there is one to read."""
    try:
        manifest = store.manifest()
    except StoreUnavailable:
        raise  # nothing would work: said now, in one line, rather than on every request
    except Exception:  # unreadable: reported, with its fix, when the index is opened
        return None
    return (manifest.backend, manifest.quantisation) if manifest else None


def open_store(settings: Settings) -> Store:
    """The store RAG_STORE names; Milvus's client is imported only when it is the one."""
    if settings.store == "milvus":
        from rag.index.milvus import MilvusStore

        return MilvusStore(
            settings.milvus_uri,
            settings.milvus_token,
            settings.milvus_prefix,
            settings.index_dir,
            settings.ready_timeout,
        )
    from rag.index.local import LocalStore

    return LocalStore(settings.index_dir, settings.ann_threshold, settings.bm25_budget)
