"""Quote verification on the real model and index: verdicts, spans, word diffs, speakers, and the probe gate."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rag.config import Settings
from rag.quote_eval import TARGETS, evaluate_quotes, load_probes
from rag.service import Service
from rag.types import Document, Filters, Paragraph, Passage, names_speaker
from rag.verify import Alignment, Unit, align, judge, turns, words
from tests.conftest import DOCS, ROOT
from tests.test_cli import run

PROBES = ROOT / "eval" / "quote_probes.jsonl"
ANNUAL = (
    "This is an annual event that is usually used as an opportunity to sum up the results of the year’s work "
    "and discuss plans for the future."
)
BLOC = (
    "ASEAN does not welcome recent attempts to restructure this work on a bloc basis by introducing new "
    "ideas imposed by a narrow circle on all others."
)


@pytest.fixture(scope="module")
def quotes(tmp_path_factory: pytest.TempPathFactory, embedder) -> Service:
    """The probes' corpus: the seed transcripts and a White House briefing (several officials speak)."""
    base = tmp_path_factory.mktemp("quotes")
    docs = base / "docs"
    shutil.copytree(DOCS, docs)
    for path in (ROOT / "eval" / "quote_corpus").iterdir():
        shutil.copy(path, docs)
    service = Service(Settings(index_dir=base / "index", docs_dir=docs), embedder)
    service.ingest()
    return service


def test_align_finds_the_span_and_diffs_words():
    text = "Mr. A: We will never agree to that, as I said yesterday in Paris."
    unit = Unit("d", "A", 7, len(text), words(text[7:], 7))
    quote = "we will NEVER agree to this, as I said in Paris"
    [a] = align(words(quote), quote, unit, text)
    assert (
        not a.exact and text[a.start : a.end] == "We will never agree to that, as I said yesterday in Paris"
    )
    assert [(op.op, op.quote, op.source) for op in a.diff if op.op != "same"] == [
        ("changed", "this", "that"),
        ("missing", "", "yesterday"),
    ]
    [exact] = align(words("“as I said yesterday”"), "“as I said yesterday”", unit, text)
    assert exact.exact and text[exact.start : exact.end] == "as I said yesterday"


def test_runs_far_apart_in_a_turn_are_two_places():
    said = "We will never agree to that. " + "Other things were discussed at length today. " * 3
    text = said + "Our partners know it very well."
    unit = Unit("d", "A", 0, len(text), words(text))
    quote = "We will never agree to that. Our partners know it very well."
    places = align(words(quote), quote, unit, text)
    assert [text[a.start : a.end] for a in places] == [
        "We will never agree to that",
        "Our partners know it very well",
    ]


def test_turns_join_a_speakers_paragraphs_and_keep_questions_apart():
    text = "One. Two. Why? Three."
    paragraphs = (
        Paragraph(0, 4, "A"),
        Paragraph(5, 9, "A"),
        Paragraph(10, 14, "Question", True),
        Paragraph(15, 21, "A"),
    )
    doc = Document("d", "t", None, None, None, "A", text, paragraphs, "", "x")
    assert [(u.speaker, u.start, u.end) for u in turns(doc)] == [
        ("A", 0, 9),
        ("Question", 10, 14),
        ("A", 15, 21),
    ]


def _span(a: Alignment, rank: int) -> Passage:
    return Passage(
        rank, a.similarity, "c", a.unit.doc_id, "t", None, None, a.unit.speaker, "", a.start, a.end
    )


def test_a_named_speaker_is_whole_words_of_the_name_never_a_letter():
    text = "We will never agree to that, as I said yesterday in Paris."
    lavrov = Unit("d", "Sergey Lavrov", 0, len(text), words(text))
    quote = "We will never agree to that"
    verdicts = {
        named: (v.verdict, v.matches[0].speaker_matches, v.wrong_speaker)
        for named in ("Lavrov", "sergey LAVROV", "a", "Lav", "Lavrov Sergey", "ser")
        for v in [judge(quote, [lavrov], {"d": text}, named, _span)]
    }
    assert verdicts["Lavrov"] == verdicts["sergey LAVROV"] == ("verbatim", True, False)
    for named in ("a", "Lav", "Lavrov Sergey", "ser"):
        assert verdicts[named] == ("close", False, True), named
    assert names_speaker("nunez", "Dr. Nunez-Smith") and names_speaker("question", "Question")
    assert not names_speaker("...", "Sergey Lavrov") and not names_speaker("a", None)


@pytest.mark.slow
def test_verbatim_after_normalising_quotes_dashes_and_case(quotes):
    typed = ANNUAL.upper().replace("’", "'")  # a reporter's straight apostrophe, shouted
    result = quotes.verify(typed)
    assert result.verdict == "verbatim"
    m = result.matches[0]
    doc = quotes.document(m.passage.doc_id)
    assert doc.text[m.passage.start : m.passage.end] == m.passage.text == ANNUAL.rstrip(".")
    assert (m.passage.speaker, m.passage.date, m.passage.place) == (
        "Sergey Lavrov",
        "2018-08-02",
        "Singapore",
    )
    assert m.passage.chunk_id.startswith(m.passage.doc_id) and m.speaker_matches is None


@pytest.mark.slow
def test_changed_words_are_close_with_a_word_diff(quotes):
    result = quotes.verify(BLOC.replace("new ", "").replace("narrow", "small"), Filters(speaker="lavrov"))
    assert result.verdict == "close"
    m = result.matches[0]
    assert m.speaker_matches is True and not result.wrong_speaker
    assert [(op.op, op.quote, op.source) for op in m.diff if op.op != "same"] == [
        ("missing", "", "new"),
        ("changed", "small", "narrow"),
    ]


@pytest.mark.slow
def test_words_put_in_another_speakers_mouth_are_flagged(quotes):
    result = quotes.verify(BLOC, Filters(speaker="Psaki"))
    assert result.verdict == "close" and result.wrong_speaker
    assert result.matches[0].passage.speaker == "Sergey Lavrov" and result.matches[0].exact
    assert quotes.verify(BLOC, Filters(speaker="Lavrov")).verdict == "verbatim"


@pytest.mark.slow
def test_a_quote_stitched_from_two_places_shows_both(quotes):
    result = quotes.verify(f"{ANNUAL} {BLOC}")
    assert result.verdict == "close"
    spans = {(m.passage.doc_id, m.passage.text) for m in result.matches}
    assert spans == {("000_81888bb7363425ad", ANNUAL.rstrip(".")), ("000_81888bb7363425ad", BLOC.rstrip("."))}


@pytest.mark.slow
def test_an_invented_quote_is_not_found_and_the_closest_are_shown(quotes):
    result = quotes.verify(
        "Russia will open a permanent naval base in Vientiane before the end of this decade."
    )
    assert result.verdict == "not_found"
    assert 1 <= len(result.matches) <= 3 and all(m.coverage < 0.6 for m in result.matches)


@pytest.mark.slow
def test_probe_set_meets_the_targets(quotes):
    """The CI gate: precision and recall of each verdict, and every wrong-speaker probe flagged."""
    probes = load_probes(PROBES)
    kinds = {p.kind for p in probes}
    assert len(probes) >= 100
    assert kinds == {"verbatim", "word_changed", "clause_dropped", "stitched", "wrong_speaker", "invented"}
    result = evaluate_quotes(quotes, probes)
    assert result.failures() == [], result.failures()
    assert set(TARGETS) <= set(result.metrics)


@pytest.mark.slow
def test_cli_verify_json_and_readable_output(quotes):
    index = quotes.settings.index_dir
    result = run("rag", "verify", BLOC, "--speaker", "Psaki", "--json", index=index)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["verdict"] == "close" and data["matches"][0]["speaker_matches"] is False
    shown = run("rag", "verify", BLOC, "--speaker", "Psaki", index=index)
    assert "These words were said by Sergey Lavrov, not by Psaki." in shown.stdout
    changed = run("rag", "verify", BLOC.replace("narrow", "small"), index=index)
    assert "Close" in changed.stdout and "[narrow → small]" in changed.stdout
    empty = run("rag", "verify", "  ", index=index)
    assert empty.returncode == 2 and "quote is empty" in empty.stderr and empty.stdout == ""


@pytest.mark.slow
def test_eval_quotes_command_checks_the_targets(quotes, tmp_path: Path):
    probes = tmp_path / "probes.jsonl"
    probes.write_text("".join(line + "\n" for line in PROBES.read_text().splitlines()[:3]))
    result = run("rag", "eval", "--quotes", str(probes), "--json", "--check", index=quotes.settings.index_dir)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["metrics"]["verbatim_recall"] == 1.0
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x"}\n')
    failed = run("rag", "eval", "--quotes", str(bad), index=quotes.settings.index_dir)
    assert failed.returncode == 2 and "bad.jsonl:1: not a probe" in failed.stderr


def test_invisible_characters_in_a_transcript_hide_no_word_from_verify_or_search(
    make_service, tmp_path: Path
):
    docs = tmp_path / "docs"
    docs.mkdir()
    said = (
        "The sanc\u00adtions have fai\u200bled com\u2060pletely, and \ufeffeveryone in Brus\u200bsels knows "
        "it by now."
    )
    (docs / "hidden.txt").write_text(
        f"Remarks on sanctions\n\nSergey Lavrov: {said}\n\nAnna Lee: Thank you.\n"
    )
    service = make_service(docs)
    service.ingest()
    doc = service.document("hidden")
    assert said in doc.text  # the text keeps them: offsets point into what was written
    result = service.verify("The sanctions have failed completely, and everyone in Brussels knows it")
    assert result.verdict == "verbatim", result
    m = result.matches[0].passage
    assert (
        doc.text[m.start : m.end] == m.text == said.removesuffix(" by now.") and m.speaker == "Sergey Lavrov"
    )
    for mode in ("bm25", "hybrid"):
        hits = service.search("Brussels sanctions failed completely", k=1, mode=mode)
        assert hits and hits[0].doc_id == "hidden" and said in hits[0].text, mode


def test_one_verification_reads_one_generation(make_service, tmp_path: Path, monkeypatch):
    """A new generation switched in while a quote is checked: its candidates and their documents both come
    from the generation the verification started on."""
    from rag.retrieve import Retriever

    docs = tmp_path / "docs"
    docs.mkdir()
    said = "The sanctions have failed completely, and everyone in Brussels knows it by now."
    remarks = docs / "remarks.txt"
    remarks.write_text(f"Remarks on sanctions\n\nSergey Lavrov: {said}\n\nAnna Lee: Thank you.\n")
    service = make_service(docs)
    service.ingest()
    phrase_spans = Retriever.phrase_spans

    def then_a_writer_switches(self, *args, **kwargs):
        spans = phrase_spans(self, *args, **kwargs)
        if "Brussels" in remarks.read_text():
            remarks.write_text("Other remarks\n\nAnna Lee: Nothing was said about trade in Paris today.\n")
            service.ingest()
        return spans

    monkeypatch.setattr(Retriever, "phrase_spans", then_a_writer_switches)
    result = service.verify("The sanctions have failed completely, and everyone in Brussels knows it")
    assert "Brussels" not in service.document("remarks").text  # the new generation is live
    assert result.verdict == "verbatim", result
    assert result.matches[0].passage.text == said.removesuffix(" by now.")
