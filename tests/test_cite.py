"""Ready citations and the reporter's question: formatted from a passage, shown by the CLI, in --json."""

from __future__ import annotations

import json

import pytest

from rag.types import Filters, Passage
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


# A real two-paragraph question of 484 characters (docs_raw/002), and one of 689 (docs_raw/000).
LONG_QUESTION = (
    "Question (retranslated from English): Russia is a major partner for many Asian countries and a participant "
    "in many Asian forums including the Eastern Economic Forum, the ASEAN Regional Security Forum and the ASEAN "
    "Defence Ministers Meeting with Dialogue Partners. What do you think is Russia’s main strategic role in "
    "Southeast Asia and Asia as a whole in the next 10 years? What opportunities and challenges will Russia "
    "face in a strategic role in Southeast Asia and Asia in general?"
)


def _reply(service, question: str, doc_id: str, opening: str) -> Passage:
    passages = service.search(question, k=10, filters=Filters(doc_ids=(doc_id,)))
    return next(p for p in passages if p.text.startswith(opening))


@pytest.mark.slow
def test_a_reply_carries_the_whole_question_it_answers(seed_service):
    reply = _reply(
        seed_service,
        "Russia's strategic role in Southeast Asia and the development of the Far East",
        "002_ad062b82e5743122",
        "Sergey Lavrov: This is a key issue that determines the developments in the region.",
    )
    assert reply.question == LONG_QUESTION  # both its paragraphs, on one line

    # Past 600 characters a question is cut at a word, and says so.
    memes = _reply(
        seed_service,
        "Is Russia manipulating US public opinion with funny pictures and memes?",
        "000_81888bb7363425ad",
        "Sergey Lavrov: It's simply ridiculous",
    )
    assert memes.question and memes.question.endswith(" …") and len(memes.question) <= 602
    opening = "Question: Can we talk about a single international position on Syria?"
    assert memes.question.startswith(opening)
    # The model sees only the question's last sentences that fit beside the reply: the user sees its start.
    chunk = next(c for c in seed_service.retriever.store.chunks(memes.doc_id) if c.chunk_id == memes.chunk_id)
    assert chunk.context and not chunk.context.startswith(opening)
    full = " ".join(seed_service.document("000_81888bb7363425ad").text.split())
    assert full.find(memes.question.removesuffix(" …")) >= 0
    assert full[full.find(memes.question[:-2]) + len(memes.question) - 2] == " "  # never inside a word


@pytest.mark.slow
def test_the_cli_shows_the_whole_question(seed_service):
    question = "Russia's strategic role in Southeast Asia and the development of the Far East"
    args = ("rag", "search", question, "--k", "10", "--doc", "002_ad062b82e5743122", "--json")
    data = json.loads(run(*args, index=seed_service.settings.index_dir).stdout)
    assert LONG_QUESTION in [p["question"] for p in data["passages"]]
