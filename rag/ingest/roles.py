"""Who each speaker of a transcript is, in the transcript's own words: the names and roles it gives them.

A label such as `MS. PSAKI` or `SECRETARY YELLEN` is resolved by finding its surname in the title and the
opening of the text, where guests are introduced: the capitalised words just before the name are the
speaker's role and first names ("joined by National Economic Council Director Brian Deese", "Press
Briefing by Press Secretary Jen Psaki"). No list of people or titles is kept here. Pure.
"""

from __future__ import annotations

import re

from rag.types import Document

_HEAD_CHARS = 4000  # the title and the opening, where a briefing introduces who speaks
_HONORIFICS = {"mr", "ms", "mrs", "miss", "dr", "q"}
# Up to six capitalised words (or the small words inside a role: "Secretary of the Treasury") before a name.
# On one line; a word with a full stop is an abbreviation ("Dr.", "Sen."), not the end of a sentence.
_WORD = r"(?:[A-Z][A-Za-z]{0,3}\.|[A-Z][\w'’-]*)[ \t]+"
_SMALL = r"(?:of|the|for)[ \t]+(?=(?:the[ \t]+)?[A-Z])"
_BEFORE = rf"(?<![\w.’'-])((?:{_WORD}|{_SMALL}){{0,6}})"


def speaker_fields(doc: Document) -> dict[str, str]:
    """Per speaker label of the document, the words BM25 finds that speaker by: the label itself, then
    each name and role the title and the opening lines give the same surname (duplicates dropped)."""
    head = f"{doc.title}\n{doc.text[:_HEAD_CHARS]}"
    fields: dict[str, str] = {}
    for label in dict.fromkeys([*doc.speakers, *([doc.speaker] if doc.speaker else [])]):
        words = [w for w in re.findall(r"[^\W\d_]+", label) if w.casefold() not in _HONORIFICS]
        if not words:
            fields[label] = label
            continue
        # The surname as the text writes it ("McCarthy" for the label's "MCCARTHY" or "Mccarthy").
        found = [
            re.sub(r"^(?:of|the|for)\s+", "", " ".join(m.group(0).split()))
            for m in re.finditer(rf"{_BEFORE}(?i:{re.escape(words[-1])})\b", head)
        ]
        fields[label] = " ".join(
            dict.fromkeys([label, *(f for f in found if f.casefold() != words[-1].casefold())])
        )
    return fields
