"""`rag timeline` and Service.timeline: the passages that answer, counted per month and speaker, against
a count done by hand on a small corpus (the real embedding model: the evidence test is calibrated on it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from rag.cli import cli
from rag.errors import BadInput
from rag.timeline import UNATTRIBUTED, count_by_month
from rag.types import Filters, Passage

QUESTION = "What did officials say about the ban on Antarctic krill fishing?"
OFF_TOPIC = [  # said beside the krill answers; none of them answers
    "The new budget adds money for highway repairs in Ohio and Kentucky.",
    "The President will host the Japanese prime minister at Camp David next week.",
    "Vaccination sites will stay open through the holidays in every state.",
    "We expect the jobs report on Friday to show steady wage growth.",
]


def briefing(date: str, turns: list[tuple[str, str]]) -> str:
    body = "\n\n".join(f"{label}:  {said}" for label, said in turns)
    return f"---\ntitle: 'Press Briefing, {date}'\ndate: '{date}'\n---\n\nJames S. Brady Press Briefing Room\n\n{body}\n"


# The hand count: every turn below that speaks of the krill ban, by month and speaker.
CORPUS = {
    "2024-01-10-briefing.md": briefing(
        "2024-01-10",
        [
            ("MS. JEAN-PIERRE", "Good afternoon. " + OFF_TOPIC[0]),
            ("MS. JEAN-PIERRE", "The administration supports the ban on Antarctic krill fishing in the Southern Ocean."),
            ("Q", "Will the krill fishing ban in Antarctica be enforced by the Coast Guard?"),
            ("MS. JEAN-PIERRE", "Enforcement of the Antarctic krill ban falls to the treaty partners, and we will do our part."),
            ("Q", "On another topic: the summit."),
            ("MS. JEAN-PIERRE", OFF_TOPIC[1]),
        ],
    ),
    "2024-01-25-briefing.md": briefing(
        "2024-01-25",
        [
            ("MR. KIRBY", "Krill fishing in Antarctic waters must stop: the ban protects the whales that feed on krill."),
            ("MR. KIRBY", OFF_TOPIC[2]),
        ],
    ),
    "2024-03-05-briefing.md": briefing(
        "2024-03-05",
        [("MS. JEAN-PIERRE", OFF_TOPIC[3]), ("MR. KIRBY", OFF_TOPIC[1].replace("next week", "in April"))],
    ),
    "2024-05-02-briefing.md": briefing(
        "2024-05-02",
        [
            ("MR. KIRBY", "Russia and China blocked the Antarctic krill fishing ban at the commission meeting."),
            ("MS. JEAN-PIERRE", "We are disappointed that the krill ban for the Antarctic was not adopted this year."),
            ("MS. JEAN-PIERRE", OFF_TOPIC[0].replace("Ohio", "Texas")),
        ],
    ),
    "ocean-notes.txt": "Jane Doe: The ban on fishing Antarctic krill is what the penguin colonies need.\n\n"
    "Jane Doe: " + OFF_TOPIC[2] + "\n",
}
EXPECTED = {
    "total": 6,
    "undated": 1,
    "buckets": [
        {"month": "2024-01", "count": 3, "speakers": {"Ms. Jean-Pierre": 2, "Mr. Kirby": 1}},
        {"month": "2024-05", "count": 2, "speakers": {"Mr. Kirby": 1, "Ms. Jean-Pierre": 1}},
    ],
}


def write_corpus(docs: Path) -> Path:
    docs.mkdir(parents=True, exist_ok=True)
    for name, text in CORPUS.items():
        (docs / name).write_text(text, encoding="utf-8")
    return docs


@pytest.fixture(scope="module")
def krill(tmp_path_factory, embedder):
    from rag.config import Settings
    from rag.service import Service

    base = tmp_path_factory.mktemp("krill")
    service = Service(Settings(index_dir=base / "index", docs_dir=write_corpus(base / "docs")), embedder)
    service.ingest()
    return service


def passage(date: str | None, speaker: str | None) -> Passage:
    return Passage(1, 1.0, "c", "d", "t", date, None, speaker, "x", 0, 1)


def test_months_in_order_with_their_speakers_most_first_and_undated_apart():
    t = count_by_month(
        "q",
        [
            passage("2020-03-02", "B"),
            passage("2019-12-31", "A"),
            passage("2020-03-20", "A"),
            passage("2020-03-21", "A"),
            passage(None, "A"),
            passage("2020-03-22", None),
        ],
    )
    assert t.to_dict() == {
        "question": "q",
        "total": 6,
        "undated": 1,
        "buckets": [
            {"month": "2019-12", "count": 1, "speakers": {"A": 1}},
            {"month": "2020-03", "count": 4, "speakers": {"A": 2, "B": 1, UNATTRIBUTED: 1}},
        ],
    }


@pytest.mark.slow
def test_the_timeline_of_a_topic_is_the_count_done_by_hand(krill):
    got = krill.timeline(QUESTION).to_dict()
    assert {k: got[k] for k in EXPECTED} == EXPECTED, got


@pytest.mark.slow
def test_filters_narrow_the_count_and_a_question_nobody_answered_counts_nothing(krill):
    kirby = krill.timeline(QUESTION, Filters(speaker="Kirby")).to_dict()
    assert [(b["month"], b["speakers"]) for b in kirby["buckets"]] == [
        ("2024-01", {"Mr. Kirby": 1}),
        ("2024-05", {"Mr. Kirby": 1}),
    ]
    assert kirby["undated"] == 0
    spring = krill.timeline(QUESTION, Filters(since="2024-02-01")).to_dict()
    assert (spring["total"], [b["month"] for b in spring["buckets"]]) == (2, ["2024-05"])
    nothing = krill.timeline("What did the minister say about the price of tulip bulbs in Amsterdam?")
    assert (nothing.total, nothing.reason) == (0, "not_in_transcripts")
    none_match = krill.timeline(QUESTION, Filters(speaker="Lavrov"))
    assert (none_match.total, none_match.reason) == (0, "no_match_for_filters")


@pytest.mark.slow
def test_rag_timeline_prints_one_json_document_and_a_table(krill):
    index = str(krill.settings.index_dir)
    runner = CliRunner()
    as_json = runner.invoke(cli, ["timeline", QUESTION, "--json", "--index", index])
    assert as_json.exit_code == 0, as_json.output
    assert {k: json.loads(as_json.stdout)[k] for k in EXPECTED} == EXPECTED
    table = runner.invoke(cli, ["timeline", QUESTION, "--index", index])
    assert table.exit_code == 0 and "2024-01" in table.output and "Mr. Kirby 1" in table.output
    bad = runner.invoke(cli, ["timeline", QUESTION, "--since", "2024-13-01", "--index", index])
    assert isinstance(bad.exception, BadInput) and "--since" in str(bad.exception)  # exit 2 in rag.cli.main
