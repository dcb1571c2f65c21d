// Transcript QA web page: plain JavaScript, no build step, no network beyond this server.
// Every piece of transcript text is inserted with textContent or text nodes, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const KEY = "rag-api-key";
const MAX_QUESTION = 2000;
const documentsById = new Map();
const table = { documents: [], sortKey: "title", ascending: true };
let opener = null; // what opened the transcript, focused again when it closes

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(child ?? ""));
  return node;
}

// ---- API access, errors in plain words, the API key ------------------------------------------

class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function plainWords(error) {
  if (!(error instanceof ApiError)) return `Cannot reach the service (${error.message}).`;
  if (error.status === 401) {
    return sessionStorage.getItem(KEY)
      ? "The API key was wrong: enter the right one below and try again."
      : "This service needs an API key: enter it below and try again.";
  }
  if (error.status === 409) return `Already in the index: ${error.message}`;
  if (error.status === 503) return `The service is busy or not ready: ${error.message}`;
  if (error.status === 413) return `That file is too large: ${error.message}`;
  if (error.status === 404) return `Not found: ${error.message}`;
  if (error.status === 422) return `Please check your input: ${error.message}`;
  return `The service answered with an error (${error.status}): ${error.message}`;
}

function showError(error) {
  const box = $("error");
  box.textContent = plainWords(error);
  box.hidden = false;
  if (error instanceof ApiError && error.status === 401) askForKey();
}

function clearError() {
  $("error").hidden = true;
}

function askForKey() {
  $("key-form").hidden = false;
  $("key-input").value = "";
  $("key-input").focus();
}

async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  const key = sessionStorage.getItem(KEY);
  if (key) headers.set("Authorization", `Bearer ${key}`);
  const response = await fetch(path, { ...options, headers });
  if (!response.ok) {
    let detail = response.statusText;
    try {
      detail = (await response.json()).detail || detail;
    } catch (_) { /* not JSON */ }
    throw new ApiError(response.status, typeof detail === "string" ? detail : JSON.stringify(detail));
  }
  return response;
}

// ---- documents: filters, list, upload ---------------------------------------------------------

async function loadDocuments() {
  const { documents } = await (await api("/documents")).json();
  documentsById.clear();
  const select = $("filter-doc");
  const chosen = select.value;
  select.replaceChildren(el("option", { value: "" }, "All documents"));
  const speakers = new Set();
  for (const doc of documents) {
    documentsById.set(doc.doc_id, doc);
    select.append(el("option", { value: doc.doc_id }, `${doc.date || "undated"} · ${doc.title}`));
    doc.speakers.forEach((s) => speakers.add(s));
  }
  if (documentsById.has(chosen)) select.value = chosen;
  $("speakers").replaceChildren(...[...speakers].sort().map((s) => el("option", { value: s })));
  table.documents = documents;
  renderDocuments();
}

function renderDocuments() {
  const needle = $("documents-search").value.trim().toLowerCase();
  const shown = table.documents.filter((d) => !needle ||
    [d.title, d.doc_id, d.place, d.date].some((v) => (v || "").toLowerCase().includes(needle)));
  const value = (d) => (table.sortKey === "chunks" ? d.chunks : String(d[table.sortKey] || ""));
  shown.sort((a, b) => {
    const [x, y] = [value(a), value(b)];
    const order = typeof x === "number" ? x - y : x.localeCompare(y);
    return table.ascending ? order : -order;
  });
  for (const th of document.querySelectorAll("#documents-table th .sort")) {
    if (th.dataset.key === table.sortKey) th.setAttribute("aria-sort", table.ascending ? "ascending" : "descending");
    else th.removeAttribute("aria-sort");
  }
  $("documents-table").tBodies[0].replaceChildren(...shown.map((doc) => el("tr", { "data-doc-id": doc.doc_id },
    el("td", {}, el("a", { href: "#", onclick: (e) => { e.preventDefault(); openTranscript(doc.doc_id); } }, doc.title)),
    el("td", {}, el("code", {}, doc.doc_id)),
    el("td", {}, doc.date || "—"),
    el("td", { title: `read as ${doc.format}` }, doc.language || "—"),
    el("td", {}, String(doc.chunks)),
    el("td", {}, el("span", { class: "origin", title: doc.origin === "upload"
      ? "Uploaded over HTTP: kept by rag ingest" : "From a transcript file: rag ingest keeps it in step" },
      doc.origin === "upload" ? "uploaded" : "file")),
    el("td", {}, el("button", { type: "button", class: "danger", "aria-label": `Delete ${doc.doc_id}`,
      onclick: () => deleteDocument(doc) }, "Delete")))));
}

async function deleteDocument(doc) {
  if (!window.confirm(`Delete “${doc.title}” (${doc.doc_id}) from the index?`)) return;
  clearError();
  try {
    const result = await (await api(`/documents/${encodeURIComponent(doc.doc_id)}`, { method: "DELETE" })).json();
    $("upload-status").textContent = `Deleted ${doc.doc_id}.${result.note ? ` Note: ${result.note}` : ""}`;
    await loadDocuments();
  } catch (error) {
    showError(error);
  }
}

async function upload(event) {
  event.preventDefault();
  const file = $("upload-file").files[0];
  if (!file) return;
  const body = new FormData();
  body.append("file", file);
  if ($("upload-id").value.trim()) body.append("doc_id", $("upload-id").value.trim());
  const path = $("upload-replace").checked ? "/documents?replace=true" : "/documents";
  $("upload-status").textContent = `Uploading ${file.name}…`;
  $("upload-button").disabled = true;
  clearError();
  try {
    const response = await api(path, { method: "POST", body });
    let result = await response.json();
    if (response.status === 202) result = await followJob(result, file.name);
    $("upload-form").reset();
    await loadDocuments();
    const doc = documentsById.get(result.doc_id);
    $("upload-status").textContent =
      `Indexed “${doc ? doc.title : file.name}” as doc_id ${result.doc_id} (${plural(doc ? doc.chunks : result.chunks, "passage")}).`;
  } catch (error) {
    $("upload-status").textContent = "";
    showError(error);
  } finally {
    $("upload-button").disabled = false;
    $("upload-progress").hidden = true;
  }
}

// A large upload is indexed in the background: its job is polled until it is done.
async function followJob(job, name) {
  const bar = $("upload-progress");
  bar.hidden = false;
  for (;;) {
    if (job.status === "done") return job;
    if (job.status === "failed") throw new ApiError(422, job.error);
    if (job.total) {
      bar.max = job.total;
      bar.value = job.done;
      $("upload-status").textContent = `Indexing ${name} as doc_id ${job.doc_id}: ${job.done} of ${plural(job.total, "passage")} embedded…`;
    } else {
      bar.removeAttribute("value");
      $("upload-status").textContent = `Queued ${name} as doc_id ${job.doc_id}: waiting for the writes before it…`;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    job = await (await api(`/jobs/${job.job_id}`)).json();
  }
}

// ---- asking: streamed answer, citations, passage cards -----------------------------------------

function filters() {
  const f = {};
  if ($("filter-doc").value) f.doc_ids = [$("filter-doc").value];
  if ($("filter-speaker").value.trim()) f.speaker = $("filter-speaker").value.trim();
  if ($("filter-since").value) f.since = $("filter-since").value;
  if ($("filter-until").value) f.until = $("filter-until").value;
  return f;
}

async function* serverSentEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event && data) yield [event, JSON.parse(data)];
    }
  }
}

async function ask(event) {
  event.preventDefault();
  const question = $("question").value.trim();
  if (!question || !checkQuestionLength()) return;
  clearError();
  $("ask-button").disabled = true;
  $("status").textContent = "Searching the transcripts…";
  $("answer").hidden = true;
  $("passages-title").hidden = true;
  $("passages").replaceChildren();
  $("export").hidden = true;
  $("timeline").hidden = true;
  try {
    const response = await api("/ask", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ question, k: 5, filters: filters(), stream: true }),
    });
    let streamed = "";
    for await (const [name, data] of serverSentEvents(response)) {
      if (name === "answer") {
        streamed += data.delta;
        showAnswerText(streamed);
        $("status").textContent = "Writing the answer…";
      } else if (name === "done") {
        renderAnswer(data);
        offerExport(question, data);
      }
    }
    $("status").textContent = "";
  } catch (error) {
    $("status").textContent = "";
    showError(error);
  } finally {
    $("ask-button").disabled = false;
  }
}

// ---- the timeline: passages that answer, per month, as an SVG bar chart ---------------------------

// SVG's namespace, as the HTML parser gives it (no address written in the page: none is ever fetched)
const SVG = new DOMParser().parseFromString("<svg></svg>", "text/html").body.firstChild.namespaceURI;

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(child ?? ""));
  return node;
}

function monthsBetween(first, last) {
  const months = [];
  let [year, month] = first.split("-").map(Number);
  const [lastYear, lastMonth] = last.split("-").map(Number);
  while (year < lastYear || (year === lastYear && month <= lastMonth)) {
    months.push(`${year}-${String(month).padStart(2, "0")}`);
    [year, month] = month === 12 ? [year + 1, 1] : [year, month + 1];
  }
  return months;
}

function timelineQuery(question) {
  const f = filters();
  const query = new URLSearchParams({ q: question });
  for (const name of ["speaker", "since", "until"]) if (f[name]) query.set(name, f[name]);
  for (const id of f.doc_ids || []) query.append("doc_ids", id);
  return query;
}

async function showTimeline() {
  const question = $("question").value.trim();
  if (!question || !checkQuestionLength()) return;
  clearError();
  $("timeline-button").disabled = true;
  $("status").textContent = "Counting the passages that answer, month by month…";
  try {
    const result = await (await api(`/timeline?${timelineQuery(question)}`)).json();
    renderTimeline(question, result);
    $("status").textContent = "";
  } catch (error) {
    $("status").textContent = "";
    showError(error);
  } finally {
    $("timeline-button").disabled = false;
  }
}

function renderTimeline(question, result) {
  $("timeline").hidden = false;
  const undated = result.undated ? ` (${result.undated} in undated transcripts)` : "";
  $("timeline-title").textContent = result.total
    ? `Passages that answer “${question}”: ${result.total}${undated}`
    : result.reason === "no_match_for_filters" ? "No passages match these filters"
    : "Not in the transcripts: no passage answers this";
  if (!result.buckets.length) {
    $("timeline-chart").replaceChildren();
    return;
  }
  const counts = new Map(result.buckets.map((b) => [b.month, b]));
  const months = monthsBetween(result.buckets[0].month, result.buckets.at(-1).month);
  const most = Math.max(...result.buckets.map((b) => b.count));
  const slot = Math.max(14, Math.min(60, 720 / months.length));
  const height = 160;
  const labelEvery = Math.ceil(months.length / 12);
  const chart = svg("svg", { viewBox: `0 0 ${months.length * slot + 20} ${height + 40}`, role: "list",
                             "aria-label": "Passages that answer, per month" });
  months.forEach((month, i) => {
    const bucket = counts.get(month);
    const x = 10 + i * slot;
    if (i % labelEvery === 0) chart.append(svg("text", { x: x + slot / 2, y: height + 16, "text-anchor": "middle" }, month));
    if (!bucket) return;
    const tall = Math.max(2, (bucket.count / most) * (height - 20));
    const who = Object.entries(bucket.speakers).map(([name, n]) => `${name} ${n}`).join(", ");
    const bar = svg("g", { class: "bar-month", "data-month": month, role: "listitem", tabindex: "0",
                           "aria-label": `${month}: ${plural(bucket.count, "passage")} (${who})` },
      svg("title", {}, `${month}: ${plural(bucket.count, "passage")} (${who})`),
      svg("rect", { x: x + 2, y: height - tall, width: slot - 4, height: tall, rx: 2 }),
      svg("text", { x: x + slot / 2, y: height - tall - 4, "text-anchor": "middle" }, String(bucket.count)));
    const open = () => openMonth(question, bucket, bar);
    bar.addEventListener("click", open);
    bar.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); open(); } });
    chart.append(bar);
  });
  $("timeline-chart").replaceChildren(chart);
}

// A month's bar opens that month's passages that best answer: the same search, within the month.
async function openMonth(question, bucket, bar) {
  for (const other of document.querySelectorAll(".bar-month.chosen")) other.classList.remove("chosen");
  bar.classList.add("chosen");
  const [year, month] = bucket.month.split("-").map(Number);
  const last = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const f = { ...filters(), since: `${bucket.month}-01`, until: `${bucket.month}-${String(last).padStart(2, "0")}` };
  clearError();
  $("answer").hidden = true;
  $("export").hidden = true;
  try {
    const response = await api("/search", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ question, k: Math.min(bucket.count, 50), filters: f }),
    });
    const { passages } = await response.json();
    $("passages-title").textContent = `${bucket.month}: ${plural(bucket.count, "passage")} that answer`;
    $("passages-title").hidden = false;
    $("passages").replaceChildren(...passages.map((p) => passageCard(p, [])));
  } catch (error) {
    showError(error);
  }
}

function showAnswerText(text) {
  $("answer").hidden = false;
  $("answer").className = "answer";
  $("answer-title").textContent = "Answer";
  $("answer-text").textContent = text;
}

function renderAnswer(result) {
  const answer = $("answer");
  answer.hidden = false;
  answer.className = result.abstained ? "answer abstained" : "answer";
  $("answer-title").textContent = result.reason === "no_match_for_filters" ? "No passages match these filters"
    : result.abstained ? "Not in the transcripts" : "Answer";
  $("answer-text").replaceChildren(...citedParts(result).map((p) => (p instanceof Node ? p : document.createTextNode(p))));
  const notes = [];
  if (result.llm_error) notes.push(`The LLM failed (${result.llm_error}); the answer is quoted from the transcripts.`);
  if (result.unsupported) notes.push("The LLM's answer cited no source; the quotes below it come from the transcripts.");
  if (result.removed_citations) notes.push(`Removed citations of sources that were not given: ${result.removed_citations.join(", ")}.`);
  $("answer-note").textContent = notes.join(" ");
  $("answer-note").hidden = notes.length === 0;

  const cited = new Set(result.citations.map((c) => c.n));
  const shown = cited.size ? result.passages.filter((p) => cited.has(p.rank)) : result.passages;
  $("passages-title").textContent = result.abstained ? "Closest passages" : "Cited passages";
  $("passages-title").hidden = shown.length === 0;
  $("passages").replaceChildren(...shown.map((p) => passageCard(p, result.citations.filter((c) => c.n === p.rank))));
}

// The answer's citation markers come from `citations`, in order, never from scanning the text: a "[1]"
// inside a quoted transcript stays text. A quote is followed by its marker ("quote" [n]); an LLM's answer
// carries only the marker.
function citedParts(result) {
  const parts = [];
  let cursor = 0;
  for (const c of result.citations) {
    const marker = `[${c.n}]`;
    const quoted = result.answer.indexOf(`"${c.quote}" ${marker}`, cursor);
    const at = quoted >= 0 ? quoted + c.quote.length + 3 : result.answer.indexOf(marker, cursor);
    if (at < 0) continue;
    parts.push(result.answer.slice(cursor, at),
      el("button", { type: "button", class: "cite", "data-n": String(c.n), title: "Open in the transcript",
                     onclick: () => openTranscript(c.doc_id, c.start, c.end) }, marker));
    cursor = at + marker.length;
  }
  parts.push(result.answer.slice(cursor));
  return parts;
}

function checkQuestionLength() {
  const length = $("question").value.trim().length;
  const over = length > MAX_QUESTION;
  $("question-note").hidden = !over;
  $("question-note").textContent = over
    ? `Your question is ${length.toLocaleString("en")} characters long; the limit is 2,000: please shorten it.` : "";
  $("ask-button").disabled = over;
  return !over;
}

function passageCard(passage, citations) {
  const text = el("p", { class: "passage-text" });
  let cursor = 0;
  for (const c of [...citations].sort((a, b) => a.start - b.start)) {
    const from = c.start - passage.start;
    if (from < cursor) continue;
    text.append(passage.text.slice(cursor, from), el("mark", {}, passage.text.slice(from, c.end - passage.start)));
    cursor = c.end - passage.start;
  }
  text.append(passage.text.slice(cursor));
  const span = passage.t_start === null || passage.t_start === undefined ? null
    : `${clock(passage.t_start)}–${clock(passage.t_end)}`;
  const meta = [passage.date, passage.place, passage.speaker, span].filter(Boolean).join(" · ");
  // The original's address, when the transcript gives one; only web addresses become links.
  const original = /^https?:\/\//.test(passage.source_url || "")
    ? [" · ", el("a", { class: "original", href: passage.source_url, target: "_blank", rel: "noopener noreferrer" }, "original")]
    : [];
  return el("div", { class: "card", "data-chunk-id": passage.chunk_id },
    el("h4", {}, `[${passage.rank}] ${passage.title}`, ...machineMark(passage)),
    el("p", { class: "meta" }, meta, " · ",
      el("a", { href: "#", onclick: (e) => { e.preventDefault(); openTranscript(passage.doc_id, passage.start, passage.end); } },
        "open in transcript"), ...original),
    questionAsked(passage),
    text,
    citeBar(passage));
}

// A machine transcript's words are a speech recogniser's: marked on every card, never taken for a person's.
function machineMark(passage) {
  return passage.transcript === "machine"
    ? [" ", el("span", { class: "machine", title: "Speech recognition from the recording: check the recording before quoting" }, "machine transcript")]
    : [];
}

// Seconds into a recording as 00:12:31.
function clock(seconds) {
  const s = Math.floor(seconds);
  return [Math.floor(s / 3600), Math.floor(s / 60) % 60, s % 60].map((n) => String(n).padStart(2, "0")).join(":");
}

// ---- the transcript, scrolled to a span --------------------------------------------------------

const LABEL = /^((?:Question|[A-Z][\w.'’-]*(?:\s+[A-Z][\w.'’-]*){1,4})(?:\s*\([^()]{1,80}\))?):\s/;

async function openTranscript(docId, start = null, end = null) {
  clearError();
  if ($("transcript").hidden) opener = document.activeElement;
  let doc;
  try {
    doc = await (await api(`/documents/${encodeURIComponent(docId)}`)).json();
  } catch (error) {
    showError(error);
    return;
  }
  $("transcript-title").textContent = doc.title;
  $("transcript-meta").textContent = [doc.date, doc.place, doc.speakers.join(", ")].filter(Boolean).join(" · ");
  const body = $("transcript-body");
  body.replaceChildren();
  let offset = 0;
  let first = null;
  for (const paragraph of doc.text.split("\n\n")) {
    const pStart = offset;
    const pEnd = offset + paragraph.length;
    offset = pEnd + 2;
    const label = LABEL.exec(paragraph);
    const node = el("p", { class: label && /^Question/.test(label[1]) ? "turn question" : "turn" });
    if (label) node.append(el("span", { class: "speaker" }, label[1]));
    const textStart = label ? label[0].length : 0;
    const from = start === null ? -1 : Math.max(start - pStart, textStart);
    const to = end === null ? -1 : Math.min(end - pStart, paragraph.length);
    if (start !== null && from < to) {
      const mark = el("mark", { class: "highlight" }, paragraph.slice(from, to));
      node.append(paragraph.slice(textStart, from), mark, paragraph.slice(to));
      first = first || mark;
    } else {
      node.append(paragraph.slice(textStart));
    }
    body.append(node);
  }
  $("transcript").hidden = false;
  (first || body).scrollIntoView({ block: "center" });
  $("transcript-close").focus({ preventScroll: true });
}

// ---- citing: a ready citation to copy, and permalinks that open the transcript at a span ----------

function permalink(docId, start, end) {
  return `${location.origin}${location.pathname}#/t/${encodeURIComponent(docId)}/${start}-${end}`;
}

async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch (_) {
    window.prompt("Copy this:", text); // no clipboard access (an insecure origin): the text to copy by hand
  }
  setTimeout(() => { button.textContent = button.dataset.label; }, 1500);
}

function citeBar(passage) {
  const link = permalink(passage.doc_id, passage.start, passage.end);
  const button = (label, cls, text) => {
    const b = el("button", { type: "button", class: `copy ${cls}`, "data-label": label }, label);
    b.addEventListener("click", () => copyText(text, b));
    return b;
  };
  return el("p", { class: "cite-bar" },
    el("span", { class: "citation" }, passage.citation), " ",
    button("Copy citation", "copy-citation", `${passage.citation}\n${link}`), " ",
    button("Copy link", "copy-link", link));
}

// The reporter's question a reply answers, shown above it (nothing when the passage replies to none).
function questionAsked(passage) {
  if (!passage.question) return "";
  return el("blockquote", { class: "asked" }, el("span", { class: "asked-label" }, "In reply to: "), passage.question);
}

// A permalink (#/t/DOC_ID/START-END) opens the transcript at that span when the page loads or the hash changes.
function openPermalink() {
  const match = /^#\/t\/([^/]+)\/(\d+)-(\d+)$/.exec(location.hash);
  if (match) openTranscript(decodeURIComponent(match[1]), Number(match[2]), Number(match[3]));
}

// ---- export: the answer, its citations and passages as Markdown, CSV or JSON, for pasting into notes ----
// The same documents as `rag ask --format markdown|csv|json` (rag/export.py), built from the API's response.

const CSV_COLUMNS = ["rank", "doc_id", "title", "date", "place", "speaker", "start", "end",
                     "t_start", "t_end", "source_url", "transcript", "citation", "text"];
let exported = null; // {question, result}: the answer on show

function blockQuote(text) {
  return text.split(/\r?\n/).map((line) => `> ${line}`.trimEnd()).join("\n");
}

function passageMarkdown(p) {
  const lines = [`### [${p.rank}] ${p.title}`, "", `- Citation: ${p.citation}`, `- Span: ${p.doc_id} [${p.start}:${p.end}]`];
  if (p.transcript === "machine") lines.push("- Transcript: machine (speech recognition from the recording: check the recording)");
  if (p.t_start !== null && p.t_start !== undefined) {
    lines.push(`- Time: ${clock(p.t_start)}${p.t_end !== null && p.t_end !== undefined ? `–${clock(p.t_end)}` : ""}`);
  }
  if (p.source_url) lines.push(`- Source: ${p.source_url}`);
  lines.push(`- Link: ${permalink(p.doc_id, p.start, p.end)}`);
  if (p.question) lines.push(`- In reply to: ${p.question}`);
  return [...lines, "", blockQuote(p.text)].join("\n");
}

function answerMarkdown(question, result) {
  const parts = [`# ${question}`, result.abstained ? "## Not in the transcripts" : "## Answer", result.answer];
  if (result.llm_error) parts.push(`*The LLM failed (${result.llm_error}); the answer is quoted from the transcripts.*`);
  if (result.citations.length) {
    const byRank = new Map(result.passages.map((p) => [p.rank, p.citation]));
    parts.push("## Citations",
      result.citations.map((c) => `- [${c.n}] ${byRank.get(c.n) ?? c.doc_id}\n\n${blockQuote(c.quote)}`).join("\n\n"));
  }
  parts.push("## Passages", ...(result.passages.length ? result.passages.map(passageMarkdown) : ["No passages found."]));
  return parts.join("\n\n") + "\n";
}

// Text a spreadsheet would run as a formula gets a leading single quote, as OWASP advises (rag/export.py, csv_cell).
const FORMULA_START = /^[=+\-@\t\r]/;

function csvCell(value) {
  if (value === null || value === undefined) return "";
  const text = typeof value === "string" && FORMULA_START.test(value) ? `'${value}` : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function passagesCsv(passages) {
  return [CSV_COLUMNS, ...passages.map((p) => CSV_COLUMNS.map((name) => p[name]))]
    .map((row) => row.map(csvCell).join(",") + "\r\n").join("");
}

function download(extension, type, text) {
  const slug = exported.question.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 60);
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = el("a", { href: url, download: `${slug || "answer"}.${extension}` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function offerExport(question, result) {
  exported = { question, result };
  $("export").hidden = false;
}

function wireExport() {
  $("export-markdown").addEventListener("click", () =>
    download("md", "text/markdown", answerMarkdown(exported.question, exported.result)));
  $("export-csv").addEventListener("click", () => download("csv", "text/csv", passagesCsv(exported.result.passages)));
  $("export-json").addEventListener("click", () =>
    download("json", "application/json", JSON.stringify(exported.result, null, 2) + "\n"));
  $("export-copy").addEventListener("click", (e) =>
    copyText(answerMarkdown(exported.question, exported.result), e.currentTarget));
}

// ---- views and wiring --------------------------------------------------------------------------

function closeTranscript() {
  if ($("transcript").hidden) return;
  $("transcript").hidden = true;
  if (opener && document.contains(opener)) opener.focus();
  opener = null;
}

function route() {
  const documents = location.hash === "#/documents";
  $("view-ask").hidden = documents;
  $("view-documents").hidden = !documents;
  $("nav-ask").classList.toggle("active", !documents);
  $("nav-documents").classList.toggle("active", documents);
}

async function start() {
  $("ask-form").addEventListener("submit", ask);
  $("timeline-button").addEventListener("click", showTimeline);
  $("upload-form").addEventListener("submit", upload);
  wireExport();
  $("transcript-close").addEventListener("click", closeTranscript);
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") closeTranscript(); });
  $("question").addEventListener("input", checkQuestionLength);
  $("documents-search").addEventListener("input", renderDocuments);
  for (const button of document.querySelectorAll("#documents-table th .sort")) {
    button.addEventListener("click", () => {
      table.ascending = table.sortKey === button.dataset.key ? !table.ascending : true;
      table.sortKey = button.dataset.key;
      renderDocuments();
    });
  }
  $("key-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY, $("key-input").value.trim());
    $("key-form").hidden = true;
    clearError();
    await loadDocuments().catch(showError);
  });
  window.addEventListener("hashchange", route);
  window.addEventListener("hashchange", openPermalink);
  route();
  await loadDocuments().catch(showError);
  openPermalink();
  $("question").focus();
}

start();
