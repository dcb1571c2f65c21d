"""When was it said, and by whom: the passages that answer a question, counted per month and speaker."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from rag.types import Passage

UNATTRIBUTED = "(no speaker)"  # a passage whose transcript names nobody (plain text, machine transcript)


@dataclass(frozen=True)
class Bucket:
    month: str  # YYYY-MM
    count: int
    speakers: dict[str, int]  # most passages first


@dataclass(frozen=True)
class Timeline:
    question: str
    buckets: list[Bucket] = field(default_factory=list)
    undated: int = 0  # passages that answer in documents without a date: counted in total, in no month
    reason: str | None = None  # why nothing was counted (the evidence is too weak to answer)

    @property
    def total(self) -> int:
        return sum(b.count for b in self.buckets) + self.undated

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "question": self.question,
            "total": self.total,
            "undated": self.undated,
            "buckets": [{"month": b.month, "count": b.count, "speakers": b.speakers} for b in self.buckets],
        }
        if self.reason:
            out["reason"] = self.reason
        return out


def count_by_month(question: str, passages: list[Passage]) -> Timeline:
    """Months in order, each with its passages' count and who said them; months with none are left out."""
    speakers: dict[str, Counter[str]] = defaultdict(Counter)
    undated = 0
    for p in passages:
        if not p.date:
            undated += 1
            continue
        speakers[p.date[:7]][p.speaker or UNATTRIBUTED] += 1
    buckets = [
        Bucket(month, sum(by.values()), dict(by.most_common())) for month, by in sorted(speakers.items())
    ]
    return Timeline(question, buckets, undated)
