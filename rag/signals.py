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
_PARTS = {  # a part of a year, as months first..last (winter: the year's own December, January, February)
    "spring": (3, 5), "summer": (6, 8), "fall": (9, 11), "autumn": (9, 11), "winter": (12, 2),
    "early": (1, 4), "beginning of": (1, 4), "start of": (1, 4), "first half of": (1, 6),
    "mid": (5, 8), "middle of": (5, 8),
    "late": (9, 12), "end of": (9, 12), "second half of": (7, 12),
    "first quarter of": (1, 3), "second quarter of": (4, 6), "third quarter of": (7, 9),
    "fourth quarter of": (10, 12), "q1": (1, 3), "q2": (4, 6), "q3": (7, 9), "q4": (10, 12),
}  # fmt: skip
_PART = "(?P<part>" + "|".join(p.replace(" ", r"\s+") for p in sorted(_PARTS, key=len, reverse=True)) + ")"
_NOT_A_COUNT = r"(?![\d,.]*\s*(?:%|percent|million|billion|thousand))"  # "May 2 million people": no day
_PATTERNS = [
    re.compile(r"\b(?P<iso>(?:19|20)\d\d-[01]\d-[0-3]\d)\b"),
    re.compile(rf"\b{_MONTH}\s+{_DAY},?\s+{_YEAR}\b", re.IGNORECASE),  # January 22, 2021
    re.compile(rf"\b{_DAY}\s+{_MONTH},?\s+{_YEAR}\b", re.IGNORECASE),  # 22 January 2021
    re.compile(rf"\b{_MONTH},?\s+(?:of\s+)?{_YEAR}\b", re.IGNORECASE),  # January 2021, mid-July 2023
    re.compile(rf"\b{_PART}[\s-]+(?:of\s+)?{_YEAR}\b", re.IGNORECASE),  # the summer of 2023, early 2022
    re.compile(rf"\b{_MONTH}\s+{_DAY}\b{_NOT_A_COUNT}", re.IGNORECASE),  # March 12
    re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}\b", re.IGNORECASE),  # the 12 March briefing, the 4th of July
    re.compile(rf"\b{_YEAR}\b"),
]
SAME_YEAR = 0.3  # a document of the right year but another month or day than the question names


@dataclass(frozen=True)
class DateMention:
    """A date a question names, as precisely as it names it: a year, a month or the months `month` to
    `through` (a season, "early 2022"), a day. A day named without a year ("the 12 March briefing") takes
    the year the question names elsewhere, if it names one; else it matches that day of any year."""

    year: int | None
    month: int | None = None
    day: int | None = None
    through: int | None = None  # the last month of a range that starts at `month`

    def months(self) -> set[int]:
        if self.month is None:
            return set(range(1, 13))
        last = self.through or self.month
        if last >= self.month:
            return set(range(self.month, last + 1))
        return {*range(self.month, 13), *range(1, last + 1)}  # winter


def question_dates(question: str) -> list[DateMention]:
    """The dates a question names ("January 22, 2021", "22 January 2021", "January 2021", "the summer of
    2023", "early 2022", "12 March", "2021"), each once, the most precise reading of each piece of text
    first."""
    mentions: list[DateMention] = []
    taken: list[tuple[int, int]] = []
    for pattern in _PATTERNS:
        for m in pattern.finditer(question):
            if any(s < m.end() and m.start() < e for s, e in taken):
                continue
            if (mention := _mention(m.groupdict())) is not None:
                taken.append(m.span())
                mentions.append(mention)
    years = {m.year for m in mentions if m.year is not None}
    if len(years) == 1 and any(m.year is None for m in mentions):
        (year,) = years  # "at the 12 March briefing ... in 2023": the year from the question's context
        filled = [DateMention(year, m.month, m.day, m.through) for m in mentions if m.year is None]
        mentions = [m for m in mentions if m.year is not None and m != DateMention(year)] + filled
    return list(dict.fromkeys(mentions))


def _mention(parts: dict[str, str | None]) -> DateMention | None:
    if iso := parts.get("iso"):
        try:
            when = date.fromisoformat(iso)
        except ValueError:
            return None
        return DateMention(when.year, when.month, when.day)
    year = int(named) if (named := parts.get("year")) else None
    if part := parts.get("part"):
        first, last = _PARTS[" ".join(part.casefold().split())]
        return DateMention(year, first, None, last)
    month = _MONTHS[named.casefold()] if (named := parts.get("month")) else None
    number = int(named) if (named := parts.get("day")) else None
    day = number if number and 1 <= number <= 31 else None
    if year is None and day is None:
        return None  # "May 40": not a date
    return DateMention(year, month, day)


def date_match(mentions: list[DateMention], iso: str | None) -> float:
    """1.0 when the document's date is one the question names (to the precision it names it), SAME_YEAR
    when only the year agrees, 0.0 otherwise or when the document has no date (a day named without a
    year matches that day of any year, and nothing else)."""
    if not mentions or not iso:
        return 0.0
    day = date.fromisoformat(iso)
    best = 0.0
    for m in mentions:
        if m.year is not None and m.year != day.year:
            continue
        exact = day.month in m.months() and (m.day is None or m.day == day.day)
        best = max(best, 1.0 if exact else SAME_YEAR if m.year is not None else 0.0)
    return best
