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
