"""Citing from the web page in Chromium: a ready citation copied in one click, a permalink that opens
the transcript at the span, and the answer exported as Markdown, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from rag.export import to_csv, to_markdown
from rag.types import Answer, Citation
from tests.api.test_page import QUESTION, REPORTS, ask, browser, web  # noqa: F401 - the module's fixtures
from tests.test_cite import passage

pytestmark = pytest.mark.slow


@pytest.fixture
def clip_page(browser, web):  # noqa: F811 - the fixtures imported above
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, permissions=["clipboard-read", "clipboard-write"]
    )
    page = context.new_page()
    page.goto(web.url)
    page.wait_for_selector("#filter-doc option[value='000_81888bb7363425ad']", state="attached")
    yield page
    context.close()


def test_copy_citation_puts_the_citation_and_its_permalink_on_the_clipboard(clip_page, web):  # noqa: F811
    page = clip_page
    expected = httpx.post(f"{web.url}/ask", json={"question": QUESTION, "k": 5}).json()
    ask(page, QUESTION)
    card = page.locator(".card").first
    cited = next(p for p in expected["passages"] if p["chunk_id"] == card.get_attribute("data-chunk-id"))
    assert cited["citation"].startswith("Sergey Lavrov, remarks and answers to media questions at the news")
    assert cited["citation"].endswith("Singapore, 2 August 2018")
    assert card.locator(".citation").inner_text() == cited["citation"]
    card.locator(".copy-citation").click()
    page.wait_for_function("document.querySelector('.card .copy-citation').textContent === 'Copied'")
    link = f"{web.url}/#/t/{cited['doc_id']}/{cited['start']}-{cited['end']}"
    assert page.evaluate("navigator.clipboard.readText()") == f"{cited['citation']}\n{link}"
    card.locator(".copy-link").click()
    page.wait_for_function("document.querySelector('.card .copy-link').textContent === 'Copied'")
    assert page.evaluate("navigator.clipboard.readText()") == link
    card.scroll_into_view_if_needed()
    page.screenshot(path=str(REPORTS / "web-cite.png"))


def test_a_permalink_opens_the_transcript_at_the_span(clip_page, web):  # noqa: F811
    page = clip_page
    citation = httpx.post(f"{web.url}/ask", json={"question": QUESTION}).json()["citations"][0]
    page.goto(f"{web.url}/#/t/{citation['doc_id']}/{citation['start']}-{citation['end']}")
    mark = page.wait_for_selector("#transcript:not([hidden]) mark.highlight")
    assert mark.inner_text() == citation["quote"]
    assert mark.is_visible() and page.locator("#transcript-title").inner_text().startswith("Foreign Minister")
    page.screenshot(path=str(REPORTS / "web-permalink.png"))


def test_a_reply_shows_the_question_it_answers_above_it(clip_page, web):  # noqa: F811
    page = clip_page
    ask(page, "Has Russia invited partners to join the Greater Eurasian Partnership?")
    card = page.locator(".card").filter(has=page.locator(".asked")).first
    asked = card.locator(".asked")
    assert asked.inner_text().startswith("In reply to: Question: Have you invited your current partners")
    # The question sits above the reply's words, and the reply is Lavrov's.
    assert card.locator(".asked").bounding_box()["y"] < card.locator(".passage-text").bounding_box()["y"]
    assert "Sergey Lavrov" in card.locator(".meta").first.inner_text()
    card.scroll_into_view_if_needed()
    page.screenshot(path=str(REPORTS / "web-question-context.png"))


def _download(page, button: str) -> tuple[str, str]:
    with page.expect_download() as info:
        page.click(button)
    download = info.value
    return download.suggested_filename, Path(download.path()).read_text(encoding="utf-8")


def test_export_downloads_the_answer_with_its_citations_as_markdown_csv_and_json(clip_page, web):  # noqa: F811
    page = clip_page
    expected = httpx.post(f"{web.url}/ask", json={"question": QUESTION, "k": 5}).json()
    assert expected["citations"] and not expected["abstained"]
    ask(page, QUESTION)
    page.wait_for_selector("#export:not([hidden])")

    name, markdown = _download(page, "#export-markdown")
    assert name == "what-did-lavrov-say-about-refugees-returning-to-syria.md"
    assert markdown.startswith(f"# {QUESTION}\n\n## Answer\n\n{expected['answer']}\n\n## Citations\n")
    for c in expected["citations"]:
        cited = next(p for p in expected["passages"] if p["rank"] == c["n"])
        assert f"- [{c['n']}] {cited['citation']}\n\n> {c['quote']}" in markdown
    for p in expected["passages"]:
        assert f"- Link: {web.url}/#/t/{p['doc_id']}/{p['start']}-{p['end']}" in markdown
    # The page's Markdown is the CLI's, word for word (the permalinks pointing at this server).
    cli = subprocess.run(
        [sys.executable, "-m", "rag.cli", "ask", QUESTION, "--format", "markdown", "--index", str(web.index)],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, RAG_PUBLIC_URL=web.url),
    )
    assert cli.returncode == 0, cli.stderr
    assert markdown == cli.stdout

    name, table = _download(page, "#export-csv")
    rows = list(csv.DictReader(io.StringIO(table, newline="")))
    assert name.endswith(".csv") and len(rows) == len(expected["passages"])
    for row, p in zip(rows, expected["passages"], strict=True):
        assert (row["rank"], row["citation"], row["text"]) == (str(p["rank"]), p["citation"], p["text"])

    name, document = _download(page, "#export-json")
    data = json.loads(document)
    assert name.endswith(".json") and data.pop("took_ms") >= 0
    assert data == {k: v for k, v in expected.items() if k != "took_ms"}

    page.click("#export-copy")
    page.wait_for_function("document.querySelector('#export-copy').textContent === 'Copied'")
    assert page.evaluate("navigator.clipboard.readText()") == markdown
    page.locator("#export").scroll_into_view_if_needed()
    page.screenshot(path=str(REPORTS / "web-export.png"))


def test_the_page_exports_a_timed_passage_as_the_cli_does(clip_page, web):  # noqa: F811
    page = clip_page
    timed = passage(
        t_start=3725.4, t_end=3760.0, source_url="https://mid.ru/en/1", text="We said it.\nTwice."
    )
    answer = Answer(
        'Sergey Lavrov: "We said it." [1]', False, [Citation(1, "c", "d", "We said it.", 0, 11)], [timed]
    )
    result = answer.to_dict()
    markdown = page.evaluate("([q, r]) => answerMarkdown(q, r)", ["Said?", result])
    assert markdown == to_markdown("Said?", [timed], web.url, answer)
    assert "- Time: 01:02:05–01:02:40\n- Source: https://mid.ru/en/1\n" in markdown
    table = page.evaluate("(ps) => passagesCsv(ps)", result["passages"])
    (row,) = csv.DictReader(io.StringIO(table, newline=""))
    (expected,) = csv.DictReader(io.StringIO(to_csv([timed]), newline=""))
    times = ("t_start", "t_end")
    assert [float(row.pop(t)) for t in times] == [float(expected.pop(t)) for t in times]  # 3760 or 3760.0
    assert row == expected and row["text"] == "We said it.\nTwice."


def test_the_page_escapes_cells_that_would_run_as_formulas_as_the_cli_does(clip_page):
    from tests.test_export import HOSTILE

    page = clip_page
    hostile = passage(**HOSTILE)
    table = page.evaluate(
        "(ps) => passagesCsv(ps)", [Answer("", True, [], [hostile]).to_dict()["passages"][0]]
    )
    (row,) = csv.DictReader(io.StringIO(table, newline=""))
    (expected,) = csv.DictReader(io.StringIO(to_csv([hostile]), newline=""))
    for name, value in HOSTILE.items():
        assert row[name] == "'" + value, name
    assert row == expected
