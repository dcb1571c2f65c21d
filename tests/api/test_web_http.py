"""POST /documents {"url": ...} against a real server fetching from a loopback site, and `rag ingest URL`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from rag.cli import cli
from tests.api.conftest import Server, start_server
from tests.web_pages import site

pytestmark = pytest.mark.slow
pytest.importorskip("trafilatura", reason="the [web] extra is not installed")
BRIEFING = "/briefing-room/2024/01/10/press-briefing/"


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with site() as url:
        yield url


@pytest.fixture(scope="module")
def fetching(seed_index) -> Iterator[Server]:
    server = start_server(seed_index, fetch_hosts="127.0.0.1")
    yield server
    server.stop()


def test_a_page_fetched_by_url_is_searchable_with_its_title_date_and_address(fetching, base):
    with fetching.client() as http:
        made = http.post("/documents", json={"url": f"{base}/old-briefing"})
        assert made.status_code == 201, made.text
        doc = made.json()
        assert doc["doc_id"] == "127.0.0.1_old-briefing"
        assert (doc["format"], doc["date"], doc["origin"]) == ("briefing", "2024-01-10", "upload")
        assert doc["source_url"] == base + BRIEFING  # where the redirect led
        assert doc["title"].startswith("Press Briefing by Press Secretary Karine Jean-Pierre")
        found = http.post(
            "/search", json={"question": "Which cutter will sail from Seattle to patrol the krill ban?", "k": 3}
        ).json()["passages"]
        (ship,) = [p for p in found if "Polar Star" in p["text"]]
        assert (ship["doc_id"], ship["speaker"], ship["source_url"]) == (doc["doc_id"], "Mr. Kirby", base + BRIEFING)
        assert base + BRIEFING in ship["citation"]
        again = http.post("/documents", json={"url": base + BRIEFING, "doc_id": doc["doc_id"]})
        assert again.status_code == 409
        replaced = http.post("/documents?replace=true", json={"url": base + BRIEFING, "doc_id": doc["doc_id"]})
        assert replaced.status_code == 201 and replaced.json()["source_url"] == base + BRIEFING


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"url": "/travel/ten-walks/"}, 415, "not a transcript: no speaker turns"),
        ({"url": "/report.pdf"}, 415, "application/pdf, not a web page"),
        ({"url": "/missing"}, 422, "answered HTTP 404"),
        ({"url": "/to-ftp"}, 422, "not an http(s) address"),
        ({"url": "http://localhost:9/x"}, 403, "not in RAG_FETCH_HOSTS"),
        ({"url": 5}, 422, "url: Input should be a valid string"),
        ({"url": "/travel/ten-walks/", "text": "x"}, 422, "text: unknown field"),
    ],
)
def test_a_bad_url_upload_is_a_readable_4xx_and_writes_nothing(fetching, base, body, status, detail):
    if isinstance(body["url"], str) and body["url"].startswith("/"):
        body = body | {"url": base + body["url"]}
    with fetching.client() as http:
        before = http.get("/documents").json()
        response = http.post("/documents", json=body)
        assert response.status_code == status, response.text
        assert detail in response.json()["detail"]
        assert http.get("/documents").json() == before


def test_fetching_by_url_is_off_unless_rag_fetch_hosts_allows_it(seed_index, base):
    server = start_server(seed_index)
    try:
        with server.client() as http:
            refused = http.post("/documents", json={"url": base + BRIEFING})
            assert refused.status_code == 403
            assert "fetching web pages is off on this server: set RAG_FETCH_HOSTS" in refused.json()["detail"]
    finally:
        server.stop()


def test_rag_ingest_takes_urls_beside_files_and_names_a_page_it_skips(tmp_path, base):
    index = tmp_path / "index"
    result = CliRunner().invoke(
        cli, ["ingest", base + BRIEFING, base + "/travel/ten-walks/", "--index", str(index), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert f"warning: skipped {base}/travel/ten-walks/: " in result.stderr and "not a transcript" in result.stderr
    listed = CliRunner().invoke(cli, ["documents", "--json", "--index", str(index)])
    (doc,) = __import__("json").loads(listed.stdout)["documents"]
    assert (doc["doc_id"], doc["source_url"]) == ("127.0.0.1_briefing-room_2024_01_10_press-briefing", base + BRIEFING)
