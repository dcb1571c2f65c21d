"""Requests a demanding user or an attacker sends: filters that match nothing, file names of any kind,
odd multipart bodies, huge ids and bodies, and pages that must work offline."""

from __future__ import annotations

import re
import socket

import pytest

from tests.api.conftest import start_server

pytestmark = pytest.mark.slow
QUESTION = "What did Lavrov say about refugees returning to Syria?"


@pytest.mark.parametrize(
    "filters",
    [{"speaker": "Nobody Atall"}, {"since": "2099-01-01"}],
)
def test_filters_that_match_nothing_say_so(server, filters):
    with server.client() as http:
        body = http.post("/ask", json={"question": QUESTION, "filters": filters}).json()
    assert body["abstained"] and body["reason"] == "no_match_for_filters"
    assert body["answer"].startswith("No passages match these filters")
    assert body["passages"] == [] and body["citations"] == []


def test_an_abstention_without_filters_gives_its_reason(server):
    with server.client() as http:
        body = http.post("/ask", json={"question": "What is the recipe for borscht?"}).json()
    assert body["abstained"] and body["reason"] == "not_in_transcripts" and body["passages"]


def test_the_ask_schema_documents_the_reason(tmp_path):
    from rag.api.app import create_app
    from rag.config import Settings

    schema = create_app(Settings(index_dir=tmp_path / "index", cache_dir=tmp_path)).openapi()
    ok = schema["paths"]["/ask"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    ask = schema["components"]["schemas"][ok["$ref"].rsplit("/", 1)[-1]]
    assert "reason" in ask["properties"] and "reason" not in ask["required"]
    assert "not_in_transcripts" in ask["properties"]["reason"]["description"]


@pytest.mark.parametrize(
    ("filename", "doc_id"),
    [
        ("Lavrov remarks 2021.txt", "Lavrov_remarks_2021"),
        ("Lavrov(1).txt", "Lavrov_1"),
        ("_draft.txt", "draft"),
        ("Лавров заявление.txt", "Лавров_заявление"),
    ],
)
def test_upload_names_give_the_doc_id_that_ingest_gives(server, filename, doc_id):
    from rag.ids import doc_id_for

    text = f"Remarks, Moscow, May 5, 2021\n\nSergey Lavrov: A statement filed as {doc_id}.\n".encode()
    with server.client() as http:
        created = http.post("/documents", files={"file": (filename, text)})
        assert created.status_code == 201, created.text
        assert created.json()["doc_id"] == doc_id == doc_id_for(filename)  # the rule `rag ingest` uses
        assert http.get(f"/documents/{doc_id}").json()["text"].endswith(f"filed as {doc_id}.")
        chosen = http.post("/documents", files={"file": (filename, text)}, data={"doc_id": f"{doc_id}.v2"})
        assert chosen.status_code == 201 and chosen.json()["doc_id"] == f"{doc_id}.v2"
        for made in (doc_id, f"{doc_id}.v2"):
            assert http.delete(f"/documents/{made}").status_code == 200
        bad = http.post("/documents", files={"file": (filename, text)}, data={"doc_id": "../x y"})
        assert bad.status_code == 422 and "e.g. 'x_y'" in bad.json()["detail"]


def test_multipart_with_two_files_is_refused(server):
    with server.client() as http:
        two = http.post(
            "/documents", files=[("file", ("a.txt", b"A\n\nX: a.")), ("file", ("b.txt", b"B\n\nX: b."))]
        )
        assert two.status_code == 422 and "2 files" in two.json()["detail"]
        assert http.get("/documents/a").status_code == 404 and http.get("/documents/b").status_code == 404


def test_a_huge_id_is_not_echoed_whole(server):
    huge = "x" * 100_000
    with server.client() as http:
        found = http.post("/search", json={"question": "ASEAN", "filters": {"doc_ids": [huge]}})
        assert found.status_code == 404 and len(found.json()["detail"]) < 300
        long_path = http.get(f"/documents/{'y' * 5000}")
        assert long_path.status_code == 404 and len(long_path.json()["detail"]) < 300
    log = (server.index.parent / f"server-{server.url.rsplit(':', 1)[1]}.log").read_text()
    assert "y" * 1000 not in log and "x" * 1000 not in log


def raw_request(url: str, head: str) -> str:
    """Send only a request's head (a body is announced but never sent); the server's whole reply."""
    host, port = url.removeprefix("http://").split(":")
    reply = b""
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode())
        while not _complete(reply) and (piece := sock.recv(65536)):
            reply += piece
    return reply.decode(errors="replace")


def _complete(reply: bytes) -> bool:
    head, separator, body = reply.partition(b"\r\n\r\n")
    length = re.search(rb"content-length: (\d+)", head, re.IGNORECASE)
    return bool(separator) and (length is None or len(body) >= int(length.group(1)))


def test_the_key_and_the_body_size_are_checked_before_the_body_is_read(seed_index):
    secured = start_server(seed_index, api_key="k3y", max_request_bytes="100000")
    try:
        announce = "POST /search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 30000000\r\n"
        anonymous = raw_request(secured.url, announce + "\r\n")
        assert anonymous.startswith("HTTP/1.1 401") and "missing API key" in anonymous
        wrong = raw_request(secured.url, announce + "Authorization: Bearer nope\r\n\r\n")
        assert wrong.startswith("HTTP/1.1 401") and "wrong API key" in wrong
        too_big = raw_request(secured.url, announce + "Authorization: Bearer k3y\r\n\r\n")
        assert too_big.startswith("HTTP/1.1 413") and "RAG_MAX_REQUEST_BYTES" in too_big
        with secured.client("k3y") as http:
            chunked = http.post("/search", content=(b"x" * 10_000 for _ in range(20)))  # no length given
            assert chunked.status_code == 413
            assert http.post("/search", json={"question": "ASEAN", "k": 1}).status_code == 200
    finally:
        secured.stop()


def test_no_page_refers_to_an_outside_address(server):
    with server.client() as http:
        assert http.get("/redoc").status_code == 404  # ReDoc's bundle fetches its logo from a CDN
        for page in ("/", "/docs", "/static/app.js", "/static/app.css"):
            response = http.get(page)
            assert response.status_code == 200, page
            for address in re.findall(r"https?://[^\s\"'`)<>]+", response.text):
                assert re.match(r"https?://(127\.0\.0\.1|localhost)[:/]", address), (page, address)
            for asset in re.findall(r"(?:src|href)=\"(/[^\"]+)\"", response.text):
                assert http.get(asset).status_code == 200, (page, asset)
