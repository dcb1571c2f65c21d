"""The Milvus store: passages, sentences, documents and the live version in four Milvus collections (extra
[scale]).

    {prefix}passages   row (INT64 primary key), doc_id, speaker, date (YYYYMMDD, -1 undated), offsets,
                       times, flags, text, context, `said` (text + question, stemmed: abstention's word
                       coverage), `lexical` (that, the speaker's names and roles, title, place and date:
                       the local store's FTS5 columns; BM25 Function -> `sparse`), `speaker_words` (the
                       speaker's names and roles, for the speaker signal),
                       `vector` (HNSW, inner product over normalised vectors: cosine), added_in /
                       removed_in (the versions a passage is visible in)
    {prefix}sentences  a vector per sentence of each passage (id row * MAX_SENTENCES + i, HNSW), with the
                       passage's fields that filters read
    {prefix}documents  one row per piece of a document: its metadata (piece 0) and its text and
                       paragraphs as JSON in pieces under Milvus's VARCHAR limit
    {prefix}state      one row: the live version, the next free row and the manifest (model, chunking...)

Safe writes: a write inserts its passages and documents as version V = live + 1 (invisible: readers
filter `added_in <= live < removed_in`), marks what it replaces as removed in V, and only then switches
the state row to V, one upsert. A writer killed before that leaves version `live` whole; the next writer
removes its leftovers first. Every collection is created with consistency level Strong, so a search
right after a write sees it (real Milvus defaults to Bounded).

BM25 runs over `lexical`: the passage and its question as the local store's FTS5 tokenizer splits and
stems them (lexical.analysed), so that both stores find the same words; Milvus Lite 3.x's own analysers
(standard and jieba) do not stem. Milvus Lite 3.x (a file path as the URI) differs from a server too:
BM25 scores are negative (only the order is used), sparse searches need drop_ratio_search 0, one process
only may open a .db file (several processes share one through `milvus-lite server --host 127.0.0.1`), and
its server cuts a client that sends keepalive pings while idle.

Loading: Milvus searches and queries only loaded collections. The process that creates a collection finds it
loaded; Milvus Lite (a file, or its server after a restart) starts every indexed collection released, and
a real Milvus keeps what was loaded until someone releases it. So a store loads its collections when it
connects, waiting at most RAG_READY_TIMEOUT, and again when a Milvus Lite server restarted under it.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import IndexCorrupt, RagError, StoreUnavailable, one_line
from rag.index.base import MAX_SENTENCES, RECORD_FIELDS, Update, WordMatches
from rag.index.lexical import analysed, chunk_from, date_words, document_from, paragraphs_json
from rag.index.store import Manifest, writer_lock
from rag.ingest.roles import speaker_fields
from rag.text import WORD, content_words, visible
from rag.types import Chunk, Document, Filters

NEVER = 2**62  # removed_in of a passage no version has removed
PIECE_CHARS = 16_000  # 4 bytes a character at most: a piece stays under VARCHAR's 65,535 bytes
BATCH = 256  # rows per insert or upsert call
HNSW = {"M": 16, "efConstruction": 200}  # build parameters; searches use ef = max(64, depth)
ANALYZER = {"tokenizer": "standard", "filter": ["lowercase"]}  # what Milvus Lite 3.x supports
_STATE_ID = "live"
_COLLECTIONS = ("passages", "sentences", "documents", "state")
NOT_LOADED = 101  # Milvus's error code for a search or query of a collection that is not loaded
_KINDS = ("passages", "documents", "sentences")  # the collections a write versions
_SCOPE = ("doc_id", "speaker_fold", "date", "added_in", "removed_in")  # what filters read, on sentences too
_DOC_FIELDS = ("title", "date", "place", "source_url", "format")  # a passage's, from its document's meta
_ROW_FIELDS = [f for f in RECORD_FIELDS if f not in _DOC_FIELDS]


class _NoClientTimestamps(logging.Filter):
    """Milvus Lite gives query iterators no server timestamp, and pymilvus warns on every one: the
    collections are Strong, so the client's timestamp is the right one."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "mvccTs" not in record.getMessage()


class _NoAllocTimestamp(logging.Filter):
    """pymilvus asks for a timestamp before each query iterator, which Milvus Lite's in-process server does
    not implement (pymilvus then does without); grpc logs every refusal with a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not (
            isinstance(error, NotImplementedError)
            and any(frame.name == "AllocTimestamp" for frame in traceback.extract_tb(error.__traceback__))
        )


class _LiteOpenFailure(logging.Filter):
    """Milvus Lite logs why it cannot open a .db file as a traceback, and pymilvus then raises a bare
    "Open local milvus failed": the reason is kept here for the one-line error instead."""

    reason: str | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1]:
            _LiteOpenFailure.reason = one_line(record.exc_info[1])
            return False
        return True


class _NoNotLoadedTraces(logging.Filter):
    """pymilvus logs each failed call with a traceback before raising; a collection found not loaded is
    loaded by the store (MilvusStore._state), so that one is not logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        return f"(code={NOT_LOADED}," not in record.getMessage()


logging.getLogger("pymilvus.client.iterator.query_iterator").addFilter(_NoClientTimestamps())
logging.getLogger("grpc._server").addFilter(_NoAllocTimestamp())
logging.getLogger("milvus_lite.server_manager").addFilter(_LiteOpenFailure())
logging.getLogger("pymilvus.decorators").addFilter(_NoNotLoadedTraces())


def _client(uri: str, token: str | None) -> Any:
    """A connection to the Milvus at `uri` (a file path: Milvus Lite in this process).

    Raises:
        StoreUnavailable: it does not answer, or another process holds the Milvus Lite file.
    """
    try:
        from pymilvus import MilvusClient, MilvusException
    except ImportError:
        raise RagError("RAG_STORE=milvus needs pymilvus: pip install 'transcript-rag[scale]'") from None
    if "://" not in uri:
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
    # No keepalive pings while idle: a Milvus Lite server answers pymilvus's (every 10 s) with GOAWAY
    # "too many pings", after which the connection's next call fails.
    quiet = {"grpc.keepalive_permit_without_calls": False, "grpc.keepalive_time_ms": 60_000}
    _LiteOpenFailure.reason = None
    try:
        return MilvusClient(uri=uri, token=token or "", grpc_options=quiet)
    except MilvusException as exc:
        if "://" in uri:
            raise StoreUnavailable(
                f"cannot connect to Milvus at {uri} ({one_line(exc)})",
                "start it, or fix RAG_MILVUS_URI and RAG_MILVUS_TOKEN",
            ) from None
        raise StoreUnavailable(
            f"cannot open the Milvus Lite file {uri} ({_LiteOpenFailure.reason or one_line(exc)})",
            "one process at a time opens a Milvus Lite file: stop the other one (a `rag serve`?), or share "
            "the file through `milvus-lite server --data-dir FILE --host 127.0.0.1` and "
            "RAG_MILVUS_URI=http://127.0.0.1:19530",
        ) from None


def _quote(value: str) -> str:
    """A string literal for a Milvus filter expression."""
    return json.dumps(value, ensure_ascii=False)


def _date(value: str | None) -> int:
    return int(value.replace("-", "")) if value else -1


def _visible(version: int) -> str:
    return f"added_in <= {version} and removed_in > {version}"


def filter_expression(filters: Filters, version: int) -> str:
    """The Milvus filter of a version's passages that the filters allow."""
    clauses = [_visible(version)]
    if filters.doc_ids:
        clauses.append(f"doc_id in [{', '.join(map(_quote, filters.doc_ids))}]")
    if filters.speaker:
        pattern = filters.speaker.strip().casefold().replace("\\", "\\\\")
        pattern = pattern.replace("%", "\\%").replace("_", "\\_")
        clauses.append(f"speaker_fold like {_quote('%' + pattern + '%')}")
    if filters.since:
        clauses.append(f"date >= {_date(filters.since)}")
    if filters.until:
        clauses.append(f"date >= 0 and date <= {_date(filters.until)}")
    return " and ".join(clauses)


class MilvusPassages:
    """One version of a Milvus store, read through a shared client."""

    def __init__(self, client: Any, prefix: str, version: int) -> None:
        self.client = client
        self.passages = prefix + "passages"
        self.documents_name = prefix + "documents"
        self.version = version
        self._count: int | None = None
        self._matches = functools.lru_cache(maxsize=8192)(self._match_count)
        self._speaker_matches = functools.lru_cache(maxsize=1024)(self._speaker_count)
        self.sentences_name = prefix + "sentences"
        self._meta: dict[str, dict[str, Any]] = {}  # doc_id -> piece 0's metadata (a version never changes)

    def close(self) -> None:
        self._matches.cache_clear()
        self._speaker_matches.cache_clear()

    def __len__(self) -> int:
        if self._count is None:
            self._count = self._counted(self.passages, _visible(self.version))
        return self._count

    def _counted(self, collection: str, expr: str) -> int:
        return int(self.client.query(collection, filter=expr, output_fields=["count(*)"])[0]["count(*)"])

    def dense(self, vector: np.ndarray, depth: int, filters: Filters) -> tuple[list[int], list[float]]:
        found = self.client.search(
            self.passages,
            data=[np.asarray(vector, dtype=np.float32).tolist()],
            anns_field="vector",
            limit=depth,
            filter=filter_expression(filters, self.version),
            search_params={"metric_type": "IP", "params": {"ef": max(64, depth)}},
            output_fields=["row"],
        )[0]
        return [int(h["row"]) for h in found], [float(h["distance"]) for h in found]

    def sentences(self, vector: np.ndarray, limit: int, filters: Filters) -> tuple[list[int], list[float]]:
        found = self.client.search(
            self.sentences_name,
            data=[np.asarray(vector, dtype=np.float32).tolist()],
            anns_field="vector",
            limit=min(limit, 16_384),  # Milvus's largest limit
            filter=filter_expression(filters, self.version),
            search_params={"metric_type": "IP", "params": {"ef": max(64, limit)}},
            output_fields=["row"],
        )[0]
        return [int(hit["entity"]["row"]) for hit in found], [float(hit["distance"]) for hit in found]

    def speaker_match(self, question: str, rows: list[int]) -> list[float]:
        """The IDF-weighted question words (as FTS5 stems them) found in each passage's speaker field (the
        label, and the names and roles the transcript gives), relative to the best among the rows: FTS5's
        BM25 over that column on the local store, without its length and frequency terms."""
        stems = dict.fromkeys(analysed([" ".join(content_words(question))])[0].split())
        if not stems or not rows:
            return [0.0] * len(rows)
        n = len(self)
        scores = dict.fromkeys(rows, 0.0)
        for stem in stems:
            matches = self._speaker_matches(stem)
            if not matches:
                continue
            idf = float(np.log((n - matches + 0.5) / (matches + 0.5) + 1))
            for hit in self.client.query(
                self.passages,
                filter=f"row in {list(rows)} and TEXT_MATCH(speaker_words, '{stem}')",
                output_fields=["row"],
            ):
                scores[int(hit["row"])] += idf
        best = max(scores.values())
        return [scores[row] / best if best > 0 else 0.0 for row in rows]

    def _speaker_count(self, stem: str) -> int:
        return self._counted(
            self.passages, f"TEXT_MATCH(speaker_words, '{stem}') and {_visible(self.version)}"
        )

    def lexical(self, question: str, depth: int, filters: Filters) -> list[int]:
        """Milvus's BM25 over `lexical`; Milvus Lite's scores are negative, its order is right."""
        words = analysed([" ".join(content_words(question))])[0]
        if not words:
            return []
        found = self.client.search(
            self.passages,
            data=[words],
            anns_field="sparse",
            limit=depth,
            filter=filter_expression(filters, self.version),
            search_params={"metric_type": "BM25", "params": {"drop_ratio_search": 0}},
            output_fields=["row"],
        )[0]
        return [int(h["row"]) for h in found]

    def _match_count(self, word: str) -> int:
        return self._counted(self.passages, f"TEXT_MATCH(said, '{word}') and {_visible(self.version)}")

    def word_matches(self, question: str, rows: list[int]) -> WordMatches:
        """TEXT_MATCH counts of the words as FTS5 stems them, as the local store's."""
        words: dict[str, tuple[int, set[int]]] = {}
        for term in content_words(question):
            stem = (analysed([term])[0] or term).split()[0]
            holders = self.client.query(
                self.passages,
                filter=f"row in {list(rows)} and TEXT_MATCH(said, '{stem}')",
                output_fields=["row"],
            )
            words[term] = (self._matches(stem), {int(hit["row"]) for hit in holders})
        return WordMatches(len(self), words)

    def follow_ups(self, rows: Sequence[int], filters: Filters) -> dict[int, int | None]:
        questions = self.client.query(
            self.passages, filter=f"row in {list(rows)} and is_question", output_fields=["row", "next_row"]
        )
        following = [int(q["next_row"]) for q in questions if q["next_row"] >= 0]
        allowed = filter_expression(filters, self.version)
        replies = (
            {
                int(r["row"])
                for r in self.client.query(
                    self.passages,
                    filter=f"row in {following} and not is_question and {allowed}",
                    output_fields=["row"],
                )
            }
            if following
            else set()
        )
        return {int(q["row"]): (int(q["next_row"]) if q["next_row"] in replies else None) for q in questions}

    def records(self, rows: list[int]) -> dict[int, Mapping[str, Any]]:
        found = self.client.query(self.passages, filter=f"row in {list(rows)}", output_fields=_ROW_FIELDS)
        meta = self._metadata({r["doc_id"] for r in found})
        records: dict[int, Mapping[str, Any]] = {}
        for r in found:
            doc = meta[r["doc_id"]]
            records[int(r["row"])] = {
                **{f: r.get(f) for f in _ROW_FIELDS},
                "row": int(r["row"]),
                **{f: doc.get(f) for f in _DOC_FIELDS},
            }
        return records

    def phrase_spans(self, phrases: Sequence[str], filters: Filters, limit: int = 5) -> list[tuple[str, int]]:
        """Passages holding every word of a phrase (TEXT_MATCH), then kept where the words are consecutive
        in the text (Milvus Lite 3.x has no PHRASE_MATCH)."""
        found: list[tuple[str, int]] = []
        for phrase in phrases:
            words = [w.casefold() for w in WORD.findall(visible(phrase))]
            if not words:
                continue
            matches = " and ".join(f"TEXT_MATCH(text, '{w}')" for w in dict.fromkeys(words))
            kept = 0
            for hit in self.client.query(
                self.passages,
                filter=f"{matches} and {filter_expression(filters, self.version)}",
                output_fields=["doc_id", "start", "text"],
                limit=16 * limit,
            ):
                said = [w.casefold() for w in WORD.findall(hit["text"])]
                if any(said[i : i + len(words)] == words for i in range(len(said) - len(words) + 1)):
                    found.append((hit["doc_id"], int(hit["start"])))
                    kept += 1
                    if kept == limit:
                        break
        return found

    def all_chunks(self) -> list[tuple[str, str]]:
        return [
            (r["chunk_id"], r["text"])
            for r in self._all(self.passages, _visible(self.version), ["chunk_id", "text"])
        ]

    def _all(self, collection: str, expr: str, fields: list[str]) -> Iterator[dict[str, Any]]:
        iterator = self.client.query_iterator(collection, batch_size=1000, filter=expr, output_fields=fields)
        try:
            while batch := iterator.next():
                yield from batch
        finally:
            iterator.close()

    def known_doc_ids(self, doc_ids: Sequence[str]) -> set[str]:
        return set(self._metadata(set(doc_ids)))

    def _metadata(self, doc_ids: set[str]) -> dict[str, dict[str, Any]]:
        missing = [d for d in doc_ids if d not in self._meta]
        if missing:
            expr = (
                f"doc_id in [{', '.join(map(_quote, missing))}] and piece == 0 and {_visible(self.version)}"
            )
            for r in self.client.query(self.documents_name, filter=expr, output_fields=["doc_id", "meta"]):
                self._meta[r["doc_id"]] = json.loads(r["meta"])
        return {d: self._meta[d] for d in doc_ids if d in self._meta}

    def documents(self) -> list[Document]:
        pieces: dict[str, dict[int, str]] = {}
        for r in self._all(self.documents_name, _visible(self.version), ["doc_id", "piece", "meta", "body"]):
            pieces.setdefault(r["doc_id"], {})[int(r["piece"])] = r["body"]
            if r["piece"] == 0:
                self._meta[r["doc_id"]] = json.loads(r["meta"])
        return [_document(d, self._meta[d], pieces[d]) for d in sorted(pieces)]

    def document(self, doc_id: str) -> Document | None:
        expr = f"doc_id == {_quote(doc_id)} and {_visible(self.version)}"
        rows = self.client.query(self.documents_name, filter=expr, output_fields=["piece", "meta", "body"])
        if not rows:
            return None
        meta = next(json.loads(r["meta"]) for r in rows if r["piece"] == 0)
        return _document(doc_id, meta, {int(r["piece"]): r["body"] for r in rows})

    def chunks(self, doc_id: str) -> list[Chunk]:
        expr = f"doc_id == {_quote(doc_id)} and {_visible(self.version)}"
        fields = [*_ROW_FIELDS, "context", "n_tokens", "is_question"]
        rows = self.client.query(self.passages, filter=expr, output_fields=fields)
        return [chunk_from(r) for r in sorted(rows, key=lambda r: r["start"])]

    def chunk_counts(self) -> dict[str, int]:
        expr = f"piece == 0 and {_visible(self.version)}"
        return {
            r["doc_id"]: json.loads(r["meta"])["chunks"]
            for r in self._all(self.documents_name, expr, ["doc_id", "meta"])
        }


class MilvusStore:
    """A Milvus server, cluster or Milvus Lite file holding one index under a collection name prefix.

    Writers on one machine are serialised by the index directory's file lock, as for the local store;
    writers on several machines must take turns themselves (README, "When one machine is not enough").
    """

    def __init__(
        self, uri: str, token: str | None, prefix: str, index_dir: Path, load_timeout: float
    ) -> None:
        self.uri = uri
        self.token = token
        self.prefix = prefix
        self.index_dir = index_dir
        self.load_timeout = load_timeout
        self.where = f"Milvus {uri} (collections {prefix}*)"
        self.sentence_vectors = True
        self._client: Any = None
        self._connect = threading.Lock()

    @property
    def client(self) -> Any:
        """The connection, made on first use, with the index's collections loaded."""
        with self._connect:
            if self._client is None:
                client = _client(self.uri, self.token)
                self._load(client)
                self._client = client
            return self._client

    def _load(self, client: Any) -> None:
        """Load those of the index's collections that exist and are not loaded, and wait until they are.

        Raises:
            StoreUnavailable: one does not load within load_timeout seconds, or Milvus refuses to load it.
        """
        from pymilvus import MilvusException
        from pymilvus.client.types import LoadState

        deadline = time.monotonic() + self.load_timeout
        name = self.prefix
        try:
            present = set(client.list_collections())
            for name in (self._name(kind) for kind in _COLLECTIONS):
                if name in present and client.get_load_state(name)["state"] != LoadState.Loaded:
                    client.load_collection(name, timeout=max(1.0, deadline - time.monotonic()))
        except MilvusException as exc:
            raise StoreUnavailable(
                f"{self.where}: cannot load collection {name} ({one_line(exc)})",
                "check that Milvus has the memory (query nodes) to load it, or raise RAG_READY_TIMEOUT "
                f"(now {self.load_timeout:g} s) if it is only slow; `rag doctor` checks it",
            ) from None

    def _name(self, kind: str) -> str:
        return self.prefix + kind

    def _state(self) -> dict[str, Any] | None:
        from pymilvus import MilvusException

        client = self.client
        if not client.has_collection(self._name("state")):
            return None
        query = {"filter": f"id == '{_STATE_ID}'", "output_fields": ["state"]}
        try:
            rows = client.query(self._name("state"), **query)
        except MilvusException as exc:
            if exc.code != NOT_LOADED:
                raise
            with self._connect:  # a Milvus Lite server restarted: every collection is released again
                self._load(client)
            rows = client.query(self._name("state"), **query)
        return json.loads(rows[0]["state"]) if rows else None

    def live(self) -> str | None:
        state = self._state()
        return str(state["version"]) if state else None

    def manifest(self) -> Manifest | None:
        state = self._state()
        if state is None:
            return None
        try:
            manifest = Manifest(**state["manifest"])
        except (KeyError, TypeError) as exc:
            raise IndexCorrupt(
                f"{self.where}: unreadable state ({exc}): run `rag ingest` to rebuild"
            ) from None
        reader = self.open(str(state["version"]))
        manifest.documents = {
            r["doc_id"]: {k: meta[k] for k in ("sha256", "chunks", "source")}
            for r in reader._all(
                self._name("documents"), f"piece == 0 and {_visible(reader.version)}", ["doc_id", "meta"]
            )
            for meta in [json.loads(r["meta"])]
        }
        return manifest

    def open(self, key: str) -> MilvusPassages:
        return MilvusPassages(self.client, self.prefix, int(key))

    def lock(self, timeout: float | None) -> Any:
        return writer_lock(self.index_dir, timeout)

    def write(self, update: Update) -> int:
        dimension = update.manifest.dimension
        self.create(dimension)
        state = self._state() or {"version": 0, "next_row": 0}
        live = int(state["version"])
        version = live + 1
        self._clean(live)
        drop = update.drop if update.base else self._all_doc_ids(live)
        if drop:
            for kind in _KINDS:
                self._mark_removed(kind, f"doc_id in [{', '.join(map(_quote, drop))}]", live, version)
        row = int(state["next_row"])
        pending: dict[str, list[dict[str, Any]]] = {kind: [] for kind in _KINDS}
        for item in update.fresh:
            doc, chunks, vectors = item.doc, item.chunks, item.vectors
            pending["documents"] += _document_rows(doc, len(chunks), version)
            said = analysed([visible(f"{c.text}\n{c.context}") for c in chunks])
            fields = speaker_fields(doc)
            speakers = analysed([fields.get(c.speaker or "", c.speaker or "") for c in chunks])
            about = analysed([f"{doc.title}\n{doc.place or ''}\n{date_words(doc.date)}"])[0]
            for i, (c, vector) in enumerate(zip(chunks, vectors, strict=True)):
                following = row + i + 1 if i + 1 < len(chunks) else -1
                lexical = f"{said[i]}\n{speakers[i]}\n{about}"  # FTS5's columns, in one field
                passage = _passage_row(doc, c, row + i, following, vector, lexical, version)
                pending["passages"].append(passage | {"said": said[i], "speaker_words": speakers[i]})
                for n, sentence in enumerate(item.sentences[i] if item.sentences else []):
                    scope = {f: passage[f] for f in _SCOPE}
                    pending["sentences"].append(
                        {"id": (row + i) * MAX_SENTENCES + n, "row": row + i, "vector": sentence.tolist()}
                        | scope
                    )
            row += len(chunks)
            for kind, rows in pending.items():
                if len(rows) >= BATCH:
                    self.client.insert(self._name(kind), rows)
                    rows.clear()
        for kind, rows in pending.items():
            if rows:
                self.client.insert(self._name(kind), rows)
        update.manifest.dense = {"type": "hnsw", **HNSW, "metric": "IP"}
        update.manifest.sentences = {"type": "hnsw", **HNSW, "metric": "IP"}
        # The rows of `version` are visible to a reader of it before the switch (added_in, removed_in).
        update.manifest.chunks = len(MilvusPassages(self.client, self.prefix, version))
        manifest = {k: v for k, v in update.manifest.__dict__.items() if k not in ("documents", "built_at")}
        new_state = {"version": version, "next_row": row, "manifest": manifest}
        self.client.upsert(
            self._name("state"), [{"id": _STATE_ID, "state": json.dumps(new_state), "_": [0.0, 0.0]}]
        )  # the switch: readers now see version `version`
        for kind in _KINDS:  # what no reader of `live` or later can see
            self.client.delete(self._name(kind), filter=f"removed_in <= {live}")
        return update.manifest.chunks

    def _all_doc_ids(self, live: int) -> list[str]:
        reader = MilvusPassages(self.client, self.prefix, live)
        return [
            r["doc_id"]
            for r in reader._all(self._name("documents"), f"piece == 0 and {_visible(live)}", ["doc_id"])
        ]

    def _clean(self, live: int) -> None:
        """Undo what a killed writer left: rows it added, and its marks on rows it meant to remove."""
        for kind in _KINDS:
            self.client.delete(self._name(kind), filter=f"added_in > {live}")
            self._mark_removed(
                kind, f"removed_in > {live} and removed_in < {NEVER}", live, NEVER, visible=False
            )

    def _mark_removed(self, kind: str, expr: str, live: int, version: int, visible: bool = True) -> None:
        name = self._name(kind)
        key = "row" if kind == "passages" else "id"  # sentences: id, row * MAX_SENTENCES + i
        if visible:
            expr = f"{expr} and {_visible(live)}"
        reader = MilvusPassages(self.client, self.prefix, live)
        keys = [r[key] for r in reader._all(name, expr, [key])]
        for begin in range(0, len(keys), BATCH):
            rows = [{key: k, "removed_in": version} for k in keys[begin : begin + BATCH]]
            self.client.upsert(name, rows, partial_update=True)

    def create(self, dimension: int) -> None:
        """The four collections, their fields and indexes, where they do not exist yet."""
        from pymilvus import DataType, Function, FunctionType

        client = self.client
        if not client.has_collection(self._name("passages")):
            schema = client.create_schema(auto_id=False)
            schema.add_field("row", DataType.INT64, is_primary=True)
            schema.add_field("chunk_id", DataType.VARCHAR, max_length=1024)
            schema.add_field("doc_id", DataType.VARCHAR, max_length=1024)
            schema.add_field("speaker", DataType.VARCHAR, max_length=4096, nullable=True)
            schema.add_field("speaker_fold", DataType.VARCHAR, max_length=4096)
            schema.add_field("date", DataType.INT64)
            schema.add_field("start", DataType.INT64)
            schema.add_field("end", DataType.INT64)
            schema.add_field("t_start", DataType.DOUBLE, nullable=True)
            schema.add_field("t_end", DataType.DOUBLE, nullable=True)
            schema.add_field("n_tokens", DataType.INT64)
            schema.add_field("is_question", DataType.BOOL)
            schema.add_field("next_row", DataType.INT64)
            schema.add_field("context", DataType.VARCHAR, max_length=65535)
            analysed = (("text", 65535), ("said", 65535), ("speaker_words", 8192), ("lexical", 65535))
            for name, length in analysed:
                schema.add_field(
                    name,
                    DataType.VARCHAR,
                    max_length=length,
                    enable_analyzer=True,
                    enable_match=True,
                    analyzer_params=ANALYZER,
                )
            schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
            schema.add_field("added_in", DataType.INT64)
            schema.add_field("removed_in", DataType.INT64)
            schema.add_function(
                Function(
                    name="bm25",
                    function_type=FunctionType.BM25,
                    input_field_names=["lexical"],
                    output_field_names=["sparse"],
                )
            )
            index = client.prepare_index_params()
            index.add_index("vector", index_type="HNSW", metric_type="IP", params=HNSW)
            index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
            client.create_collection(
                self._name("passages"), schema=schema, index_params=index, consistency_level="Strong"
            )
        if not client.has_collection(self._name("sentences")):
            schema = client.create_schema(auto_id=False)
            schema.add_field("id", DataType.INT64, is_primary=True)  # row * MAX_SENTENCES + i
            schema.add_field("row", DataType.INT64)
            schema.add_field("doc_id", DataType.VARCHAR, max_length=1024)
            schema.add_field("speaker_fold", DataType.VARCHAR, max_length=4096)
            for name in ("date", "added_in", "removed_in"):
                schema.add_field(name, DataType.INT64)
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
            index = client.prepare_index_params()
            index.add_index("vector", index_type="HNSW", metric_type="IP", params=HNSW)
            client.create_collection(
                self._name("sentences"), schema=schema, index_params=index, consistency_level="Strong"
            )
        for kind, fields in (
            ("documents", [("doc_id", 1024), ("meta", 65535), ("body", 65535)]),
            ("state", [("state", 65535)]),
        ):
            if client.has_collection(self._name(kind)):
                continue
            schema = client.create_schema(auto_id=False)
            schema.add_field("id", DataType.VARCHAR, max_length=2048, is_primary=True)
            for name, length in fields:
                schema.add_field(name, DataType.VARCHAR, max_length=length)
            if kind == "documents":
                for name in ("piece", "added_in", "removed_in"):
                    schema.add_field(name, DataType.INT64)
            schema.add_field("_", DataType.FLOAT_VECTOR, dim=2)  # Milvus requires a vector field
            index = client.prepare_index_params()
            index.add_index("_", index_type="FLAT", metric_type="L2")
            client.create_collection(
                self._name(kind), schema=schema, index_params=index, consistency_level="Strong"
            )


def _passage_row(
    doc: Document, c: Chunk, row: int, next_row: int, vector: np.ndarray, lexical: str, version: int
) -> dict[str, Any]:
    return {
        "row": row,
        "chunk_id": c.chunk_id,
        "doc_id": c.doc_id,
        "speaker": c.speaker,
        "speaker_fold": (c.speaker or "").casefold(),
        "date": _date(doc.date),
        "start": c.start,
        "end": c.end,
        "t_start": c.t_start,
        "t_end": c.t_end,
        "n_tokens": c.n_tokens,
        "is_question": c.is_question,
        "next_row": next_row,
        "text": c.text,
        "context": c.context,
        "lexical": lexical,
        "vector": np.asarray(vector, dtype=np.float32).tolist(),
        "added_in": version,
        "removed_in": NEVER,
    }


def _document_rows(doc: Document, chunks: int, version: int) -> list[dict[str, Any]]:
    meta = {
        "title": doc.title,
        "date": doc.date,
        "time": doc.time,
        "place": doc.place,
        "speaker": doc.speaker,
        "sha256": doc.sha256,
        "source": doc.source,
        "format": doc.format,
        "language": doc.language,
        "source_url": doc.source_url,
        "chunks": chunks,
    }
    body = json.dumps({"text": doc.text, "paragraphs": paragraphs_json(doc)}, ensure_ascii=False)
    pieces = [body[i : i + PIECE_CHARS] for i in range(0, len(body), PIECE_CHARS)] or [""]
    return [
        {
            "id": f"{doc.doc_id}\x1f{version}\x1f{i}",
            "doc_id": doc.doc_id,
            "meta": json.dumps(meta, ensure_ascii=False) if i == 0 else "",
            "body": piece,
            "piece": i,
            "added_in": version,
            "removed_in": NEVER,
            "_": [0.0, 0.0],
        }
        for i, piece in enumerate(pieces)
    ]


def _document(doc_id: str, meta: dict[str, Any], pieces: dict[int, str]) -> Document:
    body = json.loads("".join(pieces[i] for i in sorted(pieces)))
    return document_from({**meta, **body, "doc_id": doc_id})
