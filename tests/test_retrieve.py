"""Hybrid retrieval over the seed corpus with the real model: rare terms, paraphrases, filters, duplicates."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from rag.errors import BadInput
from rag.fusion import SIGNALS, rank_feature
from rag.index.local import LocalPassages, fts_query
from rag.retrieve import Candidates, FusionSettings, Retriever
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


def test_fusion_weights_ranks_and_signals():
    dense, bm25 = rank_feature([1, 2, 3], 60), rank_feature([3, 4], 60)
    assert dense[3] == pytest.approx(60 / 63) and 4 not in dense
    rows = [1, 2, 3, 4]
    features = np.zeros((4, len(SIGNALS)))
    features[:, SIGNALS.index("dense")] = [dense.get(r, 0.0) for r in rows]
    features[:, SIGNALS.index("bm25")] = [bm25.get(r, 0.0) for r in rows]
    features[:, SIGNALS.index("speaker")] = [0.0, 1.0, 0.0, 0.0]
    found = Candidates(rows, features, {})
    fused = found.scores({"dense": 1.0, "bm25": 2.0})
    assert fused[3] == pytest.approx(60 / 63 + 2 * 60 / 61)
    assert max(fused, key=fused.__getitem__) == 3 and fused[4] == pytest.approx(2 * 60 / 62)
    assert max(found.scores({"dense": 1.0, "speaker": 1.0}).items(), key=lambda i: i[1])[0] == 2


def test_fts_query_quotes_every_word():
    words = content_words('What about "NEAR(x)" AND Syria\'s OR -troika?')
    assert fts_query(words) == '"near" OR "x" OR "syria" OR "s" OR "troika"'
    assert fts_query(words[2:4], "AND") == '"syria" AND "s"'
    assert fts_query(content_words("what is the")) == ""


def test_bm25_over_budget_searches_the_rarest_words_and_scores_all(seed_service):
    """With more matches than its budget, BM25 searches the rarest words (or all of them together), yet
    scores what it finds with every word, exactly as FTS5 does when searching them all."""
    live = seed_service.retriever.store
    question = "What did Kelly Clements say about Russia and Syria?"
    everything = dict(live.bm25(question, 1000, Filters()))
    assert len(everything) > 50  # "Russia" is in most passages
    tight = LocalPassages(live.chunk_store, live.dense_index, bm25_budget=4)
    assert [row for row, _ in tight.bm25(question, 100, Filters())] == [
        max(everything, key=lambda r: -everything[r])
    ]
    passages, _ = Retriever(tight, FusionSettings()).search(question, None, 5, Filters(), "bm25")
    assert "Kelly Clements" in passages[0].text
    some = LocalPassages(live.chunk_store, live.dense_index, bm25_budget=20)
    found = some.bm25(question, 100, Filters())
    assert 1 < len(found) < len(everything)
    assert [score for _, score in found] == pytest.approx([everything[row] for row, _ in found], rel=1e-9)
    common = "Russia and Syria cooperation"  # every word in more than 4 passages: all of them together
    rows = [row for row, _ in tight.bm25(common, 100, Filters())]
    texts = live.chunk_store.db.execute(
        f"SELECT text || ' ' || context || ' ' || speaker || ' ' || title || ' ' || place FROM chunks_fts WHERE rowid IN ({','.join('?' * len(rows))})",
        rows,
    )
    assert len(rows) == 4 and all(
        {"russia", "syria", "cooperation"} <= set(content_words(t)) for (t,) in texts
    )


BRIEFING = """Press Briefing by Press Secretary Jen Psaki and Treasury Secretary Janet Yellen, March 5, 2021

MS. PSAKI:  Good afternoon.  Today we are joined by Treasury Secretary Janet Yellen.  On prices, we think
inflation will stay moderate and the rise in prices this spring is temporary.

SECRETARY YELLEN:  Thank you, Jen.  On prices, I expect inflation to stay moderate; the rise in prices
this spring is temporary.

Q    Thank you.  What about jobs?

SECRETARY YELLEN:  We are still ten million jobs short of where we were.
"""


@pytest.fixture(scope="module")
def briefings(tmp_path_factory, embedder):
    """Two briefings, a year apart, where two speakers say the same thing about prices."""
    from rag.config import Settings
    from rag.service import Service

    base = tmp_path_factory.mktemp("briefings")
    docs = base / "docs"
    docs.mkdir()
    (docs / "march-2021.txt").write_text(BRIEFING)
    (docs / "march-2022.txt").write_text(BRIEFING.replace("2021", "2022"))
    service = Service(Settings(index_dir=base / "index", docs_dir=docs), embedder)
    service.ingest()
    return service


@pytest.mark.parametrize(
    ("question", "speaker"),
    [
        ("What did the Treasury secretary say about inflation?", "Secretary Yellen"),
        ("What did Yellen say about inflation?", "Secretary Yellen"),
        ("What did the press secretary say about inflation?", "Ms. Psaki"),
    ],
)
def test_a_question_naming_a_speaker_or_role_prefers_that_speakers_turns(briefings, question, speaker):
    assert briefings.search(question, k=1)[0].speaker == speaker


def test_the_speaker_signal_weighs_who_speaks_not_how_long_they_speak(briefings):
    store = briefings.retriever.store
    rows = [
        r
        for (r,) in store.chunk_store.db.execute("SELECT row FROM chunks WHERE speaker = 'Secretary Yellen'")
    ]
    lengths = {r: n for r, n in store.chunk_store.db.execute("SELECT row, length(text) FROM chunks")}
    assert len(rows) == 4 and len({lengths[r] for r in rows}) == 2  # a long and a short turn in each briefing
    others = [r for r in lengths if r not in rows]
    scores = store.speaker_match("What did the Treasury secretary say?", rows + others)
    assert scores[: len(rows)] == [1.0] * len(rows) and max(scores[len(rows) :]) < 1.0


def test_a_question_naming_a_date_prefers_documents_of_then(briefings):
    assert briefings.search("What did Yellen say about inflation in March 2022?", k=1)[0].date == "2022-03-05"
    assert briefings.search("What did Yellen say about inflation in March 2021?", k=1)[0].date == "2021-03-05"


def test_sentence_vectors_are_indexed_and_leave_with_their_document(briefings, make_service):
    from rag.index.base import MAX_SENTENCES
    from rag.index.store import SENTENCES, Manifest, current_generation

    def passages_of_sentences(service):
        store = service.retriever.store
        assert store.sentence_index is not None and len(store.sentence_index) > len(store)
        rows = set((store.sentence_index.contents()[1] // MAX_SENTENCES).tolist())
        return rows, {r for (r,) in store.chunk_store.db.execute("SELECT row FROM chunks")}

    generation = current_generation(briefings.settings.index_dir)
    assert generation is not None and (generation / SENTENCES).exists()
    assert Manifest.load(generation).sentences["codec"] == "sq8"
    service = make_service(briefings.settings.docs_dir)
    service.ingest()
    service.delete_document("march-2021")
    found, chunks = passages_of_sentences(service)
    assert found == chunks and service.documents()[0].doc_id == "march-2022"
