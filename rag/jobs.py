"""Background writes: a large upload (or a recording, transcribed first) is accepted at once and indexed
in its turn, its progress polled.

A job is durable: before the upload is acknowledged, its record and what it needs to finish (the parsed
document, or the recording's bytes) are written under INDEX/jobs/; a server that starts again resumes the
jobs left unfinished (in the order they were accepted, ahead of new writes) and answers for the finished
ones (the newest KEEP)."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from rag.errors import RagError, one_line
from rag.index.lexical import document_from, paragraphs_json

if TYPE_CHECKING:
    from rag.index.writers import Ticket
    from rag.service import Service
    from rag.types import Document

log = logging.getLogger("rag.jobs")
KEEP = 1000  # finished jobs remembered (in memory and on disk), oldest forgotten first
Status = Literal["queued", "running", "done", "failed"]
_FINISHED = ("done", "failed")
_RECORD = ".json"  # JOB_ID.json: the job's status, and how to finish it
_DOCUMENT = ".document.json"  # JOB_ID.document.json: the parsed upload
_RECORDING = ".recording"  # JOB_ID.recording: a recording's bytes, as uploaded


@dataclass
class Job:
    job_id: str
    doc_id: str
    status: Status = "queued"
    done: int = 0  # passages embedded so far
    total: int | None = None  # passages to embed, once the document is chunked
    chunks: int | None = None  # the document's passages, when done
    error: str | None = None


@dataclass
class _Work:
    """What a job needs to finish, as stored beside its record."""

    replace: bool
    kind: Literal["document", "recording"]
    sha256: str  # of the document the job writes: a resumed job already in the index is done
    name: str = ""  # a recording's file name (its extension tells the decoder the format)


class Jobs:
    """Uploads indexed in background threads, each holding its place in the service's writer queue, each
    recorded under `directory` (default INDEX/jobs) until it is done."""

    def __init__(self, service: Service, directory: Path | None = None) -> None:
        self.service = service
        self.directory = directory or service.settings.index_dir / "jobs"
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._work: dict[str, _Work] = {}
        self._lock = threading.Lock()

    def submit_document(self, doc: Document, replace: bool) -> Job:
        """Queue the write of a parsed document, stored first; raises IndexBusy (nothing queued) when the
        queue is full, RagError when the job cannot be stored."""
        work = _Work(replace, "document", doc.sha256)
        return self._submit(doc.doc_id, work, lambda: doc, lambda path: _write(path, _document_json(doc)))

    def submit_recording(
        self, doc_id: str, raw: bytes, name: str, replace: bool, transcribe: Callable[[], Document]
    ) -> Job:
        """Queue a recording's transcription (in the job's thread) and write, its bytes stored first."""
        work = _Work(replace, "recording", _sha256(raw), name)
        return self._submit(doc_id, work, transcribe, lambda path: _write(path, raw))

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def resume(self, ready: Callable[[], bool] = lambda: True) -> int:
        """Read the stored jobs (at start-up, before any upload is taken): the finished ones are answered
        for again, the unfinished ones take their places in the writer queue now, in the order they were
        accepted, and run once `ready()` (waited for in their threads) says the server can write; one whose
        stored upload cannot be read is marked failed. Returns how many were resumed."""
        if not self.directory.is_dir():
            return 0
        for stale in self.directory.glob(".tmp-*"):
            stale.unlink(missing_ok=True)  # a write cut short: its job was never acknowledged
        records: list[tuple[float, Job, dict[str, Any]]] = []
        for path in self.directory.glob(f"*{_RECORD}"):
            if path.name.endswith(_DOCUMENT):
                continue
            job_id = path.name[: -len(_RECORD)]
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
                job = Job(**{**record["job"], "job_id": job_id})
                if job.status not in ("queued", "running", *_FINISHED):
                    raise ValueError(f"unknown status {job.status!r}")
                records.append((float(record["at"]), job, record))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("job %s: its record %s is unreadable (%s): reported failed", job_id, path, exc)
                job = Job(job_id, "", "failed", error=f"its stored record is unreadable ({one_line(exc)})")
                records.append((path.stat().st_mtime, job, {}))
        resumed = 0
        # The finished first (the oldest forgotten first), then the unfinished in the order they came.
        for _, job, record in sorted(records, key=lambda r: (r[1].status not in _FINISHED, r[0])):
            job_id = job.job_id
            with self._lock:
                self._jobs[job_id] = job
            if job.status in _FINISHED:
                continue
            try:
                work = _Work(**record["work"])
                prepare = self._prepare(job, work)
            except (OSError, ValueError, KeyError, TypeError, RagError) as exc:
                reason = str(exc) if isinstance(exc, RagError) else one_line(exc)
                job.status, job.error = "failed", f"could not be resumed after a restart: {reason}"
                log.warning("job %s (%s) %s", job_id, job.doc_id, job.error)
                self._finish(job)
                continue
            job.status, job.done, job.total = "queued", 0, None
            ticket = self.service.writers.reserve(bounded=False)
            self._work[job_id] = work
            self._start(job, prepare, work, ticket, ready)
            resumed += 1
        self._forget()
        if resumed:
            log.info("resumed %d background upload(s) accepted before the restart", resumed)
        return resumed

    def _submit(
        self,
        doc_id: str,
        work: _Work,
        prepare: Callable[[], Document],
        store_payload: Callable[[Path], None],
    ) -> Job:
        ticket = self.service.writers.reserve()
        job = Job(uuid.uuid4().hex, doc_id)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            store_payload(self._payload(job.job_id, work))
            self._store(job, work, time.time())
        except OSError as exc:
            with self.service.writers.hold(ticket, None):
                pass  # gives its place in the queue back
            with contextlib.suppress(OSError):
                self._payload(job.job_id, work).unlink(missing_ok=True)
            raise RagError(
                f"could not store the upload under {self.directory} ({one_line(exc)}): retry later"
            ) from exc
        with self._lock:
            self._jobs[job.job_id] = job
            self._work[job.job_id] = work
        self._forget()
        self._start(job, prepare, work, ticket, None)
        return job

    def _prepare(self, job: Job, work: _Work) -> Callable[[], Document]:
        """What makes a resumed job's document, from its stored upload."""
        path = self._payload(job.job_id, work)
        if work.kind == "document":
            doc = document_from(json.loads(path.read_text(encoding="utf-8")))
            if doc.doc_id != job.doc_id:
                raise ValueError(f"its stored upload {path.name} holds {doc.doc_id!r}, not {job.doc_id!r}")
            return lambda: doc
        if work.kind != "recording":
            raise ValueError(f"unknown kind of job {work.kind!r}")
        raw = path.read_bytes()
        if _sha256(raw) != work.sha256:
            raise ValueError(f"its stored recording {path.name} is not the one uploaded (sha256 differs)")
        return self.service.prepare_recording(job.doc_id, raw, work.name, replace=True)

    def _start(
        self,
        job: Job,
        prepare: Callable[[], Document],
        work: _Work,
        ticket: Ticket,
        ready: Callable[[], bool] | None,
    ) -> None:
        threading.Thread(
            target=self._run,
            args=(job, prepare, work, ticket, ready),
            name=f"job-{job.job_id[:8]}",
            daemon=True,
        ).start()

    def _run(
        self,
        job: Job,
        prepare: Callable[[], Document],
        work: _Work,
        ticket: Ticket,
        ready: Callable[[], bool] | None,
    ) -> None:
        """ready: None for a new job; for a resumed one, what says the server can write now."""

        def progress(done: int, total: int) -> None:
            job.status, job.done, job.total = "running", done, total

        try:
            if ready is not None and not ready():
                with self.service.writers.hold(ticket, None):
                    pass  # the server cannot write: the job stays stored, for the next start
                return
            job.status = "running"
            try:
                if ready is not None and (chunks := self._already_written(job, work)) is not None:
                    with self.service.writers.hold(ticket, None):
                        pass  # written before a crash, not yet marked done
                    job.chunks, job.status = chunks, "done"
                    return
                doc = prepare()
            except BaseException:
                with self.service.writers.hold(ticket, None):
                    pass  # gives its place in the queue back: the writes after it go on
                raise
            self.service.add_documents([doc], progress, replace=work.replace, ticket=ticket)
            job.chunks = self.service.chunk_counts().get(doc.doc_id, 0)
            job.status = "done"
        except RagError as exc:
            job.error, job.status = str(exc), "failed"
        except Exception as exc:  # noqa: BLE001 - reported by the job, never lost in a thread
            log.exception("job %s (%s) failed", job.job_id, job.doc_id)
            job.error, job.status = f"internal error ({exc.__class__.__name__}); see the server log", "failed"
        finally:
            if job.status in _FINISHED:
                self._finish(job)

    def _already_written(self, job: Job, work: _Work) -> int | None:
        """The passages of a resumed job's document when the index already holds it (same sha256: the
        server stopped after writing it, before marking the job done), else None."""
        manifest = self.service.store.manifest()
        entry = manifest.documents.get(job.doc_id) if manifest else None
        if entry and entry.get("sha256") == work.sha256:
            return int(entry.get("chunks", 0))
        return None

    def _finish(self, job: Job) -> None:
        """A finished job's final record kept, its stored upload removed."""
        with self._lock:
            work = self._work.pop(job.job_id, None)
            if job.job_id in self._jobs:
                self._jobs.move_to_end(job.job_id)  # forgotten in the order they finished
        try:
            self._store(job, None, time.time())
            if work is not None:
                self._payload(job.job_id, work).unlink(missing_ok=True)
            else:
                for suffix in (_DOCUMENT, _RECORDING):
                    (self.directory / f"{job.job_id}{suffix}").unlink(missing_ok=True)
        except OSError as exc:
            log.warning("job %s: could not store its final status (%s)", job.job_id, one_line(exc))
        self._forget()

    def _forget(self) -> None:
        """Only the newest KEEP finished jobs are remembered, in memory and on disk."""
        with self._lock:
            finished = [j for j in self._jobs.values() if j.status in _FINISHED]
            forgotten = finished[: max(0, len(finished) - KEEP)]
            for job in forgotten:
                del self._jobs[job.job_id]
        for job in forgotten:
            with contextlib.suppress(OSError):
                (self.directory / f"{job.job_id}{_RECORD}").unlink(missing_ok=True)

    def _store(self, job: Job, work: _Work | None, at: float) -> None:
        record: dict[str, Any] = {"job": dataclasses.asdict(job), "at": at}  # at: accepted, or finished
        if work is not None:
            record["work"] = dataclasses.asdict(work)
        _write(self.directory / f"{job.job_id}{_RECORD}", json.dumps(record, ensure_ascii=False).encode())

    def _payload(self, job_id: str, work: _Work) -> Path:
        return self.directory / f"{job_id}{_DOCUMENT if work.kind == 'document' else _RECORDING}"


def _document_json(doc: Document) -> bytes:
    """A document as lexical.document_from reads it back: its fields, paragraphs as the stores keep them."""
    fields = {f.name: getattr(doc, f.name) for f in dataclasses.fields(doc) if f.name != "recording"}
    return json.dumps(fields | {"paragraphs": paragraphs_json(doc)}, ensure_ascii=False).encode()


def _sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def _write(path: Path, data: bytes) -> None:
    """Write atomically and durably: a temporary file in the same directory, synced, then renamed."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
