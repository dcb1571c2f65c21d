"""16 clients searching while a document is uploaded and another deleted: no errors, no partial state."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import DOCS

pytestmark = pytest.mark.slow
QUESTIONS = [
    "refugees returning to Syria",
    "trade between Russia and ASEAN",
    "terrorism in Southeast Asia",
    "the Korean Peninsula",
    "Zhukovsky-Penguin detention in Thailand",
    "young diplomats in Vladivostok",
]


def test_searches_stay_consistent_during_writes(server):
    with server.client() as http:
        texts = {
            d["doc_id"]: http.get(f"/documents/{d['doc_id']}").json()["text"]
            for d in http.get("/documents").json()["documents"]
        }
    upload = (
        (DOCS / "001_b6cd861ff3b78f22.txt").read_text().replace("Dmitry Ukrainsky", "Ivan Zhukovsky-Penguin")
    )
    deleted = "003_33af551afb6d7a3b"
    errors: list[str] = []
    responses: list[dict] = []
    lock = threading.Lock()
    started = threading.Barrier(17)

    def client(worker: int) -> None:
        with server.client() as http:
            started.wait()
            for i in range(25):
                r = http.post("/search", json={"question": QUESTIONS[(worker + i) % len(QUESTIONS)], "k": 5})
                with lock:
                    if r.status_code != 200:
                        errors.append(f"{r.status_code}: {r.text[:200]}")
                    else:
                        responses.append(r.json())

    with ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(client, w) for w in range(16)]
        started.wait()
        with server.client() as writer:
            created = writer.post("/documents", files={"file": ("zhukovsky.txt", upload.encode())})
            assert created.status_code == 201, created.text
            assert writer.delete(f"/documents/{deleted}").status_code == 200
            texts["zhukovsky"] = writer.get("/documents/zhukovsky").json()["text"]
        for f in futures:
            f.result()

    assert errors == []
    assert len(responses) == 400
    for body in responses:
        passages = body["passages"]
        assert [p["rank"] for p in passages] == list(range(1, 6))
        for p in passages:
            assert texts[p["doc_id"]][p["start"] : p["end"]] == p["text"]  # old or new index, never a mix
    with server.client() as http:
        after = http.post("/search", json={"question": "Zhukovsky-Penguin detention", "k": 3}).json()[
            "passages"
        ]
        assert after[0]["doc_id"] == "zhukovsky"
        assert all(
            p["doc_id"] != deleted
            for p in http.post(
                "/search", json={"question": "ASEAN Regional Forum on Security", "k": 20}
            ).json()["passages"]
        )
