"""GET /timeline against a real server, and the page's chart of it in Chromium (screenshot in eval/reports)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rag.config import Settings
from rag.service import Service
from tests.api.conftest import Server, start_server
from tests.api.test_page import REPORTS, browser  # noqa: F401 (the fixture)
from tests.test_timeline import EXPECTED, QUESTION, write_corpus

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def krill_server(tmp_path_factory, embedder) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("krill-http")
    Service(Settings(index_dir=base / "index", docs_dir=write_corpus(base / "docs")), embedder).ingest()
    server = start_server(base / "index", api_key="timeline-key")
    yield server
    server.stop()


def test_timeline_counts_per_month_and_speaker_behind_the_key(krill_server):
    with krill_server.client("timeline-key") as http:
        body = http.get("/timeline", params={"q": QUESTION}).json()
        assert {k: body[k] for k in EXPECTED} == EXPECTED
        kirby = http.get("/timeline", params={"q": QUESTION, "speaker": "kirby", "until": "2024-02-01"}).json()
        assert (kirby["total"], kirby["buckets"][0]["speakers"]) == (1, {"Mr. Kirby": 1})
        both = "2024-01-10-briefing,2024-05-02-briefing"
        by_id = http.get("/timeline", params={"q": QUESTION, "doc_ids": both}).json()
        assert (by_id["total"], [b["count"] for b in by_id["buckets"]]) == (4, [2, 2])
        nothing = http.get("/timeline", params={"q": "What was said about tulip bulb prices in Amsterdam?"})
        assert nothing.json() | {"question": ""} == {"question": "", "total": 0, "undated": 0, "buckets": [],
                                                     "reason": "not_in_transcripts"}
        assert "/timeline" in http.get("/openapi.json").json()["paths"]
    with krill_server.client() as anonymous:
        refused = anonymous.get("/timeline", params={"q": QUESTION})
        assert refused.status_code == 401 and "API key" in refused.json()["detail"]


@pytest.mark.parametrize(
    ("params", "status", "detail"),
    [
        ({}, 422, "q: Field required"),
        ({"q": "   "}, 422, "question"),
        ({"q": "x" * 2001}, 422, "q:"),
        ({"q": QUESTION, "since": "2024-13-01"}, 422, "since"),
        ({"q": QUESTION, "since": "2024-05-01", "until": "2024-01-01"}, 422, "after until"),
        ({"q": QUESTION, "doc_ids": "no-such-transcript"}, 404, "unknown doc_id"),
    ],
)
def test_bad_timeline_requests_get_a_readable_4xx(krill_server, params, status, detail):
    with krill_server.client("timeline-key") as http:
        response = http.get("/timeline", params=params)
        assert response.status_code == status, response.text
        assert detail in response.json()["detail"]


def test_the_page_draws_the_timeline_and_a_bar_opens_its_month(browser, krill_server):  # noqa: F811
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    page.goto(krill_server.url)
    page.wait_for_selector("#key-input", state="visible")  # the documents' 401 asks for the key
    page.fill("#key-input", "timeline-key")
    page.click("#key-form button[type=submit]")
    page.fill("#question", QUESTION)
    page.click("#timeline-button")
    page.wait_for_selector(".bar-month")
    bars = page.locator(".bar-month")
    assert [bars.nth(i).get_attribute("data-month") for i in range(bars.count())] == ["2024-01", "2024-05"]
    assert bars.nth(0).get_attribute("aria-label") == "2024-01: 3 passages (Ms. Jean-Pierre 2, Mr. Kirby 1)"
    assert "6 (1 in undated transcripts)" in page.text_content("#timeline-title")
    assert page.locator("#timeline-chart text", has_text="2024-03").count() == 1  # an empty month keeps its place
    bars.nth(0).click()
    page.wait_for_selector("#passages .card")
    cards = page.locator("#passages .card")
    assert cards.count() == 3
    metas = [cards.nth(i).locator(".meta").text_content() or "" for i in range(3)]
    assert all(m.startswith("2024-01-") for m in metas), metas
    assert page.text_content("#passages-title") == "2024-01: 3 passages that answer"
    page.screenshot(path=str(REPORTS / "web-timeline.png"), full_page=True)
    context.close()
