"""Evaluation of quote verification on a probe set (eval/quote_probes.jsonl, built by bench.quote_probes).

Each probe is a quote, optionally the speaker it is attributed to, and the verdict it should get. Reported:
precision and recall of each verdict, the share of wrong-speaker probes flagged, accuracy per kind.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rag.errors import BadInput
from rag.service import Service
from rag.types import Filters

VERDICTS = ("verbatim", "close", "not_found")
# The gate (`rag eval --quotes ... --check` and the CI test): the targets.
TARGETS = {
    "verbatim_precision": 0.95,
    "verbatim_recall": 0.95,
    "not_found_precision": 0.95,
    "not_found_recall": 0.95,
    "close_precision": 0.85,
    "close_recall": 0.85,
    "wrong_speaker_flagged": 1.0,
}


@dataclass(frozen=True)
class Probe:
    id: str
    kind: str
    quote: str
    expected: str
    speaker: str | None = None


@dataclass(frozen=True)
class ProbeResult:
    id: str
    kind: str
    expected: str
    verdict: str
    flagged: bool  # attributed to someone who did not say it
    quote: str


@dataclass
class QuoteEvalResult:
    metrics: dict[str, float]
    by_kind: dict[str, float]  # share of each kind's probes given the expected verdict
    probes: list[ProbeResult]

    def to_json(self) -> dict[str, Any]:
        return {"metrics": self.metrics, "by_kind": self.by_kind, "probes": [asdict(p) for p in self.probes]}

    def failures(self) -> list[str]:
        """The metrics below their TARGETS, one line each."""
        return [
            f"{name} {self.metrics[name]:.4f} < {target}"
            for name, target in TARGETS.items()
            if self.metrics[name] < target
        ]


def load_probes(path: Path) -> list[Probe]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise BadInput(f"{path}: cannot read the probe set ({exc.strerror})") from None
    probes = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            probe = Probe(data["id"], data["kind"], data["quote"], data["expected"], data.get("speaker"))
        except (ValueError, KeyError, TypeError) as exc:
            raise BadInput(f"{path}:{number}: not a probe ({exc}); see bench/quote_probes.py") from None
        if probe.expected not in VERDICTS:
            raise BadInput(f"{path}:{number}: expected must be one of {', '.join(VERDICTS)}")
        probes.append(probe)
    return probes


def evaluate_quotes(service: Service, probes: Sequence[Probe]) -> QuoteEvalResult:
    results = []
    for p in probes:
        verification = service.verify(p.quote, Filters(speaker=p.speaker))
        results.append(
            ProbeResult(p.id, p.kind, p.expected, verification.verdict, verification.wrong_speaker, p.quote)
        )
    metrics: dict[str, float] = {}
    for verdict in VERDICTS:
        given = [r for r in results if r.verdict == verdict]
        wanted = [r for r in results if r.expected == verdict]
        right = sum(r.verdict == r.expected for r in given)
        metrics[f"{verdict}_precision"] = right / len(given) if given else 1.0
        metrics[f"{verdict}_recall"] = right / len(wanted) if wanted else 1.0
    wrong = [r for r in results if r.kind == "wrong_speaker"]
    metrics["wrong_speaker_flagged"] = sum(r.flagged for r in wrong) / len(wrong) if wrong else 1.0
    metrics["accuracy"] = sum(r.verdict == r.expected for r in results) / len(results) if results else 0.0
    kinds = dict.fromkeys(r.kind for r in results)
    by_kind = {
        k: sum(r.verdict == r.expected for r in results if r.kind == k) / sum(r.kind == k for r in results)
        for k in kinds
    }
    return QuoteEvalResult({k: round(v, 4) for k, v in metrics.items()}, by_kind, results)
