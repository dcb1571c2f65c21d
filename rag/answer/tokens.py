"""Token counting for LLM context budgets: tiktoken when its encoding is available offline, else an estimate.

tiktoken downloads its BPE files on first use, which fails in air-gapped sites. The encoding is loaded
only from a configured file or from tiktoken's cache directory, after checking its hash, so tiktoken never
reaches for the network. Without either, tokens are estimated conservatively and that is logged once.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger("rag.tokens")

# The public location and sha256 of each encoding file, as tiktoken itself records them: the cache key is
# sha1 of the location, and the hash is what tiktoken checks before using a cached file.
_ENCODINGS = {
    "cl100k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
    "o200k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
}
CHARS_PER_TOKEN_ESTIMATE = 3  # English averages about 4 characters a token: 3 over-counts, so budgets hold


class TokenCounter:
    """Counts tokens with tiktoken's `name` encoding when it can be loaded offline, else estimates."""

    def __init__(
        self, name: str = "cl100k_base", file: Path | None = None, cache_dir: Path | None = None
    ) -> None:
        self.name = name
        self._encoding = _load(name, file, cache_dir)
        self.exact = self._encoding is not None
        if not self.exact:
            log.warning(
                "tiktoken encoding %s is not available offline (set RAG_TIKTOKEN_FILE to its .tiktoken file, "
                "or TIKTOKEN_CACHE_DIR to a cache holding it); estimating tokens as characters / %d",
                name,
                CHARS_PER_TOKEN_ESTIMATE,
            )

    def count(self, text: str) -> int:
        if self._encoding is not None:
            return len(self._encoding.encode(text, disallowed_special=()))
        return math.ceil(len(text) / CHARS_PER_TOKEN_ESTIMATE)


def locate(name: str, file: Path | None = None, cache_dir: Path | None = None) -> Path | None:
    """The encoding file, offline: the configured one or tiktoken's cached copy, if its sha256 is right."""
    if name not in _ENCODINGS:
        return None
    url, expected = _ENCODINGS[name]
    if file is not None:
        return file if _matches(file, expected) else None
    cached = _cache_dir(cache_dir) / hashlib.sha1(url.encode()).hexdigest()
    return cached if _matches(cached, expected) else None


def _cache_dir(cache_dir: Path | None) -> Path:
    return cache_dir or Path(
        os.environ.get("TIKTOKEN_CACHE_DIR")
        or os.environ.get("DATA_GYM_CACHE_DIR")
        or Path(tempfile.gettempdir()) / "data-gym-cache"
    )


def _load(name: str, file: Path | None, cache_dir: Path | None):  # type: ignore[no-untyped-def]
    if name not in _ENCODINGS:
        log.warning("no offline recipe for tiktoken encoding %r (known: %s)", name, ", ".join(_ENCODINGS))
        return None
    found = locate(name, file, cache_dir)
    if found is None:
        if file is not None:
            log.warning("%s is not the %s encoding file (sha256 differs); ignoring it", file, name)
        return None
    url = _ENCODINGS[name][0]
    cache = found.parent
    if file is not None:  # tiktoken reads only its cache layout: the file goes there under its key
        cache = Path(tempfile.mkdtemp(prefix="rag-tiktoken-"))
        shutil.copyfile(file, cache / hashlib.sha1(url.encode()).hexdigest())
    try:
        import tiktoken
    except ImportError:  # the [llm] extra is not installed: tokens are estimated, as when offline
        return None

    # The file is in place with the right hash, so tiktoken reads it and never downloads.
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
    return tiktoken.get_encoding(name)


def _matches(path: Path, sha256: str) -> bool:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() == sha256
    except OSError:
        return False
