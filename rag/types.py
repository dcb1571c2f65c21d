"""Core value types passed between modules."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of a document's cleaned text and who speaks it."""

    start: int
    end: int
    speaker: str | None
    is_question: bool = False


@dataclass(frozen=True)
class Document:
    """A parsed transcript: metadata, cleaned text and its paragraphs with character offsets."""

    doc_id: str
    title: str
    date: str | None  # ISO 8601 date
    time: str | None  # HH:MM, when the source gives it
    place: str | None
    speaker: str | None  # the principal speaker, from the title
    text: str
    paragraphs: tuple[Paragraph, ...]
    sha256: str
    source: str  # where it came from: a file path, or "upload"

    @property
    def speakers(self) -> list[str]:
        """Distinct speakers in order of first appearance."""
        return list(dict.fromkeys(p.speaker for p in self.paragraphs if p.speaker))


@dataclass(frozen=True)
class Chunk:
    """A passage of a document, cited as `doc.text[start:end]`; `context` only shapes its embedding."""

    chunk_id: str
    doc_id: str
    speaker: str | None
    start: int
    end: int
    text: str
    n_tokens: int
    context: str = ""  # the journalist's question an answer replies to
    is_question: bool = False

    @property
    def embedding_input(self) -> str:
        return f"{self.context}\n{self.text}" if self.context else self.text


@dataclass
class IngestReport:
    """What an ingest changed, for the summary line."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (file, doc_id): the id is not its stem
    chunks: int = 0  # chunks in the index afterwards
    embedded: int = 0  # chunks embedded by this run
    seconds: float = 0.0
    rebuild_reason: str | None = None

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, {len(self.removed)} removed, "
            f"{len(self.unchanged)} unchanged, {len(self.skipped)} skipped; "
            f"{self.chunks} chunks ({self.embedded} embedded) in {self.seconds:.1f} s"
        )


@dataclass(frozen=True)
class Filters:
    """Restrictions applied before the top-k is cut."""

    doc_ids: tuple[str, ...] = ()
    speaker: str | None = None  # case-insensitive; "Lavrov" matches "Sergey Lavrov"
    since: str | None = None  # ISO date, inclusive
    until: str | None = None  # ISO date, inclusive

    def __bool__(self) -> bool:
        return bool(self.doc_ids or self.speaker or self.since or self.until)


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with its document's metadata; `text == document.text[start:end]`."""

    rank: int
    score: float
    chunk_id: str
    doc_id: str
    title: str
    date: str | None
    place: str | None
    speaker: str | None
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Citation:
    """A verbatim quote from passage `n` (1-based), at `[start, end)` of the document's text."""

    n: int
    chunk_id: str
    doc_id: str
    quote: str
    start: int
    end: int


@dataclass(frozen=True)
class Answer:
    answer: str
    abstained: bool
    citations: list[Citation]
    passages: list[Passage]
    llm_error: str | None = None  # an LLM was asked for and failed: the answer is extractive
    unsupported: bool | None = None  # the LLM answer carried no valid citation
    removed_citations: list[int] | None = None  # [n] the LLM cited that were not among its sources
    # Why an abstention abstained: "not_in_transcripts" (weak evidence) or "no_match_for_filters".
    reason: str | None = None

    def to_dict(self) -> dict[str, object]:
        """The HTTP and --json shape: optional fields appear only when they say something."""
        data = asdict(self)
        return {k: v for k, v in data.items() if v is not None or k not in _OPTIONAL_ANSWER_FIELDS}


_OPTIONAL_ANSWER_FIELDS = {"llm_error", "unsupported", "removed_citations", "reason"}
