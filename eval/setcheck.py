"""The checks of the held-out eval sets (eval/heldout/check.py, eval/outside/check.py). Standard
library only, no imports from the project."""
import collections, hashlib, json, os, re, unicodedata

CATEGORIES = {"factual", "position", "quote", "unanswerable"}


def norm(s):
    """The CONTRACT's normalisation: NFKC, curly quotes straight, en/em dashes to '-',
    whitespace runs to one space, case-folded."""
    s = unicodedata.normalize("NFKC", s)
    s = s.replace("\u2018", "'").replace("\u2019", "'").replace("\u201c", '"').replace("\u201d", '"')
    s = s.replace("\u2013", "-").replace("\u2014", "-")
    s = re.sub(r"\s+", " ", s)
    return s.casefold()


def check(here, other_docs, probes, minimum):
    """Every check of an eval set in `here` (docs/, questions.jsonl) whose documents must not be in
    `other_docs`; `probes`: (unanswerable id, file-name prefix, pattern none of those files may match);
    `minimum`: the least answerable, unanswerable and question documents. Prints counts and failures;
    returns the exit status."""
    DOCS = os.path.join(here, "docs")
    QUESTIONS = os.path.join(here, "questions.jsonl")
    others = " or ".join(os.path.relpath(o, os.path.join(here, "..", "..")) for o in other_docs)
    errors = []
    err = errors.append
    names = sorted(f for f in os.listdir(DOCS) if f.endswith(".md"))
    if not os.path.exists(os.path.join(DOCS, "LICENSE-wh-press-briefings.txt")):
        err("docs/LICENSE-wh-press-briefings.txt missing")
    raw = {f: open(os.path.join(DOCS, f), "rb").read() for f in names}
    wh, wh_hashes = set(), set()
    for other in other_docs:
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
            err("doc also in %s: %s" % (others, f))
        if h in wh_hashes:
            err("doc byte-identical to one in %s: %s" % (others, f))
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
    for qid, prefix, pat in probes:
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
    least_answerable, least_unanswerable, least_docs = minimum
    if len(ans) < least_answerable: err("fewer than %d answerable" % least_answerable)
    if len(qs) - len(ans) < least_unanswerable: err("fewer than %d unanswerable" % least_unanswerable)
    if len(qdocs) < least_docs: err("fewer than %d question documents" % least_docs)
    for e in errors:
        print("FAIL", e)
    print("OK" if not errors else "%d failures" % len(errors))
    return 1 if errors else 0

