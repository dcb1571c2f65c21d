"""/ask with an LLM over HTTP: a real rag serve calling a scripted OpenAI-compatible server on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.api.conftest import Server, start_server
from tests.fake_llm import FakeLLM, Reply

pytestmark = pytest.mark.slow
QUESTION = "What did Lavrov say about refugees returning to Syria?"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLM]:
    server = FakeLLM(script=[Reply("unused")]).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def llm_server(seed_index, fake) -> Iterator[Server]:
    server = start_server(
        seed_index,
        llm="openai",
        llm_base_url=fake.url,
        llm_model="scripted",
        llm_max_retries="1",
        llm_timeout="5",
    )
    yield server
    server.stop()


def sse(response) -> list[tuple[str, dict]]:
    events = []
    for block in response.read().decode().strip().split("\n\n"):
        name, data = block.split("\n", 1)
        events.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return events


def test_llm_answer_with_checked_citations(llm_server, fake):
    fake.script = [Reply("Refugees have begun returning home in small groups [1]; see also [7].")]
    with llm_server.client() as http:
        body = http.post("/ask", json={"question": QUESTION}).json()
        assert body["unsupported"] is False and body["removed_citations"] == [7] and "llm_error" not in body
        assert body["answer"].startswith("Refugees have begun returning home in small groups [1]")
        for c in body["citations"]:
            text = http.get(f"/documents/{c['doc_id']}").json()["text"]
            assert text[c["start"] : c["end"]] == c["quote"]


def test_llm_answer_streams_then_sends_citations(llm_server, fake):
    fake.script = [
        Reply(
            "Refugees have begun returning home [1].",
            pieces=["Refugees ", "have begun ", "returning home [1]."],
        )
    ]
    with (
        llm_server.client() as http,
        http.stream("POST", "/ask", json={"question": QUESTION, "stream": True}) as r,
    ):
        events = sse(r)
    assert [name for name, _ in events] == ["passages", "answer", "answer", "answer", "done"]
    assert [d["delta"] for name, d in events if name == "answer"] == [
        "Refugees ",
        "have begun ",
        "returning home [1].",
    ]
    assert events[-1][1]["citations"] and events[-1][1]["unsupported"] is False


def test_llm_failure_is_a_200_with_the_extractive_answer(llm_server, fake):
    fake.script = [Reply(status=500)]
    with llm_server.client() as http:
        failed = http.post("/ask", json={"question": QUESTION})
        assert failed.status_code == 200
        body = failed.json()
        assert "HTTP 500 after 2 attempts" in body["llm_error"] and body["citations"]
        extractive = http.post("/ask", json={"question": QUESTION, "llm": "none"}).json()
        assert body["answer"] == extractive["answer"] and "llm_error" not in extractive
    fake.script = [Reply("late", delay=30)]
    with (
        llm_server.client() as http,
        http.stream("POST", "/ask", json={"question": QUESTION, "stream": True}) as r,
    ):
        done = sse(r)[-1][1]
    assert "timed out after 5 s" in done["llm_error"] and done["citations"]


def test_abstention_does_not_call_the_llm(llm_server, fake):
    fake.requests.clear()
    with llm_server.client() as http:
        body = http.post("/ask", json={"question": "What is the recipe for borscht?"}).json()
    assert body["abstained"] and fake.requests == []
