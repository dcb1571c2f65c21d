"""Without the optional extras ([llm], [charts]) the service still works, and what needs one says so in one
line with the pip command."""

from __future__ import annotations

import pytest

from rag import doctor
from rag.answer.llm import LlmClient, LlmFailure, LlmSettings
from rag.answer.tokens import TokenCounter
from rag.config import Settings
from rag.errors import RagError
from rag.evaluate import write_report


@pytest.fixture
def without(monkeypatch):
    def hide(*modules: str) -> None:
        for module in modules:
            monkeypatch.setitem(__import__("sys").modules, module, None)  # `import module` raises ImportError

    return hide


def test_an_llm_without_the_llm_extra_says_how_to_install_it(without, tmp_path):
    without("openai", "tiktoken")
    settings = LlmSettings("http://127.0.0.1:9/v1", "m", None, 5.0, 100, 0.0, 0, 4096)
    with pytest.raises(
        LlmFailure, match=r"needs the openai package: pip install 'transcript-rag\[llm\]'"
    ) as error:
        LlmClient(settings)
    assert "\n" not in str(error.value)
    counter = TokenCounter("cl100k_base", cache_dir=tmp_path)
    assert not counter.exact and counter.count("four words right here") >= 1  # estimated, not an error

    settings = Settings(llm="openai", llm_base_url="http://127.0.0.1:9/v1", llm_model="m", index_dir=tmp_path)
    found = {"llm": doctor._llm(settings), "tiktoken": doctor._tiktoken(settings)}  # without the model's checks
    assert found["llm"].status == "fail" and "[llm]" in (found["llm"].fix or "")
    assert found["tiktoken"].status == "warn" and "not installed" in found["tiktoken"].detail


def test_a_report_without_the_charts_extra_says_how_to_install_it(without, tmp_path):
    without("matplotlib", "matplotlib.pyplot")
    with pytest.raises(RagError, match=r"pip install 'transcript-rag\[charts\]'"):
        write_report(tmp_path / "report.md", {}, tmp_path / "questions.jsonl")
