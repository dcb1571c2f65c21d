#!/usr/bin/env python3
"""Checks for the held-out eval set (eval/heldout/). Standard library only.

Run from anywhere:  python3 eval/heldout/check.py
Exit status 0 when every check passes; each failure is printed.
"""
import collections, hashlib, json, os, re, sys, unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
DOCS = os.path.join(HERE, "docs")
WH_DOCS = os.path.join(HERE, "..", "wh", "docs")
QUESTIONS = os.path.join(HERE, "questions.jsonl")
CATEGORIES = {"factual", "position", "quote", "unanswerable"}

# Unanswerable questions: for each, the documents of that week/month (file-name prefix) and a
# pattern that would match a passage giving the answer.  None may match.
UNANSWERABLE_PROBES = [
    ('ho-006', '2021-05-1', 'ransom.{0,80}(paid|\\$)|\\$.{0,40}ransom|4\\.4 million|75 bitcoin'),
    ('ho-012', '2024-07-1', 'per (icebreaker|vessel|ship)|each (icebreaker|vessel|ship)'),
    ('ho-018', '2022-08-2', 'donat\\w*.{0,80}(vaccine|dose|vial)s?.{0,80}(countr|abroad)'),
    ('ho-023', '2022-10-0', 'Micron.{0,300}(grant|award|CHIPS (Act|funding|money))'),
    ('ho-029', '2024-12-1', 'arrest'),
    ('ho-035', '2024-12-0', 'China.{0,150}\\$|\\$.{0,150}Chin(a|ese)|Benguela'),
    ('ho-041', '2022-12-1', 'Paxlovid.{0,200}(donat|abroad|global)'),
    ('ho-047', '2023-08-2', 'death toll|fatalit|(\\d+) (people )?(have )?(died|killed|dead)|lives lost'),
    ('ho-053', '2023-03-2', 'Ohio.{0,100}borrowers|borrowers.{0,100}Ohio'),
    ('ho-058', '2023-07-1', 'Cyber Trust Mark.{0,300}(fine|penalt|enforce)'),
    ('ho-064', '2024-03-2', '3\\d,\\d00|killed'),
    ('ho-070', '2022-11-', 'Kem Sokha|Sokha'),
    ('ho-076', '2022-07-2', 'heat.{0,100}(deaths|died|killed|kills \\d)'),
    ('ho-082', '2023-02-2', 'Norfolk.{0,300}\\$\\d|\\$\\d[\\d.,]* (million|billion).{0,100}(East Palestine|Norfolk|residents)'),
    ('ho-088', '2021-04-0', 'AstraZeneca.{0,300}(Mexico|Canada)|(Mexico|Canada).{0,200}AstraZeneca'),
    ('ho-093', '2022-05-11-background', '\\$\\d'),
    ('ho-099', '2022-04-0', '\\d[\\d,]* Javelin|Javelins?.{0,40}\\d{3}'),
    ('ho-105', '2024-12-09', 'killed|\\d+ (ISIS )?(fighters|operatives)'),
    ('ho-111', '2024-12-19', '(cost|price tag).{0,100}(\\$|trillion|billion)'),
    ('ho-117', '2024-01-1', 'average (monthly )?payment|average.{0,40}month'),
    ('ho-123', '2021-01-2', '\\d+ million (doses )?(of )?(the )?(Johnson|J&J)|(Johnson & Johnson|J&J).{0,80}(ordered|purchased|\\d+ million)'),
    ('ho-128', '2021-12-1', '\\d+ (airmen|service members|members).{0,40}discharg|discharg.{0,80}\\d'),
    ('ho-134', '2023-06-1', '(cost|burden)s? (to|for|on) (manufacturers|truck|industry)|compliance cost'),
    ('ho-140', '2023-11-0', '(\\d+|nine|ten|eight) (Americans|U\\.S\\. citizens).{0,60}(hostage|held|unaccounted)|hostage.{0,60}(\\d+|nine|ten|eight) Americans'),
    ('ho-146', '2023-03-2', 'Wolfspeed.{0,300}(grant|award|CHIPS (Act|funding|money))'),
    ('ho-152', '2022-04-0', 'refugees?.{0,80}(admit|welcome|arriv).{0,40}\\d|\\d[\\d,]* (Ukrainian )?refugees'),
    ('ho-158', '2021-10-0', '194,000|September.{0,80}\\d+,000 jobs'),
    ('ho-163', '2022-11-1', 'Just Energy|JETP|energy transition partnership'),
    ('ho-169', '2024-08-1', '\\d+ hostages|hostages?.{0,60}(alive|living)'),
    ('ho-175', '2021-09-0', '(100|200|\\d+) (Americans|American citizens)|Americans.{0,60}(remain|still there|left behind).{0,60}\\d'),
    ('ho-181', '2022-12-1', '\\$275 million.{0,300}(HIMARS|artillery|rounds|air defense|drones)'),
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
    wh = set(os.listdir(WH_DOCS)) if os.path.isdir(WH_DOCS) else set()
    wh_hashes = {hashlib.sha1(open(os.path.join(WH_DOCS, f), "rb").read()).hexdigest()
                 for f in wh if f.endswith(".md")}
    seen = {}
    for f, b in raw.items():
        h = hashlib.sha1(b).hexdigest()
        if f in wh:
            err("doc also in eval/wh/docs: " + f)
        if h in wh_hashes:
            err("doc byte-identical to one in eval/wh/docs: " + f)
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
    if len(qdocs) < 60: err("fewer than 60 question documents")
    for e in errors:
        print("FAIL", e)
    print("OK" if not errors else "%d failures" % len(errors))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
