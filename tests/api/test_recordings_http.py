"""Uploads of recordings over HTTP: always a background job, then a machine transcript like any other."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.api.conftest import start_server
from tests.conftest import DOCS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (make speech)"),
]


def test_a_recording_upload_is_a_job_then_a_machine_transcript(make_service, tmp_path: Path):
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(DOCS / "000_81888bb7363425ad.txt", docs)
    make_service(docs).ingest()
    clip = tmp_path / "clip.wav"
    sentence = "The president will travel to Brussels next week for the summit."
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(clip), sentence], check=True)
    server = start_server(tmp_path / "index", upload_job_bytes="10000000")  # a text this size: 201
    try:
        with server.client() as http:
            garbage = http.post("/documents", files={"file": ("noise.wav", b"RIFF" + b"\x00" * 200)})
            assert garbage.status_code == 422 and "not a readable recording" in garbage.json()["detail"]
            accepted = http.post("/documents", files={"file": ("summit.wav", clip.read_bytes())})
            assert accepted.status_code == 202, accepted.text
            job = accepted.json()
            assert job["doc_id"] == "summit"
            deadline = time.monotonic() + 300
            while job["status"] not in ("done", "failed") and time.monotonic() < deadline:
                time.sleep(0.5)
                job = http.get(f"/jobs/{job['job_id']}").json()
            assert job["status"] == "done", job
            doc = http.get("/documents/summit").json()
            assert doc["format"] == "audio" and doc["transcript"] == "machine" and doc["speakers"] == []
            assert doc["recording"]["model"] == "tiny.en" and abs(doc["recording"]["duration"] - 4) < 2
            assert "travel" in doc["text"].lower() and "summit" in doc["text"].lower()
            found = http.post("/search", json={"question": "travel to the summit next week", "k": 3}).json()["passages"]
            top = next(p for p in found if p["doc_id"] == "summit")
            assert top["transcript"] == "machine" and "machine transcript" in top["citation"]
            human = next(p for p in found if p["doc_id"] != "summit")
            assert human["transcript"] == "human"
    finally:
        server.stop()
