"""A user's sequence on Milvus, each step its own process, as from a shell: `rag ingest`, then `rag
documents`, `rag search`, `rag serve` (/readyz, /search), then a second `rag ingest` of a changed file and a
search that sees it. Once on a Milvus Lite file and once on a Milvus Lite server restarted between the
ingest and the reads (and again under the running `rag serve`): Milvus Lite starts every collection
released, and each process must load them itself. The corpus is two short transcripts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.api.conftest import free_port, start_server
from tests.conftest import DOCS, milvus_settings, start_milvus_lite, stop_milvus_lite, store_env

pytestmark = pytest.mark.slow
CHANGED = "003_33af551afb6d7a3b"
ADDED = "Maria Zakharova: The Penguin Accord on Arctic fisheries was signed in Murmansk today."


def rag(index: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A `rag` command in a process of its own; whatever it ends with, never a traceback."""
    done = subprocess.run(
        [sys.executable, "-m", "rag.cli", *args, "--index", str(index)],
        env=dict(os.environ, **store_env(index)),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def ingest(index: Path, docs: Path) -> str:
    done = rag(index, "ingest", str(docs))
    assert done.returncode == 0, done.stderr
    return done.stdout


def search(index: Path, question: str) -> list[dict]:
    done = rag(index, "search", question, "--k", "3", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["passages"]


def tiny_corpus(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("001_b6cd861ff3b78f22.txt", f"{CHANGED}.txt"):
        shutil.copy(DOCS / name, docs)
    return docs


def reads_then_changes(index: Path, docs: Path, between_reads=lambda: None) -> None:
    """The sequence after the first ingest; `between_reads` runs while `rag serve` is up, between two
    searches over HTTP."""
    done = rag(index, "documents", "--json")
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)["documents"]
    assert [d["doc_id"] for d in listed] == ["001_b6cd861ff3b78f22", CHANGED]
    assert all(d["chunks"] > 0 for d in listed)
    found = search(index, "Dmitry Ukrainsky detention in Thailand")
    assert found[0]["doc_id"] == "001_b6cd861ff3b78f22"
    assert "Ukrainsky" in found[0]["text"] + (found[0]["question"] or "")
    server = start_server(index)  # waits for /readyz 200
    try:
        with server.client() as http:
            ready = http.get("/readyz").json()
            assert ready["status"] == "ready" and ready["documents"] == 2
            body = {"question": "Dmitry Ukrainsky detention in Thailand", "k": 3}
            assert http.post("/search", json=body).json()["passages"][0]["doc_id"] == "001_b6cd861ff3b78f22"
            between_reads()
            again = http.post("/search", json=body)
            assert again.status_code == 200, again.text
            assert again.json()["passages"][0]["doc_id"] == "001_b6cd861ff3b78f22"
    finally:
        server.stop()
    (docs / f"{CHANGED}.txt").write_text((docs / f"{CHANGED}.txt").read_text() + f"\n\n{ADDED}\n")
    assert "1 updated" in ingest(index, docs)
    found = search(index, "Penguin Accord on Arctic fisheries in Murmansk")
    assert found[0]["doc_id"] == CHANGED and "Penguin Accord" in found[0]["text"]


def test_a_milvus_lite_file_is_read_by_the_commands_after_the_one_that_wrote_it(tmp_path):
    pytest.importorskip("pymilvus", reason="the [scale] extra is not installed")
    index, docs = tmp_path / "index", tiny_corpus(tmp_path)
    milvus_settings(str(tmp_path / "milvus" / "m.db"), index, "rag_")
    assert "2 added" in ingest(index, docs)

    def while_served() -> None:
        """The file is `rag serve`'s now: another process is told so, in one line with the fix."""
        held = rag(index, "documents")
        assert held.returncode == 2 and held.stderr.count("\n") == 1, held.stderr
        assert "another process holds the lock" in held.stderr and "milvus-lite server" in held.stderr
        doctor = json.loads(rag(index, "doctor", "--json").stdout)
        check = next(c for c in doctor["checks"] if c["name"] == "index")
        assert check["status"] == "fail" and "another process" in check["detail"]
        assert "milvus-lite server" in check["fix"]

    reads_then_changes(index, docs, while_served)


def test_a_milvus_lite_server_restarted_after_the_ingest_is_read_by_every_command(tmp_path):
    pytest.importorskip("pymilvus", reason="the [scale] extra is not installed")
    index, docs, data, port = tmp_path / "index", tiny_corpus(tmp_path), tmp_path / "milvus", free_port()
    milvus_settings(f"http://127.0.0.1:{port}", index, "rag_")
    server = start_milvus_lite(data, port)
    try:
        assert "2 added" in ingest(index, docs)
        stop_milvus_lite(server)
        server = start_milvus_lite(data, port)  # every collection released

        def restart() -> None:  # under the running `rag serve`
            nonlocal server
            stop_milvus_lite(server)
            server = start_milvus_lite(data, port)

        reads_then_changes(index, docs, restart)
    finally:
        stop_milvus_lite(server)
