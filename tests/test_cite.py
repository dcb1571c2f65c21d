"""Ready citations and the reporter's question: formatted from a passage, shown by the CLI, in --json."""

from __future__ import annotations

import json

import pytest

from rag.types import Passage
from tests.test_cli import run

TITLE = (
    "Foreign Minister Sergey Lavrov's remarks and answers to media questions at the news conference following "
    "the Russia-ASEAN Foreign Ministers’ Meeting, Singapore, August 2, 2018"
)


def passage(**fields) -> Passage:
    base = dict(rank=1, score=1.0, chunk_id="c", doc_id="d", title=TITLE, date="2018-08-02", place="Singapore")
    return Passage(**(base | {"speaker": "Sergey Lavrov", "text": "x", "start": 0, "end": 1} | fields))


def test_a_citation_names_speaker_occasion_place_and_date():
    assert passage().citation == (
        "Sergey Lavrov, remarks and answers to media questions at the news conference following the "
        "Russia-ASEAN Foreign Ministers’ Meeting, Singapore, 2 August 2018"
    )
    replies = passage(
        title="Remarks and replies by Foreign Minister Sergey Lavrov at the news conference, Moscow, June 17, 2020",
        date="2020-06-17",
        place="Moscow",
    )
    assert replies.citation == "Sergey Lavrov, remarks and replies at the news conference, Moscow, 17 June 2020"


def test_a_citation_adds_the_time_and_the_link_when_known():
    timed = passage(t_start=3725.4, source_url="https://mid.ru/en/1")
    assert timed.citation.endswith("Singapore, 2 August 2018, at 01:02:05. https://mid.ru/en/1")
    assert passage(t_start=65.0).citation.endswith(", at 00:01:05")
    untitled = passage(title="Press briefing", speaker=None, place=None, date=None)
    assert untitled.citation == "Press briefing"


@pytest.mark.slow
def test_cli_shows_the_question_answered_the_citation_and_a_permalink(seed_service):
    index = seed_service.settings.index_dir
    question = "Have you invited your current partners to join the Greater Eurasian Partnership?"
    shown = run("rag", "search", question, "--k", "1", index=index)
    assert shown.returncode == 0, shown.stderr
    assert "In reply to: Question: Have you invited your current partners" in shown.stdout
    assert "Cite: Sergey Lavrov, remarks and answers to media questions" in shown.stdout
    assert "Link: http://127.0.0.1:8000/#/t/000_81888bb7363425ad/" in shown.stdout
    data = json.loads(run("rag", "search", question, "--k", "1", "--json", index=index).stdout)
    first = data["passages"][0]
    assert first["citation"].endswith("Singapore, 2 August 2018") and first["question"].startswith("Question:")
