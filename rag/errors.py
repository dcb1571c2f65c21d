"""Domain exceptions. Messages are one line and say how to fix the problem."""


class RagError(Exception):
    """Base class for every error the service reports to a user."""


class BadInput(RagError):
    """The request or its arguments are invalid (CLI exit 2, HTTP 4xx)."""


class NotFound(BadInput):
    """An unknown identifier (HTTP 404)."""


class Conflict(BadInput):
    """The identifier is taken and the caller did not ask to replace it (HTTP 409)."""


class Refused(BadInput):
    """The server is not allowed to do this: fetch a page from a host RAG_FETCH_HOSTS does not allow, or
    from a private address (HTTP 403)."""


class NotTranscript(BadInput):
    """The input is readable but is not a transcript: a web page with no speaker turns (HTTP 415)."""


class SkippedFile(RagError):
    """A transcript file cannot be ingested (empty, binary, unreadable); the batch goes on without it."""


class IndexMissing(RagError):
    """No index has been built in the directory yet."""


class IndexMismatch(RagError):
    """The index on disk was built differently from what the settings ask for."""


class IndexBusy(RagError):
    """Too many writes are queued, or this one waited too long for its turn (HTTP 503, Retry-After)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class WriteTimedOut(IndexBusy):
    """This write waited its whole budget (write_wait_seconds) for the writes before it, or for another
    process's: an upload is then taken as a background job (HTTP 202) instead; a delete is refused (503)."""


class StoreUnavailable(RagError):
    """The store cannot be opened now: a Milvus that does not answer, a Milvus Lite file another process
    holds, collections that do not load in time (CLI exit 2, HTTP 503). `fix` says what to do."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(f"{problem}: {fix}")
        self.problem = problem
        self.fix = fix


class IndexCorrupt(RagError):
    """A file of the index cannot be read; `rag ingest` builds a fresh generation."""


def one_line(exc: BaseException) -> str:
    """An exception as a short phrase for a one-line message: its class and its first line, cut."""
    lines = str(exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {lines[0][:200]}" if lines else exc.__class__.__name__
