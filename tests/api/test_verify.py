"""POST /verify of CONTRACT.md against a real server: verdicts, spans, diffs, the speaker flag, errors."""

from __future__ import annotations

import pytest

from tests.conftest import PASSAGE_FIELDS
from tests.test_verify import BLOC

pytestmark = pytest.mark.slow
MATCH_FIELDS = PASSAGE_FIELDS | {"verbatim", "coverage", "diff"}


def test_verbatim_quote_gives_document_speaker_and_span(server):
    with server.client() as http:
        body = http.post("/verify", json={"quote": f"“{BLOC.upper()}”"}).json()
        assert body["verdict"] == "verbatim"
        m = body["matches"][0]
        assert set(m) == MATCH_FIELDS and m["verbatim"] and m["coverage"] == 1.0
        assert (m["doc_id"], m["speaker"], m["date"], m["place"]) == (
            "000_81888bb7363425ad",
            "Sergey Lavrov",
            "2018-08-02",
            "Singapore",
        )
        text = http.get(f"/documents/{m['doc_id']}").json()["text"]
        assert text[m["start"] : m["end"]] == m["text"] == BLOC.rstrip(".")
        assert "/verify" in http.get("/openapi.json").json()["paths"]


def test_close_quote_carries_a_word_diff_and_the_speaker_flag(server):
    with server.client() as http:
        quote = BLOC.replace("narrow", "small")
        right = http.post("/verify", json={"quote": quote, "filters": {"speaker": "Lavrov"}}).json()
        assert right["verdict"] == "close" and right["matches"][0]["speaker_matches"] is True
        assert {"op": "changed", "quote": "small", "source": "narrow"} in right["matches"][0]["diff"]
        wrong = http.post("/verify", json={"quote": BLOC, "filters": {"speaker": "Psaki"}}).json()
        assert wrong["verdict"] == "close" and wrong["matches"][0]["speaker_matches"] is False
        invented = http.post(
            "/verify", json={"quote": "Russia will open a permanent naval base in Vientiane this decade."}
        ).json()
        assert invented["verdict"] == "not_found" and 1 <= len(invented["matches"]) <= 3


@pytest.mark.parametrize(
    ("payload", "status", "detail"),
    [
        ({"quote": "  "}, 422, "quote is empty"),
        ({"quote": "x" * 2001}, 422, "the limit is 2000"),
        ({"text": "ASEAN"}, 422, "quote: Field required"),
        ({"quote": "ASEAN", "k": 3}, 422, "k: unknown field"),
        ({"quote": "ASEAN", "filters": {"since": "2020-02-30"}}, 422, "filters.since"),
        ({"quote": "ASEAN", "filters": {"doc_ids": ["nope"]}}, 404, "unknown doc_id 'nope'"),
    ],
)
def test_bad_requests_get_a_readable_4xx(server, payload, status, detail):
    with server.client() as http:
        response = http.post("/verify", json=payload)
        assert response.status_code == status and detail in response.json()["detail"]


def _monologue() -> tuple[bytes, list[str]]:
    """A caption file of one long turn: eight ten-second cues, several paragraphs in each passage."""
    sentences = [
        f"Point {n} of the quokka agreement concerns the {place} reserve, where rangers will count the "
        f"animals every {n + 1} weeks and report to both ministries in writing."
        for n, place in enumerate(
            ["Rottnest", "Bald Island", "Perth", "Albany", "Esperance", "Denmark", "Margaret", "Augusta"]
        )
    ]
    cues = "".join(
        f"00:{10 * i // 60:02d}:{10 * i % 60:02d}.000 --> 00:{(10 * i + 10) // 60:02d}:{(10 * i + 10) % 60:02d}.000\n<v Maria Zakharova>{s}\n\n"
        for i, s in enumerate(sentences)
    )
    return f"WEBVTT\n\n{cues}".encode(), sentences


def test_a_quote_from_a_caption_transcript_carries_the_time_it_was_said_and_the_link(server):
    raw, sentences = _monologue()
    markdown = (
        "---\ntitle: Quokka briefing\nsource_url: https://example.org/quokka-briefing\n---\n\n"
        "Maria Zakharova: The rangers of Kangaroo Island will train the quokka counters next spring.\n"
    )
    with server.client() as http:
        for name, body in (("quokka_monologue.vtt", raw), ("quokka_linked.md", markdown.encode())):
            uploaded = http.post("/documents", files={"file": (name, body)})
            assert uploaded.status_code == 201, uploaded.text
        doc = http.get("/documents/quokka_monologue").json()
        quote = sentences[5]  # said from 00:00:50 to 00:01:00, inside a passage that begins earlier
        found = http.post("/search", json={"question": quote, "filters": {"doc_ids": ["quokka_monologue"]}})
        passage = next(p for p in found.json()["passages"] if quote.rstrip(".") in p["text"])
        assert passage["t_start"] < 50.0  # the passage began before the quote was said
        body = http.post(
            "/verify", json={"quote": quote, "filters": {"doc_ids": ["quokka_monologue"]}}
        ).json()
        assert body["verdict"] == "verbatim", body
        m = body["matches"][0]
        assert doc["text"][m["start"] : m["end"]] == m["text"]
        assert m["t_start"] is not None and m["t_end"] is not None
        assert passage["t_start"] < m["t_start"] <= 50.0 and 60.0 <= m["t_end"] <= passage["t_end"]
        assert f"at 00:00:{int(m['t_start']):02d}" in m["citation"]
        linked = http.post(
            "/verify",
            json={
                "quote": "will train the quokka counters next spring",
                "filters": {"doc_ids": ["quokka_linked"]},
            },
        ).json()
        assert linked["verdict"] == "verbatim"
        assert linked["matches"][0]["source_url"] == "https://example.org/quokka-briefing"
        assert linked["matches"][0]["citation"].endswith("https://example.org/quokka-briefing")
