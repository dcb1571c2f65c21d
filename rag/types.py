"""Core value types passed between modules."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass, field
from datetime import date


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of a document's cleaned text and who speaks it."""

    start: int
    end: int
    speaker: str | None
    is_question: bool = False
    t_start: float | None = None  # seconds into the recording, for timestamped transcripts
    t_end: float | None = None
    # A machine transcript's words, one per word of the paragraph's text (its `text.split()`): the second
    # each starts at and the recogniser's probability for it, 0 to 1.
    words: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class Recording:
    """How a recording's machine transcript was made: by which model, and how long the recording is."""

    model: str  # e.g. "tiny.en"
    model_version: str  # where the weights come from and the engine that ran them
    duration: float  # seconds
    aligned_with: str | None = None  # the file of the same event whose speaker turns the passages carry


@dataclass(frozen=True)
class Heard:
    """What the recogniser made of a span of a machine transcript."""

    confidence: float  # its mean probability for the span's words
    unsure: tuple[str, ...]  # runs of words it gave less than LOW_CONFIDENCE, as they appear in the text
    at: float | None  # the second the span's first word starts at


LOW_CONFIDENCE = 0.5  # a word the recogniser gives less probability than this is marked as unsure
MACHINE = "machine"  # Passage/Citation/Document `transcript`: speech recognition from a recording
HUMAN = "human"


def transcript_of(format: str) -> str:
    """Who wrote a document's words: a machine for a recording (format "audio"), else a person."""
    return MACHINE if format == "audio" else HUMAN


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
    format: str = "text"  # the format module that parsed it: mid.ru, markdown, briefing, webvtt, srt, text
    language: str | None = None  # ISO 639-1 code, identified from the text
    source_url: str | None = None  # the original's address, when the transcript gives one
    recording: Recording | None = None  # for a machine transcript (format "audio")

    @property
    def speakers(self) -> list[str]:
        """Distinct speakers in order of first appearance."""
        return list(dict.fromkeys(p.speaker for p in self.paragraphs if p.speaker))

    @property
    def transcript(self) -> str:
        return transcript_of(self.format)

    def times(self, start: int, end: int) -> tuple[float | None, float | None]:
        """When the text at [start, end) was said: from the start of the first timed paragraph it touches to
        the end of the last; (None, None) for a transcript without times."""
        timed = [p for p in self.paragraphs if p.t_start is not None and p.start < end and start < p.end]
        if not timed:
            return None, None
        ends = [p.t_end for p in timed if p.t_end is not None]
        return timed[0].t_start, max(ends) if ends else None

    def heard(self, start: int, end: int) -> Heard | None:
        """The recogniser's confidence in the text at [start, end), its unsure words and the time the
        span starts; None for a human transcript."""
        probs: list[float] = []
        unsure: list[str] = []
        at: float | None = None
        last = -2
        for para in self.paragraphs:
            if not para.words or para.end <= start or end <= para.start:
                continue
            for i, m in enumerate(re.finditer(r"\S+", self.text[para.start : para.end])):
                offset = para.start + m.start()
                if offset + len(m.group()) <= start or end <= offset or i >= len(para.words):
                    continue
                second, prob = para.words[i]
                at = second if at is None else at
                probs.append(prob)
                if prob < LOW_CONFIDENCE:
                    if last == i - 1 and unsure:
                        unsure[-1] += " " + m.group()
                    else:
                        unsure.append(m.group())
                    last = i
        if not probs:
            return None
        return Heard(round(sum(probs) / len(probs), 2), tuple(unsure), at)


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
    t_start: float | None = None  # the time span of the cues it covers (timestamped transcripts)
    t_end: float | None = None
    # Its sentences as offsets into text, from the paragraphs' one segmentation (at ingest only: a
    # passage read back from the index has none).
    sentences: tuple[tuple[int, int], ...] = ()

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
    embedded_with: str = ""  # the backend and device that embedded, when anything was: "onnx on cpu"
    languages: dict[str, str | None] = field(default_factory=dict)  # doc_id -> language, of docs embedded

    def summary(self) -> str:
        line = (
            f"{len(self.added)} added, {len(self.updated)} updated, {len(self.removed)} removed, "
            f"{len(self.unchanged)} unchanged, {len(self.skipped)} skipped; "
            f"{self.chunks} chunks ({self.embedded} embedded"
            + (f" with {self.embedded_with}" if self.embedded and self.embedded_with else "")
            + f") in {self.seconds:.1f} s"
        )
        foreign = sorted(
            f"{doc_id} ({lang or 'unknown'})" for doc_id, lang in self.languages.items() if lang != "en"
        )
        if foreign:
            line += (
                f"\nnot in English, found by their words more than by meaning (the model is English-only): "
                f"{', '.join(foreign)}"
            )
        return line


@dataclass(frozen=True)
class Filters:
    """Restrictions applied before the top-k is cut."""

    doc_ids: tuple[str, ...] = ()
    speaker: str | None = None  # case-insensitive; "Lavrov" matches "Sergey Lavrov"
    since: str | None = None  # ISO date, inclusive
    until: str | None = None  # ISO date, inclusive

    def __bool__(self) -> bool:
        return bool(self.doc_ids or self.speaker or self.since or self.until)


_NAME_PART = re.compile(r"\w+")


def name_parts(name: str) -> list[str]:
    """A name's words, compared as the contract compares text (NFKC, case-folded): "Dr. Nunez-Smith" is
    dr, nunez, smith."""
    return _NAME_PART.findall(unicodedata.normalize("NFKC", name).casefold())


def names_speaker(named: str, speaker: str | None) -> bool:
    """Whether a name someone typed names a speaker: its words are whole words of the speaker's label, in
    order ("Lavrov" and "sergey lavrov" name Sergey Lavrov; "a", "lav" and "Lavrov Sergey" do not)."""
    want, have = name_parts(named), name_parts(speaker or "")
    return bool(want) and any(have[i : i + len(want)] == want for i in range(len(have) - len(want) + 1))


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
    t_start: float | None = None
    t_end: float | None = None
    source_url: str | None = None
    question: str | None = None  # the whole question turn this passage replies to (filled in by the service)
    citation: str = ""  # ready to paste: who, on what occasion, where, when (+ time, + link); filled in
    transcript: str = HUMAN  # "machine": speech recognition from a recording

    def __post_init__(self) -> None:
        if not self.citation:
            object.__setattr__(self, "citation", format_citation(self))


@dataclass(frozen=True)
class Excerpt:
    """A span of a document (as a passage, cited) and the speaker turns around it."""

    passage: Passage  # the span: text == document.text[start:end]; speaker None when it spans turns
    context_start: int  # the turns the span lies in, at document.text[context_start:context_end]
    context_end: int
    context: str
    speakers: tuple[str, ...]  # who speaks in those turns, in order


@dataclass(frozen=True)
class Citation:
    """A verbatim quote from passage `n` (1-based), at `[start, end)` of the document's text."""

    n: int
    chunk_id: str
    doc_id: str
    quote: str
    start: int
    end: int
    t_start: float | None = None  # the cited passage's time span
    t_end: float | None = None
    transcript: str = HUMAN  # the cited passage's


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


_DATED = re.compile(r",?\s*(?:[A-Z][a-z]+ \d{1,2}, \d{4}|\d{1,2} [A-Z][a-z]+ \d{4})$")


def clock(seconds: float) -> str:
    """A time into a recording as 00:12:31 (hours, minutes, seconds), the same in the CLI and the page."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}"


def format_citation(p: Passage, heard: Heard | None = None) -> str:
    """A citation for an article: "Sergey Lavrov, remarks at the news conference following the Russia-ASEAN
    Foreign Ministers' Meeting, Singapore, 2 August 2018", then the time into the recording and the
    original's address when known. The occasion is the document's title without its speaker, place and
    date, which the citation gives on their own. A machine transcript says so, with the recogniser's
    confidence and the words it was unsure of when `heard` gives them."""
    occasion = _DATED.sub("", p.title.strip())
    if p.place and occasion.endswith(f", {p.place}"):
        occasion = occasion.removesuffix(f", {p.place}")
    if p.speaker:
        # "Foreign Minister Sergey Lavrov's remarks ...", "Remarks by Foreign Minister Sergey Lavrov at ..."
        name = re.escape(p.speaker)
        shorter = re.sub(rf"^.*?{name}['’]s\s+", "", occasion)
        shorter = re.sub(rf"\s+by\s+(?:[A-Z][\w-]*\s+){{0,3}}{name}\b", "", shorter)
        if shorter != occasion:  # now it reads on from the speaker's name: "Sergey Lavrov, remarks ..."
            occasion = shorter[0].lower() + shorter[1:] if shorter[:2].istitle() else shorter
    when = None
    if p.date:
        day = date.fromisoformat(p.date)
        when = f"{day.day} {day:%B %Y}"
    text = ", ".join(x for x in (p.speaker, occasion, p.place, when) if x)
    if p.t_start is not None:
        text += f", at {clock(p.t_start)}"
    if p.transcript == MACHINE:
        text += f" ({machine_note(heard)})"
    return f"{text}. {p.source_url}" if p.source_url else text


def machine_note(heard: Heard | None) -> str:
    """How a machine transcript is marked wherever its words are shown: "machine transcript, confidence
    0.84; unsure: "Brussels"", so that no one takes them for a person's transcription."""
    if heard is None:
        return "machine transcript"
    note = f"machine transcript, confidence {heard.confidence:.2f}"
    if heard.unsure:
        note += "; unsure: " + ", ".join(f'"{u}"' for u in heard.unsure)
    return note
