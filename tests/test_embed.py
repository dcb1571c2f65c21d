"""Embedding backends: ONNX exports built once from the installed model, the same vectors as PyTorch,
and a change of backend re-embeds the index."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rag.config import Settings
from rag.embed import Embedder
from rag.index.store import current_generation
from rag.service import Service
from tests.conftest import DOCS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="module")
def passages(seed_service) -> list[str]:
    return [text for _, text in seed_service.retriever.all_chunks()]


@pytest.fixture(scope="module")
def torch_vectors(passages, cache) -> np.ndarray:
    return Embedder("all-MiniLM-L6-v2", 32, "torch", cache).encode(passages)


@pytest.mark.parametrize(("backend", "floor"), [("onnx", 0.9999), ("onnx-int8", 0.97)])
def test_onnx_backends_match_torch_on_the_seed_passages(backend, floor, passages, torch_vectors, cache):
    vectors = Embedder("all-MiniLM-L6-v2", 32, backend, cache).encode(passages)
    cosines = np.sum(vectors * torch_vectors, axis=1)
    assert cosines.min() >= floor, f"{backend}: min cosine {cosines.min():.4f}"
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_the_onnx_export_is_cached_and_built_once(passages, cache, caplog):
    Embedder("all-MiniLM-L6-v2", 32, "onnx-int8", cache).encode(passages[:2])  # built by now
    (export,) = (cache / "onnx").glob("*-onnx-int8")
    assert list(export.glob("onnx/model_qint8_*.onnx"))
    stamp = export.stat().st_mtime_ns
    with caplog.at_level("WARNING"):
        Embedder("all-MiniLM-L6-v2", 32, "onnx-int8", cache).encode(passages[:2])
    assert "exporting" not in caplog.text and export.stat().st_mtime_ns == stamp
    assert not list((cache / "onnx").glob(".export-*"))  # nothing half-written is left behind


def test_changing_the_backend_reembeds_the_index(tmp_path, cache, embedder):
    settings = {"index_dir": tmp_path / "index", "docs_dir": DOCS, "cache_dir": cache}
    first = Service(Settings(backend="torch", **settings), Embedder("all-MiniLM-L6-v2", 32, "torch", cache))
    first.ingest()
    second = Service(Settings(backend=embedder.backend, **settings), embedder)
    report = second.ingest()
    assert f"backend changed from 'torch' to '{embedder.backend}'" in report.rebuild_reason
    assert report.embedded == report.chunks == 113
    manifest = json.loads((current_generation(tmp_path / "index") / "manifest.json").read_text())
    assert manifest["backend"] == embedder.backend
