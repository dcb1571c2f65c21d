"""The facade: search, ask, verify and documents are read here, every write is delegated to the indexer
(rag.ingest.indexer). The only place that wires the parts together."""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from functools import cached_property
from pathlib import Path
from typing import Any

from rag.answer.compose import NOT_FOUND, Composer, Done, Event, Found, no_match
from rag.config import Settings
from rag.contract import check_filters, check_k, validate_question
from rag.embed import Embedder
from rag.generations import Generations, open_store, recorded_backend
from rag.index.writers import Ticket, WriterQueue
from rag.ingest.indexer import Indexer, Progress
from rag.ingest.recording import Transcriber
from rag.passages import document, excerpt, span_passage, with_questions
from rag.reader import stored_reader
from rag.rerank import Reranker
from rag.retrieve import Hit, Mode, Retriever
from rag.timeline import Timeline, count_by_month
from rag.types import Answer, Chunk, Document, Excerpt, Filters, IngestReport, Passage
from rag.verify import Alignment, Verification, judge, turns

VERIFY_CANDIDATES = 20  # passages of the hybrid retrieval whose turns a quote is compared with


class Service:
    """Owns the settings and the embedder; every entry point (CLI, HTTP, eval) goes through it."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.store = open_store(settings)
        self.embedder = embedder or Embedder.from_settings(settings, recorded_backend(self.store))
        self.composer = Composer(settings, self.embedder)
        # RAG_RERANKER, when set, takes the place of the index's own reader (rag tune)
        reranker = Reranker(settings.reranker, settings.rerank_depth) if settings.reranker else None
        self.reranker = reranker or stored_reader(settings)
        self.generations = Generations(settings, self.store, lambda: self.signature)
        self.writers = WriterQueue(settings.max_queued_writes, settings.write_wait_seconds)
        self.indexer = Indexer(settings, self.store, self.embedder, self.writers, lambda: self.transcriber)

    # -- reading -------------------------------------------------------------------------------------

    @property
    def retriever(self) -> Retriever:
        """The live generation's retriever, for a caller that reads while nothing writes (CLI, eval).

        A server reads through `reading()`, which keeps the generation open while it is used.
        """
        return self.generations.live()

    def reading(self) -> AbstractContextManager[Retriever]:
        """The live generation's retriever, held open until the block ends (see Generations.reading)."""
        return self.generations.reading()

    def documents(self) -> list[Document]:
        with self.reading() as retriever:
            return retriever.store.documents()

    def chunk_counts(self) -> dict[str, int]:
        """Passages per doc_id."""
        with self.reading() as retriever:
            return retriever.store.chunk_counts()

    def document(self, doc_id: str) -> Document:
        doc_id = unicodedata.normalize("NFC", doc_id)  # ids are stored composed (check_doc_id)
        with self.reading() as retriever:
            return document(retriever.store, doc_id)

    def search(
        self, question: str, k: int = 5, filters: Filters | None = None, mode: Mode = "hybrid"
    ) -> list[Passage]:
        """The k passages that best answer the question, each statement once."""
        return self.retrieve(question, k, filters or Filters(), mode)[0]

    def timeline(self, question: str, filters: Filters | None = None) -> Timeline:
        """The passages that answer, over the index rather than the top k, counted per month and speaker;
        nothing is counted when a search for the question would abstain (the same evidence test)."""
        filters = filters or Filters()
        with self.reading() as retriever:
            _, hits = self._retrieve(retriever, question, 3, filters, "hybrid")
            if filters and not hits:
                return Timeline(question, reason="no_match_for_filters")
            if self._weak(retriever, question, hits):
                return Timeline(question, reason=NOT_FOUND)
            vector = self.embedder.encode([question], role="query")[0]
            passages = retriever.answering(
                question,
                vector,
                self.settings.timeline_depth,
                filters,
                self.settings.abstain_threshold,
                self.settings.coverage_weight,
            )
        return count_by_month(question, passages)

    def ask(
        self, question: str, k: int = 5, filters: Filters | None = None, llm: str | None = None
    ) -> Answer:
        """An answer of verbatim quotes (or, with an LLM, a composed one whose citations are checked),
        or an abstention when the evidence is weak."""
        for event in self.ask_events(question, k, filters, llm, stream=False):
            if isinstance(event, Done):
                return event.answer
        raise AssertionError("ask_events ends with a done event")

    def ask_events(
        self,
        question: str,
        k: int = 5,
        filters: Filters | None = None,
        llm: str | None = None,
        stream: bool = True,
    ) -> Iterator[Event]:
        """The answer as events: Found(passages), then Delta pieces of the answer as it is written, then
        Done(answer). The done event's answer is authoritative: when an LLM fails or its answer is
        unsupported, it differs from the deltas. Bad input raises before the first event."""
        with self.reading() as retriever:
            filters = filters or Filters()
            passages, hits = self._retrieve(retriever, question, k, filters, "hybrid")
            yield Found("passages", passages)
            if filters and not passages:
                extractive = no_match()
            else:
                extractive = self.composer.extract(question, passages, self._weak(retriever, question, hits))
            yield from self.composer.events(question, passages, extractive, llm, stream)

    def verify(self, quote: str, filters: Filters | None = None) -> Verification:
        """Whether a quote is in the transcripts verbatim, close to what was said, or not found.

        Candidates: the hybrid retrieval's passages and FTS5's exact phrases of the quote's sentences and
        clauses, searched regardless of the speaker filter so that words put in the wrong mouth are found
        and flagged; the filter's speaker is the one the quote is attributed to.
        """
        filters = filters or Filters()
        quote = validate_question(quote, "quote")
        with self.reading() as retriever:
            return self._verify(retriever, quote, filters)

    def _verify(self, retriever: Retriever, quote: str, filters: Filters) -> Verification:
        check_filters(filters, retriever.store.known_doc_ids)
        anyone = dataclasses.replace(filters, speaker=None)
        vector = self.embedder.encode([quote], role="query")[0]
        passages, _ = retriever.search(quote, vector, VERIFY_CANDIDATES, anyone, collapse_duplicates=False)
        clauses = [c for c in re.split(r"[.,;:!?\u2013\u2014]+", quote) if len(c.split()) >= 4]
        places = [(p.doc_id, p.start) for p in passages] + retriever.phrase_spans(clauses, anyone)
        # From the generation the candidates came from, even if a writer has switched in a newer one since.
        docs = {doc_id: document(retriever.store, doc_id) for doc_id in dict.fromkeys(d for d, _ in places)}
        units = {doc_id: turns(doc) for doc_id, doc in docs.items()}
        candidates = list(
            dict.fromkeys(u for d, start in places for u in units[d] if u.start <= start < u.end)
        )

        def passage(a: Alignment, rank: int) -> Passage:
            doc = docs[a.unit.doc_id]
            return span_passage(retriever.store, doc, a.start, a.end, a.unit.speaker, rank, a.similarity)

        texts = {doc_id: doc.text for doc_id, doc in docs.items()}
        return judge(quote, candidates, texts, filters.speaker, passage)

    def excerpt(self, doc_id: str, start: int | None = None, end: int | None = None) -> Excerpt:
        """A span of a document's text, cited, with the speaker turns around it: a passage read in context.
        No span is the whole text.

        Raises:
            NotFound: an unknown doc_id.
            BadInput: a span that is empty or not within the text.
        """
        with self.reading() as retriever:
            return excerpt(retriever.store, document(retriever.store, doc_id), start, end)

    @cached_property
    def transcriber(self) -> Transcriber:
        """The speech recogniser for recordings, its model loaded when the first one comes."""
        return Transcriber.from_settings(self.settings)

    def abstains(self, question: str, passages: list[Passage], hits: list[Hit]) -> bool:
        """Weak evidence: no passage in the top three is both close to the question and covers its terms."""
        with self.reading() as retriever:
            return self._weak(retriever, question, hits)

    def _weak(self, retriever: Retriever, question: str, hits: list[Hit]) -> bool:
        evidence = retriever.evidence(question, hits, self.settings.coverage_weight)
        return evidence < self.settings.abstain_threshold

    def retrieve(
        self, question: str, k: int = 5, filters: Filters | None = None, mode: Mode = "hybrid"
    ) -> tuple[list[Passage], list[Hit]]:
        """Passages and, beside each, the evidence scores that abstention reads."""
        with self.reading() as retriever:
            return self._retrieve(retriever, question, k, filters or Filters(), mode)

    def _retrieve(
        self, retriever: Retriever, question: str, k: int, filters: Filters, mode: Mode
    ) -> tuple[list[Passage], list[Hit]]:
        question = validate_question(question)
        check_k(k)
        check_filters(filters, retriever.store.known_doc_ids)
        vector = self.embedder.encode([question], role="query")[0] if mode != "bm25" else None
        if self.reranker is None:
            passages, hits = retriever.search(question, vector, k, filters, mode)
        else:
            depth = max(k, self.reranker.depth)
            passages, hits = self.reranker.rerank(
                question, *retriever.search(question, vector, depth, filters, mode), k
            )
        return with_questions(passages, retriever.store), hits

    # -- writing: delegated to the indexer -----------------------------------------------------------

    @property
    def signature(self) -> dict[str, Any]:
        """How these settings and this embedder build an index: a manifest that differs is stale."""
        return self.indexer.signature

    def chunk(self, doc: Document) -> list[Chunk]:
        return self.indexer.chunk(doc)

    def ingest(
        self,
        paths: Sequence[Path] | None = None,
        progress: Progress | None = None,
        ray: str | None = None,
        listening: Progress | None = None,
    ) -> IngestReport:
        """Bring the index in step with the transcript files under `paths` (default: the docs dir).

        New and changed files are embedded, unchanged ones (same sha256) are kept as they are, and
        documents whose source file is gone are removed. A change of model or chunking rebuilds all.
        Bad files are skipped and reported; the previous index stays live until the new one is complete.
        With `ray` (a Ray cluster's address, or "" for a local one), chunking and embedding run on Ray.
        Recordings are transcribed first (once: cached by sha256), `listening` told (seconds, duration).
        """
        return self.indexer.ingest(paths, progress, ray, listening)

    def ingest_urls(self, urls: Sequence[str], progress: Progress | None = None) -> IngestReport:
        """Fetch each web page (from any host: the CLI runs on the user's machine) and index its
        transcript, replacing the document of the same id; a page that fails is skipped and named."""
        return self.indexer.ingest_urls(urls, progress)

    def upload(self, doc_id: str, raw: bytes, replace: bool = False) -> Document:
        """Parse, chunk and embed an uploaded transcript; searchable when this returns.

        Everything is validated before anything is written: a refused upload leaves the index as it was.
        """
        doc = self.prepare_upload(doc_id, raw, replace)
        self.add_documents([doc], replace=replace)
        return doc

    def prepare_upload(self, doc_id: str, raw: bytes, replace: bool = False) -> Document:
        """An uploaded transcript parsed and checked, before it waits for its turn to be written.

        Raises:
            BadInput: the id or the text is unusable.
            Conflict: the id is taken and replace is off.
        """
        return self.indexer.prepare_upload(doc_id, raw, replace)

    def prepare_url(
        self, url: str, doc_id: str | None = None, replace: bool = False, server: bool = True
    ) -> Document:
        """A transcript fetched from a web page and parsed, before it waits for its turn to be written. On
        the server (server=True) only from the hosts RAG_FETCH_HOSTS allows; from the CLI, any host.

        Raises:
            Refused: a host or address the server may not fetch from.
            NotTranscript: the page holds no transcript.
            BadInput: the address, the fetch or the id is unusable.
            Conflict: the id is taken and replace is off.
        """
        return self.indexer.prepare_url(url, doc_id, replace, server)

    def prepare_recording(
        self, doc_id: str, raw: bytes, name: str, replace: bool = False
    ) -> Callable[[], Document]:
        """An uploaded recording checked (its id, and that it is a recording with sound), before it is
        transcribed: returns what transcribes it, for a background job.

        Raises:
            BadInput: the id is unusable or the file is not a readable recording.
            Conflict: the id is taken and replace is off.
        """
        return self.indexer.prepare_recording(doc_id, raw, name, replace)

    def add_documents(
        self,
        docs: Sequence[Document],
        progress: Progress | None = None,
        replace: bool = True,
        ticket: Ticket | None = None,
    ) -> IngestReport:
        """Add documents that come without a file (uploads, benchmark corpora), atomically; with replace,
        documents of the same ids are replaced, else such an id is refused (Conflict) and nothing written.

        A write waits for the writes queued before it: at most write_wait_seconds, or, with a ticket
        reserved when a background job was accepted, as long as it takes.
        """
        return self.indexer.add_documents(docs, progress, replace, ticket)

    def delete_document(self, doc_id: str) -> str | None:
        """Remove a document from the index, atomically. Its file, if any, is left alone.

        Returns:
            A note for the user when the document's file is still there (the next ingest adds it back).
        """
        return self.indexer.delete_document(doc_id)
