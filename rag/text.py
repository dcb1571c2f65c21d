"""Word-level helpers shared by parsing, retrieval and answers."""

from __future__ import annotations

import re
import unicodedata

# English function words, question words and reporting verbs: they mark English prose when frequent, and
# carry no evidence of what a question is about.
STOPWORDS = frozenset(
    """a about after all also an and any are as at be been before between but by can could did do does for
    from had has have he her his how i if in into is it its me more most must my new no not now of on only
    or other our over said say says she should so such tell than that the their them then there these they
    this those to under up very was we were what when where which who whom why will with would you your
    may""".split()  # noqa: SIM905 - a word list reads best as words
)
WORD = re.compile(r"\w+")
# Characters no reader sees that split a word for a machine: soft hyphen, zero-width space, left-to-right and
# right-to-left marks, word joiner, byte order mark (zero-width no-break space). Searches and quote checks
# compare text without them; the stored text keeps them, so that offsets point into what was written.
INVISIBLE = "\u00ad\u200b\u200e\u200f\u2060\ufeff"
_DROP_INVISIBLE = str.maketrans("", "", INVISIBLE)
_STRAIGHT = str.maketrans(
    {"‘": "'", "’": "'", "‚": "'", "‛": "'", "“": '"', "”": '"', "„": '"', "–": "-", "—": "-"}
)


def visible(text: str) -> str:
    """The text as a reader sees it: without the INVISIBLE characters."""
    return text.translate(_DROP_INVISIBLE)


def normalise(text: str, typography: bool = True) -> str:
    """Text in the form it is matched in: NFKC, single spaces, case-folded and, with `typography`, straight
    quotes and '-' for dashes (CONTRACT.md's matching form; without it, as duplicate detection compares)."""
    text = unicodedata.normalize("NFKC", text)
    if typography:
        text = text.translate(_STRAIGHT)
    return " ".join(text.casefold().split())


def content_words(text: str) -> list[str]:
    """The lower-cased words of a text that are not stopwords, in order, each once."""
    words = WORD.findall(unicodedata.normalize("NFKC", visible(text)).lower())
    return list(dict.fromkeys(w for w in words if w not in STOPWORDS))
