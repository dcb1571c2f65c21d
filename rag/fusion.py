"""Fusion of the retrieval signals: each candidate passage's score is a weighted sum of its features, the
weights fitted by `python -m bench.fit_fusion` and read from fusion.json beside this file."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from pathlib import Path

SIGNALS = ("dense", "sentence", "bm25", "speaker", "date")
WEIGHTS_FILE = Path(__file__).with_name("fusion.json")


@functools.cache
def fitted_weights() -> dict[str, float]:
    """The weight of each signal, as fitted (fusion.json)."""
    weights = json.loads(WEIGHTS_FILE.read_text())["weights"]
    return {name: float(weights.get(name, 0.0)) for name in SIGNALS}


def rank_feature(rows: Sequence[int], rrf_k: int) -> dict[int, float]:
    """A ranking as a feature, as reciprocal rank fusion reads it: rrf_k / (rrf_k + rank), ranks from 1
    (1st of a ranking ~0.9 at rrf_k 10, absent 0)."""
    return {row: rrf_k / (rrf_k + rank) for rank, row in enumerate(rows, start=1)}
