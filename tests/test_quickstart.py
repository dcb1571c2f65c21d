"""The quick start as a new user meets it: a cold cache, no index, the commands `make serve` runs.

Each step is a real subprocess with an empty RAG_CACHE_DIR and the offline flags, so an ONNX export or a
download cached on this machine cannot hide a broken first run.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import httpx
import pytest

from tests.api.conftest import free_port
from tests.conftest import ROOT

pytestmark = pytest.mark.slow
BIN = ROOT / ".venv" / "bin"


def test_make_serve_steps_work_from_a_cold_cache(tmp_path):
    env = dict(
        os.environ,
        RAG_CACHE_DIR=str(tmp_path / "cache"),
        RAG_INDEX_DIR=str(tmp_path / "index"),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )
    env.pop("RAG_BACKEND", None)

    def rag(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "rag"), *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600
        )

    # make serve: doctor, ingest, serve
    doctor = rag("doctor")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "warn index: no index" in doctor.stdout and "exported now" in doctor.stdout
    ingest = rag("ingest", "docs_raw")
    assert ingest.returncode == 0, ingest.stderr
    assert ingest.stdout.startswith("5 added, 0 updated") and "(113 embedded with onnx" in ingest.stdout
    assert " on cpu) in " in ingest.stdout  # the backend and device that embedded
    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "rag"), "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            for _ in range(600):
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert server.poll() is None, "rag serve exited during start-up"
                time.sleep(0.2)
            answer = client.post(
                "/ask", json={"question": "What did Lavrov say about refugees returning to Syria?"}
            )
            assert (
                answer.status_code == 200 and answer.json()["passages"][0]["doc_id"] == "000_81888bb7363425ad"
            )
    finally:
        server.terminate()
        server.wait(timeout=30)

    search = rag("search", "Resolution 2254", "--k", "3", "--json")
    assert search.returncode == 0 and json.loads(search.stdout)["passages"]
    ask = rag("ask", "What did Lavrov say about refugees returning to Syria?")
    assert ask.returncode == 0 and "Refugees" in ask.stdout
    again = rag("doctor", "--json")
    report = json.loads(again.stdout)
    index = next(c for c in report["checks"] if c["name"] == "index")
    assert again.returncode == 0 and index["status"] == "ok", index
