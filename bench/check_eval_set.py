"""Check an eval set against its documents: every relevant phrase is really in the transcript.

    .venv/bin/python -m bench.check_eval_set eval/wh/questions.jsonl eval/wh/docs

For each answerable question, every phrase of `relevant_passages` must occur, after CONTRACT.md's
normalisation (rag.evaluate.normalise), inside ONE paragraph of one of its `relevant_docs` (the
Markdown body with front matter dropped, hard-wrapped lines joined, `\\_`-style escapes removed), and
that paragraph must not be a reporter's question (`Q ...`). Unanswerable questions must name no
documents and no phrases. It also reports phrases that occur more than once in their document or in
documents the question does not name, ids that repeat, phrases outside 4-12 words, and documents
named that are not in the directory, and phrases that run across a sentence end.
Exit status 1 when any check fails (duplicates and word counts are warnings).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

from rag.evaluate import load_questions, normalise

_FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.DOTALL)
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!<>|~])")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t\u00a0]*\n")
# A sentence end inside a phrase: '. The', not an abbreviation such as 'U.S. Treasury' or 'Mr. Musk'.
_SENTENCE_END = re.compile(r"(?<!\b[A-Z])(?<!\bM[rs])(?<!\bMrs)(?<!\bDr|\bSt)[.!?][\"')]? +[A-Z\"]")


def paragraphs(path: Path) -> list[str]:
    """A Markdown transcript's body as normalised paragraphs (what the parser is expected to keep)."""
    text = path.read_text(encoding="utf-8").replace("\r\n", "\n")
    body = _FRONT_MATTER.sub("", text, count=1)
    return [normalise(_ESCAPE.sub(r"\1", block)) for block in _PARAGRAPH_BREAK.split(body) if block.strip()]


def check(questions_path: Path, docs_dir: Path) -> tuple[list[str], list[str]]:
    """(errors, warnings) for the eval set at questions_path over the transcripts in docs_dir."""
    questions = load_questions(questions_path)
    docs = {p.stem: p for p in docs_dir.iterdir() if p.is_file() and p.suffix in {".md", ".txt"}}
    cache: dict[str, list[str]] = {}

    def body(doc_id: str) -> list[str]:
        if doc_id not in cache:
            cache[doc_id] = paragraphs(docs[doc_id])
        return cache[doc_id]

    errors, warnings = [], []
    for qid, count in Counter(q.id for q in questions).items():
        if count > 1:
            errors.append(f"{qid}: id used {count} times")
    for q in questions:
        if not q.answerable:
            if q.relevant_docs or q.relevant_passages:
                errors.append(f"{q.id}: unanswerable but names documents or phrases")
            continue
        if not q.relevant_docs or not q.relevant_passages:
            errors.append(f"{q.id}: answerable but names no document or no phrase")
        missing = [d for d in q.relevant_docs if d not in docs]
        if missing:
            errors.append(f"{q.id}: documents not in {docs_dir}: {', '.join(missing)}")
            continue
        for phrase in q.relevant_passages:
            words = len(phrase.split())
            if not 4 <= words <= 12:
                warnings.append(f"{q.id}: phrase of {words} words: {phrase!r}")
            if _SENTENCE_END.search(phrase.rstrip()):
                warnings.append(f"{q.id}: phrase spans sentences: {phrase!r}")
            needle = normalise(phrase)
            hits = [para for d in q.relevant_docs for para in body(d) if needle in para]
            if not hits:
                errors.append(f"{q.id}: phrase not found in one paragraph of {q.relevant_docs}: {phrase!r}")
            elif all(para.startswith("q ") for para in hits):
                errors.append(f"{q.id}: phrase only in a reporter's question: {phrase!r}")
            elif len(hits) > 1 or sum(para.count(needle) for para in hits) > 1:
                warnings.append(f"{q.id}: phrase occurs {len(hits)} times: {phrase!r}")
            elsewhere = [
                d for d in sorted(docs) if d not in q.relevant_docs and any(needle in p for p in body(d))
            ]
            if elsewhere:
                warnings.append(f"{q.id}: phrase also in documents not named: {', '.join(elsewhere)}")
    return errors, warnings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("questions", type=Path)
    parser.add_argument("docs", type=Path)
    args = parser.parse_args()
    errors, warnings = check(args.questions, args.docs)
    questions = load_questions(args.questions)
    answerable = [q for q in questions if q.answerable]
    print(
        f"{len(questions)} questions ({len(answerable)} answerable, {len(questions) - len(answerable)} "
        f"unanswerable) over {len({d for q in answerable for d in q.relevant_docs})} documents; "
        f"{sum(len(q.relevant_passages) for q in answerable)} phrases checked"
    )
    for line in warnings:
        print(f"warning: {line}")
    for line in errors:
        print(f"error: {line}")
    print(f"{len(errors)} errors, {len(warnings)} warnings")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
