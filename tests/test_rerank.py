"""The optional reranking stage: a local CrossEncoder reorders the fused candidates; a bad one is named."""

from __future__ import annotations

import pytest
from sentence_transformers import CrossEncoder

from rag.doctor import _reranker
from rag.errors import RagError
from rag.service import Service
from tests.tiny_models import cross_encoder

pytestmark = pytest.mark.slow
QUESTION = "What did Lavrov say about trade between Russia and ASEAN?"


def test_the_service_returns_the_cross_encoders_order(seed_service, tmp_path):
    model = cross_encoder(tmp_path / "reranker")
    settings = seed_service.settings.model_copy(update={"reranker": str(model), "rerank_depth": 8})
    reranked = Service(settings, seed_service.embedder).search(QUESTION, k=5)
    candidates = seed_service.search(QUESTION, k=8)  # the fused top 8, as the reranker reads them
    scores = CrossEncoder(str(model), device="cpu").predict([(QUESTION, p.text) for p in candidates])
    expected = [p.chunk_id for _, p in sorted(zip(scores, candidates, strict=True), key=lambda s: -s[0])][:5]
    assert [p.chunk_id for p in reranked] == expected
    assert expected != [p.chunk_id for p in candidates[:5]]  # the reranker did reorder them
    assert [p.rank for p in reranked] == [1, 2, 3, 4, 5]
    assert [p.score for p in reranked] == sorted((p.score for p in reranked), reverse=True)
    assert _reranker(settings).status == "ok"


def test_a_reranker_that_cannot_load_is_one_line_with_the_fix(seed_service, tmp_path):
    settings = seed_service.settings.model_copy(update={"reranker": str(tmp_path / "missing")})
    with pytest.raises(RagError, match="RAG_RERANKER=.*cannot load a cross-encoder") as raised:
        Service(settings, seed_service.embedder).search(QUESTION)
    assert "\n" not in str(raised.value)
    check = _reranker(settings)
    assert check.status == "fail" and "RAG_RERANKER" in check.detail
    assert _reranker(seed_service.settings).detail.startswith("off")
