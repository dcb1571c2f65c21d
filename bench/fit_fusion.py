"""Fit the fusion weights of the retrieval signals on the eval sets, with cross-validation.

    .venv/bin/python -m bench.fit_fusion [--folds 5] [--write]

The signals of every candidate passage (rag.retrieve.Candidates: dense, sentence and BM25 ranks, the
speaker and the dates the question names) are collected for each answerable question of the seed set
(eval/questions.jsonl over docs_raw/) and the archive set (eval/wh/). A pairwise logistic regression
(scikit-learn; a relevant passage should outscore an irrelevant one of the same question) gives the
weights. Cross-validated: the questions are split into folds (GroupKFold, both sets pooled), each fold is
retrieved with the real pipeline under weights fitted on the other folds only, and the figures printed per
set are those of the held-out questions. With --write, weights fitted on every question go to
rag/fusion.json with the cross-validated figures beside them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from bench import DOCS, ROOT
from rag.config import Settings, fusion_weights
from rag.embed import Embedder
from rag.evaluate import EvalQuestion, corpus_service, evaluate, is_relevant, load_questions
from rag.fusion import SIGNALS, WEIGHTS_FILE
from rag.service import Service
from rag.types import Filters

SETS = {
    "seed": (ROOT / "eval" / "questions.jsonl", DOCS),
    "wh": (ROOT / "eval" / "wh" / "questions.jsonl", ROOT / "eval" / "wh" / "docs"),
}
_NEGATIVES = 40  # irrelevant candidates paired with each relevant one: the best-ranked by any signal


@dataclasses.dataclass
class Example:
    """One question's candidates: their signals and which are relevant."""

    name: str  # set
    question: EvalQuestion
    features: np.ndarray
    relevant: np.ndarray  # bool per candidate


def collect(name: str, service: Service, questions: list[EvalQuestion]) -> list[Example]:
    retriever = service.retriever
    vectors = service.embedder.encode([q.question for q in questions])
    examples = []
    for q, vector in zip(questions, vectors, strict=True):
        found = retriever.candidates(q.question, vector, retriever.fusion.depth, Filters())
        texts = (
            {row: r["text"] for row, r in retriever.store.records(found.rows).items()} if found.rows else {}
        )
        relevant = np.array([is_relevant(texts[row], q.relevant_passages) for row in found.rows], dtype=bool)
        examples.append(Example(name, q, found.features, relevant))
    return examples


def fit(examples: list[Example]) -> dict[str, float]:
    """Non-negative weights from a pairwise logistic regression, scaled so that the largest is 1."""
    pairs = []
    for e in examples:
        if not e.relevant.any() or e.relevant.all():
            continue
        negatives = e.features[~e.relevant]
        negatives = negatives[np.argsort(-negatives.max(axis=1))[:_NEGATIVES]]
        for positive in e.features[e.relevant]:
            pairs.append(positive - negatives)
    differences = np.concatenate(pairs)
    x = np.concatenate([differences, -differences])
    y = np.concatenate([np.ones(len(differences)), np.zeros(len(differences))])
    model = LogisticRegression(fit_intercept=False, C=1.0, max_iter=1000).fit(x, y)
    coef = np.clip(model.coef_[0], 0.0, None)
    coef = coef / coef.max()
    return {name: round(float(w), 4) for name, w in zip(SIGNALS, coef, strict=True)}


def figures(ranks: list[int | None]) -> dict[str, float]:
    """hit@1, hit@5 and MRR@10 from the rank of each question's first relevant passage (None: not in 10)."""
    n = len(ranks)
    return {
        "hit@1": round(sum(r == 1 for r in ranks) / n, 4),
        "hit@5": round(sum(r is not None and r <= 5 for r in ranks) / n, 4),
        "mrr@10": round(sum(1 / r for r in ranks if r) / n, 4),
    }


def held_out(
    services: dict[str, Service], examples: list[Example], folds: int
) -> tuple[dict[str, dict[str, float]], list[dict[str, float]]]:
    """Per set, the figures of every answerable question retrieved with weights fitted without it."""
    groups = [f"{e.name}:{e.question.id}" for e in examples]
    ranks: dict[str, list[int | None]] = {name: [] for name in services}
    fitted = []
    for train, test in GroupKFold(folds).split(examples, groups=groups):
        weights = fit([examples[i] for i in train])
        fitted.append(weights)
        for name, service in services.items():
            questions = [examples[i].question for i in test if examples[i].name == name]
            if not questions:
                continue
            retriever = service.retriever
            retriever.fusion = dataclasses.replace(retriever.fusion, weights=weights)
            ranks[name] += [r.first_relevant_rank for r in evaluate(service, questions).questions]
    return {name: figures(r) for name, r in ranks.items()}, fitted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument(
        "--sets", nargs="+", choices=list(SETS), default=list(SETS), help="eval sets to fit on"
    )
    parser.add_argument("--write", action="store_true", help=f"write the weights to {WEIGHTS_FILE.name}")
    args = parser.parse_args()
    settings = Settings()
    embedder = Embedder.from_settings(settings)
    services, examples, answerable = {}, [], {}
    for name in args.sets:
        questions_path, docs = SETS[name]
        services[name] = corpus_service(docs, settings, embedder)
        answerable[name] = [q for q in load_questions(questions_path) if q.answerable]
        examples += collect(name, services[name], answerable[name])
    current = fusion_weights(settings)
    print(f"{len(examples)} answerable questions; signals {', '.join(SIGNALS)}")
    before = {}
    for name, service in services.items():
        service.retriever.fusion = dataclasses.replace(service.retriever.fusion, weights=current)
        before[name] = figures([r.first_relevant_rank for r in evaluate(service, answerable[name]).questions])
    cv, per_fold = held_out(services, examples, args.folds)
    final = fit(examples)
    print(f"{'set':<6}{'weights':<24}{'hit@1':>8}{'hit@5':>8}{'mrr@10':>8}")
    for name in services:
        for label, values in (("current", before[name]), (f"fitted, {args.folds}-fold CV", cv[name])):
            print(
                f"{name:<6}{label:<24}" + "".join(f"{values[m]:>8.4f}" for m in ("hit@1", "hit@5", "mrr@10"))
            )
    print("current weights:", current)
    for i, weights in enumerate(per_fold, start=1):
        print(f"fold {i} weights:", weights)
    print("fitted on all questions:", final)
    if args.write:
        record = {
            "weights": final,
            "fitted_on": {name: str(SETS[name][0].relative_to(ROOT)) for name in args.sets},
            "command": "python -m bench.fit_fusion --write",
            "cross_validated": {"folds": args.folds, **cv},
        }
        WEIGHTS_FILE.write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {Path(WEIGHTS_FILE).relative_to(ROOT)}")


if __name__ == "__main__":
    main()
