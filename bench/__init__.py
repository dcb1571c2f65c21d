"""Benchmarks that print figures. Run them as modules from the repository root: `python -m bench.NAME`."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs_raw"


def repeated_corpus(target: Path, copies: int) -> Path:
    """docs_raw copied `copies` times under distinct doc ids (r000_…, r001_…), in target."""
    target.mkdir(parents=True, exist_ok=True)
    for i in range(copies):
        for path in DOCS.glob("*.txt"):
            shutil.copy(path, target / f"r{i:03d}_{path.name}")
    return target


def latencies(call: Callable[[str], object], questions: list[str]) -> np.ndarray:
    """Milliseconds that call(question) takes, for each question in turn."""
    out = []
    for q in questions:
        started = time.perf_counter()
        call(q)
        out.append((time.perf_counter() - started) * 1000)
    return np.array(out)
