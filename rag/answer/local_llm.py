"""A GGUF model run in process by llama.cpp (the `xllamacpp` wheel), with no server to start.

The same chat messages go in and the same text comes out as with LlmClient (rag.answer.llm), so prompt,
budget, citation checks and fallback are shared; xllamacpp is imported only when RAG_LLM=local is chosen.
A model loads once per process (seconds for a 7B model) and answers one request at a time.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rag.answer.llm import LlmFailure, LlmSettings

_MODELS: dict[tuple[str, int, int], Any] = {}  # (path, context, threads) -> loaded xllamacpp.Server
_LOADING = threading.Lock()


class LocalLlmClient:
    """complete() and stream() over a GGUF file, as LlmClient's over an endpoint."""

    def __init__(self, settings: LlmSettings, gguf: Path | None, threads: int) -> None:
        if gguf is None:
            raise LlmFailure("no local model configured: set RAG_LLM_GGUF to a .gguf file")
        if not gguf.is_file():
            raise LlmFailure(f"RAG_LLM_GGUF={gguf}: no such file")
        try:
            import xllamacpp
        except ImportError:
            raise LlmFailure(
                "RAG_LLM=local needs llama.cpp: pip install 'transcript-rag[local-llm]'"
            ) from None
        self.settings = settings
        key = (str(gguf.resolve()), settings.context_tokens, threads)
        with _LOADING:
            if key not in _MODELS:
                params = xllamacpp.CommonParams()
                params.model.path = key[0]
                params.n_ctx = settings.context_tokens
                params.n_parallel = 1
                params.verbosity = -1  # llama.cpp's progress lines would drown the CLI's stderr
                params.cpuparams.n_threads = params.cpuparams_batch.n_threads = threads
                try:
                    _MODELS[key] = xllamacpp.Server(params)
                except Exception as exc:  # noqa: BLE001 - llama.cpp says little more than that it failed
                    raise LlmFailure(f"llama.cpp cannot load {gguf} ({exc})") from None
            self._server = _MODELS[key]
        self._serial = _LOADING  # one request at a time: a single slot

    def _request(self, messages: list[dict[str, str]], stream: bool) -> dict[str, Any]:
        return {
            "messages": messages,
            "max_tokens": self.settings.max_tokens,
            "temperature": self.settings.temperature,
            "stream": stream,
        }

    def complete(self, messages: list[dict[str, str]]) -> str:
        with self._serial:
            response = self._server.handle_chat_completions(self._request(messages, False))
        if not isinstance(response, dict) or "error" in response:
            raise LlmFailure(f"llama.cpp failed: {_error(response)}")
        content = response["choices"][0]["message"].get("content") if response.get("choices") else None
        if not isinstance(content, str) or not content.strip():
            raise LlmFailure("the local model returned no answer text")
        return content

    def stream(self, messages: list[dict[str, str]]) -> Iterator[str]:
        """Text deltas as llama.cpp writes them (it calls back from its own thread); the whole answer must
        come within the timeout."""
        chunks: queue.Queue[dict[str, Any] | None] = queue.Queue()

        def run() -> None:
            try:
                with self._serial:
                    self._server.handle_chat_completions(self._request(messages, True), chunks.put)
            finally:
                chunks.put(None)

        threading.Thread(target=run, name="llama.cpp", daemon=True).start()
        deadline = time.monotonic() + self.settings.timeout
        while True:
            try:
                chunk = chunks.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                timeout = self.settings.timeout
                raise LlmFailure(f"the local model did not finish within {timeout:g} s") from None
            if chunk is None:
                return
            if "error" in chunk:
                raise LlmFailure(f"llama.cpp failed: {_error(chunk)}")
            delta = chunk["choices"][0]["delta"].get("content") if chunk.get("choices") else None
            if delta:
                yield delta


def _error(response: object) -> str:
    if isinstance(response, dict):
        error = response.get("error")
        return str(error.get("message", error) if isinstance(error, dict) else error)
    return f"unexpected response {type(response).__name__}"
