"""Extractive answers: verbatim, checked quotes with attribution, and abstention on weak evidence."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from rag.answer.citations import CitationError, check
from rag.evaluate import load_questions
from rag.types import Filters

pytestmark = pytest.mark.slow
EVAL = Path(__file__).resolve().parent.parent / "eval" / "questions.jsonl"


def test_every_quote_is_verbatim_in_its_passage_and_document(seed_service):
    questions = [q for q in load_questions(EVAL) if q.answerable][:60]
    answered = 0
    for q in questions:
        answer = seed_service.ask(q.question, k=5)
        by_n = {p.rank: p for p in answer.passages}
        for c in answer.citations:
            passage = by_n[c.n]
            assert c.chunk_id == passage.chunk_id and c.doc_id == passage.doc_id
            assert c.quote in passage.text
            assert seed_service.document(c.doc_id).text[c.start : c.end] == c.quote
            assert f'"{c.quote}" [{c.n}]' in answer.answer
        answered += not answer.abstained
        assert 1 <= len(answer.citations) <= 3 or answer.abstained
    assert answered >= 55


def test_answer_quotes_the_speaker_place_and_date(seed_service):
    answer = seed_service.ask("How much has trade between Russia and ASEAN countries grown?")
    assert not answer.abstained
    assert (
        'Sergey Lavrov (Singapore, 2018-08-02): "' in answer.answer
        or 'Sergey Lavrov (Vladivostok, 2018-09-12): "' in answer.answer
    )
    assert any("trade" in c.quote for c in answer.citations)


def test_quotes_leave_out_the_speaker_label(seed_service):
    answer = seed_service.ask("Was the Ukrainsky detention a subject of ASEAN-Russia relations?")
    assert answer.citations and not any(c.quote.startswith("Sergey Lavrov:") for c in answer.citations)


@pytest.mark.parametrize(
    "question", ["What is the recipe for borscht?", "Who won the 2018 football World Cup?"]
)
def test_abstains_when_the_transcripts_do_not_say(seed_service, question):
    answer = seed_service.ask(question, k=4)
    assert answer.abstained and answer.citations == []
    assert "do not appear to contain" in answer.answer
    assert len(answer.passages) == 4  # the closest passages are still listed


def test_filters_reach_the_answer(seed_service):
    answer = seed_service.ask(
        "What did Lavrov say about terrorism?", filters=Filters(doc_ids=("001_b6cd861ff3b78f22",))
    )
    assert {c.doc_id for c in answer.citations} == {"001_b6cd861ff3b78f22"}


def test_a_tampered_citation_is_caught(seed_service):
    answer = seed_service.ask("What did Lavrov say about refugees returning to Syria?")
    citation = answer.citations[0]
    passage = next(p for p in answer.passages if p.rank == citation.n)
    check(citation, passage)
    for bad in (
        dataclasses.replace(citation, start=citation.start + 1),
        dataclasses.replace(citation, quote=citation.quote.upper()),
        dataclasses.replace(citation, chunk_id="other"),
    ):
        with pytest.raises(CitationError):
            check(bad, passage)
