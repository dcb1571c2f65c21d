"""The write side: collect files, detect changes, check uploads, chunk, embed and write a generation.

`Service` delegates every write here and keeps the read side; the local path and the Ray path
(rag.ingest.distributed) cut passages with the same `split`.
"""

from __future__ import annotations

import hashlib
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.embed import Embedder
from rag.errors import BadInput, Conflict, IndexCorrupt, IndexMismatch, NotFound, SkippedFile
from rag.ids import SEE_IDS, UPLOAD, case_twin, check_doc_id, doc_id_for, shown, slug, url_doc_id
from rag.index.base import Embedded, Store, Update
from rag.index.store import FORMAT_VERSION, Manifest, rebuild_reason
from rag.index.writers import Ticket, WriterQueue
from rag.ingest.chunk import ChunkSettings, chunk_document, sentence_offsets
from rag.ingest.clean import decode
from rag.ingest.parse import SUFFIXES, parse_document, read_transcript
from rag.ingest.recording import RECORDINGS, Transcriber, is_recording, probe, recording_document
from rag.ingest.web import FetchPolicy, fetch, page_document
from rag.types import Chunk, Document, IngestReport

Progress = Callable[[int, int], None]  # (chunks embedded so far, chunks to embed)
Spans = list[tuple[int, int]]  # a passage's sentences as offsets into its embedding input


def chunking(settings: Settings, embedder: Embedder) -> ChunkSettings:
    """How passages are cut for this embedder (its window bounds the question a reply carries)."""
    return ChunkSettings(settings.chunk_max_tokens, settings.chunk_overlap_sentences, embedder.max_tokens)


def split(doc: Document, embedder: Embedder, settings: ChunkSettings) -> list[tuple[Chunk, Spans]]:
    """A document's passages, each with its sentences' offsets (where late chunking pools their tokens)."""
    return [(c, sentence_offsets(c)) for c in chunk_document(doc, embedder.count_tokens, settings)]


class Indexer:
    """Writes the store's next generation; one write at a time, in the order the writer queue gives."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        embedder: Embedder,
        writers: WriterQueue,
        transcriber: Callable[[], Transcriber],
    ) -> None:
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self.writers = writers
        self._transcriber = transcriber  # the facade's, its model loaded when the first recording comes

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
        return [c for c, _ in split(doc, self.embedder, chunking(self.settings, self.embedder))]

    def ingest(
        self,
        paths: Sequence[Path] | None = None,
        progress: Progress | None = None,
        ray: str | None = None,
        listening: Progress | None = None,
    ) -> IngestReport:
        """See `Service.ingest`."""
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
        """See `Service.ingest_urls`."""
        docs, skipped = [], []
        for url in urls:
            try:
                docs.append(self.prepare_url(url, replace=True, server=False))
            except BadInput as exc:
                skipped.append((url, f"{url}: {exc}"))
        report = self.add_documents(docs, progress) if docs else IngestReport()
        report.skipped.extend(skipped)
        return report

    def prepare_upload(self, doc_id: str, raw: bytes, replace: bool = False) -> Document:
        """See `Service.prepare_upload`."""
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
        """See `Service.prepare_url`."""
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
        """See `Service.prepare_recording`."""
        doc_id = check_doc_id(doc_id)
        try:
            probe(raw, name)
        except SkippedFile as exc:
            raise BadInput(str(exc)) from None
        self._refuse_upload_id(doc_id, replace)
        sha256 = hashlib.sha256(raw).hexdigest()

        def transcribe() -> Document:
            try:
                heard = self._transcriber().transcribe(raw, sha256)
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
        """See `Service.add_documents`."""
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
        """See `Service.delete_document`."""
        doc_id = unicodedata.normalize("NFC", doc_id)
        report = IngestReport(removed=[doc_id])
        with self.writers.turn(), self.store.lock(self.settings.write_wait_seconds):
            old = self._writable_manifest()
            if old is None or doc_id not in old.documents:
                raise NotFound(f"unknown doc_id {shown(doc_id)}: {SEE_IDS}")
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
            heard = self._transcriber().transcribe(path, sha256s[0], listening)
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
        if fresh:
            report.embedded_with = f"{self.embedder.backend} on {self.embedder.device}"
        if ray is None:

            def here() -> Iterator[Embedded]:  # once the store has begun its write, as a killable step of it
                yield from embed(fresh, self.embedder, self.settings, self.store.sentence_vectors, progress)

            embedded: Iterable[Embedded] = here()
        else:
            from rag.ingest.distributed import embed_on_ray

            sentences = self.store.sentence_vectors
            embedded = embed_on_ray(fresh, self.embedder, self.settings, sentences, ray, progress)

        def counted() -> Iterator[Embedded]:
            for item in embedded:
                report.embedded += len(item.chunks)
                yield item

        manifest = Manifest(
            model=self.embedder.name,
            backend=self.embedder.backend,
            quantisation=self.embedder.quantisation,
            device=self.embedder.device,
            prompts=self.embedder.prompts,
            dimension=self.embedder.dimension,
            model_max_tokens=self.embedder.max_tokens,
            chunking=self.signature["chunking"],
        )
        report.chunks = self.store.write(Update(base, drop, counted(), manifest, documents))


def embed(
    docs: list[Document], embedder: Embedder, settings: Settings, sentences: bool, progress: Progress | None
) -> list[Embedded]:
    """Each document with its passages and their vectors (and, with `sentences`, each passage's
    sentence vectors, from the same pass of the model), embedded here."""
    cut = chunking(settings, embedder)
    chunked = [(doc, split(doc, embedder, cut)) for doc in docs]
    every = [pair for _, pairs in chunked for pair in pairs]
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress(done, len(every))

    spans = [s for _, s in every] if sentences else None
    vectors, said = embedder.encode_passages([c.embedding_input for c, _ in every], spans, advance)
    embedded, first = [], 0
    for doc, pairs in chunked:
        last = first + len(pairs)
        chunks = [c for c, _ in pairs]
        embedded.append(Embedded(doc, chunks, vectors[first:last], said[first:last] if said else None))
        first = last
    return embedded


def _refuse_case_twin(doc_id: str, documents: dict[str, dict[str, Any]]) -> None:
    if (twin := case_twin(doc_id, documents)) is not None:
        raise Conflict(
            f"doc_id {shown(doc_id)} differs only in case from {twin!r}, already in the index: upload as "
            f"{twin!r} (with ?replace=true to replace it), or choose another doc_id"
        )


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
                doc_id = slug(file.name)
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
