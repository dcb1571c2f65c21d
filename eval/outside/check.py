#!/usr/bin/env python3
"""Checks for the second held-out eval set (eval/outside/). Standard library only.

Run from anywhere:  python3 eval/outside/check.py
Exit status 0 when every check passes; each failure is printed.
"""
import collections, hashlib, json, os, re, sys, unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
DOCS = os.path.join(HERE, "docs")
OTHER_DOCS = [os.path.join(HERE, "..", "wh", "docs"), os.path.join(HERE, "..", "heldout", "docs")]
QUESTIONS = os.path.join(HERE, "questions.jsonl")
CATEGORIES = {"factual", "position", "quote", "unanswerable"}

# Unanswerable questions: for each, the documents of that week/month (file-name prefix) and a
# pattern that would match a passage giving the answer.  None may match.
UNANSWERABLE_PROBES = [
    ('out-001', '2021-02-1', 'storm.{0,200}(died|death|killed|lives lost)|(died|death|killed|lives lost).{0,200}storm'),
    ('out-011', '2021-05-2', 'Ohio.{0,200}(Rescue Plan|federal funds)|(Rescue Plan|federal funds).{0,200}Ohio'),
    ('out-012', '2021-05-2', 'Geneva.{0,200}(hours|minutes)|(hours|minutes).{0,100}Geneva'),
    ('out-017', '2021-07-0', 'child ?care.{0,150}(\\$\\d+ billion|\\$\\d+ trillion|billion)'),
    ('out-018', '2021-07-0', 'Guatemala|Ecuador|Peru'),
    ('out-023', '2021-08-3', 'Ida.{0,300}(died|deaths|killed|fatalit|lives lost)|(died|deaths|killed|fatalit).{0,200}(Ida|Louisiana|hurricane)'),
    ('out-026', '2021-09-0', 'Corning|Cytiva|Thermo|Millipore|Danaher|SiO2'),
    ('out-029', '2021-10-1', 'Boeing.{0,300}(percent|already)'),
    ('out-039', '2022-01-1', 'Louisiana.{0,100}bridges|bridges.{0,100}Louisiana'),
    ('out-049', '2022-04-', '\\$\\d+ million.{0,100}(security|military)|(security|military) assistance.{0,100}\\$\\d+'),
    ('out-054', '2022-06-0', 'per dose|\\$\\d+.{0,30}dose|price.{0,60}vaccine'),
    ('out-064', '2022-09-2', 'Truss.{0,200}(minutes|hour)'),
    ('out-065', '2022-09-2', 'tribal.{0,100}(opioid|\\$)|\\$\\d.{0,100}tribal|Tribes?.{0,60}\\$'),
    ('out-070', '2022-11-0', '\\d[\\d,]*.{0,60}New Mexic|New Mexic.{0,60}\\d[\\d,]+ (borrowers|people|applicants)'),
    ('out-076', '2022-12-1', 'Nonprofit Security Grant|\\$\\d+ million.{0,100}(security|non-?profit)'),
    ('out-079', '2023-02-1', 'blood pressure|weigh|cholesterol'),
    ('out-085', '2023-04-0', '\\$\\d[\\d.,]* (million|billion).{0,200}(package|security assistance|drawdown)|(package|security assistance|drawdown).{0,200}\\$\\d'),
    ('out-090', '2023-05-2', 'debt (limit|ceiling).{0,100}(\\$\\d|trillion)|trillion.{0,60}debt (limit|ceiling)'),
    ('out-095', '2023-07-0', 'cluster.{0,200}\\d+,?\\d* (rounds|munitions|shells)|\\d+,?\\d* (rounds|shells).{0,100}cluster'),
    ('out-100', '2023-09-', 'Corridor.{0,300}(\\$\\d|billion|cost)'),
    ('out-101', '2023-09-0', 'Taylor.{0,300}(years old|age \\d|\\d\\d-year-old)|\\d\\d-year-old.{0,100}Taylor'),
    ('out-107', '2023-10-2', 'Raanan|Judith|Natalie'),
    ('out-113', '2023-12-1', 'high-intensity.{0,200}(weeks|months|January)|(weeks|months|January).{0,100}high-intensity'),
    ('out-114', '2023-12-1', '\\d[\\d,]* (gun deaths|people (have been )?killed by guns)|\\d[\\d,]* Americans.{0,40}(killed|died).{0,40}gun'),
    ('out-119', '2024-01-', 'border.{0,200}\\$\\d+ billion|\\$\\d+ billion.{0,200}border'),
    ('out-135', '2024-06-2', '\\d+ (people|protesters).{0,40}(killed|died|dead)|(killed|dead|died).{0,40}\\d+ (people|protesters)'),
    ('out-144', '2024-09-3', '(rebuild\\w*|recovery|damage)s?.{0,150}(\\$\\d|billion)|(\\$\\d|billion).{0,100}(rebuild|damage)'),
    ('out-146', '2024-10-0', '\\d+ interceptors|interceptors.{0,60}\\d+|fired \\w+ (interceptors|missiles)'),
    ('out-150', '2024-11-2', 'Thanksgiving.{0,200}\\$\\d|\\$\\d\\d?\\.\\d\\d'),
]


def norm(s):
    """The CONTRACT's normalisation: NFKC, curly quotes straight, en/em dashes to '-',
    whitespace runs to one space, case-folded."""
    s = unicodedata.normalize("NFKC", s)
    s = s.replace("\u2018", "'").replace("\u2019", "'").replace("\u201c", '"').replace("\u201d", '"')
    s = s.replace("\u2013", "-").replace("\u2014", "-")
    s = re.sub(r"\s+", " ", s)
    return s.casefold()


def main():
    errors = []
    err = errors.append
    names = sorted(f for f in os.listdir(DOCS) if f.endswith(".md"))
    if not os.path.exists(os.path.join(DOCS, "LICENSE-wh-press-briefings.txt")):
        err("docs/LICENSE-wh-press-briefings.txt missing")
    raw = {f: open(os.path.join(DOCS, f), "rb").read() for f in names}
    wh, wh_hashes = set(), set()
    for other in OTHER_DOCS:
        if not os.path.isdir(other):
            err("missing folder " + other)
            continue
        for f in os.listdir(other):
            if f.endswith(".md"):
                wh.add(f)
                wh_hashes.add(hashlib.sha1(open(os.path.join(other, f), "rb").read()).hexdigest())
    seen = {}
    for f, b in raw.items():
        h = hashlib.sha1(b).hexdigest()
        if f in wh:
            err("doc also in eval/wh/docs or eval/heldout/docs: " + f)
        if h in wh_hashes:
            err("doc byte-identical to one in eval/wh/docs or eval/heldout/docs: " + f)
        if h in seen:
            err("docs byte-identical: %s %s" % (seen[h], f))
        seen[h] = f
    text = {f[:-3]: norm(b.decode("utf-8")) for f, b in raw.items()}
    flat = {f[:-3]: re.sub(r"\s+", " ", b.decode("utf-8")) for f, b in raw.items()}

    qs = [json.loads(line) for line in open(QUESTIONS, encoding="utf-8") if line.strip()]
    ids = [q["id"] for q in qs]
    if len(ids) != len(set(ids)):
        err("duplicate ids")
    per_doc = collections.Counter()
    for q in qs:
        for k in ("id", "question", "relevant_docs", "relevant_passages", "answerable", "category"):
            if k not in q:
                err("%s: missing %s" % (q.get("id"), k))
        if q["category"] not in CATEGORIES:
            err("%s: bad category" % q["id"])
        if (q["category"] == "unanswerable") == q["answerable"]:
            err("%s: category and answerable disagree" % q["id"])
        if not q["answerable"]:
            if q["relevant_docs"] or q["relevant_passages"]:
                err("%s: unanswerable with docs/passages" % q["id"])
            continue
        if not (1 <= len(q["relevant_passages"]) <= 3) or not q["relevant_docs"]:
            err("%s: needs 1-3 passages and a doc" % q["id"])
        for d in q["relevant_docs"]:
            if d not in text:
                err("%s: doc not in docs/: %s" % (q["id"], d))
            per_doc[d] += 1
        for p in q["relevant_passages"]:
            n = norm(p)
            words = len(p.split())
            if not 6 <= words <= 20:
                err("%s: phrase has %d words: %s" % (q["id"], words, p))
            hits = [d for d, t in text.items() if n in t]
            if not set(hits) & set(q["relevant_docs"]):
                err("%s: phrase not in its doc: %s" % (q["id"], p))
            extra = set(hits) - set(q["relevant_docs"])
            if extra:
                err("%s: phrase also in %s: %s" % (q["id"], sorted(extra), p))
    over = [d for d, c in per_doc.items() if c > 3]
    if over:
        err("more than 3 questions on: %s" % over)

    byid = {q["id"]: q for q in qs}
    probed = set()
    for qid, prefix, pat in UNANSWERABLE_PROBES:
        if qid not in byid or byid[qid]["answerable"]:
            err("probe for %s: not an unanswerable question" % qid)
            continue
        probed.add(qid)
        scope = [d for d in flat if d.startswith(prefix)]
        if not scope:
            err("probe for %s: no docs start with %s" % (qid, prefix))
        for d in scope:
            m = re.search(pat, flat[d], re.I)
            if m:
                err("probe for %s matches %s: ...%s..." % (qid, d, flat[d][max(0, m.start()-80):m.end()+80]))
    unprobed = [q["id"] for q in qs if not q["answerable"] and q["id"] not in probed]
    if unprobed:
        err("unanswerable questions without a probe: %s" % unprobed)

    ans = [q for q in qs if q["answerable"]]
    qdocs = {d for q in ans for d in q["relevant_docs"]}
    cats = collections.Counter(q["category"] for q in qs)
    years = collections.Counter(f[:4] for f in names)
    print("docs %d (question docs %d, distractors %d), by year %s" % (
        len(names), len(qdocs), len(names) - len(qdocs), dict(sorted(years.items()))))
    print("questions %d: answerable %d, unanswerable %d; categories %s; date_phrase %d" % (
        len(qs), len(ans), len(qs) - len(ans), dict(cats), sum(bool(q.get("date_phrase")) for q in qs)))
    if len(ans) < 110: err("fewer than 110 answerable")
    if len(qs) - len(ans) < 28: err("fewer than 28 unanswerable")
    if len(qdocs) < 55: err("fewer than 55 question documents")
    for e in errors:
        print("FAIL", e)
    print("OK" if not errors else "%d failures" % len(errors))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
