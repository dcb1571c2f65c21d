"""The HTTP API of CONTRACT.md against a real server: endpoints, errors, auth, uploads, restarts; once
over each store (RAG_STORE=local and milvus, the latter on a Milvus Lite server), same assertions."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.api.conftest import start_server
from tests.conftest import DOCS, PASSAGE_FIELDS

pytestmark = pytest.mark.slow
QUESTION = "What did Lavrov say about refugees returning to Syria?"


@pytest.fixture(scope="module", params=["local", "milvus"])
def store(request: pytest.FixtureRequest) -> str:
    return request.param


def test_health_readiness_and_openapi(server):
    with server.client() as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        assert http.get("/readyz").json() == {
            "status": "ready",
            "documents": 5,
            "chunks": pytest.approx(113, abs=60),
        }
        schema = http.get("/openapi.json").json()
        assert {"/search", "/ask", "/documents", "/documents/{doc_id}", "/healthz", "/readyz"} <= set(
            schema["paths"]
        )
        assert schema["components"]["schemas"]["SearchRequest"]["example"]["question"]
        assert "swagger" in http.get("/docs").text.lower()


def test_search_returns_cited_passages(server):
    with server.client() as http:
        body = http.post(
            "/search", json={"question": QUESTION, "k": 3, "filters": {"speaker": "lavrov"}}
        ).json()
        assert len(body["passages"]) == 3 and body["took_ms"] > 0
        for p in body["passages"]:
            assert set(p) == PASSAGE_FIELDS and p["speaker"] == "Sergey Lavrov"
            doc = http.get(f"/documents/{p['doc_id']}").json()
            assert doc["text"][p["start"] : p["end"]] == p["text"]


def test_a_reply_carries_the_whole_question_it_answers(server):
    with server.client() as http:
        body = {
            "question": "Is Russia manipulating US public opinion with funny pictures and memes?",
            "k": 10,
            "filters": {"doc_ids": ["000_81888bb7363425ad"]},
        }
        passages = http.post("/search", json=body).json()["passages"]
    reply = next(p for p in passages if p["text"].startswith("Sergey Lavrov: It's simply ridiculous"))
    # A question of 689 characters: its first words, where the model sees only its last ones.
    assert reply["question"].startswith("Question: Can we talk about a single international position on Syria?")
    assert reply["question"].endswith(" …") and "funny pictures" in reply["question"]


def test_ask_quotes_verbatim(server):
    with server.client() as http:
        body = http.post("/ask", json={"question": QUESTION}).json()
        assert set(body) == {"answer", "abstained", "citations", "passages", "took_ms"}
        assert not body["abstained"] and body["citations"]
        for c in body["citations"]:
            text = http.get(f"/documents/{c['doc_id']}").json()["text"]
            assert (
                text[c["start"] : c["end"]] == c["quote"] and f'"{c["quote"]}" [{c["n"]}]' in body["answer"]
            )
        off_topic = http.post("/ask", json={"question": "What is the recipe for borscht?"}).json()
        assert off_topic["abstained"] and off_topic["citations"] == [] and off_topic["passages"]


def test_ask_streams_server_sent_events(server):
    with (
        server.client() as http,
        http.stream("POST", "/ask", json={"question": QUESTION, "stream": True}) as r,
    ):
        assert r.headers["content-type"].startswith("text/event-stream")
        events = []
        for block in r.read().decode().strip().split("\n\n"):
            name, data = block.split("\n", 1)
            events.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    names = [name for name, _ in events]
    assert names[0] == "passages" and names[-1] == "done" and set(names[1:-1]) == {"answer"}
    done = events[-1][1]
    assert "".join(data["delta"] for name, data in events if name == "answer") == done["answer"]
    assert done["citations"] and events[0][1]["passages"] == done["passages"]


def test_documents_list_and_detail(server):
    with server.client() as http:
        docs = http.get("/documents").json()["documents"]
        assert sorted(d["doc_id"] for d in docs) == sorted(p.stem for p in DOCS.glob("*.txt"))
        first = next(d for d in docs if d["doc_id"] == "000_81888bb7363425ad")
        assert first | {"chunks": 0, "sha256": ""} == {
            "doc_id": "000_81888bb7363425ad",
            "date": "2018-08-02",
            "place": "Singapore",
            "speakers": ["Sergey Lavrov", "Question"],
            "chunks": 0,
            "sha256": "",
            "title": first["title"],
            "format": "mid.ru",
            "language": "en",
            "source_url": None,
            "origin": "file",
            "transcript": "human",
            "recording": None,
        }
        assert first["chunks"] > 5 and len(first["sha256"]) == 64


@pytest.mark.parametrize(
    ("method", "path", "payload", "status", "detail"),
    [
        ("POST", "/search", {"question": ""}, 422, "question is empty"),
        ("POST", "/search", {"question": " \n\t "}, 422, "question is empty"),
        ("POST", "/search", {"question": "x" * 2001}, 422, "the limit is 2000"),
        (
            "POST",
            "/search",
            {"question": "ASEAN", "k": 0},
            422,
            "k: Input should be greater than or equal to 1",
        ),
        ("POST", "/ask", {"question": "ASEAN", "k": 51}, 422, "k: Input should be less than or equal to 50"),
        (
            "POST",
            "/search",
            {"question": "ASEAN", "filters": {"speakers": "x"}},
            422,
            "filters.speakers: unknown field",
        ),
        ("POST", "/search", {"question": "ASEAN", "colour": 1}, 422, "colour: unknown field"),
        ("POST", "/search", {"question": "ASEAN", "filters": {"since": "2020-02-30"}}, 422, "filters.since"),
        ("POST", "/ask", {"question": "ASEAN", "filters": {"until": "yesterday"}}, 422, "filters.until"),
        (
            "POST",
            "/search",
            {"question": "ASEAN", "filters": {"since": "2020-01-02", "until": "2020-01-01"}},
            422,
            "after",
        ),
        (
            "POST",
            "/search",
            {"question": "ASEAN", "filters": {"doc_ids": ["nope"]}},
            404,
            "unknown doc_id 'nope'",
        ),
        ("POST", "/ask", {"question": "ASEAN", "llm": "gpt"}, 422, "llm"),
        ("POST", "/search", ["question"], 422, "body"),
        ("GET", "/documents/nope", None, 404, "unknown doc_id 'nope'"),
        # Types are not coerced: a string, a boolean or a number where another type is meant is refused.
        ("POST", "/search", {"question": "ASEAN", "k": "3"}, 422, "k: Input should be a valid integer"),
        ("POST", "/search", {"question": "ASEAN", "k": True}, 422, "k: Input should be a valid integer"),
        ("POST", "/ask", {"question": "ASEAN", "filters": {"since": 0}}, 422, "filters.since: Input should"),
        (
            "POST",
            "/ask",
            {"question": "ASEAN", "stream": "yes"},
            422,
            "stream: Input should be a valid boolean",
        ),
        ("POST", "/documents", {"doc_id": "a", "text": "b", "colour": 1}, 422, "colour: unknown field"),
        (
            "POST",
            "/search",
            {"question": "ASEAN", "filters": {"doc_ids": [f"d{i}" for i in range(1001)]}},
            422,
            "doc_ids: List should have at most 1000 items",
        ),
        ("DELETE", "/documents/nope", None, 404, "unknown doc_id 'nope'"),
    ],
)
def test_bad_input_gets_a_readable_4xx(server, method, path, payload, status, detail):
    with server.client() as http:
        response = http.request(method, path, json=payload)
    assert response.status_code == status
    assert detail in response.json()["detail"]


def test_malformed_json_and_uploads(server):
    with server.client() as http:
        bad_json = http.post(
            "/search", content=b'{"question": ', headers={"content-type": "application/json"}
        )
        assert bad_json.status_code == 422 and "malformed JSON" in bad_json.json()["detail"]
        before = http.get("/documents").json()
        too_big = http.post("/documents", files={"file": ("big.txt", b"Title\n\n" + b"word " * 60_000)})
        assert too_big.status_code == 413 and "limit" in too_big.json()["detail"]
        binary = http.post("/documents", files={"file": ("img.txt", b"\x89PNG\r\n\x1a\n\x00\x00IHDR")})
        assert binary.status_code == 422 and "binary" in binary.json()["detail"]
        empty = http.post("/documents", files={"file": ("empty.txt", b"")})
        assert empty.status_code == 422 and "empty" in empty.json()["detail"]
        no_file = http.post("/documents", files={"other": ("x.txt", b"hello")})
        assert no_file.status_code == 422 and "file" in no_file.json()["detail"]
        bad_id = http.post("/documents", json={"doc_id": "../etc/passwd", "text": "x"})
        assert bad_id.status_code == 422 and "doc_id" in bad_id.json()["detail"]
        wrong_type = http.post("/documents", content=b"hello", headers={"content-type": "text/plain"})
        assert wrong_type.status_code == 415
        assert http.get("/documents").json() == before  # nothing was written


def test_upload_search_delete_and_restart(server):
    transcript = (
        (DOCS.parent / "docs_raw" / "001_b6cd861ff3b78f22.txt")
        .read_text()
        .replace("Dmitry Ukrainsky", "Ivan Zhukovsky-Penguin")
    )
    with server.client() as http:
        uploaded = http.post("/documents", files={"file": ("fresh_001.txt", transcript.encode())})
        assert uploaded.status_code == 201, uploaded.text
        assert uploaded.json()["doc_id"] == "fresh_001" and uploaded.json()["place"] == "Vientiane"
        text_doc = http.post(
            "/documents",
            json={"doc_id": "note_1", "text": "Note\n\nSergey Lavrov: Walruses need protection."},
        )
        assert text_doc.status_code == 201
        hits = http.post("/search", json={"question": "Zhukovsky-Penguin detention", "k": 1}).json()[
            "passages"
        ]
        assert hits[0]["doc_id"] == "fresh_001"
        assert http.delete("/documents/note_1").json() == {"doc_id": "note_1", "deleted": True}
        hits = http.post("/search", json={"question": "walruses protection", "k": 5}).json()["passages"]
        assert all(p["doc_id"] != "note_1" for p in hits)
    server.stop()
    again = start_server(server.index)
    try:
        with again.client() as http:
            ids = {d["doc_id"] for d in http.get("/documents").json()["documents"]}
            assert "fresh_001" in ids and "note_1" not in ids
            assert http.get("/documents/note_1").status_code == 404
    finally:
        again.stop()


def test_api_key_is_required_when_configured(seed_index):
    secured = start_server(seed_index, api_key="s3cret-key")
    try:
        with secured.client() as anonymous:
            assert anonymous.get("/healthz").status_code == 200
            assert anonymous.get("/readyz").status_code == 200
            for method, path in [
                ("POST", "/search"),
                ("POST", "/ask"),
                ("GET", "/documents"),
                ("GET", "/documents/000_81888bb7363425ad"),
                ("DELETE", "/documents/x"),
                ("POST", "/documents"),
            ]:
                response = anonymous.request(method, path, json={"question": "ASEAN"})
                assert response.status_code == 401, path
                assert "API key" in response.json()["detail"]
                assert response.headers["www-authenticate"] == "Bearer"
        with secured.client("wrong-key") as wrong:
            assert wrong.post("/search", json={"question": "ASEAN"}).status_code == 401
        with secured.client("s3cret-key") as right:
            assert right.post("/search", json={"question": "ASEAN", "k": 2}).status_code == 200
    finally:
        secured.stop()


def test_readyz_is_503_without_an_index(tmp_path):
    server = start_server_without_index(tmp_path / "empty")
    try:
        with server.client() as http:
            ready = http.get("/readyz")
            assert ready.status_code == 503 and "rag ingest" in ready.json()["detail"]
            assert http.post("/search", json={"question": "ASEAN"}).status_code == 503
            created = http.post(
                "/documents", json={"doc_id": "first", "text": "T\n\nSergey Lavrov: Hello ASEAN friends."}
            )
            assert created.status_code == 201
            assert http.get("/readyz").status_code == 200
    finally:
        server.stop()


def start_server_without_index(index):
    """Like start_server, but ready means the model is loaded (/readyz stays 503: no index)."""
    import subprocess
    import sys
    import time

    from tests.api.conftest import Server, free_port

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "serve", "--port", str(port), "--index", str(index)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = Server(f"http://127.0.0.1:{port}", index, {}, process)
    for _ in range(900):
        try:
            detail = httpx.get(f"{server.url}/readyz", timeout=2).json()["detail"]
            if "loading" not in detail:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.stop()
    raise TimeoutError("rag serve did not load its model")

