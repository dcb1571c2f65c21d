"""Domain exceptions. Messages are one line and say how to fix the problem."""


class RagError(Exception):
    """Base class for every error the service reports to a user."""


class BadInput(RagError):
    """The request or its arguments are invalid (CLI exit 2, HTTP 4xx)."""


class NotFound(BadInput):
    """An unknown identifier (HTTP 404)."""


class SkippedFile(RagError):
    """A transcript file cannot be ingested (empty, binary, unreadable); the batch goes on without it."""


class IndexMissing(RagError):
    """No index has been built in the directory yet."""


class IndexMismatch(RagError):
    """The index on disk was built differently from what the settings ask for."""


class IndexBusy(RagError):
    """Another process is writing the index."""


def one_line(exc: BaseException) -> str:
    """An exception as a short phrase for a one-line message: its class and its first line, cut."""
    lines = str(exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {lines[0][:200]}" if lines else exc.__class__.__name__
