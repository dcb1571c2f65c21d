"""Hybrid retrieval over the seed corpus with the real model: rare terms, paraphrases, filters, duplicates."""

from __future__ import annotations

import shutil

import pytest

from rag.errors import BadInput
from rag.retrieve import FusionSettings, Retriever, fts_query, fuse
from rag.text import content_words
from rag.types import Filters
from tests.conftest import DOCS

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("question", "needle"),
    [
        ("Which UN resolution lays the basis for a Syrian settlement? Resolution 2254", "Resolution 2254"),
        ("What did Kelly Clements present?", "Kelly Clements"),
        ("Which trade figure of $20 billion was mentioned?", "$20 billion"),
    ],
)
def test_names_and_numbers_are_found(seed_service, question, needle):
    assert needle in seed_service.search(question, k=3)[0].text


def test_paraphrases_are_found_without_shared_words(seed_service):
    # The passage speaks of refugees going back to Syria; the question shares none of its content words.
    passages = seed_service.search("Are displaced people heading back to their homeland?", k=5)
    assert any("Refugees have begun returning home" in p.text for p in passages)


def test_passages_carry_their_citation_fields(seed_service):
    for p in seed_service.search("ASEAN and the Eurasian Economic Union", k=10):
        doc = seed_service.document(p.doc_id)
        assert doc.text[p.start : p.end] == p.text
        assert (p.title, p.date, p.place) == (doc.title, doc.date, doc.place)
        assert p.chunk_id and p.speaker
    ranks = [p.rank for p in seed_service.search("terrorism", k=7)]
    assert ranks == list(range(1, 8))


def test_filters_apply_before_the_cut(seed_service):
    only = seed_service.search("cooperation", k=8, filters=Filters(doc_ids=("003_33af551afb6d7a3b",)))
    assert len(only) == 8 and {p.doc_id for p in only} == {"003_33af551afb6d7a3b"}
    dated = seed_service.search("cooperation", k=10, filters=Filters(since="2018-01-01", until="2018-12-31"))
    assert len(dated) == 10 and {p.date[:4] for p in dated} == {"2018"}
    questions = seed_service.search("Syria", k=5, filters=Filters(speaker="question"))
    assert questions and all(p.speaker == "Question" for p in questions)
    department = seed_service.search("ASEAN", k=3, filters=Filters(speaker="Press Department"))
    assert {p.doc_id for p in department} == {"003_33af551afb6d7a3b"}
    assert seed_service.search("ASEAN", k=3, filters=Filters(since="2030-01-01")) == []


def test_bad_requests_say_what_is_wrong(seed_service):
    for call, message in [
        (lambda: seed_service.search("  "), "question is empty"),
        (lambda: seed_service.search("x" * 2001), "limit is 2000"),
        (lambda: seed_service.search("ASEAN", k=0), "k must be between 1 and 50"),
        (lambda: seed_service.search("ASEAN", k=51), "k must be between 1 and 50"),
        (lambda: seed_service.search("ASEAN", filters=Filters(doc_ids=("nope",))), "unknown doc_id 'nope'"),
        (lambda: seed_service.search("ASEAN", filters=Filters(since="2020-02-30")), "YYYY-MM-DD"),
        (
            lambda: seed_service.search("ASEAN", filters=Filters(since="2020-01-02", until="2020-01-01")),
            "after",
        ),
    ]:
        with pytest.raises(BadInput, match=message):
            call()


def test_a_matching_question_brings_its_answer_first(seed_service):
    # Words of a journalist's question; the reply that follows is what the user wants.
    passages = seed_service.search(
        "Was the detention of Dmitry Ukrainsky at the FBI's request raised with Mr Kerry?", k=3
    )
    assert passages[0].text.startswith("Sergey Lavrov: This is not a subject of ASEAN-Russia relations")


def test_the_same_statement_in_two_transcripts_is_shown_once(make_service, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(DOCS / "000_81888bb7363425ad.txt", docs)
    shutil.copy(DOCS / "000_81888bb7363425ad.txt", docs / "reprint.txt")
    service = make_service(docs)
    service.ingest()
    passages = service.search("Kelly Clements presented the position of the refugee agency", k=5)
    texts = [p.text for p in passages]
    assert sum("Kelly Clements" in t for t in texts) == 1
    assert len(texts) == len(set(texts)) == 5


def test_fusion_weights_and_ranks():
    fused = fuse([([1, 2, 3], 1.0), ([3, 4], 2.0)], rrf_k=60)
    assert fused[3] == pytest.approx(1 / 63 + 2 / 61)
    assert max(fused, key=fused.__getitem__) == 3 and fused[4] == pytest.approx(2 / 62)


def test_fts_query_quotes_every_word():
    words = content_words('What about "NEAR(x)" AND Syria\'s OR -troika?')
    assert fts_query(words) == '"near" OR "x" OR "syria" OR "s" OR "troika"'
    assert fts_query(words[2:4], "AND") == '"syria" AND "s"'
    assert fts_query(content_words("what is the")) == ""


def test_bm25_over_budget_searches_the_rarest_words_and_scores_all(seed_service):
    """With more matches than its budget, BM25 searches the rarest words (or all of them together), yet
    scores what it finds with every word, exactly as FTS5 does when searching them all."""
    live = seed_service.retriever
    question = "What did Kelly Clements say about Russia and Syria?"
    everything = dict(live._bm25(question, 1000, Filters()))
    assert len(everything) > 50  # "Russia" is in most passages
    tight = Retriever(live.store, live.dense, FusionSettings(bm25_budget=4))
    assert [row for row, _ in tight._bm25(question, 100, Filters())] == [
        max(everything, key=lambda r: -everything[r])
    ]
    passages, _ = tight.search(question, None, 5, Filters(), "bm25")
    assert "Kelly Clements" in passages[0].text
    some = Retriever(live.store, live.dense, FusionSettings(bm25_budget=20))
    found = some._bm25(question, 100, Filters())
    assert 1 < len(found) < len(everything)
    assert [score for _, score in found] == pytest.approx([everything[row] for row, _ in found], rel=1e-9)
    common = "Russia and Syria cooperation"  # every word in more than 4 passages: all of them together
    rows = [row for row, _ in tight._bm25(common, 100, Filters())]
    texts = live.store.db.execute(
        f"SELECT text || ' ' || context FROM chunks_fts WHERE rowid IN ({','.join('?' * len(rows))})", rows
    )
    assert len(rows) == 4 and all(
        {"russia", "syria", "cooperation"} <= set(content_words(t)) for (t,) in texts
    )
