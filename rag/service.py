"""The facade: ingest, search, ask and documents. The only place that wires the parts together."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.embed import Embedder
from rag.errors import BadInput, SkippedFile
from rag.index.dense import DenseIndex
from rag.index.lexical import ChunkStore
from rag.index.store import (
    DATABASE,
    DENSE,
    FORMAT_VERSION,
    Manifest,
    current_generation,
    new_staging,
    publish,
    rebuild_reason,
    writer_lock,
)
from rag.ingest.chunk import ChunkSettings, chunk_document
from rag.ingest.parse import SUFFIXES, parse_document, read_transcript
from rag.types import Chunk, Document, IngestReport

Progress = Callable[[int, int], None]  # (chunks embedded so far, chunks to embed)
UPLOAD = "upload"  # the source of a document that came without a file


class Service:
    """Owns the settings and the embedder; every entry point (CLI, HTTP, eval) goes through it."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.embedder = embedder or Embedder(settings.model, settings.batch_size)

    @property
    def signature(self) -> dict[str, Any]:
        s = self.settings
        return {"format_version": FORMAT_VERSION, "model": s.model,
                "chunking": {"max_tokens": s.chunk_max_tokens, "overlap_sentences": s.chunk_overlap_sentences}}

    def chunk(self, doc: Document) -> list[Chunk]:
        settings = ChunkSettings(self.settings.chunk_max_tokens, self.settings.chunk_overlap_sentences,
                                 self.embedder.max_tokens)
        return chunk_document(doc, self.embedder.count_tokens, settings)

    def ingest(self, paths: Sequence[Path] | None = None, progress: Progress | None = None) -> IngestReport:
        """Bring the index in step with the transcript files under `paths` (default: the docs dir).

        New and changed files are embedded, unchanged ones (same sha256) are kept as they are, and
        documents whose source file is gone are removed. A change of model or chunking rebuilds all.
        Bad files are skipped and reported; the previous index stays live until the new one is complete.
        """
        started = time.perf_counter()
        report = IngestReport()
        files = _collect(paths or [self.settings.docs_dir], report)
        index_dir = self.settings.index_dir
        with writer_lock(index_dir):
            generation = current_generation(index_dir)
            old = Manifest.load(generation) if generation else None
            report.rebuild_reason = rebuild_reason(old, self.signature) if old else None
            previous = old.documents if old else {}
            fresh = self._read_changed(files, previous, report)
            report.removed = [d for d, meta in previous.items() if d not in files and _is_gone(meta["source"])]
            if generation and report.rebuild_reason:
                fresh += self._carry_over(generation, files, report)
            if not (fresh or report.removed or report.rebuild_reason) and old:
                report.chunks = old.chunks
            else:
                self._write_generation(generation if not report.rebuild_reason else None, previous,
                                       fresh, report, progress)
        report.seconds = time.perf_counter() - started
        return report

    def _read_changed(self, files: dict[str, Path], previous: dict[str, dict[str, Any]],
                      report: IngestReport) -> list[Document]:
        fresh = []
        for doc_id, path in files.items():
            try:
                text, sha256 = read_transcript(path)
            except SkippedFile as exc:
                report.skipped.append((str(path), str(exc)))
                continue
            known = previous.get(doc_id)
            if known and known["sha256"] == sha256 and not report.rebuild_reason:
                report.unchanged.append(doc_id)
                continue
            doc = parse_document(doc_id, text, sha256, str(path.resolve()))
            if not doc.text:
                report.skipped.append((str(path), f"{path}: no transcript text left after cleaning"))
                continue
            (report.updated if known else report.added).append(doc_id)
            fresh.append(doc)
        return fresh

    def _carry_over(self, generation: Path, files: dict[str, Path], report: IngestReport) -> list[Document]:
        """Documents not among this run's files (uploads, other folders), re-chunked from the old index."""
        store = ChunkStore(generation / DATABASE, readonly=True)
        try:
            kept = [d for d in store.documents() if d.doc_id not in files and d.doc_id not in report.removed]
        finally:
            store.close()
        report.updated += [d.doc_id for d in kept]
        return kept

    def _write_generation(self, base: Path | None, previous: dict[str, dict[str, Any]],
                          fresh: list[Document], report: IngestReport, progress: Progress | None) -> None:
        """Build the next generation aside (from `base`, or from scratch) and switch to it."""
        staging = new_staging(self.settings.index_dir)
        try:
            if base:
                store = ChunkStore.copy(base / DATABASE, staging / DATABASE)
                dense = DenseIndex.load(base / DENSE)
                documents = dict(previous)
            else:
                store = ChunkStore(staging / DATABASE, create=True)
                dense = DenseIndex.empty(self.embedder.dimension)
                documents = {}
            for doc_id in report.removed + [d.doc_id for d in fresh if d.doc_id in documents]:
                dense.remove(store.delete(doc_id))
                documents.pop(doc_id)
            chunked = [(doc, self.chunk(doc)) for doc in fresh]
            inputs = [c.embedding_input for _, chunks in chunked for c in chunks]
            done = 0

            def advance(n: int) -> None:
                nonlocal done
                done += n
                if progress:
                    progress(done, len(inputs))

            vectors = self.embedder.encode(inputs, advance)
            row = offset = store.next_row()
            for doc, chunks in chunked:
                rows = range(row, row + len(chunks))
                store.put(doc, chunks, rows)
                documents[doc.doc_id] = {"sha256": doc.sha256, "chunks": len(chunks), "source": doc.source}
                row += len(chunks)
            if inputs:
                import numpy as np

                dense.add(vectors, np.arange(offset, row))
            store.commit()
            store.close()
            dense.save(staging / DENSE)
            report.chunks, report.embedded = len(dense), len(inputs)
            Manifest(model=self.settings.model, dimension=dense.dimension,
                     model_max_tokens=self.embedder.max_tokens, chunking=self.signature["chunking"],
                     documents=documents, chunks=len(dense)).save(staging)
            publish(self.settings.index_dir, staging)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


def _collect(paths: Sequence[Path], report: IngestReport) -> dict[str, Path]:
    """Transcript files by doc_id (the file stem); a second file with the same stem is skipped."""
    files: dict[str, Path] = {}
    for path in paths:
        if not path.exists():
            raise BadInput(f"{path}: no such file or directory")
        candidates = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in candidates:
            if file.suffix.lower() not in SUFFIXES or file.name.startswith("."):
                if not path.is_dir():
                    report.skipped.append((str(file), f"{file}: not a .txt or .md transcript"))
                continue
            if file.stem in files:
                report.skipped.append((str(file), f"{file}: doc_id {file.stem!r} already comes from "
                                                  f"{files[file.stem]}"))
                continue
            files[file.stem] = file
    return files


def _is_gone(source: str) -> bool:
    return source != UPLOAD and not Path(source).exists()
