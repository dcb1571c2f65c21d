"""What a question says about when: the dates it names, and how well a document's date matches them. Pure."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

_MONTHS = {name.casefold(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS |= {name.casefold(): i for i, name in enumerate(calendar.month_abbr) if name} | {"sept": 9}
_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_YEAR = r"(?P<year>(?:19|20)\d\d)"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_PATTERNS = [
    re.compile(r"\b(?P<iso>(?:19|20)\d\d-[01]\d-[0-3]\d)\b"),
    re.compile(rf"\b{_MONTH}\s+{_DAY},?\s+{_YEAR}\b", re.IGNORECASE),  # January 22, 2021
    re.compile(rf"\b{_DAY}\s+{_MONTH},?\s+{_YEAR}\b", re.IGNORECASE),  # 22 January 2021
    re.compile(rf"\b{_MONTH},?\s+(?:of\s+)?{_YEAR}\b", re.IGNORECASE),  # January 2021
    re.compile(rf"\b{_YEAR}\b"),
]
SAME_YEAR = 0.3  # a document of the right year but another month or day than the question names


@dataclass(frozen=True)
class DateMention:
    """A date a question names, as precisely as it names it."""

    year: int
    month: int | None = None
    day: int | None = None


def question_dates(question: str) -> list[DateMention]:
    """The dates a question names ("January 22, 2021", "22 January 2021", "January 2021", "2021"), each
    once, the most precise reading of each piece of text first."""
    mentions: list[DateMention] = []
    taken: list[tuple[int, int]] = []
    for pattern in _PATTERNS:
        for m in pattern.finditer(question):
            if any(s < m.end() and m.start() < e for s, e in taken):
                continue
            taken.append(m.span())
            parts = m.groupdict()
            if parts.get("iso"):
                try:
                    day = date.fromisoformat(parts["iso"])
                except ValueError:
                    continue
                mentions.append(DateMention(day.year, day.month, day.day))
                continue
            month = _MONTHS[parts["month"].casefold()] if parts.get("month") else None
            number = int(parts["day"]) if parts.get("day") else None
            mentions.append(
                DateMention(int(parts["year"]), month, number if number and number <= 31 else None)
            )
    return list(dict.fromkeys(mentions))


def date_match(mentions: list[DateMention], iso: str | None) -> float:
    """1.0 when the document's date is one the question names (to the precision it names it), SAME_YEAR
    when only the year agrees, 0.0 otherwise or when the document has no date."""
    if not mentions or not iso:
        return 0.0
    day = date.fromisoformat(iso)
    best = 0.0
    for m in mentions:
        if m.year != day.year:
            continue
        exact = (m.month is None or m.month == day.month) and (m.day is None or m.day == day.day)
        best = max(best, 1.0 if exact else SAME_YEAR)
    return best
