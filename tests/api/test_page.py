"""The web page in a real browser (Debian's Chromium driven by Playwright) against a real server."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import Server, start_server

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
REPORTS = Path(__file__).resolve().parents[2] / "eval" / "reports"
QUESTION = "What did Lavrov say about refugees returning to Syria?"
EVIL = (
    "3 March 202112:00\n\nStatement by Foreign Minister Sergey Lavrov on markup, Moscow, March 3, 2021\n\n"
    "Sergey Lavrov: We condemn <script>window.pwned = 1</script> attacks on websites and the "
    '<img src=x onerror="window.pwned = 2"> tags hidden in press releases.\n'
)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is missing in CI: `make test` should have installed it")
        pytest.skip("Debian's chromium is not installed (make test installs it as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-sync",
                "--disable-background-networking",
                "--disable-component-update",
            ],
        )
        yield browser
        browser.close()


BRACKETS = (
    "4 March 202112:00\n\nStatement by Foreign Minister Sergey Lavrov on walrus resolutions, Moscow, March 4, 2021"
    "\n\nSergey Lavrov: The walrus council adopted resolution [2] on walrus migration routes, as footnote [1] "
    "of the walrus treaty requires.\n"
)


@pytest.fixture(scope="module")
def web(seed_index) -> Iterator[Server]:
    server = start_server(seed_index)
    with server.client() as http:
        assert http.post("/documents", json={"doc_id": "evil_markup", "text": EVIL}).status_code == 201
        assert http.post("/documents", json={"doc_id": "brackets", "text": BRACKETS}).status_code == 201
    yield server
    server.stop()


@pytest.fixture
def page(browser, web):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(web.url)
    page.wait_for_selector("#filter-doc option[value='000_81888bb7363425ad']", state="attached")
    yield page
    context.close()


def ask(page, question: str) -> None:
    page.fill("#question", question)
    page.press("#question", "Enter")  # Enter asks
    page.wait_for_selector("#answer:not([hidden]) #answer-title")
    page.wait_for_function("document.querySelector('#status').textContent === ''")


def test_ask_shows_cited_passages_and_clicks_through_to_the_span(page, web):
    expected = httpx.post(f"{web.url}/ask", json={"question": QUESTION, "k": 5}).json()
    ask(page, QUESTION)
    assert page.text_content("#answer-title") == "Answer"
    assert page.text_content("#answer-text") == expected["answer"]
    cites = page.query_selector_all("#answer-text .cite")
    assert [c.text_content() for c in cites] == [f"[{c['n']}]" for c in expected["citations"]]
    cards = page.query_selector_all("#passages .card")
    assert len(cards) == len({c["n"] for c in expected["citations"]})
    marks = [m.text_content() for m in page.query_selector_all("#passages mark")]
    assert marks == [c["quote"] for c in sorted(expected["citations"], key=lambda c: (c["n"], c["start"]))]
    page.screenshot(path=str(REPORTS / "web-answer.png"), full_page=True)

    for i in reversed(range(len(cites))):  # each citation opens its own span; the first one last
        cites[i].click()
        page.wait_for_selector("#transcript:not([hidden]) mark.highlight")
        assert page.text_content("#transcript mark.highlight") == expected["citations"][i]["quote"]
        assert page.is_visible("#transcript mark.highlight")  # scrolled into view
        speakers = {s.text_content() for s in page.query_selector_all("#transcript .speaker")}
        assert {"Question", "Sergey Lavrov"} <= speakers  # speaker turns are visible
        if i:
            page.click("#transcript-close")
    page.screenshot(path=str(REPORTS / "web-transcript.png"))


def test_abstention_is_clear_and_lists_the_closest_passages(page):
    ask(page, "What is the recipe for borscht?")
    assert page.text_content("#answer-title") == "Not in the transcripts"
    assert "do not appear to contain" in page.text_content("#answer-text")
    assert page.text_content("#passages-title") == "Closest passages"
    assert len(page.query_selector_all("#passages .card")) == 5


def test_transcript_markup_is_shown_as_text(page):
    ask(page, "What did Lavrov say about script tags hidden in press releases?")
    card = page.query_selector("#passages .card[data-chunk-id^='evil_markup']")
    assert card and "<script>window.pwned = 1</script>" in card.text_content()
    page.click("#nav-documents")
    page.click("#documents-table a:has-text('Sergey Lavrov on markup')")
    page.wait_for_selector("#transcript:not([hidden])")
    assert "<img src=x onerror=" in page.text_content("#transcript-body")
    assert page.evaluate("window.pwned") is None
    assert page.query_selector("#transcript-body script, #transcript-body img, #passages script") is None


def test_filters_errors_documents_and_upload(page, tmp_path):
    page.click("summary")
    page.fill("#filter-since", "2020-01-01")
    page.fill("#filter-until", "2019-01-01")
    page.fill("#question", "ASEAN")
    page.press("#question", "Enter")
    page.wait_for_selector("#error:not([hidden])")
    assert page.text_content("#error").startswith(
        "Please check your input: since (2020-01-01) is after until"
    )
    page.fill("#filter-since", "")
    page.fill("#filter-until", "")
    page.select_option("#filter-doc", "003_33af551afb6d7a3b")
    ask(page, "cooperation")
    assert {
        c.get_attribute("data-chunk-id").split(":")[0] for c in page.query_selector_all("#passages .card")
    } == {"003_33af551afb6d7a3b"}

    page.click("#nav-documents")
    rows = page.query_selector_all("#documents-table tbody tr")
    titles = [r.query_selector("td").text_content() for r in rows]
    assert len(rows) >= 6 and any(t.startswith("Foreign Minister Sergey Lavrov") for t in titles)
    assert rows[0].query_selector_all("td")[3].text_content() == "en"  # the language
    assert rows[0].query_selector_all("td")[4].text_content().isdigit()
    transcript = tmp_path / "walrus_briefing.txt"
    transcript.write_text(
        "Briefing on walruses, Moscow, May 5, 2021\n\nSergey Lavrov: Walruses need a treaty too.\n"
    )
    page.set_input_files("#upload-file", str(transcript))
    page.click("#upload-form button")
    page.wait_for_function("document.querySelector('#upload-status').textContent.startsWith('Indexed')")
    assert page.text_content("#upload-status").endswith("as doc_id walrus_briefing (1 passage).")
    assert "Briefing on walruses" in page.text_content("#documents-table")
    page.set_input_files("#upload-file", {"name": "empty.txt", "mimeType": "text/plain", "buffer": b""})
    page.click("#upload-form button")
    page.wait_for_selector("#error:not([hidden])")
    assert "empty file" in page.text_content("#error")


def test_phone_width_is_readable(browser, web):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(web.url)
    ask(page, QUESTION)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    context.close()


def test_the_page_asks_for_the_api_key_once(browser, seed_index):
    secured = start_server(seed_index, api_key="page-key")
    try:
        context = browser.new_context()
        page = context.new_page()
        page.goto(secured.url)
        page.wait_for_selector("#key-form:not([hidden])")
        assert "needs an API key: enter it below" in page.text_content("#error")
        page.fill("#key-input", "not-the-key")
        page.press("#key-input", "Enter")
        page.wait_for_function("document.querySelector('#error').textContent.includes('wrong')")
        assert page.text_content("#error").startswith("The API key was wrong: enter the right one below")
        box = page.query_selector("#key-form").bounding_box()
        assert box and box["y"] > page.query_selector("#error").bounding_box()["y"]  # below, as it says
        page.fill("#key-input", "page-key")
        page.press("#key-input", "Enter")
        page.wait_for_selector("#filter-doc option[value='000_81888bb7363425ad']", state="attached")
        assert page.is_hidden("#key-form") and page.is_hidden("#error")
        page.reload()  # kept for the session
        page.wait_for_selector("#filter-doc option[value='000_81888bb7363425ad']", state="attached")
        ask(page, QUESTION)
        assert page.query_selector_all("#answer-text .cite")
        context.close()
    finally:
        secured.stop()


def test_an_llm_answer_streams_into_the_page(browser, seed_index):
    from tests.fake_llm import FakeLLM, Reply

    fake = FakeLLM(script=[Reply("unused")]).start()
    server = start_server(seed_index, llm="openai", llm_base_url=fake.url, llm_model="m", llm_max_retries="0")
    try:
        fake.script = [
            Reply(
                "Refugees have begun returning home [1].",
                piece_delay=0.4,
                pieces=["Refugees have ", "begun returning ", "home [1]."],
            )
        ]
        context = browser.new_context()
        page = context.new_page()
        page.goto(server.url)
        page.fill("#question", QUESTION)
        page.press("#question", "Enter")
        # Part of the answer is on the page while the rest is still being written.
        page.wait_for_function(
            "document.querySelector('#answer-text').textContent.startsWith('Refugees have')"
            " && !document.querySelector('#answer-text').textContent.includes('home')"
        )
        assert page.text_content("#status") == "Writing the answer…"
        page.wait_for_selector("#answer-text .cite")
        assert page.text_content("#answer-text") == "Refugees have begun returning home [1]."
        # The citation checked at the end carries a verbatim quote of source [1]: its card highlights
        # it, and clicking the citation highlights the same words in the transcript.
        quote = page.text_content("#passages .card mark")
        assert quote
        page.click("#answer-text .cite")
        page.wait_for_selector("#transcript:not([hidden]) mark.highlight")
        assert page.text_content("#transcript mark.highlight") == quote
        context.close()
    finally:
        server.stop()
        fake.stop()


def test_cards_show_times_and_a_link_to_the_original(browser, web):
    fixtures = Path(__file__).resolve().parents[1] / "ingest" / "fixtures"
    briefing = (
        "---\ndate: '2022-02-11'\nsource_url: https://example.gov/briefing/2022/02/11/\n"
        "title: Press Briefing on narwhals\n---\n\nMS. PSAKI:  The narwhal census will be published on Monday.\n"
    )
    with web.client() as http:
        vtt = (fixtures / "voices.vtt").read_bytes()
        assert http.post("/documents", files={"file": ("page_quokkas.vtt", vtt)}).status_code == 201
        md = briefing.encode()
        assert http.post("/documents", files={"file": ("page_narwhals.md", md)}).status_code == 201
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(web.url)
    try:
        ask(page, "Do the quokkas stay in Western Australia at 10 a.m. every day?")
        card = page.wait_for_selector("#passages .card[data-chunk-id^='page_quokkas']")
        assert "00:00:09–00:00:12" in card.query_selector(".meta").text_content()
        ask(page, "When will the narwhal census be published?")
        card = page.wait_for_selector("#passages .card[data-chunk-id^='page_narwhals']")
        assert (
            card.query_selector("a.original").get_attribute("href")
            == "https://example.gov/briefing/2022/02/11/"
        )
    finally:
        context.close()


def test_bracketed_numbers_in_a_quote_stay_text(page):
    expected = httpx.post(
        page.url.rstrip("/") + "/ask",
        json={"question": "walrus council resolution on walrus migration routes"},
    ).json()
    assert any("footnote [1]" in c["quote"] for c in expected["citations"])
    ask(page, "walrus council resolution on walrus migration routes")
    cites = page.query_selector_all("#answer-text .cite")
    assert [c.text_content() for c in cites] == [f"[{c['n']}]" for c in expected["citations"]]
    assert "resolution [2]" in page.text_content("#answer-text")  # the quote's own brackets, as text
    for i, cite in enumerate(cites):
        cite.click()
        page.wait_for_selector("#transcript:not([hidden]) mark.highlight")
        assert page.text_content("#transcript mark.highlight") == expected["citations"][i]["quote"]
        page.keyboard.press("Escape")
        assert page.evaluate("document.activeElement.classList.contains('cite')")  # focus back on it


def test_filters_that_match_nothing_say_so(page):
    page.click("summary")
    page.fill("#filter-speaker", "Nobody Atall")
    ask(page, QUESTION)
    assert page.text_content("#answer-title") == "No passages match these filters"
    assert page.is_hidden("#passages-title") and not page.query_selector_all("#passages .card")


def test_the_transcript_is_a_dialog_and_escape_returns_focus(page):
    ask(page, QUESTION)
    page.focus("#answer-text .cite")
    page.keyboard.press("Enter")
    dialog = page.wait_for_selector("#transcript:not([hidden])")
    assert dialog.get_attribute("role") == "dialog" and dialog.get_attribute("aria-modal") == "true"
    assert page.evaluate("document.activeElement.id") == "transcript-close"
    page.keyboard.press("Escape")
    assert page.is_hidden("#transcript")
    assert page.evaluate("document.activeElement.classList.contains('cite')")


def test_a_long_question_is_not_cut_silently(page):
    question = "Why " + "really " * 400
    page.fill("#question", question)
    assert page.input_value("#question") == question  # nothing cut
    assert "the limit is 2,000" in page.text_content("#question-note") and page.is_disabled("#ask-button")
    page.fill("#question", QUESTION)
    assert page.is_hidden("#question-note") and page.is_enabled("#ask-button")


def test_upload_names_ids_replace_and_delete(page, tmp_path):
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#nav-documents")
    named = tmp_path / "Lavrov remarks (draft) 2021.txt"
    named.write_text("Remarks on seals, Moscow, May 6, 2021\n\nSergey Lavrov: Seals need a treaty too.\n")
    page.set_input_files("#upload-file", str(named))
    page.click("#upload-button")
    page.wait_for_function("document.querySelector('#upload-status').textContent.startsWith('Indexed')")
    assert "as doc_id Lavrov_remarks_draft_2021 (1 passage)" in page.text_content("#upload-status")

    page.set_input_files("#upload-file", str(named))
    page.click("#upload-button")
    page.wait_for_selector("#error:not([hidden])")
    assert page.text_content("#error").startswith("Already in the index:")
    page.fill("#upload-id", "seals_2021")
    page.set_input_files("#upload-file", str(named))
    page.click("#upload-button")
    page.wait_for_function(
        "document.querySelector('#upload-status').textContent.includes('as doc_id seals_2021')"
    )

    row = page.wait_for_selector("#documents-table tr[data-doc-id='seals_2021']")
    assert row.query_selector("code").text_content() == "seals_2021"
    assert row.query_selector(".origin").text_content() == "uploaded"
    file_row = page.query_selector("#documents-table tr[data-doc-id='000_81888bb7363425ad']")
    assert file_row.query_selector(".origin").text_content() == "file"

    page.fill("#documents-search", "seals")
    ids = [r.get_attribute("data-doc-id") for r in page.query_selector_all("#documents-table tbody tr")]
    assert sorted(ids) == ["Lavrov_remarks_draft_2021", "seals_2021"]
    page.fill("#documents-search", "")
    page.click("th .sort[data-key='date']")
    dates = shown_dates(page)
    assert dates == sorted(dates)
    page.click("th .sort[data-key='date']")
    dates = shown_dates(page)
    assert dates == sorted(dates, reverse=True)

    for doc_id in ("seals_2021", "Lavrov_remarks_draft_2021"):
        page.click(f"#documents-table tr[data-doc-id='{doc_id}'] button.danger")
        page.wait_for_selector(f"#documents-table tr[data-doc-id='{doc_id}']", state="detached")
    assert page.text_content("#upload-status").startswith("Deleted Lavrov_remarks_draft_2021")


def test_a_large_upload_shows_its_progress(page, tmp_path):
    from tests.api.test_writes import long_transcript

    page.click("#nav-documents")
    big = tmp_path / "long briefing.txt"
    big.write_text(long_transcript(120_000, seed=1))
    page.set_input_files("#upload-file", str(big))
    page.click("#upload-button")
    page.wait_for_function(
        "/passages embedded/.test(document.querySelector('#upload-status').textContent)", timeout=120_000
    )
    assert page.is_visible("#upload-progress")
    page.wait_for_function(
        "document.querySelector('#upload-status').textContent.startsWith('Indexed')", timeout=300_000
    )
    assert "as doc_id long_briefing" in page.text_content("#upload-status")
    assert page.is_hidden("#upload-progress")


def test_documents_view_fits_a_phone(browser, web):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(web.url + "/#/documents")
    page.wait_for_selector("#documents-table tbody tr")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    context.close()


@pytest.mark.parametrize("path", ["/", "/docs"])
def test_pages_load_nothing_from_outside(browser, web, path):
    context = browser.new_context()
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(web.url + path)
    page.wait_for_load_state("networkidle")
    if path == "/docs":
        page.wait_for_selector(".swagger-ui .opblock")  # rendered from the local bundle
    outside = [u for u in requested if not u.startswith((web.url, "data:", "blob:"))]
    assert outside == []
    context.close()


def shown_dates(page) -> list[str]:
    """The documents table's dates in the order shown, undated ("—") as the empty string it sorts as."""
    cells = [r.query_selector_all("td")[2].text_content() for r in page.query_selector_all("#documents-table tbody tr")]
    return ["" if d == "—" else d for d in cells]
