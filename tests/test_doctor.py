"""`rag doctor`: one line per check, the fix when one fails, exit 1 only when the service cannot run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from rag import doctor
from rag.config import Settings
from tests.conftest import ROOT
from tests.fake_llm import FakeLLM, Reply

pytestmark = pytest.mark.slow


def checks(settings: Settings) -> dict[str, doctor.Check]:
    return {c.name: c for c in doctor.run(settings)}


def test_a_healthy_setup_reports_every_check(seed_service):
    found = checks(seed_service.settings)
    assert list(found) == [
        "python", "packages", "cpu", "model", "onnx", "tiktoken", "index", "reranker", "reader", "llm", "disk"
    ]
    assert all(c.status != "fail" for c in found.values()), [c.line() for c in found.values()]
    assert seed_service.embedder.backend in found["cpu"].detail and "RAG_BACKEND=" in found["cpu"].detail
    assert "RAG_DEVICE=auto -> cpu" in found["cpu"].detail
    assert "matches the settings" in found["index"].detail and found["index"].status == "ok"
    assert "sha256" in found["model"].detail and "it embeds" in found["onnx"].detail


def test_an_llm_endpoint_is_checked_for_its_model(seed_service):
    fake = FakeLLM([Reply("unused")], models=["llama3.1"]).start()
    try:
        settings = seed_service.settings.model_copy(update={"llm": "openai", "llm_base_url": fake.url})
        listed = checks(settings.model_copy(update={"llm_model": "llama3.1"}))["llm"]
        missing = checks(settings.model_copy(update={"llm_model": "gpt-9"}))["llm"]
    finally:
        fake.stop()
    down = checks(settings.model_copy(update={"llm_model": "llama3.1"}))["llm"]
    assert listed.status == "ok"
    assert (
        missing.status == "fail" and "llama3.1" in missing.detail and "RAG_LLM_MODEL" in (missing.fix or "")
    )
    assert down.status == "fail" and "RAG_LLM_BASE_URL" in (down.fix or "")


def test_a_stale_or_broken_index_is_named_with_its_fix(tmp_path, seed_service):
    index = tmp_path / "index"
    (index / "gen-1").mkdir(parents=True)
    (index / "CURRENT").write_text("gen-1")
    (index / "gen-1" / "manifest.json").write_text("{not json")
    broken = checks(seed_service.settings.model_copy(update={"index_dir": index}))["index"]
    assert broken.status == "fail" and "manifest" in broken.detail and "rag ingest" in (broken.fix or "")
    stale = checks(seed_service.settings.model_copy(update={"chunk_max_tokens": 100}))["index"]
    assert stale.status == "warn" and "rebuilt" in stale.detail and "chunking" in stale.detail


def test_the_command_exits_1_with_the_fix_when_the_model_is_missing(tmp_path):
    env = dict(os.environ, RAG_MODEL=str(tmp_path / "no-model"), RAG_INDEX_DIR=str(tmp_path / "index"))
    result = subprocess.run(
        [sys.executable, "-m", "rag.cli", "doctor", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 1
    report = json.loads(result.stdout)
    model = next(c for c in report["checks"] if c["name"] == "model")
    assert report["ok"] is False and model["status"] == "fail" and "RAG_MODEL" in model["fix"]


def test_the_backend_is_read_from_the_configured_store(tmp_path, monkeypatch):
    """With RAG_STORE=milvus, a local generation left in the index directory says nothing."""
    from rag.index.store import Manifest

    def built(backend: str) -> Manifest:
        return Manifest("m", 384, 256, {}, backend=backend)

    class MilvusIndex:
        def manifest(self) -> Manifest:
            return built("onnx")

    stale = tmp_path / "index" / "gen-1"
    stale.mkdir(parents=True)
    built("torch").save(stale)
    (stale.parent / "CURRENT").write_text("gen-1")
    monkeypatch.setattr("rag.service.open_store", lambda settings: MilvusIndex())
    settings = Settings(store="milvus", backend="auto", index_dir=stale.parent, cache_dir=tmp_path)
    cpu = next(c for c in doctor.run(settings) if c.name == "cpu")
    assert "RAG_BACKEND=auto -> onnx: the index was built with it" in cpu.detail
