"""The fixed part of eval/wh/ that CI gates on, and the figures that show it tracks the whole set.

    .venv/bin/python -m bench.wh_part --write      # (re)build eval/wh/part/ from the rule below
    .venv/bin/python -m bench.wh_part --compare    # rag eval on the whole set and on the part, every mode

The rule: every third of the 65 question documents (in name order, the first included) with the
distractor closest to it in date (the set was built so: each question document beside the archive's
closest-dated other briefing), their answerable questions, and all 36 unanswerable questions (close to
the set's topics, answered by none of the 120 briefings, so by none of the part's). About a third of
the ingest, so the gate costs a third of the whole set's CPU time; the whole set stays here.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WH = ROOT / "eval" / "wh"
PART = WH / "part"
METRICS = (
    "hit@1",
    "hit@3",
    "hit@5",
    "mrr@10",
    "ndcg@10",
    "doc_recall@5",
    "abstain_precision",
    "abstain_recall",
)


def _date(name: str) -> str:
    return name[:10]  # the archive's names start with the briefing's date


def select(questions: list[dict], names: list[str]) -> tuple[list[str], list[dict]]:
    """The part's document names and questions, by the rule in the module's docstring."""
    asked = sorted({d for q in questions for d in q["relevant_docs"]})
    distractors = sorted(set(names) - set(asked))
    chosen = asked[::3]
    nearest = {
        min(distractors, key=lambda d, q=q: (abs(_days(_date(d)) - _days(_date(q))), d)) for q in chosen
    }
    docs = sorted({*chosen, *nearest})
    kept = [q for q in questions if not q["answerable"] or set(q["relevant_docs"]) <= set(chosen)]
    return docs, kept


def _days(iso: str) -> int:
    from datetime import date

    return date.fromisoformat(iso).toordinal()


def write() -> None:
    questions = [
        json.loads(line) for line in (WH / "questions.jsonl").read_text().splitlines() if line.strip()
    ]
    files = {p.stem: p.name for p in (WH / "docs").glob("*.md")}
    docs, kept = select(questions, sorted(files))
    (PART / "docs").mkdir(parents=True, exist_ok=True)
    for old in (PART / "docs").iterdir():
        old.unlink()
    for name in docs:
        (PART / "docs" / files[name]).symlink_to(Path("..", "..", "docs", files[name]))
    (PART / "questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in kept))
    answerable = sum(q["answerable"] for q in kept)
    print(
        f"{len(docs)} documents, {len(kept)} questions ({answerable} answerable) -> {PART.relative_to(ROOT)}"
    )


def _eval(where: Path, mode: str) -> dict[str, float]:
    command = [str(ROOT / ".venv" / "bin" / "rag"), "eval", "--questions", str(where / "questions.jsonl")]
    command += ["--docs", str(where / "docs"), "--mode", mode, "--json"]
    env = dict(os.environ, RAG_BACKEND="onnx")  # the gate's pinned configuration
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, check=True)
    return json.loads(result.stdout)["metrics"]


def compare() -> None:
    print("| mode | metric | whole | part | part - whole |")
    print("|---|---|---|---|---|")
    for mode in ("hybrid", "dense", "bm25"):
        whole, part = _eval(WH, mode), _eval(PART, mode)
        for name in METRICS:
            if name in whole and name in part:
                gap = part[name] - whole[name]
                print(f"| {mode} | {name} | {whole[name]:.3f} | {part[name]:.3f} | {gap:+.3f} |")
        sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help="rebuild eval/wh/part/")
    parser.add_argument("--compare", action="store_true", help="rag eval on the whole set and the part")
    args = parser.parse_args()
    if not (args.write or args.compare):
        parser.error("say --write, --compare or both")
    if args.write:
        write()
    if args.compare:
        compare()


if __name__ == "__main__":
    main()
