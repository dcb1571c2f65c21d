"""The store interface below the retriever: where passages, their vectors and documents live.

Two implementations: `local` (rag.index.local: FAISS + SQLite FTS5 generations in the index directory)
and `milvus` (rag.index.milvus: a Milvus server, cluster or Milvus Lite file). Fusion, question-to-reply
promotion, de-duplication, abstention and answers sit above it (rag.retrieve, rag.service) and are the
same code on both.

Passages are addressed by `row`, an integer unique in the store; a row's candidates, records and
follow-ups all speak of rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from rag.errors import IndexMismatch, IndexMissing
from rag.index.store import Manifest, rebuild_reason
from rag.types import Chunk, Document, Filters

# Sentence vectors are numbered row * MAX_SENTENCES + i: a passage keeps at most this many (the ingest
# layer's chunker makes the last sentence take the rest).
MAX_SENTENCES = 64

# The fields of a passage record (PassageReader.records), as the retriever reads them.
RECORD_FIELDS = (
    *("row", "chunk_id", "doc_id", "speaker", "text", "start", "end", "t_start", "t_end"),
    *("title", "date", "place", "source_url", "format"),
)


@dataclass(frozen=True)
class WordMatches:
    """Per content word of a question (as the store splits and stems words): how many passages of the
    version hold it, and which of the rows asked about do; and how many passages the version has."""

    passages: int
    words: dict[str, tuple[int, set[int]]]


class PassageReader(Protocol):
    """One consistent version of the index, read by any number of threads."""

    def __len__(self) -> int:
        """Passages in this version."""
        ...

    def dense(self, vector: np.ndarray, depth: int, filters: Filters) -> tuple[list[int], list[float]]:
        """The depth rows nearest the vector among those the filters allow, and their cosine similarities."""
        ...

    def sentences(
        self, vector: np.ndarray, limit: int, filters: Filters
    ) -> tuple[list[int], list[float]] | None:
        """The limit sentences nearest the vector among the passages the filters allow, as the row of each
        one's passage (a row once per sentence found) and its cosine similarity, nearest first; None where
        the store keeps no sentence vectors (the signal is then left out)."""
        ...

    def speaker_match(self, question: str, rows: list[int]) -> list[float]:
        """Per row, how strongly its speaker (label, names, roles) matches the question's words, 0 to 1;
        zeros where the store cannot tell."""
        ...

    def lexical(self, question: str, depth: int, filters: Filters) -> list[int]:
        """Up to depth rows by BM25 over the passage and the question it replies to, best first.

        Only the order is comparable between stores: scores are the engine's (FTS5's and Milvus Lite's are
        negative), so nothing thresholds them.
        """
        ...

    def word_matches(self, question: str, rows: list[int]) -> WordMatches:
        """How the question's content words meet this version and the given rows (for abstention)."""
        ...

    def follow_ups(self, rows: Sequence[int], filters: Filters) -> dict[int, int | None]:
        """For each row that is a journalist's question: the row of the reply that follows it in the
        document when that reply is not a question and the filters allow it, else None."""
        ...

    def records(self, rows: list[int]) -> dict[int, Mapping[str, Any]]:
        """The RECORD_FIELDS of each row, with its document's title, date, place, source_url and format."""
        ...

    def phrase_spans(self, phrases: Sequence[str], filters: Filters, limit: int) -> list[tuple[str, int]]:
        """(doc_id, start) of passages holding each phrase word for word, up to limit per phrase."""
        ...

    def all_chunks(self) -> list[tuple[str, str]]:
        """(chunk_id, text) of every passage, for evaluation."""
        ...

    def known_doc_ids(self, doc_ids: Sequence[str]) -> set[str]:
        """Those of doc_ids that are in this version."""
        ...

    def documents(self) -> list[Document]: ...

    def document(self, doc_id: str) -> Document | None: ...

    def chunks(self, doc_id: str) -> list[Chunk]:
        """A document's passages in the order of the text."""
        ...

    def chunk_counts(self) -> dict[str, int]:
        """Passages per doc_id."""
        ...

    def close(self) -> None:
        """Release what the version holds open (files, connections)."""
        ...


@dataclass
class Embedded:
    """A document ready to store: its passages, their vectors, and per passage the vectors of its
    sentences (Embedder.encode_passages) where the store keeps them (Store.sentence_vectors)."""

    doc: Document
    chunks: list[Chunk]
    vectors: np.ndarray
    sentences: list[np.ndarray] | None = None


@dataclass
class Update:
    """One atomic write: documents dropped (deleted or about to be replaced) and documents added.

    `base` False builds from nothing (a rebuild). `fresh` is consumed once, as it comes (embedding may
    still be running): stores write it in batches. `documents` is the manifest's map of the documents
    kept; each fresh one is added to it (manifest_entry) as it is written.
    """

    base: bool
    drop: list[str]
    fresh: Iterable[Embedded]
    manifest: Manifest
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)


def manifest_entry(doc: Document, chunks: int) -> dict[str, Any]:
    """A document as the manifest records it: what re-ingesting compares, and where it came from."""
    return {"sha256": doc.sha256, "chunks": chunks, "source": doc.source}


class Store(Protocol):
    """An index as a whole: its live version, a reader of it, and atomic writes to it."""

    where: str  # how messages name it: a directory, or a Milvus address and prefix
    sentence_vectors: bool  # whether writes bring each passage's sentence vectors (Embedded.sentences)

    def live(self) -> str | None:
        """A key naming the live version (changes on every write), or None when nothing is built."""
        ...

    def manifest(self) -> Manifest | None:
        """How the live version was built, with its documents; None when nothing is built.

        Raises:
            IndexCorrupt: the manifest cannot be read.
        """
        ...

    def open(self, key: str) -> PassageReader:
        """A reader of the version `key` names."""
        ...

    def write(self, update: Update) -> int:
        """Apply an update atomically: readers see the version before it or after it, never a mix, even
        when the writer is killed midway. Returns the number of passages afterwards."""
        ...

    def lock(self, timeout: float | None) -> AbstractContextManager[None]:
        """Serialise writers (IndexBusy after timeout seconds)."""
        ...


def require(store: Store, signature: dict[str, Any]) -> tuple[str, Manifest]:
    """The live version's key and manifest, checked against the settings.

    Raises:
        IndexMissing: nothing has been built.
        IndexMismatch: it was built with another format, model or chunking.
    """
    key = store.live()
    manifest = store.manifest() if key else None
    if key is None or manifest is None:
        raise IndexMissing(f"no index in {store.where}: run `rag ingest` to build it")
    if reason := rebuild_reason(manifest, signature):
        raise IndexMismatch(f"index in {store.where} is stale ({reason}): run `rag ingest` to rebuild it")
    return key, manifest
