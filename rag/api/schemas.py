"""Pydantic models at the HTTP boundary (CONTRACT.md), with examples for the OpenAPI schema."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

from rag.contract import MAX_FILTER_DOCS, MAX_K, validate_question
from rag.errors import BadInput
from rag.types import Filters as CoreFilters

_QUESTION = "What did Lavrov say about refugees returning to Syria?"
_QUOTE = "ASEAN is one of our key partners in the Asia-Pacific region"


class Filters(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"speaker": "Lavrov", "since": "2018-01-01"}}
    )

    doc_ids: list[str] | None = Field(
        None,
        max_length=MAX_FILTER_DOCS,
        description=f"Only these documents (at most {MAX_FILTER_DOCS:,}).",
        examples=[["000_81888bb7363425ad"]],
    )
    speaker: str | None = Field(
        None, description="Case-insensitive part of the speaker's name.", examples=["Lavrov"]
    )
    since: dt.date | None = Field(None, description="Documents dated on or after (inclusive).")
    until: dt.date | None = Field(None, description="Documents dated on or before (inclusive).")

    @field_validator("since", "until", mode="before")
    @classmethod
    def _iso_date(cls, value: object) -> object:
        """A date is a 'YYYY-MM-DD' string: a number (e.g. 0, read as 1970) is refused."""
        if value is not None and not isinstance(value, str):
            raise ValueError("Input should be a date as a 'YYYY-MM-DD' string")
        return value

    def to_core(self) -> CoreFilters:
        return CoreFilters(
            doc_ids=tuple(self.doc_ids or ()),
            speaker=self.speaker or None,
            since=self.since.isoformat() if self.since else None,
            until=self.until.isoformat() if self.until else None,
        )


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"question": _QUESTION, "k": 5}})

    question: str = Field(description="Plain-language question, 1 to 2,000 characters.", examples=[_QUESTION])
    k: StrictInt = Field(5, ge=1, le=MAX_K, description="Passages to return.")
    filters: Filters | None = None

    @field_validator("question")
    @classmethod
    def _question(cls, value: str) -> str:
        try:
            return validate_question(value)
        except BadInput as exc:
            raise ValueError(str(exc)) from None


class AskRequest(SearchRequest):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"question": _QUESTION, "k": 5, "stream": False}}
    )

    llm: Literal["none", "openai", "local"] | None = Field(
        None,
        description="none: verbatim quotes; openai: composed by the configured LLM; local: by the GGUF model "
        "run in process (default: RAG_LLM).",
    )
    stream: StrictBool = Field(
        False, description="Answer as Server-Sent Events: passages, answer pieces, final event."
    )


class Passage(BaseModel):
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
    t_start: float | None = Field(None, description="Seconds into the recording (timestamped transcripts).")
    t_end: float | None = None
    source_url: str | None = Field(None, description="The original's address, when the transcript gives one.")
    question: str | None = Field(None, description="The reporter's question this passage replies to.")
    citation: str = Field(
        description="Ready to paste: speaker, occasion, place, date (+ time into the recording, + link)."
    )
    transcript: Literal["human", "machine"] = Field(
        description="machine: speech recognition from a recording (check the recording before quoting)."
    )


class Citation(BaseModel):
    n: int = Field(description="The cited passage's rank.")
    chunk_id: str
    doc_id: str
    quote: str = Field(description="Verbatim: the document's text at [start, end).")
    start: int
    end: int
    t_start: float | None = Field(None, description="The cited passage's time span, in seconds.")
    t_end: float | None = None
    transcript: Literal["human", "machine"] = "human"


class SearchResponse(BaseModel):
    passages: list[Passage]
    took_ms: float


class AskResponse(BaseModel):
    answer: str
    abstained: bool
    citations: list[Citation]
    passages: list[Passage]
    took_ms: float
    llm_error: str | None = Field(None, description="Present when an LLM was asked for and failed.")
    unsupported: bool | None = Field(
        None, description="Present with an LLM: true when it cited nothing valid."
    )
    removed_citations: list[int] | None = Field(None, description="Cited sources that were not given.")
    reason: str | None = Field(
        None,
        description="Present when it abstained: not_in_transcripts (weak evidence) or no_match_for_filters.",
    )


class TimelineBucket(BaseModel):
    month: str = Field(description="YYYY-MM", examples=["2018-07"])
    count: int
    speakers: dict[str, int] = Field(description="Who said them: passages per speaker, most first.")


class TimelineResponse(BaseModel):
    question: str
    total: int = Field(description="Passages that answer, over the whole index (not the top k).")
    undated: int = Field(description="Of total, those in documents without a date (in no month).")
    buckets: list[TimelineBucket] = Field(description="Months in order; a month with none is left out.")
    reason: str | None = Field(None, description="Why nothing was counted: the transcripts do not answer.")


class VerifyRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"quote": _QUOTE, "filters": {"speaker": "Lavrov"}}},
    )

    quote: str = Field(description="The quote to check, 1 to 2,000 characters.", examples=[_QUOTE])
    filters: Filters | None = Field(
        None, description="speaker: who the quote is attributed to; the others narrow where to look."
    )

    @field_validator("quote")
    @classmethod
    def _quote(cls, value: str) -> str:
        try:
            return validate_question(value, "quote")
        except BadInput as exc:
            raise ValueError(str(exc)) from None


class DiffOp(BaseModel):
    op: Literal["same", "changed", "added", "missing"] = Field(
        description="changed: the quote's words for the transcript's; added: in the quote, not said; "
        "missing: said, left out of the quote."
    )
    quote: str = Field(description="The quote's words.")
    source: str = Field(description="The transcript's words, verbatim.")


class QuoteMatch(Passage):
    verbatim: bool = Field(description="Every word of the quote, in order, in this span.")
    coverage: float = Field(description="Share of the quote's words said here in runs of three or more.")
    diff: list[DiffOp]
    speaker_matches: bool | None = Field(
        None, description="Present when a speaker was named: false when these words are someone else's."
    )


class VerifyResponse(BaseModel):
    verdict: Literal["verbatim", "close", "not_found"]
    matches: list[QuoteMatch]
    note: str | None = Field(
        None, description="Present when a machine transcript decides it: check the recording at that time."
    )


class RecordingInfo(BaseModel):
    model: str = Field(description='The speech recogniser, e.g. "tiny.en".')
    model_version: str = Field(description="Where its weights come from, and the engine that ran them.")
    duration: float = Field(description="The recording's length in seconds.")
    aligned_with: str | None = Field(description="The transcript whose speaker turns the passages carry.")


class Document(BaseModel):
    doc_id: str
    title: str
    date: str | None
    place: str | None
    speakers: list[str]
    chunks: int
    sha256: str
    format: str = Field(
        description='The format it was read as: "mid.ru", "markdown", "briefing", "webvtt", "srt", "text" '
        'or "audio" (a recording).'
    )
    language: str | None = Field(description="ISO 639-1 code identified from the text.")
    source_url: str | None
    origin: Literal["upload", "file"] = Field(
        description="upload: sent over HTTP (kept by `rag ingest`); file: from a transcript file."
    )
    transcript: Literal["human", "machine"] = Field(description="machine: transcribed from a recording.")
    recording: RecordingInfo | None = Field(description="How a recording was transcribed; null for text.")


class DocumentWithText(Document):
    text: str = Field(description="The cleaned text that passages and citations point into.")


class DocumentList(BaseModel):
    documents: list[Document]


class TextUpload(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"doc_id": "press_2021_03_05", "text": "5 March 202114:05\n\nTitle\n\nBody."}
        },
    )

    doc_id: str = Field(
        description="Letters (any script), digits, '_', '.' or '-', starting with a letter or digit; "
        "at most 255."
    )
    text: str = Field(description="The transcript as text copied from the site.")


class UrlUpload(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"url": "https://www.state.gov/briefings/department-press-briefing/"}},
    )

    url: str = Field(
        description="A web page holding a transcript; fetched only from hosts RAG_FETCH_HOSTS allows."
    )
    doc_id: str | None = Field(None, description="Defaults to the page's host and path, as a doc_id.")


class Deleted(BaseModel):
    doc_id: str
    deleted: bool = True
    note: str | None = Field(None, description="Present when the document's file is still there.")


class JobStatus(BaseModel):
    job_id: str
    status: Literal["queued", "running", "done", "failed"]
    doc_id: str
    done: int = Field(description="Passages embedded so far.")
    total: int | None = Field(description="Passages to embed, once the document is chunked.")
    chunks: int | None = Field(description="The document's passages, when done.")
    error: str | None = Field(description="Why it failed, when it failed.")


class Health(BaseModel):
    status: str
    documents: int | None = None
    chunks: int | None = None


class ErrorBody(BaseModel):
    detail: str
