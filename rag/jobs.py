"""Background writes: a large upload (or a recording, transcribed first) is accepted at once and indexed
in its turn, its progress polled."""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from rag.errors import RagError

if TYPE_CHECKING:
    from rag.index.writers import Ticket
    from rag.service import Service
    from rag.types import Document

log = logging.getLogger("rag.jobs")
_KEEP = 1000  # finished jobs remembered, oldest forgotten first
Status = Literal["queued", "running", "done", "failed"]


@dataclass
class Job:
    job_id: str
    doc_id: str
    status: Status = "queued"
    done: int = 0  # passages embedded so far
    total: int | None = None  # passages to embed, once the document is chunked
    chunks: int | None = None  # the document's passages, when done
    error: str | None = None


class Jobs:
    """Uploads indexed in background threads, each holding its place in the service's writer queue."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()

    def submit(self, doc_id: str, prepare: Callable[[], Document], replace: bool) -> Job:
        """Queue the write of the document `prepare` makes (in the job's thread: a recording is transcribed
        there); raises IndexBusy (nothing queued) when the queue is full."""
        ticket = self.service.writers.reserve()
        job = Job(uuid.uuid4().hex, doc_id)
        with self._lock:
            self._jobs[job.job_id] = job
            while len(self._jobs) > _KEEP:
                self._jobs.popitem(last=False)
        threading.Thread(
            target=self._run, args=(job, prepare, replace, ticket), name=f"job-{job.job_id[:8]}", daemon=True
        ).start()
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def _run(self, job: Job, prepare: Callable[[], Document], replace: bool, ticket: Ticket) -> None:
        def progress(done: int, total: int) -> None:
            job.status, job.done, job.total = "running", done, total

        try:
            job.status = "running"
            try:
                doc = prepare()
            except BaseException:
                with self.service.writers.hold(ticket, None):
                    pass  # gives its place in the queue back: the writes after it go on
                raise
            self.service.add_documents([doc], progress, replace=replace, ticket=ticket)
            job.chunks = self.service.chunk_counts().get(doc.doc_id, 0)
            job.status = "done"
        except RagError as exc:
            job.error, job.status = str(exc), "failed"
        except Exception as exc:  # noqa: BLE001 - reported by the job, never lost in a thread
            log.exception("job %s (%s) failed", job.job_id, job.doc_id)
            job.error, job.status = f"internal error ({exc.__class__.__name__}); see the server log", "failed"
