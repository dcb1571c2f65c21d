"""Properties over every real transcript: docs_raw/ and the 1,154 White House briefings in ../shared.

Nothing said is lost (every word of the body is in the cleaned text, in order), and no passage contains
another speaker's turn. The shares are printed (`pytest -s`) and must be 100% and 0.
"""

from __future__ import annotations

import functools
import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from rag.ingest.chunk import ChunkSettings, chunk_document
from rag.ingest.parse import parse_document, read_transcript
from rag.types import Document
from tests.conftest import DOCS, ROOT

pytestmark = pytest.mark.slow  # minutes of parsing and segmenting: outside `make test-fast`
ARCHIVE = Path(os.environ.get("RAG_ARCHIVE_DIR") or ROOT.parent / "shared" / "corpus" / "wh-press-briefings")
_WORD = re.compile(r"\w+(?:['’.]\w+)*")
# What the parsers take out of a briefing on purpose: front matter, the place and time lines before the
# first turn, the END line and the closing marks.
_FRONT = re.compile(r"\A---\n.*?\n---\n", re.DOTALL)
_CLOCK = re.compile(
    r"^\s*(?:END\s+)?\d{1,2}:\d{2}\s*[AP]\.?\s*M\.?(?:\s+[A-Z]{2,4})?\s*$|^\s*\\?#{3}\s*$|^\s*END\s*$"
)


def archive_files() -> list[Path]:
    if not ARCHIVE.is_dir():
        pytest.skip(f"the shared archive is absent ({ARCHIVE}): nothing to check against")
    return sorted(ARCHIVE.glob("*.md"))


def _parse(path: Path) -> tuple[Path, str, Document]:
    text, sha = read_transcript(path)
    return path, text, parse_document(path.stem, text, sha, str(path), path.name)


@functools.cache
def _parsed(paths: tuple[Path, ...]) -> list[tuple[Path, str, Document]]:
    """Parsed on every core, once for the module's tests (the archive takes a minute or more on one)."""
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        return list(pool.map(_parse, paths, chunksize=16))


def parsed(*groups: list[Path]) -> Iterator[tuple[Path, str, Document]]:
    for paths in groups:
        yield from _parsed(tuple(paths))


def body_words(raw: str, doc: Document) -> list[str]:
    """The words a person said: the file without front matter, time lines and the place line."""
    body = _FRONT.sub("", raw.replace("\r\n", "\n"))
    paragraphs = (" ".join(p.split()) for p in re.split(r"\n[ \t\u00a0]*\n", body))
    words = _WORD.findall(" ".join(p for p in paragraphs if not _CLOCK.match(p)))
    if doc.place:
        place = _WORD.findall(doc.place)
        for i in range(len(words) - len(place) + 1):
            if words[i : i + len(place)] == place:
                del words[i : i + len(place)]
                break
    return words


def kept_in_order(words: list[str], text: str) -> int:
    """How many of words appear in text in order (a greedy walk)."""
    found, position = 0, 0
    for word in words:
        at = text.find(word, position)
        if at >= 0:
            found += 1
            position = at + len(word)
    return found


def test_every_word_of_every_briefing_is_kept_in_order():
    files = archive_files()
    started = time.perf_counter()
    total = kept = 0
    worst: list[tuple[float, str]] = []
    for path, raw, doc in parsed(files):
        words = body_words(raw, doc)
        k = kept_in_order(words, doc.text)
        total, kept = total + len(words), kept + k
        if k < len(words):
            worst.append((k / len(words), path.name))
    seconds = time.perf_counter() - started
    share = kept / total
    print(
        f"\n{len(files)} briefings parsed in {seconds:.1f} s; words kept in order: {kept}/{total} = {share:.4%}"
    )
    assert len(files) == 1154
    assert share == 1.0, f"words lost in {sorted(worst)[:5]}"


def test_every_paragraph_of_the_seed_pages_is_kept():
    """A mid.ru page repeats its transcript (kept once) between its own chrome (header, title, language
    switcher, tags, footer): every paragraph between the first and the last one kept is in the text."""
    for path, raw, doc in parsed(sorted(DOCS.glob("*.txt"))):
        first, last = doc.text[: doc.paragraphs[0].end], doc.text[doc.paragraphs[-1].start :]
        body = raw[raw.index(first[:40]) : raw.rindex(last[-40:])]
        missing = [
            p for p in (" ".join(p.split()) for p in re.split(r"\n\s*\n", body)) if p and p not in doc.text
        ]
        assert missing == [], path.name


class _Counter:
    """Tokens as whitespace words: the real tokenizer's limits, without loading a model."""

    def __call__(self, text: str) -> int:
        return len(text.split()) * 4 // 3


# A label at a paragraph's start, written out independently of the parser: "MS. PSAKI:", "Q ",
# "Sergey Lavrov:", "Question (retranslated from English):".
# A reporter's "Q" typed before a label in capitals ("Q MR. KIRBY: So, two thoughts") is a slip, not a turn.
_LABEL_AT_START = re.compile(
    r"(?:^|\n\n)(?:Q (?=[A-Z][A-Z.'’\-]+(?: [A-Z][A-Z.'’\-]+){0,4}:\s))?(?:(?P<q>Q)\s|(?P<name>[A-Z][\w.'’\-]*(?: [A-Z][\w.'’\-]*){0,4})(?: ?\([^()]*\))?:\s)"
)
_QUESTION_WORDS = {"q", "question", "remark", "journalist", "interviewer", "correspondent", "reporter"}


def _letters(name: str) -> str:
    return re.sub(r"[^\w]|_|\d", "", name.casefold())


def foreign_labels(text: str, speaker: str | None, is_question: bool, upper_only: bool) -> list[str]:
    """Labels in a passage's text that name someone other than its speaker.

    Args:
        upper_only: a briefing-room transcript, whose labels are in capitals ("On Haiti: ..." is a sentence).
    """
    out = []
    for match in _LABEL_AT_START.finditer(text):
        if upper_only and match["name"] and not match["name"].split()[-1].isupper():
            continue
        label = _letters(match["q"] or match["name"])
        if label in _QUESTION_WORDS:
            if not is_question:
                out.append(match.group().strip())
        elif label == "answer":
            if is_question:
                out.append(match.group().strip())
        elif label != _letters(speaker or ""):
            out.append(match.group().strip())
    return out


def _foreign_turns(doc: Document, settings: ChunkSettings) -> tuple[int, list[str]]:
    """How many passages the document has, and each one holding another speaker's label."""
    chunks = chunk_document(doc, _Counter(), settings)
    return len(chunks), [
        f"{chunk.chunk_id} ({chunk.speaker}): {foreign}"
        for chunk in chunks
        if (foreign := foreign_labels(chunk.text, chunk.speaker, chunk.is_question, doc.format != "mid.ru"))
    ]


def test_no_passage_contains_another_speakers_turn():
    """Over every fourth briefing of the archive (289, in name order) and the seed pages: chunking
    segments every paragraph into sentences, about 1 ms each, so the whole archive would take minutes of
    every test run; turns themselves are checked over the whole archive below."""
    settings = ChunkSettings(max_tokens=192, overlap_sentences=1, model_max_tokens=256)
    briefings = [doc for _, _, doc in parsed(archive_files())]  # parsed once for every test here
    docs = briefings[::4] + [doc for _, _, doc in parsed(sorted(DOCS.glob("*.txt")))]
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        counted = list(pool.map(_foreign_turns, docs, [settings] * len(docs), chunksize=16))
    passages = sum(n for n, _ in counted)
    examples = [example for _, found in counted for example in found]
    spanning = len(examples)
    print(
        f"\n{passages} passages; containing another speaker's label: {spanning} = {spanning / passages:.4%}"
    )
    assert spanning == 0, examples[:10]


# -- every label opens its speaker's turn, however it is punctuated -------------------------------------

_CAPS = "A-ZÀ-ÖØ-Þ"
_SP = "[ \t\u00a0]"
# A colon label at the start of one of the file's paragraphs, written out independently of the parser; once
# a reporter's "Q" is typed before it ("Q    MR. KIRBY:  So, two thoughts here").
_COLON_LABEL = re.compile(
    rf"(?:\A|\n{_SP}*\n){_SP}*(?:Q{_SP}+)?(?P<name>(?:(?:Mr|Ms|Mrs|Dr)\.?{_SP}+)?[{_CAPS}][{_CAPS}.'’\-]*"
    rf"(?:{_SP}+[{_CAPS}][{_CAPS}.'’\-]*){{0,5}}|[A-Z][\w.\-]*(?:{_SP}+[A-Z][\w.\-]*){{1,4}}){_SP}*:"
)
_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|<>~$])")
_NOT_NAMES = {"note", "end", "update", "correction", "source", "transcript"}  # "NOTE:" names nobody


def _in_capitals(name: str) -> bool:
    """ "MR. KIRBY", "Dr. WALENSKY", "SENIOR ADMINISTRATION OFFICIAL"."""
    words = name.split()
    if len(words) > 1 and words[0].rstrip(".").lower() in {"mr", "ms", "mrs", "dr"}:
        words = words[1:]
    return all(word.isupper() for word in words)


def _label_at_start(names: list[str]) -> re.Pattern[str]:
    alternatives = "|".join(f"{_SP}+".join(map(re.escape, n.split())) for n in names)
    return re.compile(
        rf"{_SP}*(?:Q{_SP}+)?(?P<name>{alternatives})(?P<sep>{_SP}*[:.;]|)(?P<space>{_SP}+)(?P<next>\S)"
    )


def _variant(found: re.Match[str]) -> str | None:
    """How a line writes a label at its start: "colon", "full stop", "semicolon", "no colon" (before a
    capital, a dash or a quote, in capitals only), with "+ no-break space" after it; None for no label."""
    sep = found["sep"].strip(" \t\u00a0")
    if not sep and not (found["name"].isupper() and (found["next"].isupper() or found["next"] in '—–-“"‘([')):
        return None
    kind = {":": "colon", ".": "full stop", ";": "semicolon", "": "no colon"}[sep]
    return kind + (" + no-break space" if "\u00a0" in found["space"] else "")


def _occurrences(text: str, needle: str) -> Iterator[int]:
    at = text.find(needle)
    while at >= 0:
        yield at
        at = text.find(needle, at + 1)


def mislabelled_turns(raw: str, doc: Document) -> tuple[Counter[str], list[str]]:
    """(label variants found, the lines that open with a known speaker's label but do not open a turn of
    that speaker). A known speaker is one the file labels with a colon at a paragraph's start somewhere."""
    body = _MD_ESCAPE.sub(r"\1", _FRONT.sub("", raw.replace("\r\n", "\n")))
    known = {
        " ".join(m["name"].split())
        for m in _COLON_LABEL.finditer(body)
        if len(_letters(m["name"])) >= 2 and _letters(m["name"]) not in _NOT_NAMES
    }
    if any(map(_in_capitals, known)):  # a briefing: "Take St. Louis: ..." is a sentence
        known = set(filter(_in_capitals, known))
    if not known:
        return Counter(), []
    pattern = _label_at_start(sorted(known, key=len, reverse=True))
    starts = {p.start: p for p in doc.paragraphs}
    variants: Counter[str] = Counter()
    wrong: list[str] = []
    lines = body.split("\n")
    cursor = 0
    for line in lines:
        found = pattern.match(line)
        if not found or not (variant := _variant(found)):
            continue
        name = found["name"]
        variants[variant] += 1
        needle = " ".join(line.split())
        at = doc.text.find(needle, cursor)
        if at < 0:  # a repeat a web page's copy drops (mid.ru): kept where it was first said
            at = next((p for p in _occurrences(doc.text, needle) if p in starts), -1)
        turn = starts.get(at)
        label = _letters(name)
        if turn is None:
            wrong.append(f"{doc.doc_id}: {needle[:50]!r} does not open a paragraph")
        elif (label in _QUESTION_WORDS and not turn.is_question) or (
            label not in _QUESTION_WORDS and label != "answer" and _letters(turn.speaker or "") != label
        ):
            wrong.append(f"{doc.doc_id}: {needle[:50]!r} given to {turn.speaker!r}")
        cursor = max(cursor, at + 1) if at >= 0 else cursor
    return variants, wrong


def test_every_known_speakers_label_opens_a_turn_of_that_speaker():
    """ "MR. KIRBY.  Thank you, Karine." (a full stop and a no-break space for the colon) in a transcript where
    "MR. KIRBY:" opens other turns is Kirby's turn, not the press secretary's. Over every file of the archive
    and the seed pages: the count of such lines given to anyone else (must be 0), and the variants found."""
    files = archive_files()
    variants: Counter[str] = Counter()
    wrong: list[str] = []
    for _, raw, doc in parsed(files, sorted(DOCS.glob("*.txt"))):
        found, bad = mislabelled_turns(raw, doc)
        variants += found
        wrong += bad
    print(f"\nlabels of known speakers by variant: {dict(variants.most_common())}")
    print(f"not opening a turn of their speaker: {len(wrong)}")
    assert len(files) == 1154
    assert variants["full stop + no-break space"] >= 8 and variants["no colon"] >= 3
    assert wrong == [], wrong[:10]
