"""Writes over HTTP against a real server: uploads never silently replace, large uploads run as jobs,
writers queue with a bounded wait, and old generations neither stay open nor bloat the database."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rag.index.store import writer_lock
from tests.api.conftest import Server, start_server
from tests.conftest import DOCS

pytestmark = pytest.mark.slow
SINGAPORE = "000_81888bb7363425ad"


def long_transcript(size: int, seed: int = 0) -> str:
    """A transcript of about `size` characters of distinct sentences (none is de-duplicated away)."""
    words = (DOCS / f"{SINGAPORE}.txt").read_text().split()
    rng = random.Random(seed)
    paragraphs = ["Briefing on long matters, Moscow, May 5, 2021"]
    while sum(map(len, paragraphs)) < size:
        sentence = " ".join(rng.choice(words) for _ in range(25))
        paragraphs.append(f"Sergey Lavrov: Paragraph {len(paragraphs)} says {sentence}.")
    return "\n\n".join(paragraphs) + "\n"


@pytest.fixture
def fresh_index(seed_service, tmp_path: Path) -> Path:
    target = tmp_path / "index"
    shutil.copytree(seed_service.settings.index_dir, target)
    return target


@pytest.fixture
def writer(fresh_index: Path) -> Iterator[Server]:
    server = start_server(
        fresh_index,
        max_upload_bytes="400000",
        upload_job_bytes="20000",
        max_queued_writes="1",
        write_wait_seconds="2",
    )
    yield server
    server.stop()


def test_an_upload_never_silently_replaces_a_document_and_ingest_keeps_uploads(writer):
    with writer.client() as http:
        clash = http.post("/documents", files={"file": (f"{SINGAPORE}.txt", b"Other\n\nA: Something else.")})
        assert clash.status_code == 409 and "replace=true" in clash.json()["detail"]
        assert "from the file" in clash.json()["detail"]
        hits = http.post("/search", json={"question": "ASEAN Singapore", "k": 5}).json()["passages"]
        assert SINGAPORE in {p["doc_id"] for p in hits}  # the corpus document is still there

        note = {"doc_id": "note_a", "text": "Note\n\nSergey Lavrov: Walruses need protection."}
        assert http.post("/documents", json=note).status_code == 201
        again = http.post("/documents", json=note | {"text": "Note\n\nSergey Lavrov: Something new."})
        assert again.status_code == 409 and "an earlier upload" in again.json()["detail"]
        assert "Walruses" in http.get("/documents/note_a").json()["text"]
        replaced = http.post(
            "/documents?replace=true", json=note | {"text": "Note\n\nSergey Lavrov: Penguins."}
        )
        assert replaced.status_code == 201
        assert "Penguins" in http.get("/documents/note_a").json()["text"]

        mine = "Mine\n\nSergey Lavrov: The uploaded version of the Singapore remarks."
        put = http.put(f"/documents/{SINGAPORE}", json={"doc_id": SINGAPORE, "text": mine})
        assert put.status_code == 201 and put.json()["origin"] == "upload"

    # An ingest of the folder that holds the file of that id says so, and keeps the upload.
    ingest = subprocess.run(
        [sys.executable, "-m", "rag.cli", "ingest", str(DOCS), "--index", str(writer.index)],
        capture_output=True,
        text=True,
        env=writer.env,
        timeout=300,
    )
    assert ingest.returncode == 0, ingest.stderr
    assert f"doc_id '{SINGAPORE}' is an upload in the index, kept" in ingest.stderr
    assert "0 updated" in ingest.stdout and "0 removed" in ingest.stdout
    with writer.client() as http:
        doc = http.get(f"/documents/{SINGAPORE}").json()
        assert doc["origin"] == "upload" and "uploaded version" in doc["text"]
        assert "Penguins" in http.get("/documents/note_a").json()["text"]
        # Deleting a corpus document says that the next ingest brings it back.
        deleted = http.delete("/documents/001_b6cd861ff3b78f22").json()
        assert deleted["deleted"] and "next `rag ingest` adds it back" in deleted["note"]


def test_a_large_upload_is_a_job_and_writers_queue_with_a_bounded_wait(writer):
    big = long_transcript(150_000).encode()
    with writer.client() as http:
        accepted = http.post("/documents", files={"file": ("long briefing.txt", big)})
        assert accepted.status_code == 202, accepted.text
        job = accepted.json()
        assert job["doc_id"] == "long_briefing" and job["status"] in ("queued", "running")
        assert accepted.headers["location"] == f"/jobs/{job['job_id']}"

        # While it runs: of two more writes, one may wait (at most write_wait_seconds, then it is a job),
        # the other finds the queue full, whichever comes first.
        small = {"doc_id": "small_1", "text": "Small\n\nSergey Lavrov: A small note."}
        answers: dict[str, httpx.Response] = {}

        def post(doc_id: str) -> None:
            answers[doc_id] = writer.client().post("/documents", json=small | {"doc_id": doc_id})

        posts = [threading.Thread(target=post, args=(d,)) for d in ("small_1", "small_9")]
        for thread in posts:
            thread.start()
        for thread in posts:
            thread.join()
        (late_id,) = [d for d, r in answers.items() if r.status_code == 202]  # kept waiting: a job
        (full,) = [r for r in answers.values() if r.status_code != 202]
        assert full.status_code == 503 and "waiting" in full.json()["detail"], full.text
        assert int(full.headers["retry-after"]) >= 1
        late = answers[late_id].json()
        assert late["doc_id"] == late_id and answers[late_id].headers["location"] == f"/jobs/{late['job_id']}"

        seen = []
        deadline = time.monotonic() + 300
        while (status := http.get(f"/jobs/{job['job_id']}").json())["status"] not in ("done", "failed"):
            seen.append(status)
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert status["status"] == "done" and status["chunks"] > 50 and status["error"] is None
        assert any(s["status"] == "running" and 0 < s["done"] < s["total"] for s in seen)  # progress
        hits = http.post("/search", json={"question": "Paragraph 42 says", "k": 3}).json()["passages"]
        assert hits[0]["doc_id"] == "long_briefing"
        assert http.get("/jobs/nope").status_code == 404
        assert finished(http, late["job_id"])["status"] == "done"  # the upload that waited, written after the big one
        assert "A small note." in http.get(f"/documents/{late_id}").json()["text"]
        # The queue is free again.
        assert http.post("/documents", json=small | {"doc_id": "small_2"}).status_code == 201
        # Another process (a `rag ingest`) writing the index: an upload waits write_wait_seconds, then is a
        # job that writes once the other process is done; a delete that waits as long is refused.
        with writer_lock(writer.index):
            refused = http.delete("/documents/small_2")
            assert refused.status_code == 503 and "another process" in refused.json()["detail"]
            assert "retry-after" in refused.headers
            blocked = http.post("/documents", json=small | {"doc_id": "small_3"})
            assert blocked.status_code == 202, blocked.text
            time.sleep(0.5)
            assert http.get(f"/jobs/{blocked.json()['job_id']}").json()["status"] in ("queued", "running")
        assert finished(http, blocked.json()["job_id"])["status"] == "done"
        assert http.get("/documents/small_3").status_code == 200


def finished(http: httpx.Client, job_id: str) -> dict:
    """The job's status once it is done or failed (waiting at most 300 s)."""
    deadline = time.monotonic() + 300
    while (status := http.get(f"/jobs/{job_id}").json())["status"] not in ("done", "failed"):
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    return status


def test_old_generations_are_closed_and_the_database_shrinks(writer):
    def database() -> Path:
        return writer.index / (writer.index / "CURRENT").read_text().strip() / "chunks.sqlite"

    def held_index_files() -> list[str]:
        """Files of the index (open or mapped) that the server holds but that are gone from disk."""
        pid = writer.process.pid
        paths = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        paths += [line.split(None, 5)[-1] for line in Path(f"/proc/{pid}/maps").read_text().splitlines()]
        return [p for p in paths if str(writer.index) in p and p.endswith("(deleted)")]

    fresh_size = database().stat().st_size
    with writer.client() as http:
        for i in range(25):
            note = {"doc_id": f"note_{i}", "text": f"Note {i}\n\nSergey Lavrov: Walrus number {i} spoke."}
            assert http.post("/documents", json=note).status_code == 201
            assert http.post("/search", json={"question": f"walrus number {i}", "k": 2}).status_code == 200
            assert http.delete(f"/documents/note_{i}").status_code == 200
        assert held_index_files() == []

        job = http.post("/documents", json={"doc_id": "bulky", "text": long_transcript(100_000)}).json()
        while http.get(f"/jobs/{job['job_id']}").json()["status"] not in ("done", "failed"):
            time.sleep(0.2)
        assert database().stat().st_size > 1.5 * fresh_size
        assert http.delete("/documents/bulky").status_code == 200
        assert database().stat().st_size < 1.2 * fresh_size  # compacted, not carrying the freed pages
        assert held_index_files() == []


def test_doc_ids_keep_every_script_are_composed_and_never_differ_only_in_case(writer, tmp_path: Path):
    import unicodedata

    decomposed = unicodedata.normalize("NFD", "café")  # as macOS names files
    assert decomposed != "café"
    body = "Note\n\nSergey Lavrov: The {} note on the walrus census."
    with writer.client() as http:
        hindi = http.post("/documents", json={"doc_id": "हिन्दी", "text": body.format("Hindi")})
        assert hindi.status_code == 201, hindi.text
        assert hindi.json()["doc_id"] == "हिन्दी" and "Hindi" in http.get("/documents/हिन्दी").json()["text"]
        cafe = http.post("/documents", files={"file": (f"{decomposed}.txt", body.format("café").encode())})
        assert cafe.status_code == 201, cafe.text
        assert cafe.json()["doc_id"] == "café"
        assert http.get(f"/documents/{decomposed}").json()["doc_id"] == "café"  # one visible name, one id
        again = http.post("/documents", json={"doc_id": decomposed, "text": body.format("other")})
        assert again.status_code == 409 and "an earlier upload" in again.json()["detail"]

        assert (
            http.post("/documents", json={"doc_id": "cross", "text": body.format("first")}).status_code == 201
        )
        for path in ("/documents", "/documents?replace=true"):
            twin = http.post(path, json={"doc_id": "CROSS", "text": body.format("second")})
            assert twin.status_code == 409, twin.text
            assert "differs only in case from 'cross'" in twin.json()["detail"]
        listed = {d["doc_id"] for d in http.get("/documents").json()["documents"]}
        assert (
            "cross" in listed
            and "CROSS" not in listed
            and "first" in http.get("/documents/cross").json()["text"]
        )

    docs = tmp_path / "twins"
    docs.mkdir()
    for name in ("Twin.txt", "twin.txt", "CROSS.txt"):
        (docs / name).write_text(body.format(name))
    ingest = subprocess.run(
        [sys.executable, "-m", "rag.cli", "ingest", str(docs), "--index", str(writer.index)],
        capture_output=True,
        text=True,
        env=writer.env,
        timeout=300,
    )
    assert ingest.returncode == 0, ingest.stderr
    assert (
        f"{docs / 'twin.txt'}: doc_id 'twin' differs only in case from 'Twin' ({docs / 'Twin.txt'})"
        in ingest.stderr
    )
    assert "doc_id 'CROSS' differs only in case from the upload 'cross'" in ingest.stderr
    with writer.client() as http:
        listed = {d["doc_id"] for d in http.get("/documents").json()["documents"]}
        assert "Twin" in listed and "twin" not in listed and "CROSS" not in listed
