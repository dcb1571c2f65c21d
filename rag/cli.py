"""Command line: thin verbs over the Service. Errors become one line on stderr and exit status 2."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from rag.config import Settings, get_settings
from rag.errors import BadInput, IndexMissing, RagError
from rag.types import Filters

if TYPE_CHECKING:
    from rag.service import Service
    from rag.types import Answer, IngestReport, Passage

index_option = click.option(
    "--index",
    "index_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Index directory (default: index/, or RAG_INDEX_DIR).",
)


@click.group()
@click.version_option(package_name="transcript-rag")
def cli() -> None:
    """Ask questions of diplomatic transcripts and get cited, verbatim answers."""


def main(args: list[str] | None = None) -> None:
    """Entry point: bad usage and domain errors become one line on stderr and exit status 2."""
    try:
        code = cli.main(args=args, prog_name="rag", standalone_mode=False)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except (click.ClickException, RagError) as exc:
        message = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
        click.echo(f"error: {message}", err=True)
        code = 2
    except (click.Abort, KeyboardInterrupt):
        # Writers switch generations atomically: an interrupted write leaves the live index as it was.
        click.echo("interrupted: the index is unchanged", err=True)
        code = 130
    sys.exit(code if isinstance(code, int) else 0)


def _settings(**overrides: Any) -> Settings:
    from pydantic import ValidationError

    try:
        return get_settings(**overrides)
    except ValidationError as exc:
        problems = [
            f"RAG_{'_'.join(map(str, e['loc'])).upper()}={e.get('input')!r}: {e['msg']}" for e in exc.errors()
        ]
        raise click.UsageError(f"invalid setting {'; '.join(problems)}: fix or unset it") from None


@contextmanager
def _progress_bar(quiet: bool, label: str) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on a terminal; nothing with --quiet or when stderr is not a TTY."""
    with _progress_bars(quiet, label) as (progress,):
        yield progress


@contextmanager
def _progress_bars(quiet: bool, *labels: str) -> Iterator[tuple[Callable[[int, int], None], ...]]:
    """One rich progress bar per label (with its ETA), each shown once it has something to count."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=quiet or not console.is_terminal,
        transient=True,
    )
    tasks = {label: bar.add_task(label, total=None, visible=False) for label in labels}

    def updater(task: TaskID) -> Callable[[int, int], None]:
        return lambda done, total: bar.update(task, completed=done, total=total, visible=True)

    with bar:
        yield tuple(updater(tasks[label]) for label in labels)


@cli.command(short_help="Index transcript files, incrementally.")
@click.argument("paths", nargs=-1)
@index_option
@click.option("--quiet", is_flag=True, help="No progress bar and no summary line.")
@click.option(
    "--ray",
    "ray_address",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[ADDRESS]",
    help="Chunk and embed on a Ray cluster (a local one without ADDRESS); needs the [scale] extra.",
)
def ingest(paths: tuple[str, ...], index_dir: Path | None, quiet: bool, ray_address: str | None) -> None:
    """Index transcripts (.txt, .md, .vtt, .srt) and recordings (.mp3 .m4a .wav .ogg .flac .mp4 .webm,
    transcribed once by a speech recogniser: extra [audio]) from PATHS (default: docs_raw/), incrementally;
    and web pages holding a transcript from the http(s) addresses among PATHS (extra [web])."""
    from rag.service import Service

    if ray_address and Path(ray_address).exists():
        raise BadInput(f"--ray took {ray_address} for a cluster address: put the paths before --ray")
    urls = [p for p in paths if p.startswith(("http://", "https://"))]
    files = [Path(p) for p in paths if p not in urls]
    service = Service(_settings(index_dir=index_dir))
    if urls:
        with _progress_bar(quiet, "embedding") as progress:
            _report_ingest(service.ingest_urls(urls, progress), quiet)
        if not files:
            return
    with _progress_bars(quiet, "transcribing (seconds)", "embedding") as (listening, progress):
        report = service.ingest(files or None, progress, ray_address, listening)
    _report_ingest(report, quiet)


def _report_ingest(report: IngestReport, quiet: bool) -> None:
    for _, reason in report.skipped:
        click.echo(f"warning: skipped {reason}", err=True)
    for file, doc_id in report.renamed:
        click.echo(f"note: {file} is indexed as doc_id {doc_id!r}", err=True)
    if report.rebuild_reason and not quiet:
        click.echo(f"rebuilt the whole index: {report.rebuild_reason}", err=True)
    if not quiet:
        click.echo(report.summary())


def ask_alias() -> None:
    """`ask ...` is `rag ask ...`."""
    sys.argv[1:1] = ["ask"]
    main()


def _filter_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option("--doc", "doc_ids", multiple=True, help="Only this document (repeatable)."),
            click.option(
                "--speaker", help="Only passages by this speaker (case-insensitive, part of the name)."
            ),
            click.option("--since", help="Only documents dated on or after YYYY-MM-DD."),
            click.option("--until", help="Only documents dated on or before YYYY-MM-DD."),
        ]
    ):
        func = option(func)
    return func


def _filters(doc_ids: tuple[str, ...], speaker: str | None, since: str | None, until: str | None) -> Filters:
    from rag.contract import parse_date

    return Filters(
        doc_ids=doc_ids,
        speaker=speaker or None,
        since=parse_date(since, "--since") if since else None,
        until=parse_date(until, "--until") if until else None,
    )


def _service(index_dir: Path | None) -> Service:
    """The service over an index. On a new install the first question builds the default index first; an
    index named with --index is only read (a mistyped path is an error, not a new index)."""
    from rag.service import Service

    service = Service(_settings(index_dir=index_dir))
    try:
        service.retriever  # noqa: B018 - loads the index, or tells us it is missing
    except IndexMissing:
        if index_dir is not None:
            raise BadInput(
                f"no index at {index_dir}: check the path, "
                f"or build one there with `rag ingest --index {index_dir}`"
            ) from None
        click.echo(
            f"no index in {service.settings.index_dir} yet: building it from {service.settings.docs_dir}",
            err=True,
        )
        with _progress_bar(False, "embedding") as progress:
            report = service.ingest(None, progress)
        click.echo(report.summary(), err=True)
    return service


def _emit_json(data: dict[str, Any]) -> None:
    from rag.export import to_json

    click.echo(to_json(data), nl=False)


k_option = click.option("--k", "k", type=int, default=5, show_default=True, help="Passages to return (1-50).")
json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document, as the HTTP API."
)
format_option = click.option(
    "--format",
    "output",
    type=click.Choice(["text", "markdown", "csv", "json"]),
    default=None,
    help="text: for the terminal (default); markdown or csv: the answer, citations and passages to paste "
    "into notes; json: as --json.",
)


def _output(output: str | None, as_json: bool) -> str:
    """--json is --format json."""
    if as_json and output not in (None, "json"):
        raise click.UsageError(f"--json and --format {output} ask for different outputs: give one")
    return "json" if as_json else output or "text"


@cli.command(short_help="The passages that best answer QUESTION, cited.")
@click.argument("question")
@k_option
@json_option
@format_option
@_filter_options
@index_option
def search(
    question: str, k: int, as_json: bool, output: str | None, index_dir: Path | None, **filters: Any
) -> None:
    """The passages that best answer QUESTION, cited."""
    output = _output(output, as_json)
    service = _service(index_dir)
    started = time.perf_counter()
    passages = service.search(question, k, _filters(**filters))
    took_ms = (time.perf_counter() - started) * 1000
    if output == "text":
        from rag.render import print_passages

        print_passages(passages, [])
    elif output == "json":
        _emit_json({"passages": [asdict(p) for p in passages], "took_ms": round(took_ms, 2)})
    else:
        _emit_export(output, question, passages, service.settings.public_url)


def _emit_export(
    output: str, question: str, passages: list[Passage], base_url: str, answer: Answer | None = None
) -> None:
    from rag.export import to_csv, to_markdown

    text = to_markdown(question, passages, base_url, answer) if output == "markdown" else to_csv(passages)
    click.echo(text, nl=False)


@cli.command(short_help="Answer QUESTION with verbatim, cited quotes.")
@click.argument("question")
@k_option
@json_option
@format_option
@click.option(
    "--llm",
    type=click.Choice(["none", "openai", "local"]),
    default=None,
    help="none: verbatim quotes; openai: an answer composed by the LLM of RAG_LLM_BASE_URL / RAG_LLM_MODEL; "
    "local: by the GGUF model of RAG_LLM_GGUF, in process (default: RAG_LLM, else none).",
)
@_filter_options
@index_option
def ask(
    question: str,
    k: int,
    as_json: bool,
    output: str | None,
    llm: str | None,
    index_dir: Path | None,
    **filters: Any,
) -> None:
    """Answer QUESTION with verbatim, cited quotes, or say the transcripts do not contain it."""
    output = _output(output, as_json)
    service = _service(index_dir)
    started = time.perf_counter()
    if output != "text":
        answer = service.ask(question, k, _filters(**filters), llm)
        if output == "json":
            _emit_json(answer.to_dict() | {"took_ms": round((time.perf_counter() - started) * 1000, 2)})
        else:
            _emit_export(output, question, answer.passages, service.settings.public_url, answer)
        return
    from rag.answer.compose import Done
    from rag.render import print_answer, print_streamed

    events = service.ask_events(question, k, _filters(**filters), llm)
    if (llm or service.settings.llm) == "none":
        answer = next(event.answer for event in events if isinstance(event, Done))
    else:
        answer = print_streamed(events)  # the LLM's words as they arrive
    print_answer(answer)


@cli.command(short_help="Is QUOTE in the transcripts: verbatim, close or not?")
@click.argument("quote")
@json_option
@_filter_options
@index_option
def verify(quote: str, as_json: bool, index_dir: Path | None, **filters: Any) -> None:
    """Is QUOTE in the transcripts word for word, close to what was said, or not there? --speaker names
    who it is attributed to: the same words from someone else are flagged."""
    service = _service(index_dir)
    result = service.verify(quote, _filters(**filters))
    if as_json:
        _emit_json(result.to_dict())
        return
    from rag.render import print_verification

    print_verification(result)


@cli.command(short_help="When QUESTION was answered: passages per month and speaker.")
@click.argument("question")
@json_option
@_filter_options
@index_option
def timeline(question: str, as_json: bool, index_dir: Path | None, **filters: Any) -> None:
    """Count the passages that answer QUESTION (over the whole index, not the top k) per month and per
    speaker: when they started saying it, and who. Nothing is counted when the transcripts do not answer."""
    chosen = _filters(**filters)
    result = _service(index_dir).timeline(question, chosen)
    if as_json:
        _emit_json(result.to_dict())
        return
    from rag.render import print_timeline

    print_timeline(result)


@cli.command(name="eval", short_help="Measure retrieval on an eval set.")
@click.option(
    "--questions",
    "questions_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("eval/questions.jsonl"),
    show_default=True,
    help="Eval set (JSON lines).",
)
@click.option("--k", "k", type=click.IntRange(1, 50), default=10, show_default=True)
@json_option
@click.option(
    "--docs",
    "docs_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Evaluate over this corpus instead of the index: ingested into its own cached index first.",
)
@click.option("--check", is_flag=True, help="Exit 1 when a metric falls below the baseline.")
@click.option("--write-baseline", is_flag=True, help="Record these metrics as the baseline.")
@click.option(
    "--baseline",
    "baseline_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Baseline of --check (default: baseline.json beside the questions file).",
)
@click.option("--mode", type=click.Choice(["dense", "bm25", "hybrid"]), default="hybrid", show_default=True)
@click.option(
    "--quotes",
    "quotes_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Evaluate `rag verify` on a quote-probe set instead (eval/quote_probes.jsonl), over --quote-docs.",
)
@click.option(
    "--quote-docs",
    "quote_docs",
    multiple=True,
    type=click.Path(path_type=Path),  # checked in _eval_quotes: the defaults matter only with --quotes
    default=[Path("docs_raw"), Path("eval/quote_corpus")],
    show_default=True,
    help="With --quotes: the transcripts the probes come from, ingested into an index of their own "
    "(cached; --index to choose it).",
)
@click.option(
    "--beir",
    "beir_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Evaluate on a BEIR dataset instead (corpus.jsonl, queries.jsonl, qrels/test.tsv), all modes.",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a markdown report of all three modes, the ablation of the hybrid signals (each one off in "
    "turn) and a hit@k chart, e.g. eval/reports/NAME.md.",
)
@index_option
def eval_(
    questions_path: Path,
    k: int,
    as_json: bool,
    docs_dir: Path | None,
    check: bool,
    write_baseline: bool,
    baseline_path: Path | None,
    mode: str,
    quotes_path: Path | None,
    quote_docs: tuple[Path, ...],
    beir_dir: Path | None,
    report_path: Path | None,
    index_dir: Path | None,
) -> None:
    """Measure retrieval on an eval set; with --check, fail on a regression."""
    if quotes_path is not None:
        _eval_quotes(quotes_path, quote_docs, index_dir, as_json, check)
        return
    if beir_dir is not None:
        _eval_beir(beir_dir, as_json)
        return
    from rag.evaluate import (
        CHECK_TOLERANCE,
        EvalResult,
        ablation,
        check_against,
        evaluate,
        load_questions,
        write_report,
    )
    from rag.retrieve import MODES, Mode

    questions = load_questions(questions_path)
    baseline_path = baseline_path or questions_path.parent / "baseline.json"
    service = _eval_service(docs_dir, index_dir, as_json) if docs_dir else _service(index_dir)
    modes: list[Mode] = list(MODES) if report_path else [cast("Mode", mode)]
    results: dict[str, EvalResult] = {m: evaluate(service, questions, k=k, mode=m) for m in modes}
    if report_path is not None:
        chart = write_report(report_path, results, questions_path, ablation(service, questions, k))
        click.echo(f"wrote {report_path} and {chart}", err=True)
    result = results[mode]
    if as_json:
        _emit_json(result.to_json())
    else:
        from rag.render import print_eval

        print_eval(result, mode)
    if write_baseline:
        baseline_path.write_text(
            json.dumps({"mode": mode, "k": k, "metrics": result.metrics}, indent=2) + "\n"
        )
        click.echo(f"wrote {baseline_path}", err=True)
    if check:
        try:
            recorded = json.loads(baseline_path.read_text())
            baseline = recorded["metrics"]
        except (OSError, ValueError, KeyError) as exc:
            raise BadInput(
                f"{baseline_path}: no baseline to check against ({exc}); "
                "record one with `rag eval --write-baseline`"
            ) from None
        if (recorded.get("mode", mode), recorded.get("k", k)) != (mode, k):
            raise BadInput(
                f"{baseline_path} was recorded with --mode {recorded['mode']} --k {recorded['k']}: "
                "check with those"
            )
        if failures := check_against(result.metrics, baseline):
            for line in failures:
                click.echo(f"regression: {line}", err=True)
            sys.exit(1)
        click.echo(f"check passed: every metric within {CHECK_TOLERANCE} of {baseline_path}", err=True)


def _eval_service(docs_dir: Path, index_dir: Path | None, quiet: bool) -> Service:
    from rag.embed import Embedder
    from rag.evaluate import corpus_service

    if index_dir is not None:
        raise click.UsageError("--docs builds its own index: leave out --index")
    settings = _settings()
    with _progress_bar(quiet, f"indexing {docs_dir}") as progress:
        service = corpus_service(docs_dir, settings, Embedder.from_settings(settings), progress)
    return service


def _eval_quotes(
    probes_path: Path, docs: tuple[Path, ...], index_dir: Path | None, as_json: bool, check: bool
) -> None:
    """Verify every probe; with check, exit 1 when a metric is below its target (rag.quote_eval.TARGETS)."""
    from rag.quote_eval import evaluate_quotes, load_probes
    from rag.service import Service

    if missing := [str(path) for path in docs if not path.exists()]:
        named = ", ".join(missing)
        raise BadInput(f"--quote-docs: no such path {named}: run from the repository root or pass it")
    probes = load_probes(probes_path)
    settings = _settings(index_dir=index_dir)
    if index_dir is None:
        settings = _settings(index_dir=settings.cache_dir / "quote-eval-index")
    service = Service(settings)
    with _progress_bar(as_json, "embedding") as progress:
        service.ingest(list(docs), progress)
    result = evaluate_quotes(service, probes)
    if as_json:
        _emit_json(result.to_json())
    else:
        from rag.render import print_quote_eval

        print_quote_eval(result)
    if check:
        if failures := result.failures():
            for line in failures:
                click.echo(f"below target: {line}", err=True)
            sys.exit(1)
        click.echo("check passed: every verdict's precision and recall at its target", err=True)


def _eval_beir(directory: Path, as_json: bool) -> None:
    from rag.embed import Embedder
    from rag.evaluate import evaluate_beir

    settings = _settings()
    embedder = Embedder.from_settings(settings)
    with _progress_bar(as_json, "embedding corpus") as progress:
        result = evaluate_beir(directory, settings, embedder, progress)
    if as_json:
        _emit_json(asdict(result))
        return
    from rag.render import print_beir

    print_beir(result)


@cli.command(short_help="Check what the service needs; exit 1 on a failure.")
@index_option
@json_option
def doctor(index_dir: Path | None, as_json: bool) -> None:
    """Check what the service needs (packages, CPU, backend, model, index, LLM, disk); 1 on a failure."""
    from rag import doctor as preflight

    checks = []
    for check in preflight.run(_settings(index_dir=index_dir)):
        checks.append(check)
        if not as_json:
            click.echo(check.line())
    report = preflight.as_json(checks)
    if as_json:
        _emit_json(report)
    elif not report["ok"]:
        click.echo("the service cannot run until the failures above are fixed", err=True)
    sys.exit(0 if report["ok"] else 1)


@cli.command(short_help="Learn the reader from the index's Q&A turns.")
@index_option
@click.option(
    "--max-pairs",
    type=click.IntRange(8, 1_000_000),
    default=2000,
    show_default=True,
    help="Training pairs sampled (about 4 per question: 1-2 replies, 2 hard negatives).",
)
@click.option(
    "--max-length", type=click.IntRange(32, 512), default=192, show_default=True, help="Tokens read per pair."
)
@click.option("--batch-size", type=click.IntRange(1, 256), default=16, show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def tune(index_dir: Path | None, max_pairs: int, max_length: int, batch_size: int, quiet: bool) -> None:
    """Learn a reader (a cross-encoder from the embedding model's weights) from each reporter's question and
    the reply that follows it, on the CPU; stored in INDEX/reader/ and used by ask, search and serve.
    Ctrl-C keeps a checkpoint: run it again to continue."""
    from rag.reader import tune as learn
    from rag.service import Service

    service = Service(_settings(index_dir=index_dir))
    key = service.store.live()
    if key is None:
        raise IndexMissing(f"no index in {service.store.where}: run `rag ingest` first, then `rag tune`")
    with _progress_bar(quiet, "learning (steps)") as progress:
        report = learn(
            service.settings, service.retriever.store, key, max_pairs, max_length, batch_size, progress
        )
    click.echo(report.summary())


@cli.command(short_help="List the documents in the index.")
@json_option
@index_option
def documents(as_json: bool, index_dir: Path | None) -> None:
    """List the documents in the index: doc_id, date, passages, where each came from, and title."""
    from rag.contract import document_fields

    service = _service(index_dir)
    counts = service.chunk_counts()
    docs = service.documents()
    if as_json:
        _emit_json({"documents": [document_fields(d, counts.get(d.doc_id, 0)) for d in docs]})
        return
    from rag.render import print_documents

    print_documents([(d, counts.get(d.doc_id, 0)) for d in docs])


@cli.command(short_help="Remove a document from the index.")
@click.argument("doc_id")
@index_option
def delete(doc_id: str, index_dir: Path | None) -> None:
    """Remove the document DOC_ID from the index (its file, if any, is left alone)."""
    service = _service(index_dir)
    note = service.delete_document(doc_id)
    click.echo(f"deleted {doc_id}")
    if note:
        click.echo(f"note: {note}", err=True)


@cli.command(short_help="Serve the MCP tools over stdio, for an assistant.")
@index_option
def mcp(index_dir: Path | None) -> None:
    """Serve the MCP server over stdin and stdout, for a desktop assistant (Claude Desktop, an IDE agent):
    tools search, ask, verify_quote, documents and read_transcript, and transcript://DOC_ID resources.
    Needs the [mcp] extra. Logs go to stderr; stdout carries only the protocol."""
    from rag.mcp_server import build_server, require_mcp

    require_mcp()  # before the index is opened: the missing extra is the first thing to fix
    server = build_server(_service(index_dir))
    server.run("stdio")


@cli.command(short_help="Serve the HTTP API and the web page.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@index_option
def serve(host: str, port: int, index_dir: Path | None) -> None:
    """Serve the HTTP API and the web page.

    It stops with the reason on one line (exit status 2) when the model or the index fails to load, or
    has not loaded after RAG_READY_TIMEOUT seconds; without an index it serves and waits for uploads.
    """
    import threading

    import uvicorn

    from rag.api.app import create_app

    settings = _settings(index_dir=index_dir)
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="info"))
    failure: list[str] = []

    def watch() -> None:
        if reason := app.state.readiness.wait(settings.ready_timeout):
            failure.append(reason)
            server.should_exit = True

    threading.Thread(target=watch, name="readiness", daemon=True).start()
    server.run()
    if failure:
        raise RagError(f"rag serve stopped: {failure[0]}")


if __name__ == "__main__":
    main()
