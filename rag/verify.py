"""Quote verification: is a quote in the transcripts word for word, close to what was said, or not there?

Quotes and transcripts are compared as words: the contract's normalisation (NFKC, case-folded) applied to
each word, so that quote marks, dashes, punctuation and whitespace never make a difference. rapidfuzz
scores the candidate speaker turns cheaply; difflib aligns the quote with the best ones word by word, and
its runs of three or more words in order are what count as said ("covered"): a changed word or a dropped
clause leaves long runs, an invented sentence on the same topic shares only a few common words.
"""

from __future__ import annotations

import bisect
import difflib
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from rapidfuzz import fuzz

from rag.text import INVISIBLE, visible
from rag.types import MACHINE, Document, Paragraph, Passage, clock, names_speaker

Verdict = Literal["verbatim", "close", "not_found"]
# A word, through the invisible characters inside it ("sanc\u00adtions" is one word, "sanctions").
_WORD = re.compile(rf"\w+(?:[{INVISIBLE}]+\w+)*")
MIN_RUN = 3  # words in a row, in order, that count as said
CLOSE_COVERAGE = 0.6  # share of the quote's words said in runs, for a close match
RESCORED = 12  # candidate turns aligned with difflib after rapidfuzz's first cut
SHOWN = 3  # closest turns shown when nothing is close
GAP = 12  # words of a turn between two runs of a quote beyond which they are two places
SLACK = 3  # words around a match where the quote's shorter runs are looked for


@dataclass(frozen=True)
class Word:
    norm: str
    start: int  # offsets in the original text
    end: int


def words(text: str, offset: int = 0) -> list[Word]:
    """The words of a text, normalised for comparison, with their offsets (plus `offset`) in it."""
    return [
        Word(
            unicodedata.normalize("NFKC", visible(m.group())).casefold(), offset + m.start(), offset + m.end()
        )
        for m in _WORD.finditer(text)
    ]


@dataclass(frozen=True, eq=False)  # one object per turn: hashed by identity
class Unit:
    """A speaker turn of a document, where a quote is looked for: a quote never spans two speakers."""

    doc_id: str
    speaker: str | None
    start: int
    end: int
    words: list[Word]


@dataclass(frozen=True)
class DiffOp:
    """One step of the word diff: `same`, `changed` (quote's words for the source's), `added` (in the
    quote, never said there), or `missing` (said, left out of the quote)."""

    op: Literal["same", "changed", "added", "missing"]
    quote: str
    source: str


@dataclass(frozen=True)
class Alignment:
    unit: Unit
    exact: bool
    covered: frozenset[int]  # indices of the quote's words said in runs of MIN_RUN or more
    start: int  # the matched span in the document's text
    end: int
    similarity: float  # rapidfuzz ratio of the quote and the span, 0..1
    diff: tuple[DiffOp, ...]


@dataclass(frozen=True)
class QuoteMatch:
    """A place the quote (or part of it) was said: the span as a Passage, and how it differs."""

    passage: Passage
    exact: bool
    coverage: float
    diff: tuple[DiffOp, ...]
    speaker_matches: bool | None  # None when no speaker was named

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self.passage) | {
            "verbatim": self.exact,
            "coverage": round(self.coverage, 4),
            "diff": [asdict(op) for op in self.diff],
        }
        if self.speaker_matches is not None:
            data["speaker_matches"] = self.speaker_matches
        return data


@dataclass(frozen=True)
class Verification:
    quote: str
    verdict: Verdict
    matches: list[QuoteMatch]
    speaker: str | None = None  # the speaker the quote was attributed to

    @property
    def wrong_speaker(self) -> bool:
        """The words were found, but said by someone other than the named speaker."""
        return bool(self.matches) and self.matches[0].speaker_matches is False

    @property
    def note(self) -> str | None:
        """What a verdict on a machine transcript must say: that the words are a recogniser's, to be
        checked against the recording at the second given. None when a person's transcript decides it."""
        first = self.matches[0].passage if self.matches else None
        if first is None or first.transcript != MACHINE or self.verdict == "not_found":
            return None
        if self.verdict == "verbatim" and any(m.passage.transcript != MACHINE for m in self.matches):
            return None
        at = f" at {clock(first.t_start)}" if first.t_start is not None else ""
        if self.verdict == "verbatim":
            return f"matches the machine transcript{at}: check the recording"
        return f"close to the machine transcript{at}, which may have misheard: check the recording"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"verdict": self.verdict, "matches": [m.to_dict() for m in self.matches]}
        if self.note:
            data["note"] = self.note
        return data


def turns(doc: Document) -> list[Unit]:
    """A document's speaker turns: runs of paragraphs by one speaker (a question is a turn of its own)."""
    units: list[Unit] = []
    run: list[Paragraph] = []
    for p in [*doc.paragraphs, None]:
        if run and (p is None or (p.speaker, p.is_question) != (run[0].speaker, run[0].is_question)):
            start, end = run[0].start, run[-1].end
            if said := words(doc.text[start:end], start):
                units.append(Unit(doc.doc_id, run[0].speaker, start, end, said))
            run = []
        if p is not None:
            run.append(p)
    return units


def speaker_matches(named: str | None, speaker: str | None) -> bool | None:
    """Whether the named speaker said it: whole words of the name (rag.types.names_speaker), so that
    "Lavrov" is Sergey Lavrov and "a" is nobody. None when no speaker was named."""
    if not named or not named.strip():
        return None
    return names_speaker(named, speaker)


def align(quote: Sequence[Word], said: str, unit: Unit, text: str) -> list[Alignment]:
    """Where in a turn the quote's words were said, with a word diff against each place.

    The quote's runs of MIN_RUN words or more, in order, that lie within GAP words of each other in the turn
    make one place; runs further apart are separate places (a quote stitched from one answer's sentences).

    Args:
        quote: the quote's words.
        said: the quote's text, which their offsets point into.
        unit: the turn.
        text: the document's text, which the unit's word offsets point into.
    """
    q = [w.norm for w in quote]
    u = [w.norm for w in unit.words]
    if (at := _find(q, u)) is not None:
        span = unit.words[at : at + len(q)]
        diff = (DiffOp("same", said.strip(), text[span[0].start : span[-1].end]),)
        return [Alignment(unit, True, frozenset(range(len(q))), span[0].start, span[-1].end, 1.0, diff)]
    blocks = [
        b
        for b in difflib.SequenceMatcher(None, q, u, autojunk=False).get_matching_blocks()
        if b.size >= min(MIN_RUN, len(q))
    ]
    places: list[list[difflib.Match]] = []
    for b in blocks:
        if places and b.b - (places[-1][-1].b + places[-1][-1].size) <= GAP:
            places[-1].append(b)
        else:
            places.append([b])
    if not places:
        return [_closest(quote, said, unit, text)]
    aligned = []
    for i, place in enumerate(places):
        # The quote's part said here: its unmatched head before the first place, its tail after the last.
        qa = 0 if i == 0 else place[0].a
        qb = len(q) if i == len(places) - 1 else place[-1].a + place[-1].size
        tail = qb - place[-1].a - place[-1].size
        first, last = _span(q[qa:qb], u, place[0].b - (place[0].a - qa), place[-1].b + place[-1].size + tail)
        span = unit.words[first:last]
        aligned.append(
            Alignment(
                unit,
                False,
                frozenset(j for b in place for j in range(b.a, b.a + b.size)),
                span[0].start,
                span[-1].end,
                fuzz.ratio(" ".join(q[qa:qb]), " ".join(u[first:last])) / 100,
                _diff(quote[qa:qb], said, span, text),
            )
        )
    return aligned


def _closest(quote: Sequence[Word], said: str, unit: Unit, text: str) -> Alignment:
    """Where a turn comes closest to a quote none of whose runs it holds: rapidfuzz's best window."""
    q, u = _join(quote), _join(unit.words)
    best = fuzz.partial_ratio_alignment(q, u)
    assert best is not None  # None only below a score_cutoff, and none is given
    # Word indices of the window's first and last characters in the joined turn.
    starts = [0]
    for w in unit.words[:-1]:
        starts.append(starts[-1] + len(w.norm) + 1)
    first = bisect.bisect_right(starts, best.dest_start) - 1
    last = max(first + 1, bisect.bisect_left(starts, best.dest_end))
    span = unit.words[first:last]
    diff = _diff(quote, said, span, text)
    return Alignment(unit, False, frozenset(), span[0].start, span[-1].end, best.score / 100, diff)


def _span(q: list[str], u: list[str], lo: int, hi: int) -> tuple[int, int]:
    """The words of u where q was said, around the rough span [lo, hi): looked at again with SLACK words
    either side, so that shorter runs there ("in Paris" after a dropped word) belong to it."""
    lo, hi = max(0, lo - SLACK), min(len(u), hi + SLACK)
    near = difflib.SequenceMatcher(None, q, u[lo:hi], autojunk=False).get_matching_blocks()[:-1]
    if not near:
        return lo, hi
    first = max(lo, lo + near[0].b - near[0].a)  # the quote's unmatched head: changed words
    last = min(hi, lo + near[-1].b + near[-1].size + len(q) - near[-1].a - near[-1].size)
    return first, last


def _find(q: list[str], u: list[str]) -> int | None:
    """The index in u where q occurs as a contiguous run, or None."""
    for i in range(len(u) - len(q) + 1):
        if u[i] == q[0] and u[i : i + len(q)] == q:
            return i
    return None


def _join(ws: Sequence[Word]) -> str:
    return " ".join(w.norm for w in ws)


def _diff(quote: Sequence[Word], said: str, span: Sequence[Word], text: str) -> tuple[DiffOp, ...]:
    q, s = [w.norm for w in quote], [w.norm for w in span]
    ops: list[DiffOp] = []
    names = {"equal": "same", "replace": "changed", "delete": "added", "insert": "missing"}
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, q, s, autojunk=False).get_opcodes():
        source = text[span[j1].start : span[j2 - 1].end] if j2 > j1 else ""
        words_of_quote = said[quote[i1].start : quote[i2 - 1].end] if i2 > i1 else ""
        ops.append(DiffOp(names[tag], words_of_quote, source))  # type: ignore[arg-type]
    return tuple(ops)


def shortlist(quote: str, units: Sequence[Unit], n: int = RESCORED) -> list[Unit]:
    """The n turns most like the quote by rapidfuzz's partial ratio (the best window of the turn)."""
    q = _join(words(quote))
    scored = [(fuzz.partial_ratio(q, _join(u.words)), i) for i, u in enumerate(units)]
    return [units[i] for _, i in sorted(scored, key=lambda s: (-s[0], s[1]))[:n]]


def judge(
    quote: str,
    units: Sequence[Unit],
    texts: dict[str, str],
    named: str | None,
    passage: Callable[[Alignment, int], Passage],
) -> Verification:
    """The verdict on a quote, given the candidate turns and the documents' texts; `passage` makes the
    Passage of a matched span at a rank.

    verbatim: every word, in order, in one turn of the named speaker (or anyone when none is named).
    close: the words of another speaker; or at least CLOSE_COVERAGE of the quote's words said in runs, in
    one turn or in up to three (a quote stitched from several places). not_found: the closest turns.
    """
    q = words(quote)
    if not q:
        return Verification(quote, "not_found", [], named)
    aligned = [a for unit in shortlist(quote, units) for a in align(q, quote, unit, texts[unit.doc_id])]
    aligned.sort(
        key=lambda a: (
            -a.exact,
            -(speaker_matches(named, a.unit.speaker) is not False),
            -len(a.covered),
            -a.similarity,
        )
    )

    def match(a: Alignment, rank: int) -> QuoteMatch:
        return QuoteMatch(
            passage(a, rank), a.exact, len(a.covered) / len(q), a.diff, speaker_matches(named, a.unit.speaker)
        )

    exact = [a for a in aligned if a.exact]
    if any(speaker_matches(named, a.unit.speaker) is not False for a in exact):
        return Verification(quote, "verbatim", [match(a, i) for i, a in enumerate(exact, 1)], named)
    # Up to three turns that together cover the quote: each adds a run of words the others lack.
    chosen: list[Alignment] = []
    covered: set[int] = set()
    for a in aligned:
        if len(a.covered - covered) >= min(MIN_RUN, len(q)) and len(chosen) < 3:
            chosen.append(a)
            covered |= a.covered
    if len(covered) / len(q) >= CLOSE_COVERAGE:
        return Verification(quote, "close", [match(a, i) for i, a in enumerate(chosen, 1)], named)
    shown = aligned[:SHOWN]
    return Verification(quote, "not_found", [match(a, i) for i, a in enumerate(shown, 1)], named)
