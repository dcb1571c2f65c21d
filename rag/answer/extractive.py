"""The default answer: the one to three sentences of the top passages that best answer the question."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rag.answer.citations import cite
from rag.ingest.clean import sentence_spans, speaker_label
from rag.text import content_words
from rag.types import Citation, Passage

ABSTAIN_MESSAGE = (
    "The transcripts do not appear to contain an answer to this question. "
    "The closest passages are listed below."
)


@dataclass(frozen=True)
class Sentence:
    passage: Passage
    n: int  # the passage's number in the answer's citations (its rank)
    start: int  # offsets relative to passage.text
    end: int

    @property
    def text(self) -> str:
        return self.passage.text[self.start : self.end]


@dataclass(frozen=True)
class ExtractiveSettings:
    passages: int = 3  # how many top passages supply candidate sentences
    max_sentences: int = 3
    margin: float = 0.08  # further sentences must score within this of the best
    lexical_weight: float = 0.3  # share of the question's content words a sentence contains
    rank_penalty: float = 0.02  # per rank below the first passage


def candidate_sentences(passages: list[Passage], settings: ExtractiveSettings) -> list[Sentence]:
    """Statements (not questions) from the top passages, without the speaker label."""
    out = []
    for passage in passages[: settings.passages]:
        for start, end in sentence_spans(passage.text):
            start += _label_length(passage.text, start)
            text = passage.text[start:end]
            if text.endswith("?") or len(text.split()) < 4:
                continue
            out.append(Sentence(passage, passage.rank, start, end))
    return out


def select(
    question: str, sentences: list[Sentence], similarities: np.ndarray, settings: ExtractiveSettings
) -> list[Sentence]:
    """Score sentences by embedding similarity, word overlap and passage rank; keep the best 1-3."""
    if not sentences:
        return []
    terms = _terms(question)
    scores = [
        float(sim)
        + settings.lexical_weight * (len(terms & _terms(s.text)) / max(1, len(terms)))
        - settings.rank_penalty * (s.n - 1)
        for s, sim in zip(sentences, similarities, strict=True)
    ]
    order = sorted(range(len(sentences)), key=lambda i: -scores[i])
    best = scores[order[0]]
    chosen = [sentences[i] for i in order[: settings.max_sentences] if scores[i] >= best - settings.margin]
    return sorted(chosen, key=lambda s: (s.n, s.start))


def compose(chosen: list[Sentence]) -> tuple[str, list[Citation]]:
    """Quotes with attribution and numbered, checked citations."""
    lines, citations = [], []
    for sentence in chosen:
        p = sentence.passage
        where = ", ".join(x for x in (p.place, p.date) if x)
        who = p.speaker or p.title
        lines.append(f'{who}{f" ({where})" if where else ""}: "{sentence.text}" [{sentence.n}]')
        citations.append(cite(sentence.n, p, sentence.start, sentence.end))
    return "\n".join(lines), citations


def _label_length(text: str, start: int) -> int:
    """Length of a leading "Sergey Lavrov: " label, which is not part of the quote's statement."""
    label = speaker_label(text[start:], upper_only=False) or speaker_label(text[start:], upper_only=True)
    return label.end if label else 0


def _terms(text: str) -> set[str]:
    return set(content_words(text))
