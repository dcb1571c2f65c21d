"""WebVTT and SRT caption files (webvtt-py reads both): cues merged into sentences and speaker turns, with the
time span of the cues each paragraph covers.

Speakers come from `<v Name>` voice spans, `Name:` prefixes, `[SPEAKER_00]:` diarization labels and `>>`
speaker-change marks; rolling captions, whose cues repeat the previous cue's words, are de-duplicated.
"""

from __future__ import annotations

import html
import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from rag.errors import SkippedFile
from rag.ingest.clean import Block, build_document, speaker_label, title_from_name
from rag.types import Document

_VTT = re.compile(r"\A\ufeff?WEBVTT(?:[ \t].*)?(?:\r?\n|\Z)")
_SRT = re.compile(r"\A\ufeff?\s*\d+[ \t]*\r?\n\d{1,2}:\d{2}:\d{2}[,.]\d{1,3}[ \t]*-->")
_VOICE = re.compile(r"<v(?:\.[^\s<>]*)?[ \t]+(?P<name>[^<>]+)>")
_TAG = re.compile(r"<[^<>]*>|\{\\[^{}]*\}")  # <i>, <c.x>, <00:00:01.000>, </v>; SRT's {\an8}
# "[SPEAKER_00]:", "[SPEAKER 1]", "SPEAKER_2:"; never "SPEAKER 3 of the parliament said".
_DIARIZED = re.compile(
    r"^(?:\[(?P<bracketed>SPEAKER[ _]?\d+)\][ \t]*:?|(?P<name>SPEAKER[ _]?\d+)[ \t]*:)\s*", re.IGNORECASE
)
_PREFIX = re.compile(r"^-?\s*(?P<name>[A-Z][\w.'’\-]*(?:[ \t]+[A-Z][\w.'’\-]*){0,3})[ \t]*:[ \t]+")
SENTENCE_END = re.compile(r"[.?!…][\"'”’)\]]*$")
PARAGRAPH_WORDS = 60  # a paragraph closes at the first sentence end past this many words
log = logging.getLogger(__name__)
MAX_HOURS = 100  # a cue later than this is not a time in a recording
_ROLLING_MIN_WORDS = 3  # a shorter overlap with the previous cue may be a real repetition ("No. No.")


@dataclass
class _Cue:
    start: float
    end: float
    text: str  # with its markup


@dataclass
class _Paragraph:
    speaker: str | None
    words: list[str] = field(default_factory=list)
    t_start: float | None = None
    t_end: float | None = None


def sniff(text: str, name: str) -> float:
    return 1.0 if _VTT.match(text) or _SRT.match(text) else 0.0


def parse(doc_id: str, text: str, sha256: str, source: str) -> Document:
    format_ = "webvtt" if _VTT.match(text) else "srt"
    cues = _vtt_cues(text) if format_ == "webvtt" else _srt_cues(text)
    if not cues:
        raise SkippedFile(f"{doc_id}: malformed {format_} file (no cues)")
    _check_times(doc_id, format_, cues)
    return build_document(
        doc_id, _paragraphs(cues), title=title_from_name(doc_id), sha256=sha256, source=source, format=format_
    )


def _check_times(doc_id: str, format_: str, cues: list[_Cue]) -> None:
    """Refuse cue times past MAX_HOURS; warn of cues that last no time or end before they start.

    Raises:
        SkippedFile: a cue starts or ends past MAX_HOURS.
    """
    if late := next((c for c in cues if max(c.start, c.end) > MAX_HOURS * 3600), None):
        raise SkippedFile(
            f"{doc_id}: malformed {format_} file (a cue at {max(late.start, late.end) / 3600:,.0f} hours, "
            f"past {MAX_HOURS})"
        )
    zero = sum(c.end == c.start for c in cues)
    backwards = sum(c.end < c.start for c in cues)
    if zero or backwards:
        log.warning(
            "%s: %d cue(s) of no length and %d ending before they start; their words are kept",
            doc_id,
            zero,
            backwards,
        )


def _vtt_cues(text: str) -> list[_Cue]:
    return _cues(text, "vtt", "WebVTT")


def _srt_cues(text: str) -> list[_Cue]:
    return _cues(text, "srt", "SRT")


def _cues(text: str, format_: str, name: str) -> list[_Cue]:
    import webvtt
    from webvtt.errors import MalformedCaptionError, MalformedFileError

    try:
        captions = webvtt.from_buffer(io.StringIO(text.lstrip("\ufeff")), format=format_)
    except (MalformedFileError, MalformedCaptionError) as exc:
        raise SkippedFile(f"malformed {name} file ({exc})") from None
    return [
        _Cue(c.start_time.in_milliseconds() / 1000, c.end_time.in_milliseconds() / 1000, c.raw_text)
        for c in captions.captions
    ]


def _voice_and_text(markup: str) -> tuple[str | None, str]:
    """The voice a cue names and its plain text; nested or broken tags (`<v Bob<i>>`) are removed from the
    inside out, so that none leaves a stray `>`."""
    voice = None
    while True:
        if voice is None and (found := _VOICE.search(markup)):
            voice = found["name"].strip()
        stripped = _TAG.sub("", markup)
        if stripped == markup:
            break
        markup = stripped
    return voice, " ".join(html.unescape(markup).split())


def _pieces(cue: _Cue, counter: list[int], known: frozenset[str]) -> Iterator[tuple[str | None, bool, str]]:
    """(speaker or None when unchanged, whether the piece opens a turn, plain text) of a cue; `>>` marks
    a change of speaker, named by a following label or numbered ("Speaker 2") when not."""
    voice, plain = _voice_and_text(cue.text)
    plain = " ".join(plain.split())
    segments = re.split(r"\s*>>\s*", plain)
    for i, segment in enumerate(segments):
        if not segment and i == 0:
            continue
        # A voice or a diarization label is repeated on every cue: only a change of it opens a turn.
        speaker: str | None = voice if voice and i == 0 else None
        opens = i > 0
        if diarized := _DIARIZED.match(segment):
            speaker = (diarized["bracketed"] or diarized["name"]).upper().replace(" ", "_")
            segment = segment[diarized.end() :]
        elif not (voice and i == 0) and (label := _label(segment, known)):
            # A voice span names the speaker: "<v Sergey Lavrov>Look: the sanctions..." is Lavrov's.
            speaker, opens = label, True
        elif i > 0:
            counter[0] += 1
            speaker = f"Speaker {counter[0]}"
        if segment:
            yield speaker, opens, segment


def _label(segment: str, known: frozenset[str]) -> str | None:
    """The speaker a "Name:" prefix names: a label of two names or a role ("Sergey Lavrov:", "Question:"),
    or a single name the file gives as a prefix more than once or as a voice ("Bob: ..."), never a word
    that opens a sentence once ("Look: the sanctions have failed")."""
    if label := speaker_label(segment + " "):
        return label.speaker
    found = _PREFIX.match(segment + " ")
    return found["name"] if found and found["name"] in known else None


def _known_names(cues: list[_Cue]) -> frozenset[str]:
    """Single-word prefixes the file uses in more than one cue, and the names of its voices."""
    prefixes: dict[str, int] = {}
    voices = set()
    for cue in cues:
        voice, plain = _voice_and_text(cue.text)
        if voice:
            voices.add(voice)
        for segment in re.split(r"\s*>>\s*", plain):
            if found := _PREFIX.match(segment + " "):
                prefixes[found["name"]] = prefixes.get(found["name"], 0) + 1
    return frozenset(voices | {name for name, n in prefixes.items() if n > 1})


def _paragraphs(cues: list[_Cue]) -> list[Block]:
    blocks: list[Block] = []
    counter = [0]
    known = _known_names(cues)
    current = _Paragraph(None)
    shown: list[str] = []  # the words shown lately, across paragraphs, for rolling captions
    last: tuple[float, str] | None = None  # the previous piece's end time and text

    def flush() -> None:
        if current.words:
            blocks.append(
                Block(" ".join(current.words), current.speaker, False, current.t_start, current.t_end)
            )

    for cue in cues:
        for speaker, opens, text in _pieces(cue, counter, known):
            words = _new_words(shown, last, cue, text.split())
            last = (cue.end, text)
            if not words:
                continue
            if speaker is not None and (speaker != current.speaker or (opens and words == text.split())):
                flush()
                current = _Paragraph(speaker)
            shown = (shown + words)[-50:]
            # Cues out of order or overlapping: the paragraph spans from its earliest to its latest time.
            first, last_time = min(cue.start, cue.end), max(cue.start, cue.end)
            current.t_start = first if current.t_start is None else min(current.t_start, first)
            current.words += words
            current.t_end = last_time if current.t_end is None else max(current.t_end, last_time)
            if len(current.words) >= PARAGRAPH_WORDS and SENTENCE_END.search(current.words[-1]):
                flush()
                current = _Paragraph(current.speaker)
    flush()
    return blocks


def _new_words(shown: list[str], last: tuple[float, str] | None, cue: _Cue, words: list[str]) -> list[str]:
    """The words of a cue that a rolling caption has not shown already."""
    if last and last[1] == " ".join(words) and cue.start < last[0]:
        return []  # the same cue again, overlapping in time: a repeat of the display, not of the speech
    for k in range(min(len(shown), len(words)), _ROLLING_MIN_WORDS - 1, -1):
        if shown[-k:] == words[:k]:
            return words[k:]
    return words
