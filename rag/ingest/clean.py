"""Cleaning shared by every transcript format: decoding, paragraphs, speaker labels, de-duplication,
sentence segmentation, language identification, and the assembly of a Document with exact offsets."""

from __future__ import annotations

import codecs
import logging
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from charset_normalizer import from_bytes

from rag.errors import SkippedFile
from rag.text import normalise
from rag.types import Document, Paragraph, Recording

log = logging.getLogger(__name__)
_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
# "July 26, 2016" or "26 July 2016"
TITLE_DATE = re.compile(
    rf"(?P<month>{_MONTHS})\s+(?P<day>\d{{1,2}}),?\s+(?P<year>\d{{4}})"
    rf"|(?P<day2>\d{{1,2}})\s+(?P<month2>{_MONTHS})\s+(?P<year2>\d{{4}})"
)


def _capitals() -> str:
    """A character class body of every upper- and title-case letter of the Basic Multilingual Plane (Latin,
    Cyrillic, Greek, Armenian, Georgian...), as ranges."""
    codes = [c for c in range(0x10000) if chr(c).isupper() or chr(c).istitle()]
    ranges: list[tuple[int, int]] = []
    for c in codes:
        if ranges and ranges[-1][1] == c - 1:
            ranges[-1] = (ranges[-1][0], c)
        else:
            ranges.append((c, c))
    return "".join(re.escape(chr(a)) + (f"-{re.escape(chr(b))}" if b > a else "") for a, b in ranges)


CAPITAL = f"[{_capitals()}]"
NAME = rf"{CAPITAL}[\w.\-]*(?:['’]{CAPITAL}[\w\-]*)?"  # O'Brien, Сергей, but not Lavrov's
# "Sergey Lavrov:", "Question:", "Question (retranslated from English):".
_LABEL = re.compile(
    rf"^(?P<name>{NAME}(?:\s+(?:{NAME}|de|da|van|von|al|bin|el)){{0,4}})"
    r"(?:\s*\((?P<note>[^()]{1,80})\))?\s*:\s+"
)
# Briefing-room labels in capitals: "MS. PSAKI:", "SECRETARY BLINKEN:", "SENIOR ADMINISTRATION OFFICIAL:",
# and reporters as "Q" (with or without a colon).
# "MR. FERNÁNDEZ HERNÁNDEZ:", and "Dr. WALENSKY:" with the honorific in lower case.
_UPPER = "A-ZÀ-ÖØ-Þ"
_UPPER_WORD = rf"[{_UPPER}][{_UPPER}.'’\-]*"
_UPPER_LABEL = re.compile(
    rf"^(?P<name>(?:(?:Mr|Ms|Mrs|Dr)\.?[ \t]+)?{_UPPER_WORD}(?:[ \t]+{_UPPER_WORD}){{0,5}})[ \t]*:\s+"
)
_Q_LABEL = re.compile(r"^Q(?::\s*|[ \t\u00a0]+)(?=\S)")
# A label in capitals with an honorific and a full stop or a semicolon for its colon: "MR. KIRBY.  Thank you",
# "DR. NUNEZ-SMITH.\u00a0 Great". The surname holds no full stop, so that the label's own ends the name.
_SPACES = "[ \t\u00a0]"
_SURNAME = rf"[{_UPPER}][{_UPPER}'’\-]*"
_HONORIFIC_LABEL = re.compile(
    rf"^(?P<name>(?:MR|MS|MRS|DR)\.{_SPACES}+{_SURNAME}(?:{_SPACES}+{_SURNAME}){{0,2}})[.;]{_SPACES}+(?=\S)"
)
_DASHES_AND_QUOTES = "—–-“\"‘'([…"
# In the languages of the transcripts: "Вопрос:", "Ответ:", "Frage:", "Réponse:".
_QUESTION_LABELS = {
    *("question", "remark", "journalist", "interviewer", "correspondent", "reporter", "q"),
    *("вопрос", "реплика", "журналист", "корреспондент", "frage", "pregunta", "domanda", "pergunta"),
}
_ANSWER_LABELS = {"answer", "reply", "ответ", "antwort", "réponse", "respuesta", "risposta", "resposta"}
_ROLE_LABELS = (
    _QUESTION_LABELS | _ANSWER_LABELS | {"moderator", "host", "chairman", "chair", "ведущий", "модератор"}
)
_PERSON = re.compile(rf"^(?P<name>{NAME}\s+{NAME}(?:\s+{NAME})?)\b")
# Capitalised words that open a sentence with a colon but name nobody ("NOTE:", "UPDATE:").
_NOT_SPEAKERS = {"note", "update", "correction", "end", "source", "transcript", "http", "https"}

QUESTION = "Question"  # the speaker of a reporter's turn whose name the transcript does not give
_DEDUPE_MIN_CHARS = 40  # short formulaic paragraphs ("Thank you.") legitimately recur
_SKIP_ENCODINGS = ("utf_16", "utf_32")  # without a BOM these are guesses on binary data


@dataclass(frozen=True)
class Label:
    """A speaker label opening a paragraph: who, whether it is a question, and its length."""

    speaker: str
    is_question: bool
    end: int  # offset just past the label and its spaces


@dataclass
class Block:
    """A paragraph a format has read, before offsets are assigned."""

    text: str
    speaker: str | None = None
    is_question: bool = False
    t_start: float | None = None
    t_end: float | None = None
    words: tuple[tuple[float, float], ...] = ()  # a machine transcript's (second, probability) per word


# -- decoding -----------------------------------------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode(raw: bytes, name: str) -> str:
    """Text of a transcript file: a byte-order mark first (UTF-8/16/32), then UTF-8, then the encoding
    charset-normalizer detects, kept only when the result is plausible text.

    Raises:
        SkippedFile: the file is empty, binary, or no encoding gives plausible text.
    """
    if not raw.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
        raise SkippedFile(f"{name}: empty file")
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError:
                raise SkippedFile(f"{name}: unreadable ({encoding} byte-order mark, invalid data)") from None
            return _plausible(text.lstrip("\ufeff"), name)
    if b"\x00" in raw[:8192]:
        raise SkippedFile(f"{name}: binary file (contains NUL bytes)")
    try:
        return _plausible(raw.decode("utf-8"), name)
    except UnicodeDecodeError:
        pass
    for match in from_bytes(raw):
        if match.encoding.startswith(_SKIP_ENCODINGS):
            continue
        try:
            text = _plausible(str(match), name)
        except SkippedFile:
            continue
        # Latin-script code pages read most bytes alike and the detector cannot tell them apart on a short
        # text ("très" or "trčs"): Windows-1252, by far the most common of them, decides.
        if _latin_script(text):
            try:
                return _plausible(raw.decode("cp1252"), name)
            except (UnicodeDecodeError, SkippedFile):
                pass
        return text
    raise SkippedFile(f"{name}: unreadable (not UTF-8 and no known encoding gives plausible text)")


def _plausible(text: str, name: str) -> str:
    """The text, unless it reads as binary or mis-decoded: control characters, or symbols inside words."""
    controls = len(_CONTROLS.findall(text))
    if controls > max(8, len(text) // 100):
        raise SkippedFile(f"{name}: binary file (control characters)")
    # "Z³rich", "cafÃ©": a symbol or digit glued inside a word is what a wrong code page produces.
    odd = len(_MOJIBAKE.findall(text))
    words = max(1, len(text.split()))
    if odd > max(2, words // 200):
        raise SkippedFile(f"{name}: unreadable (the text decodes to garbled characters)")
    return text


def _latin_script(text: str) -> bool:
    return all(
        unicodedata.name(ch, "").startswith("LATIN") for ch in set(text) if ord(ch) > 127 and ch.isalpha()
    )


_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_MOJIBAKE = re.compile(r"[^\W\d_][\u0080-\u009f\u00a1-\u00bf\u00d7\u00f7][^\W\d_]")


# -- paragraphs and labels ----------------------------------------------------------------------------


def paragraphs(text: str, opens_paragraph: Callable[[str], bool] = lambda line: False) -> list[str]:
    """Paragraphs: runs of non-blank lines (hard-wrapped lines joined), a new one also at each line that
    `opens_paragraph` (a speaker label), each with its whitespace collapsed to single spaces."""
    out: list[str] = []
    current: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        stripped = line.strip(" \t\u00a0\u200b\ufeff")
        if current and (not stripped or opens_paragraph(stripped)):
            out.append(" ".join(" ".join(current).split()))
            current = []
        if stripped:
            current.append(stripped)
    if current:
        out.append(" ".join(" ".join(current).split()))
    return [p for p in out if p]


def speaker_label(paragraph: str, principal: str | None = None, upper_only: bool = False) -> Label | None:
    """The speaker label that opens a paragraph ("Sergey Lavrov: ", "MS. PSAKI: ", "Q "), if any.

    Args:
        upper_only: only briefing-room labels (capitals, `Q`), where "Hatch Act: ..." opens a sentence.
    """
    if (q := _Q_LABEL.match(paragraph)) and (upper_only or q.group().startswith("Q:")):
        return Label(QUESTION, True, q.end())
    upper = _UPPER_LABEL.match(paragraph) or _HONORIFIC_LABEL.match(paragraph)
    if upper and len(upper["name"].replace(".", "")) >= 2:
        name = upper["name"]
        if name.lower() in _NOT_SPEAKERS:
            return None
        if name.lower() in _QUESTION_LABELS:
            return Label(QUESTION, True, upper.end())
        if name.lower() in _ANSWER_LABELS:
            return Label(principal or name.title(), False, upper.end())
        if name.lower() in _ROLE_LABELS:
            return Label(name.title(), False, upper.end())
        return Label(_display_name(name), False, upper.end())
    label = None if upper_only else _LABEL.match(paragraph)
    if not label or label["name"].lower() in _NOT_SPEAKERS:
        return None
    name, note = label["name"], label["note"]
    lowered = name.lower()
    if lowered in _QUESTION_LABELS:
        journalist = _PERSON.match(note or "")
        return Label(journalist["name"] if journalist else QUESTION, True, label.end())
    if lowered in _ANSWER_LABELS:
        return Label(principal or name, False, label.end())
    if lowered in _ROLE_LABELS:
        return Label(name, False, label.end())
    if len(name.split()) < 2:
        return None
    return Label(name, False, label.end())


def known_labels(text: str, upper_only: bool = False) -> frozenset[str]:
    """The names a transcript writes as speaker labels with a colon at the start of a line ("MR. KIRBY",
    "Sergey Lavrov"), whitespace collapsed: the same name written another way is the same speaker's label."""
    names = set()
    for line in text.splitlines():
        line = line.strip(" \t\u00a0\u200b\ufeff")
        label = speaker_label(line, upper_only=upper_only) if line else None
        if not label or (label.is_question and _Q_LABEL.match(line)):
            continue
        found = _UPPER_LABEL.match(line) or (None if upper_only else _LABEL.match(line))
        if found:
            names.add(" ".join(found["name"].split()))
    return frozenset(names)


@cache
def _known_pattern(known: frozenset[str]) -> re.Pattern[str]:
    # Longest first, so that "MR. FERNÁNDEZ HERNÁNDEZ" wins over a "MR. FERNÁNDEZ" of the same transcript.
    names = sorted(known, key=len, reverse=True)
    alternatives = "|".join(f"{_SPACES}+".join(map(re.escape, name.split())) for name in names)
    return re.compile(rf"^(?P<name>{alternatives})(?P<sep>{_SPACES}*[.;:]|(?={_SPACES})){_SPACES}+(?=\S)")


def turn_label(
    paragraph: str,
    principal: str | None = None,
    upper_only: bool = False,
    known: frozenset[str] = frozenset(),
    at_paragraph: bool = True,
) -> Label | None:
    """speaker_label, and also a label the transcript writes elsewhere with a colon, here with a full stop, a
    semicolon or (in a briefing-room transcript, before a capital, a dash or a quote) no colon at all:
    "MR. KIRBY.  Thank you", "MR. SULLIVAN — that —" where "MR. SULLIVAN:" opens other turns.

    Args:
        known: the transcript's known_labels.
        at_paragraph: the text opens a paragraph; a hard-wrapped line of mixed-case text ("...joined by\n
            Sergey Lavrov. He ...") takes only colon labels.
    """
    if label := speaker_label(paragraph, principal, upper_only):
        # "Q    MR. KIRBY:  So, two thoughts here": a reporter's mark typed before a known speaker's label
        # is a slip; the words are that speaker's.
        if label.is_question and known and (inner := _known_pattern(known).match(paragraph[label.end :])):
            named = speaker_label(f"{inner['name']}: .", principal, upper_only)
            if named and not named.is_question and inner["sep"].strip(" \t\u00a0") == ":":
                return Label(named.speaker, False, label.end + inner.end())
        return label
    if not known or not (upper_only or at_paragraph):
        return None
    found = _known_pattern(known).match(paragraph)
    if not found:
        return None
    if not found["sep"]:  # no colon at all: only in capitals, and only before what cannot go on a sentence
        following = paragraph[found.end()]
        if not upper_only or not (following in _DASHES_AND_QUOTES or following.isupper()):
            return None
    base = speaker_label(f"{found['name']}: .", principal, upper_only)
    return Label(base.speaker, base.is_question, found.end()) if base else None


def turn_opener(known: frozenset[str], upper_only: bool = False) -> Callable[[str], bool]:
    """opens_turn (or opens_upper_turn) that knows the transcript's labels (turn_label)."""
    return lambda line: turn_label(line, upper_only=upper_only, known=known, at_paragraph=False) is not None


def opens_turn(line: str) -> bool:
    """A line that starts a speaker's turn, and so a paragraph, even without a blank line before it."""
    return speaker_label(line) is not None


def opens_upper_turn(line: str) -> bool:
    """opens_turn for briefing-room transcripts: capitals or `Q` only."""
    return speaker_label(line, upper_only=True) is not None


def _display_name(upper: str) -> str:
    """ "MS. PSAKI" -> "Ms. Psaki"; "SENIOR ADMINISTRATION OFFICIAL" -> "Senior Administration Official"."""
    return " ".join(
        "-".join(part[:1] + part[1:].lower() for part in word.split("-")) for word in upper.split()
    )


def attribute(
    texts: Iterable[str],
    principal: str | None = None,
    upper_only: bool = False,
    known: frozenset[str] = frozenset(),
) -> list[Block]:
    """Blocks with speakers: a label opens a turn; paragraphs without one go on with the current speaker
    (before the first label: the principal speaker, if the title names one).

    Args:
        known: the transcript's known_labels, which open a turn however they are punctuated (turn_label).
    """
    blocks = []
    speaker, is_question = principal, False
    for text in texts:
        if label := turn_label(text, principal, upper_only, known):
            speaker, is_question = label.speaker, label.is_question
        blocks.append(Block(text, speaker, is_question))
    return blocks


def title_case_date(text: str) -> str | None:
    """The first date written out in text ("July 26, 2016", "26 July 2016"), as ISO 8601."""
    found = TITLE_DATE.search(text)
    if not found:
        return None
    return iso_date(
        found["day"] or found["day2"], found["month"] or found["month2"], found["year"] or found["year2"]
    )


def iso_date(day: str, month: str, year: str) -> str | None:
    """ "26", "July", "2016" -> "2016-07-26"; None for a day the month does not have ("30 February")."""
    try:
        return datetime.strptime(f"{int(day)} {month.title()} {year}", "%d %B %Y").date().isoformat()
    except ValueError:
        return None


# -- sentences and language ---------------------------------------------------------------------------


@cache
def _segmenter(language: str):  # type: ignore[no-untyped-def]
    import pysbd

    return pysbd.Segmenter(language=language, clean=False)


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence boundaries in text[start:end] as absolute (start, end) offsets, whitespace excluded.

    pysbd's rules know abbreviations ("U.S.", "Mr.", "a.m.", "No. 2"), so a quote is never cut inside one.
    """
    end = len(text) if end is None else end
    piece = text[start:end]
    if _one_sentence(piece):  # pysbd costs ~1 ms a call, mostly compiling regexes; a third of turns need none
        lead = len(piece) - len(piece.lstrip())
        return [(start + lead, start + len(piece.rstrip()))] if piece.strip() else []
    spans: list[tuple[int, int]] = []
    cursor = 0
    for sentence in _segmenter("en").segment(piece):
        sentence = sentence.strip()
        if not sentence:
            continue
        found = piece.find(sentence, cursor)
        if found < 0:  # the segmenter changed the text: keep the rest whole rather than guess
            break
        spans.append((start + found, start + found + len(sentence)))
        cursor = found + len(sentence)
    rest = piece[cursor:]
    if rest.strip():
        lead = len(rest) - len(rest.lstrip())
        spans.append((start + cursor + lead, start + cursor + len(rest.rstrip())))
    return spans


_CLOSING = re.compile(r"[.?!…]+\Z")
_MAY_BREAK = re.compile(r"[.?!…\n\r\u2028\u2029)]")  # where pysbd may end a sentence ("2)" opens a list item)


def _one_sentence(piece: str) -> bool:
    """Whether pysbd would keep the text whole: nothing it could break at before the closing marks."""
    return not _MAY_BREAK.search(_CLOSING.sub("", piece.strip(), count=1))


def identify_language(text: str) -> str | None:
    """ISO 639-1 code of the text's language (py3langid, whose model ships in the package)."""
    sample = " ".join(text[:3000].split())  # enough for a confident guess, and fast
    if len(sample) < 20:
        return None
    import py3langid

    language, _ = py3langid.classify(sample)
    return str(language)


# -- assembly -----------------------------------------------------------------------------------------


def build_document(
    doc_id: str,
    blocks: Iterable[Block],
    *,
    title: str,
    sha256: str,
    source: str,
    format: str,
    date: str | None = None,
    time: str | None = None,
    place: str | None = None,
    speaker: str | None = None,
    source_url: str | None = None,
    dedupe: bool = False,
    recording: Recording | None = None,
) -> Document:
    """A Document of blocks joined by blank lines, each a Paragraph at its exact offsets.

    Args:
        dedupe: drop a long paragraph seen before (web pages that repeat their lead); never for transcripts
            where a speaker may repeat himself.
    """
    text_parts: list[str] = []
    paras: list[Paragraph] = []
    seen: set[str] = set()
    offset = 0
    for block in blocks:
        if dedupe:
            key = normalise(block.text, typography=False)
            if len(key) >= _DEDUPE_MIN_CHARS:
                if key in seen:
                    continue
                seen.add(key)
        if text_parts:
            offset += 2
        paras.append(
            Paragraph(
                offset,
                offset + len(block.text),
                block.speaker,
                block.is_question,
                block.t_start,
                block.t_end,
                block.words,
            )
        )
        text_parts.append(block.text)
        offset += len(block.text)
    text = "\n\n".join(text_parts)
    return Document(
        doc_id=doc_id,
        title=title,
        date=date,
        time=time,
        place=place,
        speaker=speaker,
        text=text,
        paragraphs=tuple(paras),
        sha256=sha256,
        source=source,
        format=format,
        language=identify_language(text),
        source_url=web_address(source_url),
        recording=recording,
    )


def web_address(url: str | None) -> str | None:
    """An http(s) address as given; anything else (`javascript:`, `file:`, `data:`) is dropped with a
    warning, since citations and exports print it as a link."""
    if url is None:
        return None
    if re.match(r"https?://[^\s/?#]+", url, re.IGNORECASE) and not re.search(r"[\s<>\"]", url):
        return url
    log.warning("source_url ignored: not an http(s) address (%r)", url[:80])
    return None


def title_from_name(doc_id: str) -> str:
    """A readable title from a file name: "lavrov_remarks-2021" -> "lavrov remarks 2021"."""
    return " ".join(re.sub(r"[_\-]+", " ", doc_id).split()) or doc_id
