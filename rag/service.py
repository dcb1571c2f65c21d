"""The facade: ingest, search, ask and documents. The only place that wires the parts together."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import numpy as np

from rag.answer.extractive import ABSTAIN_MESSAGE, ExtractiveSettings, candidate_sentences, compose, select
from rag.answer.llm import LlmClient, LlmFailure, LlmSettings, build_messages, check_answer
from rag.answer.tokens import TokenCounter
from rag.config import Settings, fusion_weights
from rag.embed import Embedder
from rag.errors import (
    BadInput,
    Conflict,
    IndexCorrupt,
    IndexMismatch,
    NotFound,
    SkippedFile,
    StoreUnavailable,
)
from rag.index.base import Embedded, PassageReader, Store, Update, require
from rag.index.store import FORMAT_VERSION, Manifest, rebuild_reason
from rag.index.writers import Ticket, WriterQueue
from rag.ingest.chunk import ChunkSettings, chunk_document, question_answered, sentence_offsets
from rag.ingest.clean import decode
from rag.ingest.parse import SUFFIXES, parse_document, read_transcript
from rag.ingest.recording import RECORDINGS, Transcriber, is_recording, probe, recording_document
from rag.ingest.web import FetchPolicy, fetch, page_document
from rag.reader import stored_reader
from rag.rerank import Reranker
from rag.retrieve import FusionSettings, Hit, Mode, Retriever
from rag.timeline import Timeline, count_by_month
from rag.types import Answer, Chunk, Document, Excerpt, Filters, IngestReport, Passage, format_citation
from rag.verify import Alignment, Verification, judge, turns

if TYPE_CHECKING:
    from rag.answer.local_llm import LocalLlmClient

MAX_QUESTION_CHARS = 2000
MAX_K = 50
VERIFY_CANDIDATES = 20  # passages of the hybrid retrieval whose turns a quote is compared with
MAX_FILTER_DOCS = 1000  # doc_ids in one filter; SQLite binds each as a variable
NOT_FOUND = "not_in_transcripts"  # an abstention's reason when the evidence is weak
NO_MATCH_MESSAGE = "No passages match these filters: widen or clear them to search all the transcripts."
Progress = Callable[[int, int], None]  # (chunks embedded so far, chunks to embed)
UPLOAD = "upload"  # the source of a document that came without a file
_SEE_IDS = "see `rag documents` or `GET /documents` for the ids in the index"
_WORD_CHAR = re.compile(r"\w")
MAX_DOC_ID = 255  # characters: the longest file name most file systems allow


@dataclasses.dataclass
class _Generation:
    """A loaded index version (a generation of the local store) and how many requests are reading it."""

    key: str
    retriever: Retriever
    readers: int = 0


class Service:
    """Owns the settings and the embedder; every entry point (CLI, HTTP, eval) goes through it."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.store = open_store(settings)
        self.embedder = embedder or Embedder.from_settings(settings, recorded_backend(self.store))
        self.extractive = ExtractiveSettings()
        # RAG_RERANKER, when set, takes the place of the index's own reader (rag tune)
        reranker = Reranker(settings.reranker, settings.rerank_depth) if settings.reranker else None
        self.reranker = reranker or stored_reader(settings)
        self._loaded: _Generation | None = None
        self._load_lock = threading.RLock()  # reading() holds it while _live() loads
        self.writers = WriterQueue(settings.max_queued_writes, settings.write_wait_seconds)

    # -- reading -------------------------------------------------------------------------------------

    @property
    def retriever(self) -> Retriever:
        """The live generation's retriever, for a caller that reads while nothing writes (CLI, eval).

        A server reads through `reading()`, which keeps the generation open while it is used.
        """
        return self._live().retriever

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

    def _live(self) -> _Generation:
        """The store's live version, loaded when it changed (the manifest is checked then)."""
        loaded = self._loaded
        if loaded is not None and loaded.key == self.store.live():
            return loaded
        with self._load_lock:
            key, _ = require(self.store, self.signature)
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
            return _document(retriever.store, doc_id)

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
        for kind, payload in self.ask_events(question, k, filters, llm, stream=False):
            if kind == "done":
                return payload  # type: ignore[return-value]
        raise AssertionError("ask_events ends with a done event")

    def ask_events(
        self,
        question: str,
        k: int = 5,
        filters: Filters | None = None,
        llm: str | None = None,
        stream: bool = True,
    ) -> Iterator[tuple[str, object]]:
        """The answer as events: ("passages", [Passage]), then ("delta", str) pieces of the answer as it is
        written, then ("done", Answer). The done event's answer is authoritative: when an LLM fails or its
        answer is unsupported, it differs from the deltas. Bad input raises before the first event."""
        with self.reading() as retriever:
            filters = filters or Filters()
            passages, hits = self._retrieve(retriever, question, k, filters, "hybrid")
            yield "passages", passages
            if filters and not passages:
                extractive = Answer(NO_MATCH_MESSAGE, True, [], [], reason="no_match_for_filters")
            else:
                extractive = self._extractive(retriever, question, passages, hits)
            yield from self._compose(question, passages, extractive, llm, stream)

    def _compose(
        self, question: str, passages: list[Passage], extractive: Answer, llm: str | None, stream: bool
    ) -> Iterator[tuple[str, object]]:
        if (llm or self.settings.llm) == "none" or extractive.abstained:
            for i in range(0, len(words := extractive.answer.split(" ")), 8):
                yield "delta", " ".join(words[i : i + 8]) + (" " if i + 8 < len(words) else "")
            yield "done", extractive
            return
        try:
            client = self._llm_client(llm or self.settings.llm)
            messages, sources = build_messages(question, passages, self.token_counter, self.llm_settings)
            if stream:
                parts = []
                for delta in client.stream(messages):
                    parts.append(delta)
                    yield "delta", delta
                text = "".join(parts)
            else:
                text = client.complete(messages)
        except LlmFailure as exc:
            yield "done", dataclasses.replace(extractive, llm_error=str(exc))
            return
        checked = check_answer(text, sources, self._similarity)
        removed = checked.removed or None
        if checked.citations:
            yield "done", Answer(checked.text, False, checked.citations, passages, None, False, removed)
        else:
            beside = f"{checked.text}\n\nFrom the transcripts:\n{extractive.answer}"
            yield "done", Answer(beside, False, extractive.citations, passages, None, True, removed)

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
        self._validate_filters(filters, retriever)
        anyone = dataclasses.replace(filters, speaker=None)
        vector = self.embedder.encode([quote], role="query")[0]
        passages, _ = retriever.search(quote, vector, VERIFY_CANDIDATES, anyone, collapse_duplicates=False)
        clauses = [c for c in re.split(r"[.,;:!?\u2013\u2014]+", quote) if len(c.split()) >= 4]
        places = [(p.doc_id, p.start) for p in passages] + retriever.phrase_spans(clauses, anyone)
        # From the generation the candidates came from, even if a writer has switched in a newer one since.
        docs = {doc_id: _document(retriever.store, doc_id) for doc_id in dict.fromkeys(d for d, _ in places)}
        units = {doc_id: turns(doc) for doc_id, doc in docs.items()}
        candidates = list(
            dict.fromkeys(u for d, start in places for u in units[d] if u.start <= start < u.end)
        )

        def passage(a: Alignment, rank: int) -> Passage:
            doc = docs[a.unit.doc_id]
            return _span_passage(retriever.store, doc, a.start, a.end, a.unit.speaker, rank, a.similarity)

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
            doc = _document(retriever.store, doc_id)
            size = len(doc.text)
            start = 0 if start is None else start
            end = size if end is None else end
            if not 0 <= start < end <= size:
                raise BadInput(
                    f"span [{start}:{end}] is not within {doc_id}'s text of {size:,} characters: "
                    f"give 0 <= start < end <= {size}"
                )
            around = [u for u in turns(doc) if u.start < end and start < u.end]
            speakers = tuple(dict.fromkeys(u.speaker for u in around if u.speaker))
            speaker = speakers[0] if len(speakers) == 1 and len(around) == 1 else None
            passage = _span_passage(retriever.store, doc, start, end, speaker, 1, 1.0)
        first = min([start, *(u.start for u in around)])
        last = max([end, *(u.end for u in around)])
        return Excerpt(passage, first, last, doc.text[first:last], speakers)

    def _llm_client(self, kind: str) -> LlmClient | LocalLlmClient:
        """The OpenAI-compatible endpoint's client, or the in-process GGUF model's (loaded once)."""
        if kind == "local":
            from rag.answer.local_llm import LocalLlmClient

            return LocalLlmClient(self.llm_settings, self.settings.llm_gguf, self.settings.llm_threads)
        return LlmClient(self.llm_settings)

    def _extractive(
        self, retriever: Retriever, question: str, passages: list[Passage], hits: list[Hit]
    ) -> Answer:
        if self._weak(retriever, question, hits):
            return Answer(ABSTAIN_MESSAGE, True, [], passages, reason=NOT_FOUND)
        sentences = candidate_sentences(passages, self.extractive)
        vectors = self.embedder.encode([s.text for s in sentences])
        chosen = select(
            question, sentences, vectors @ self.embedder.encode([question], role="query")[0], self.extractive
        )
        if not chosen:
            return Answer(ABSTAIN_MESSAGE, True, [], passages, reason=NOT_FOUND)
        text, citations = compose(chosen)
        return Answer(text, False, citations, passages)

    def _similarity(self, a: list[str], b: list[str]) -> np.ndarray:
        vectors = self.embedder.encode([*a, *b])
        return vectors[: len(a)] @ vectors[len(a) :].T

    @cached_property
    def llm_settings(self) -> LlmSettings:
        s = self.settings
        return LlmSettings(
            base_url=s.llm_base_url,
            model=s.llm_model,
            api_key=s.llm_api_key,
            timeout=s.llm_timeout,
            max_tokens=s.llm_max_tokens,
            temperature=s.llm_temperature,
            max_retries=s.llm_max_retries,
            context_tokens=s.llm_context_tokens,
        )

    @cached_property
    def transcriber(self) -> Transcriber:
        """The speech recogniser for recordings, its model loaded when the first one comes."""
        return Transcriber.from_settings(self.settings)

    @cached_property
    def token_counter(self) -> TokenCounter:
        return TokenCounter(self.settings.tiktoken_encoding, self.settings.tiktoken_file)

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
        if not 1 <= k <= MAX_K:
            raise BadInput(f"k must be between 1 and {MAX_K}, got {k}")
        self._validate_filters(filters, retriever)
        vector = self.embedder.encode([question], role="query")[0] if mode != "bm25" else None
        if self.reranker is None:
            passages, hits = retriever.search(question, vector, k, filters, mode)
        else:
            depth = max(k, self.reranker.depth)
            passages, hits = self.reranker.rerank(
                question, *retriever.search(question, vector, depth, filters, mode), k
            )
        return _with_questions(passages, retriever.store), hits

    @staticmethod
    def _validate_filters(filters: Filters, retriever: Retriever) -> None:
        if len(filters.doc_ids) > MAX_FILTER_DOCS:
            raise BadInput(
                f"filters name {len(filters.doc_ids):,} doc_ids; the limit is {MAX_FILTER_DOCS:,}: "
                "filter by speaker or date instead, or search in several requests"
            )
        if filters.doc_ids:
            known = retriever.store.known_doc_ids(filters.doc_ids)
            if unknown := [d for d in filters.doc_ids if d not in known]:
                raise NotFound(f"unknown doc_id {_shown(unknown[0])} in filters: {_SEE_IDS}")
        for name in ("since", "until"):
            value = getattr(filters, name)
            if value is not None:
                parse_date(value, name)
        if filters.since and filters.until and filters.since > filters.until:
            raise BadInput(f"since ({filters.since}) is after until ({filters.until})")

    # -- writing -------------------------------------------------------------------------------------

    @property
    def signature(self) -> dict[str, Any]:
        s = self.settings
        return {
            "format_version": FORMAT_VERSION,
            "model": self.embedder.name,
            "backend": self.embedder.backend,
            "quantisation": self.embedder.quantisation,
            "prompts": self.embedder.prompts,
            "chunking": {"max_tokens": s.chunk_max_tokens, "overlap_sentences": s.chunk_overlap_sentences},
        }

    def chunk(self, doc: Document) -> list[Chunk]:
        settings = ChunkSettings(
            self.settings.chunk_max_tokens, self.settings.chunk_overlap_sentences, self.embedder.max_tokens
        )
        return chunk_document(doc, self.embedder.count_tokens, settings)

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
        started = time.perf_counter()
        report = IngestReport()
        files = _collect(paths or [self.settings.docs_dir], report)
        with self.writers.turn(), self.store.lock(None):
            key = self.store.live()
            try:
                old = self.store.manifest()
                report.rebuild_reason = rebuild_reason(old, self.signature) if old else None
            except IndexCorrupt as exc:
                old, report.rebuild_reason = None, str(exc)
            previous = old.documents if old else {}
            fresh = self._read_changed(files, previous, report, listening)
            report.removed = [
                d for d, meta in previous.items() if d not in files and _is_gone(meta["source"])
            ]
            if key and report.rebuild_reason:
                fresh += self._carry_over(key, files, report)
            if not (fresh or report.removed or report.rebuild_reason) and old:
                report.chunks = old.chunks
            else:
                self._write_generation(not report.rebuild_reason, previous, fresh, report, progress, ray)
        report.seconds = time.perf_counter() - started
        return report

    def ingest_urls(self, urls: Sequence[str], progress: Progress | None = None) -> IngestReport:
        """Fetch each web page (from any host: the CLI runs on the user's machine) and index its
        transcript, replacing the document of the same id; a page that fails is skipped and named."""
        docs, skipped = [], []
        for url in urls:
            try:
                docs.append(self.prepare_url(url, replace=True, server=False))
            except BadInput as exc:
                skipped.append((url, f"{url}: {exc}"))
        report = self.add_documents(docs, progress) if docs else IngestReport()
        report.skipped.extend(skipped)
        return report

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
        doc_id = check_doc_id(doc_id)
        try:
            doc = parse_document(doc_id, decode(raw, doc_id), hashlib.sha256(raw).hexdigest(), UPLOAD)
        except SkippedFile as exc:
            raise BadInput(str(exc)) from None
        if not doc.text:
            raise BadInput(f"{doc_id}: no transcript text left after cleaning")
        self._refuse_upload_id(doc_id, replace)
        return doc

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
        s = self.settings
        policy = (
            FetchPolicy.server(s.fetch_hosts, s.fetch_max_bytes, s.fetch_timeout)
            if server
            else FetchPolicy(None, s.fetch_max_bytes, s.fetch_timeout)
        )
        policy.check(url)  # before the id: a refused address says so first
        doc_id = check_doc_id(doc_id) if doc_id else url_doc_id(url)
        self._refuse_upload_id(doc_id, replace)
        return page_document(doc_id, fetch(url, policy), UPLOAD)

    def _refuse_upload_id(self, doc_id: str, replace: bool) -> None:
        """Conflict when the id is taken (unless replacing it) or differs only in case from one taken."""
        manifest = self.store.manifest()
        documents = manifest.documents if manifest else {}
        if not replace:
            _refuse_taken([doc_id], documents)
        _refuse_case_twin(doc_id, documents)

    def prepare_recording(
        self, doc_id: str, raw: bytes, name: str, replace: bool = False
    ) -> Callable[[], Document]:
        """An uploaded recording checked (its id, and that it is a recording with sound), before it is
        transcribed: returns what transcribes it, for a background job.

        Raises:
            BadInput: the id is unusable or the file is not a readable recording.
            Conflict: the id is taken and replace is off.
        """
        doc_id = check_doc_id(doc_id)
        try:
            probe(raw, name)
        except SkippedFile as exc:
            raise BadInput(str(exc)) from None
        self._refuse_upload_id(doc_id, replace)
        sha256 = hashlib.sha256(raw).hexdigest()

        def transcribe() -> Document:
            try:
                heard = self.transcriber.transcribe(raw, sha256)
                return recording_document(doc_id, heard, sha256=sha256, source=UPLOAD)
            except SkippedFile as exc:
                raise BadInput(str(exc)) from None

        return transcribe

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
        started = time.perf_counter()
        report = IngestReport()
        wait = None if ticket else self.settings.write_wait_seconds
        turn = self.writers.hold(ticket, None) if ticket else self.writers.turn()
        with turn, self.store.lock(wait):
            old = self._writable_manifest()
            previous = old.documents if old else {}
            if not replace:
                _refuse_taken([d.doc_id for d in docs], previous)
            for doc in docs:  # checked again here: another write may have come between
                _refuse_case_twin(doc.doc_id, previous)
                (report.updated if doc.doc_id in previous else report.added).append(doc.doc_id)
            self._write_generation(old is not None, previous, list(docs), report, progress)
        report.seconds = time.perf_counter() - started
        return report

    def delete_document(self, doc_id: str) -> str | None:
        """Remove a document from the index, atomically. Its file, if any, is left alone.

        Returns:
            A note for the user when the document's file is still there (the next ingest adds it back).
        """
        doc_id = unicodedata.normalize("NFC", doc_id)
        report = IngestReport(removed=[doc_id])
        with self.writers.turn(), self.store.lock(self.settings.write_wait_seconds):
            old = self._writable_manifest()
            if old is None or doc_id not in old.documents:
                raise NotFound(f"unknown doc_id {_shown(doc_id)}: {_SEE_IDS}")
            source = old.documents[doc_id].get("source", UPLOAD)
            self._write_generation(True, old.documents, [], report, None)
        if source != UPLOAD and Path(source).exists():
            return (
                f"its file {source} is still there: the next `rag ingest` adds it back "
                "(move or delete the file to keep it out)"
            )
        return None

    def _writable_manifest(self) -> Manifest | None:
        old = self.store.manifest()
        if old and (reason := rebuild_reason(old, self.signature)):
            raise IndexMismatch(f"index is stale ({reason}): run `rag ingest` to rebuild it first")
        return old

    def _read_changed(
        self,
        files: dict[str, Path],
        previous: dict[str, dict[str, Any]],
        report: IngestReport,
        listening: Progress | None = None,
    ) -> list[Document]:
        fresh = []
        uploads = {d.casefold(): d for d, known in previous.items() if known.get("source") == UPLOAD}
        for doc_id, path in files.items():
            companion = _companion(path) if is_recording(path.name) else None
            try:
                if is_recording(path.name):
                    text, (heard_sha256, sha256) = "", _recording_sha256(path, companion)
                else:
                    text, sha256 = read_transcript(path)
            except SkippedFile as exc:
                report.skipped.append((str(path), str(exc)))
                continue
            known = previous.get(doc_id)
            twin = uploads.get(doc_id.casefold())
            if twin is not None and twin != doc_id:
                report.skipped.append(
                    (
                        str(path),
                        f"{path}: doc_id {doc_id!r} differs only in case from the upload {twin!r} in the "
                        f"index, kept as it is (`rag delete {twin}` first to index this file instead)",
                    )
                )
                continue
            if known and known.get("source") == UPLOAD:
                report.skipped.append(
                    (
                        str(path),
                        f"{path}: doc_id {doc_id!r} is an upload in the index, kept as it is "
                        f"(`rag delete {doc_id}` first to index this file instead)",
                    )
                )
                continue
            if known and known["sha256"] == sha256 and not report.rebuild_reason:
                report.unchanged.append(doc_id)
                continue
            try:
                if is_recording(path.name):
                    doc = self._transcribed(doc_id, path, (heard_sha256, sha256), companion, listening)
                else:
                    doc = parse_document(doc_id, text, sha256, str(path.resolve()), str(path))
            except SkippedFile as exc:
                report.skipped.append((str(path), str(exc)))
                continue
            (report.updated if known else report.added).append(doc_id)
            if doc_id != path.stem:
                report.renamed.append((str(path), doc_id))
            fresh.append(doc)
        return fresh

    def _transcribed(
        self,
        doc_id: str,
        path: Path,
        sha256s: tuple[str, str],
        companion: Path | None,
        listening: Progress | None,
    ) -> Document:
        """A recording file's machine transcript, with the speaker turns of the transcript of the same
        event beside it (same stem) when there is one.

        Raises:
            SkippedFile: the recording cannot be read, or no speech is recognised in it.
        """
        probe(path, str(path))
        try:
            heard = self.transcriber.transcribe(path, sha256s[0], listening)
        except SkippedFile as exc:
            raise SkippedFile(f"{path}: {exc}") from None
        aligned = None
        if companion is not None:
            text, companion_sha256 = read_transcript(companion)
            aligned = parse_document(doc_id, text, companion_sha256, str(companion.resolve()), str(companion))
        source = str(path.resolve())
        return recording_document(doc_id, heard, sha256=sha256s[1], source=source, companion=aligned)

    def _carry_over(self, key: str, files: dict[str, Path], report: IngestReport) -> list[Document]:
        """Documents not among this run's files (uploads, other folders), re-chunked from the old index."""
        store = self.store.open(key)
        try:
            kept = [
                d
                for d in store.documents()
                if (d.doc_id not in files or d.source == UPLOAD) and d.doc_id not in report.removed
            ]
        finally:
            store.close()
        report.updated += [d.doc_id for d in kept]
        return kept

    def _write_generation(
        self,
        base: bool,
        previous: dict[str, dict[str, Any]],
        fresh: list[Document],
        report: IngestReport,
        progress: Progress | None,
        ray: str | None = None,
    ) -> None:
        """Chunk and embed the fresh documents (here, or on a Ray cluster when `ray` is an address or ""
        for a local one) and write the next version (on the live one, or from scratch) atomically."""
        documents = dict(previous) if base else {}
        drop = [d for d in report.removed + [d.doc_id for d in fresh] if d in documents]
        for doc_id in drop:
            documents.pop(doc_id)
        report.languages = {doc.doc_id: doc.language for doc in fresh}
        if ray is None:

            def here() -> Iterator[Embedded]:  # once the store has begun its write, as a killable step of it
                yield from self._embedded(fresh, progress, self.store.sentence_vectors)

            embedded: Iterable[Embedded] = here()
        else:
            from rag.ingest.distributed import embed_on_ray

            embedded = embed_on_ray(fresh, self, ray, progress)

        def counted() -> Iterator[Embedded]:
            for item in embedded:
                report.embedded += len(item.chunks)
                yield item

        manifest = Manifest(
            model=self.embedder.name,
            backend=self.embedder.backend,
            quantisation=self.embedder.quantisation,
            prompts=self.embedder.prompts,
            dimension=self.embedder.dimension,
            model_max_tokens=self.embedder.max_tokens,
            chunking=self.signature["chunking"],
        )
        report.chunks = self.store.write(Update(base, drop, counted(), manifest, documents))

    def _embedded(self, docs: list[Document], progress: Progress | None, sentences: bool) -> list[Embedded]:
        """Each document with its passages and their vectors (and, with `sentences`, each passage's
        sentence vectors, from the same pass of the model), embedded here."""
        chunked = [(doc, self.chunk(doc)) for doc in docs]
        every = [c for _, chunks in chunked for c in chunks]
        done = 0

        def advance(n: int) -> None:
            nonlocal done
            done += n
            if progress:
                progress(done, len(every))

        spans = [sentence_offsets(c) for c in every] if sentences else None
        vectors, said = self.embedder.encode_passages([c.embedding_input for c in every], spans, advance)
        embedded, first = [], 0
        for doc, chunks in chunked:
            last = first + len(chunks)
            embedded.append(Embedded(doc, chunks, vectors[first:last], said[first:last] if said else None))
            first = last
        return embedded


def _document(store: PassageReader, doc_id: str) -> Document:
    doc = store.document(doc_id)
    if doc is None:
        raise NotFound(f"unknown doc_id {_shown(doc_id)}: {_SEE_IDS}")
    return doc


def _span_passage(
    store: PassageReader, doc: Document, start: int, end: int, speaker: str | None, rank: int, score: float
) -> Passage:
    """A span of a document as a passage: its words, the passage it lies in, its time and its citation."""
    chunk = next((c for c in store.chunks(doc.doc_id) if c.start <= start < c.end), None)
    heard = doc.heard(start, end)
    # The span's own time, not its passage's: a quote from a passage's third paragraph was said
    # minutes after the passage began, and the citation must say when.
    t_start, t_end = doc.times(start, end)
    found = Passage(
        rank=rank,
        score=round(score, 4),
        chunk_id=chunk.chunk_id if chunk else "",
        doc_id=doc.doc_id,
        title=doc.title,
        date=doc.date,
        place=doc.place,
        speaker=speaker,
        text=doc.text[start:end],
        start=start,
        end=end,
        t_start=heard.at if heard and heard.at is not None else t_start,
        t_end=t_end,
        source_url=doc.source_url,
        question=question_answered(doc, start),
        transcript=doc.transcript,
    )
    return dataclasses.replace(found, citation=format_citation(found, heard)) if heard else found


def _with_questions(passages: list[Passage], store: PassageReader) -> list[Passage]:
    """Each reply with the whole question it answers, read from its document; a machine transcript's
    passage with the recogniser's confidence and unsure words in its citation."""
    docs = {doc_id: store.document(doc_id) for doc_id in {p.doc_id for p in passages}}
    return [_filled_in(p, doc) if (doc := docs[p.doc_id]) else p for p in passages]


def _filled_in(p: Passage, doc: Document) -> Passage:
    p = dataclasses.replace(p, question=question_answered(doc, p.start))
    if heard := doc.heard(p.start, p.end):
        p = dataclasses.replace(p, citation=format_citation(p, heard))
    return p


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


def validate_question(question: str, name: str = "question") -> str:
    question = question.strip()
    if not question:
        example = "What did Lavrov say about ASEAN?" if name == "question" else "ASEAN is our partner"
        raise BadInput(f'{name} is empty: give one, e.g. "{example}"')
    if len(question) > MAX_QUESTION_CHARS:
        raise BadInput(f"{name} is {len(question)} characters long; the limit is {MAX_QUESTION_CHARS}")
    return question


def parse_date(value: str, name: str = "date") -> str:
    """An ISO date (YYYY-MM-DD), checked; raises BadInput with the expected form."""
    from datetime import date

    try:
        return date.fromisoformat(value).isoformat()
    except (TypeError, ValueError):
        raise BadInput(f"{name} must be a date as YYYY-MM-DD, got {value!r}") from None


def document_fields(doc: Document, chunks: int) -> dict[str, Any]:
    """A document as the HTTP API and `--json` show it (CONTRACT.md's Document)."""
    return {
        "doc_id": doc.doc_id,
        "title": doc.title,
        "date": doc.date,
        "place": doc.place,
        "speakers": doc.speakers,
        "chunks": chunks,
        "sha256": doc.sha256,
        "format": doc.format,
        "language": doc.language,
        "source_url": doc.source_url,
        "origin": "upload" if doc.source == UPLOAD else "file",
        "transcript": doc.transcript,
        "recording": dataclasses.asdict(doc.recording) if doc.recording else None,
    }


def doc_id_for(filename: str) -> str:
    """The doc_id of a transcript file, the same for `rag ingest` and an upload: the file name without
    its extension, with each run of other characters than letters, digits, '.' and '-' made one '_'
    and '_', '.', '-' trimmed from its ends (a name made of none of them gets 'document'); at most 255,
    the longest file name most file systems allow."""
    known = PurePath(filename).suffix.lower() in (*SUFFIXES, *RECORDINGS)
    return _slug(PurePath(filename).stem if known else filename)


def url_doc_id(url: str) -> str:
    """The doc_id of a web page: its host and path, e.g. 'www.state.gov_briefings_2024-01-10'."""
    parts = urlsplit(url)
    return _slug(f"{parts.hostname or ''}{parts.path}".rstrip("/").removesuffix(".html"))


def _id_char(c: str) -> bool:
    """A character a doc_id may hold: a letter or digit of any script, a combining mark (the vowel signs of
    हिन्दी, the accent of a decomposed é), '_', '.' or '-'."""
    return c in "_.-" or bool(_WORD_CHAR.match(c)) or unicodedata.category(c).startswith("M")


def _id_start(c: str) -> bool:
    return c != "_" and bool(_WORD_CHAR.match(c))


def _is_doc_id(doc_id: str) -> bool:
    return 0 < len(doc_id) <= MAX_DOC_ID and _id_start(doc_id[0]) and all(map(_id_char, doc_id))


def _slug(stem: str) -> str:
    stem = unicodedata.normalize("NFC", stem)  # one visible name, one id: macOS writes names decomposed
    if _is_doc_id(stem):
        return stem
    slug = re.sub("_+", "_", "".join(c if _id_char(c) else "_" for c in stem))
    while slug and not _id_start(slug[0]):
        slug = slug[1:]
    slug = slug[:MAX_DOC_ID].rstrip("_.-")
    return slug or "document"


def check_doc_id(doc_id: str) -> str:
    """A doc_id chosen by the caller, in Unicode NFC and checked: the form doc_id_for gives."""
    doc_id = unicodedata.normalize("NFC", doc_id)
    if not _is_doc_id(doc_id):
        raise BadInput(
            f"doc_id {_shown(doc_id)} must start with a letter or digit and hold only letters (with their "
            f"marks), digits, '_', '.' or '-' (at most {MAX_DOC_ID}), e.g. {doc_id_for(doc_id)!r}"
        )
    return doc_id


def case_twin(doc_id: str, doc_ids: Iterable[str]) -> str | None:
    """Another doc_id that differs from this one only in case ("CROSS" and "cross"): one document to a
    reader, so never two in one index."""
    folded = doc_id.casefold()
    return next((other for other in doc_ids if other != doc_id and other.casefold() == folded), None)


def _refuse_case_twin(doc_id: str, documents: dict[str, dict[str, Any]]) -> None:
    if (twin := case_twin(doc_id, documents)) is not None:
        raise Conflict(
            f"doc_id {_shown(doc_id)} differs only in case from {twin!r}, already in the index: upload as "
            f"{twin!r} (with ?replace=true to replace it), or choose another doc_id"
        )


def _shown(doc_id: str, limit: int = 80) -> str:
    """A doc_id as an error message quotes it: a long one is cut (it may be anything a client sent)."""
    return repr(doc_id if len(doc_id) <= limit else doc_id[:limit] + "…")


def _refuse_taken(doc_ids: Sequence[str], documents: dict[str, dict[str, Any]]) -> None:
    for doc_id in doc_ids:
        if doc_id in documents:
            source = documents[doc_id].get("source", UPLOAD)
            origin = "an earlier upload" if source == UPLOAD else f"the file {source}"
            raise Conflict(
                f"doc_id {doc_id!r} is already in the index (from {origin}): replace it with "
                "?replace=true (or PUT /documents/{doc_id}), or choose another doc_id"
            )


def _collect(paths: Sequence[Path], report: IngestReport) -> dict[str, Path]:
    """Transcript files and recordings by doc_id (doc_id_for their name); a second file with the same id
    is skipped, but for a recording beside a transcript of the same stem: that one is indexed as
    "stem.ext" (briefing.wav), the transcript keeping its id."""
    files: dict[str, Path] = {}
    folded: dict[str, str] = {}  # casefolded doc_id -> doc_id
    for path in paths:
        if not path.exists():
            raise BadInput(f"{path}: no such file or directory")
        candidates = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        # Transcripts first, so that a recording beside one is the file that gives way.
        for file in sorted(candidates, key=lambda f: is_recording(f.name)):
            known = file.suffix.lower() in SUFFIXES or is_recording(file.name)
            if not known or file.name.startswith("."):
                if not path.is_dir():
                    kinds = ", ".join((*SUFFIXES, *RECORDINGS))
                    report.skipped.append((str(file), f"{file}: not a transcript nor a recording ({kinds})"))
                continue
            doc_id = doc_id_for(file.name)
            if is_recording(file.name) and _companion(file) is not None:
                doc_id = _slug(file.name)
            if doc_id in files:
                report.skipped.append(
                    (str(file), f"{file}: doc_id {doc_id!r} already comes from {files[doc_id]}")
                )
                continue
            if (twin := folded.get(doc_id.casefold())) is not None:
                report.skipped.append(
                    (
                        str(file),
                        f"{file}: doc_id {doc_id!r} differs only in case from {twin!r} ({files[twin]}): "
                        "rename one of them",
                    )
                )
                continue
            files[doc_id] = file
            folded[doc_id.casefold()] = doc_id
    return files


def _companion(recording: Path) -> Path | None:
    """The transcript or caption file of the same event beside a recording: the same stem, in one of
    the transcript suffixes (briefing.vtt for briefing.wav)."""
    return next((c for s in SUFFIXES if (c := recording.with_suffix(s)).is_file()), None)


def _recording_sha256(path: Path, companion: Path | None) -> tuple[str, str]:
    """(the recording's sha256, the document's): the document changes with the recording and with its
    companion, when it has one (the sha256 of both sha256s)."""
    try:
        own = hashlib.sha256(path.read_bytes()).hexdigest()
        if companion is None:
            return own, own
        theirs = hashlib.sha256(companion.read_bytes()).hexdigest()
    except OSError as exc:
        raise SkippedFile(f"{path}: cannot read ({exc.strerror or exc})") from exc
    return own, hashlib.sha256(f"{own}{theirs}".encode()).hexdigest()


def _is_gone(source: str) -> bool:
    return source != UPLOAD and not Path(source).exists()
