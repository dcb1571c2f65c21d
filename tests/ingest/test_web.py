"""Web pages as transcripts: fetched within limits from a loopback site, the main text extracted, then the
same format sniffing as a file; the fetch policy of the server (RAG_FETCH_HOSTS)."""

from __future__ import annotations

import pytest

from rag.errors import BadInput, NotTranscript, Refused
from rag.ids import url_doc_id
from rag.ingest.web import FetchPolicy, fetch, page_document
from tests.web_pages import site

pytest.importorskip("trafilatura", reason="the [web] extra is not installed")
ANY = FetchPolicy(None, 1_000_000, 10)


@pytest.fixture(scope="module")
def base():
    with site() as url:
        yield url


def turns(doc):
    return [(p.speaker, doc.text[p.start : p.end]) for p in doc.paragraphs]


def test_a_briefing_page_goes_to_the_briefing_parser_without_the_site_around_it(base):
    page = fetch(f"{base}/old-briefing", ANY)  # a redirect, followed
    assert page.url == f"{base}/briefing-room/2024/01/10/press-briefing/"
    doc = page_document("wh", page, "upload")
    assert doc.format == "briefing"
    assert doc.title == "Press Briefing by Press Secretary Karine Jean-Pierre and NSC Coordinator John Kirby"
    assert (doc.date, doc.source_url) == ("2024-01-10", page.url)
    assert doc.speakers == ["Ms. Jean-Pierre", "Mr. Kirby", "Question"]
    said = turns(doc)
    assert ("Mr. Kirby", "MR. KIRBY: The cutter Polar Star will sail from Seattle next month.") in said
    assert any(s == "Question" and "which ships will patrol" in t for s, t in said)
    for said_line in ("With that, I will turn it over to John Kirby.", "monitor the Southern Ocean this season.",
                      "Thank you, everyone. See you tomorrow."):
        assert said_line in " ".join(doc.text.split())  # no word said is lost with the site's chrome
    for chrome in ("Privacy Policy", "Subscribe", "Briefing Room</a>", "window.analytics", "font-family"):
        assert chrome not in doc.text


def test_a_mid_ru_page_goes_to_the_mid_ru_parser(base):
    doc = page_document("midru", fetch(f"{base}/en/foreign_policy/news/1856321/", ANY), "upload")
    assert doc.format == "mid.ru"
    assert (doc.date, doc.place) == ("2023-03-03", "Murmansk")
    assert doc.speakers[0] == "Sergey Lavrov"
    assert any("Novaya Zemlya" in t and s == "Sergey Lavrov" for s, t in turns(doc))


def test_a_page_that_is_not_a_transcript_is_refused_in_one_line(base):
    with pytest.raises(NotTranscript, match="not a transcript: no speaker turns"):
        page_document("walks", fetch(f"{base}/travel/ten-walks/", ANY), "upload")
    with pytest.raises(NotTranscript, match="application/pdf, not a web page"):
        fetch(f"{base}/report.pdf", ANY)


@pytest.mark.parametrize(
    ("path", "error", "message"),
    [
        ("/to-ftp", BadInput, "is not an http(s) address"),
        ("/loop", BadInput, "redirects more than 5 times"),
        ("/huge", BadInput, "is over 1,000,000 bytes (RAG_FETCH_MAX_BYTES)"),
        ("/missing", BadInput, "answered HTTP 404"),
    ],
)
def test_fetching_stays_within_its_limits(base, path, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        fetch(base + path, ANY)


def test_an_address_that_does_not_answer_is_one_line():
    with pytest.raises(BadInput, match="cannot fetch"):
        fetch("http://127.0.0.1:9/briefing", ANY)  # the discard port: nothing listens


def test_the_server_fetches_only_from_the_hosts_allowed_and_never_from_private_addresses_by_default():
    off = FetchPolicy.server(None, 1, 1)
    with pytest.raises(Refused, match="fetching web pages is off on this server: set RAG_FETCH_HOSTS"):
        off.check("https://www.whitehouse.gov/briefing-room/")
    listed = FetchPolicy.server("www.whitehouse.gov, .state.gov", 1, 1)
    with pytest.raises(Refused, match="host 'mid.ru' is not in RAG_FETCH_HOSTS"):
        listed.check("https://mid.ru/en/")
    with pytest.raises(Refused, match="not in RAG_FETCH_HOSTS"):
        listed.check("https://evilstate.gov/")  # a domain entry matches subdomains, not lookalikes
    anywhere = FetchPolicy.server("*", 1, 1)
    for private in ("http://127.0.0.1:8000/", "http://localhost/", "http://10.1.2.3/", "http://169.254.169.254/"):
        with pytest.raises(Refused, match="private address"):
            anywhere.check(private)
    FetchPolicy.server("127.0.0.1", 1, 1).check("http://127.0.0.1:8000/")  # listed by name: allowed
    with pytest.raises(BadInput, match="not an http"):
        anywhere.check("file:///etc/passwd")


def test_a_page_gets_a_doc_id_from_its_host_and_path():
    assert url_doc_id("https://www.state.gov/briefings/department-press-briefing-january-10-2024/") == (
        "www.state.gov_briefings_department-press-briefing-january-10-2024"
    )
    assert url_doc_id("https://mid.ru/en/foreign_policy/news/1856321.html") == "mid.ru_en_foreign_policy_news_1856321"
