"""Build the quote-probe set for `rag verify`: eval/quote_probes.jsonl, from docs_raw/ and eval/quote_corpus/.

    .venv/bin/python -m bench.quote_probes [--seed 15]

Deterministic for a seed. Kinds and the verdict each should get:
    verbatim        a sentence as said (half of them naming the right speaker)   -> verbatim
    word_changed    one content word replaced by a word from elsewhere           -> close
    clause_dropped  a middle clause (between commas) left out                    -> close
    stitched        two sentences of one speaker from different turns, joined    -> close
    wrong_speaker   a sentence as said, attributed to another speaker            -> close, flagged
    invented        written for this set on the corpora's topics (INVENTED)      -> not_found
"""

from __future__ import annotations

import argparse
import json
import random
import re

from bench import DOCS, ROOT
from rag.ingest.parse import parse_document, read_transcript
from rag.verify import Unit, turns, words

CORPUS = ROOT / "eval" / "quote_corpus"
OUT = ROOT / "eval" / "quote_probes.jsonl"
COUNTS = {"verbatim": 30, "word_changed": 20, "clause_dropped": 16, "stitched": 16, "wrong_speaker": 16}
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\u201c\"])")

# Statements nobody in the corpora made, on the topics they cover (ASEAN, the Asia-Pacific, the pandemic,
# Syria, the climate, jobs), in their speakers' manner.
INVENTED = [
    "Russia will open a permanent naval base in Vientiane before the end of this decade.",
    "We have agreed with our ASEAN partners to abolish visas for all tourists starting next spring.",
    "The Asia-Pacific security architecture must be dismantled and rebuilt from scratch by Washington.",
    "Our Chinese friends have asked us to mediate their border talks with Vietnam next month.",
    "Russia is ready to supply twenty million doses of its vaccine to the Philippines free of charge.",
    "The pandemic has shown that the World Health Organisation no longer serves any useful purpose.",
    "I personally telephoned every ASEAN foreign minister on my birthday to discuss fisheries quotas.",
    "We are withdrawing our ambassador from Singapore in protest at the new trade tariffs.",
    "The Eastern Economic Forum will move permanently from Vladivostok to Bangkok next year.",
    "Young diplomats should spend at least five years studying Sanskrit before joining the ministry.",
    "The refugees in Syria will all be resettled in Siberia under a new humanitarian programme.",
    "There is no North Korean nuclear problem, and there never has been one in my opinion.",
    "Our trade with ASEAN fell by half last year because of the sanctions imposed by Japan.",
    "We will hold the next summit on a cruise ship in the South China Sea to save money.",
    "The Russian Federation intends to join ASEAN as a full member before the next decade is out.",
    "The President will sign an order today banning every gasoline car in America by next summer.",
    "Secretary Kerry will travel to the Moon to negotiate the next climate agreement in person.",
    "We are going to plant four billion trees along every interstate highway by the end of March.",
    "The administration has decided to close all coal mines in Pennsylvania within thirty days.",
    "Climate change is a problem for our grandchildren, and we do not need to act on it this year.",
    "The President believes the Paris Agreement was a mistake and we will renegotiate it from the start.",
    "Every federal employee will be required to bicycle to work on Fridays starting in April.",
    "We will pay every family ten thousand dollars to install solar panels on their garages this spring.",
    "The White House press room will be powered entirely by wind turbines on the South Lawn.",
    "The Vice President will lead a delegation to Antarctica to count the remaining penguins.",
    "Gina McCarthy will step down next week to run for governor of Massachusetts.",
]


def documents() -> list[tuple[str, list[Unit], str]]:
    """(doc_id, the speakers' turns that are not questions, text) of each transcript."""
    out = []
    for path in sorted(DOCS.glob("*.txt")) + sorted(CORPUS.glob("*.md")):
        text, sha256 = read_transcript(path)
        doc = parse_document(path.stem, text, sha256, str(path))
        units = [u for u in turns(doc) if u.speaker and u.speaker != "Question"]
        out.append((doc.doc_id, units, doc.text))
    return out


def sentences(unit: Unit, text: str, low: int = 10, high: int = 35) -> list[str]:
    """The turn's sentences of low..high words, whitespace made single (hard-wrapped transcripts)."""
    found = []
    for paragraph in text[unit.start : unit.end].split("\n\n"):
        for s in _SENTENCE.split(paragraph):
            s = " ".join(s.split())
            if low <= len(s.split()) <= high and not set("?:") & set(s):
                found.append(s)
    return found


def surname(speaker: str) -> str:
    return speaker.replace(".", " ").split()[-1].title()


def build(seed: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    docs = documents()
    pool = [(doc_id, u, s) for doc_id, units, text in docs for u in units for s in sentences(u, text)]
    rng.shuffle(pool)
    vocabulary = sorted({w for _, _, s in pool for w in re.findall(r"[a-z]{6,}", s)})
    speakers = sorted({surname(u.speaker) for _, units, _ in docs for u in units if u.speaker})
    probes: list[dict[str, object]] = []

    def add(kind: str, quote: str, expected: str, source: str, speaker: str | None = None) -> None:
        probe = {"id": f"{kind}-{sum(p['kind'] == kind for p in probes) + 1:02d}", "kind": kind}
        probe |= {"quote": quote, "speaker": speaker, "expected": expected, "source_doc": source}
        probes.append(probe)

    picks = iter(pool)
    for i in range(COUNTS["verbatim"]):
        doc_id, unit, s = next(picks)
        add("verbatim", s, "verbatim", doc_id, surname(unit.speaker or "") if i % 2 else None)
    while sum(p["kind"] == "word_changed" for p in probes) < COUNTS["word_changed"]:
        doc_id, unit, s = next(picks)
        tokens = s.split()
        spots = [i for i in range(2, len(tokens) - 2) if re.fullmatch(r"[a-z]{5,}", tokens[i])]
        if spots:
            i = rng.choice(spots)
            tokens[i] = rng.choice([w for w in vocabulary if w != tokens[i]])
            add("word_changed", " ".join(tokens), "close", doc_id)
    while sum(p["kind"] == "clause_dropped" for p in probes) < COUNTS["clause_dropped"]:
        doc_id, unit, s = next(picks)
        clauses = s.split(", ")
        middle = [i for i in range(1, len(clauses) - 1) if len(clauses[i].split()) >= 3]
        if middle:
            del clauses[rng.choice(middle)]
            if len(" ".join(clauses).split()) >= 8:
                add("clause_dropped", ", ".join(clauses), "close", doc_id)
    by_speaker: dict[str, list[tuple[str, Unit, str]]] = {}
    for doc_id, unit, s in pool:
        by_speaker.setdefault(unit.speaker or "", []).append((doc_id, unit, s))
    while sum(p["kind"] == "stitched" for p in probes) < COUNTS["stitched"]:
        doc_id, unit, s = next(picks)
        others = [x for x in by_speaker[unit.speaker or ""] if x[1] is not unit and len(x[2].split()) <= 20]
        if len(s.split()) <= 20 and others:
            _, _, t = rng.choice(others)
            add("stitched", f"{s} {t}", "close", doc_id)
    while sum(p["kind"] == "wrong_speaker" for p in probes) < COUNTS["wrong_speaker"]:
        doc_id, unit, s = next(picks)
        said = surname(unit.speaker or "")
        other = rng.choice([name for name in speakers if name != said])
        if not _said_by(s, other, docs):
            add("wrong_speaker", s, "close", doc_id, other)
    for quote in INVENTED:
        add("invented", quote, "not_found", "")
    return probes


def _said_by(sentence: str, name: str, docs: list[tuple[str, list[Unit], str]]) -> bool:
    """Whether a speaker whose name contains `name` said this sentence anywhere (then it is no probe)."""
    q = " ".join(w.norm for w in words(sentence))
    return any(
        name.casefold() in (u.speaker or "").casefold() and q in " ".join(w.norm for w in u.words)
        for _, units, _ in docs
        for u in units
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    probes = build(args.seed)
    OUT.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in probes))
    counts = {k: sum(p["kind"] == k for p in probes) for k in dict.fromkeys(str(p["kind"]) for p in probes)}
    print(f"wrote {len(probes)} probes to {OUT.relative_to(ROOT)}: {counts}")


if __name__ == "__main__":
    main()
