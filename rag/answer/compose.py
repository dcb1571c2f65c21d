"""An answer from the retrieved passages, as events: the extractive one (verbatim sentences, or an
abstention), or an LLM's whose citations are checked against the passages it was given."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from functools import cached_property
from typing import TYPE_CHECKING, Literal, NamedTuple

import numpy as np

from rag.answer.extractive import ABSTAIN_MESSAGE, ExtractiveSettings, candidate_sentences, compose, select
from rag.answer.llm import LlmClient, LlmFailure, LlmSettings, build_messages, check_answer
from rag.answer.tokens import TokenCounter
from rag.config import Settings
from rag.embed import Embedder
from rag.types import Answer, Passage

if TYPE_CHECKING:
    from rag.answer.local_llm import LocalLlmClient

NOT_FOUND = "not_in_transcripts"  # an abstention's reason when the evidence is weak
NO_MATCH_MESSAGE = "No passages match these filters: widen or clear them to search all the transcripts."
_FAKE_DELTA_WORDS = 8  # an extractive answer streams in pieces of this many words


class Found(NamedTuple):
    """The passages the answer is written from: the first event."""

    kind: Literal["passages"]
    passages: list[Passage]


class Delta(NamedTuple):
    """A piece of the answer as it is written."""

    kind: Literal["delta"]
    text: str


class Done(NamedTuple):
    """The whole, checked answer: the last event, authoritative where it differs from the deltas."""

    kind: Literal["done"]
    answer: Answer


Event = Found | Delta | Done


def no_match() -> Answer:
    """The answer when the filters leave no passage to search."""
    return Answer(NO_MATCH_MESSAGE, True, [], [], reason="no_match_for_filters")


class Composer:
    """Writes answers with the embedder (to pick sentences and check citations) and, when asked, an LLM."""

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        self.embedder = embedder
        self.extractive = ExtractiveSettings()

    def extract(self, question: str, passages: list[Passage], weak: bool) -> Answer:
        """The passages' sentences that best answer the question, cited; an abstention when the evidence
        is `weak` or no sentence answers."""
        if weak:
            return Answer(ABSTAIN_MESSAGE, True, [], passages, reason=NOT_FOUND)
        sentences = candidate_sentences(passages, self.extractive)
        vectors = self.embedder.encode([s.text for s in sentences])
        chosen = select(
            question, sentences, vectors @ self.embedder.encode([question], role="query")[0], self.extractive
        )
        if not chosen:
            return Answer(ABSTAIN_MESSAGE, True, [], passages, reason=NOT_FOUND)
        text, citations = compose(chosen)
        return Answer(text, False, citations, passages)

    def events(
        self, question: str, passages: list[Passage], extractive: Answer, llm: str | None, stream: bool
    ) -> Iterator[Delta | Done]:
        """The extractive answer in pieces, or (with an LLM, unless it abstains) the LLM's as it streams;
        then the checked answer. An LLM that fails gives the extractive answer with its error."""
        if (llm or self.settings.llm) == "none" or extractive.abstained:
            words = extractive.answer.split(" ")
            for i in range(0, len(words), _FAKE_DELTA_WORDS):
                last = i + _FAKE_DELTA_WORDS >= len(words)
                yield Delta("delta", " ".join(words[i : i + _FAKE_DELTA_WORDS]) + ("" if last else " "))
            yield Done("done", extractive)
            return
        try:
            client = self._llm_client(llm or self.settings.llm)
            messages, sources = build_messages(question, passages, self.token_counter, self.llm_settings)
            if stream:
                parts = []
                for piece in client.stream(messages):
                    parts.append(piece)
                    yield Delta("delta", piece)
                text = "".join(parts)
            else:
                text = client.complete(messages)
        except LlmFailure as exc:
            yield Done("done", dataclasses.replace(extractive, llm_error=str(exc)))
            return
        checked = check_answer(text, sources, self._similarity)
        removed = checked.removed or None
        if checked.citations:
            yield Done("done", Answer(checked.text, False, checked.citations, passages, None, False, removed))
        else:
            beside = f"{checked.text}\n\nFrom the transcripts:\n{extractive.answer}"
            yield Done("done", Answer(beside, False, extractive.citations, passages, None, True, removed))

    def _llm_client(self, kind: str) -> LlmClient | LocalLlmClient:
        """The OpenAI-compatible endpoint's client, or the in-process GGUF model's (loaded once)."""
        if kind == "local":
            from rag.answer.local_llm import LocalLlmClient

            return LocalLlmClient(self.llm_settings, self.settings.llm_gguf, self.settings.llm_threads)
        return LlmClient(self.llm_settings)

    def _similarity(self, a: list[str], b: list[str]) -> np.ndarray:
        vectors = self.embedder.encode([*a, *b])
        return vectors[: len(a)] @ vectors[len(a) :].T

    @cached_property
    def llm_settings(self) -> LlmSettings:
        s = self.settings
        return LlmSettings(
            base_url=s.llm_base_url,
            model=s.llm_model,
            api_key=s.llm_api_key,
            timeout=s.llm_timeout,
            max_tokens=s.llm_max_tokens,
            temperature=s.llm_temperature,
            max_retries=s.llm_max_retries,
            context_tokens=s.llm_context_tokens,
        )

    @cached_property
    def token_counter(self) -> TokenCounter:
        return TokenCounter(self.settings.tiktoken_encoding, self.settings.tiktoken_file)
