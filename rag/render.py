"""Terminal rendering of answers and passages (rich): readable, with quotes highlighted in context."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from rag.answer.compose import Delta, Done, Event
from rag.export import permalink
from rag.timeline import Timeline
from rag.types import MACHINE, Answer, Citation, Document, Passage, clock

if TYPE_CHECKING:
    from rag.evaluate import BeirResult, EvalResult
    from rag.quote_eval import QuoteEvalResult
    from rag.verify import Verification


def print_streamed(events: Iterator[Event], console: Console | None = None) -> Answer:
    """Print an answer's pieces as they arrive; returns the final, checked answer."""
    console = console or Console()
    for event in events:
        if isinstance(event, Delta):
            console.print(event.text, end="", markup=False, highlight=False, soft_wrap=True)
        elif isinstance(event, Done):
            console.print()
            return event.answer
    raise AssertionError("the answer's events end with done")


def print_answer(answer: Answer, console: Console | None = None) -> None:
    console = console or Console()
    style = "yellow" if answer.abstained else "green"
    title = "Not in the transcripts" if answer.abstained else "Answer"
    if answer.reason == "no_match_for_filters":
        title = "No passages match these filters"
    if answer.unsupported:
        title, style = "Answer (unsupported by the transcripts: no valid citation)", "yellow"
    console.print(Panel(Text(answer.answer), title=title, border_style=style, title_align="left"))
    if answer.llm_error:
        console.print(
            f"LLM failed: {answer.llm_error}; the answer above is quoted from the transcripts.",
            style="red",
            markup=False,
        )
    if answer.removed_citations:
        console.print(
            f"Removed citations of sources that were not given: {answer.removed_citations}", style="red"
        )
    cited = {c.n for c in answer.citations}
    shown = [p for p in answer.passages if p.rank in cited] if cited else answer.passages
    if answer.abstained and shown:
        console.print("Closest passages:", style="bold")
    print_passages(shown, answer.citations, console)


def print_documents(documents: list[tuple[Document, int]], console: Console | None = None) -> None:
    """The documents of an index as a table: doc_id, date, passages, origin, title."""
    console = console or Console()
    if not documents:
        console.print("The index holds no documents.", style="yellow")
        return
    table = Table("doc_id", "date", "passages", "origin", "title", show_lines=False)
    for doc, chunks in documents:
        origin = "upload" if doc.source == "upload" else "file"
        table.add_row(Text(doc.doc_id), doc.date or "-", str(chunks), origin, Text(doc.title))
    console.print(table)


def print_passages(
    passages: list[Passage], citations: list[Citation], console: Console | None = None
) -> None:
    console = console or Console()
    if not passages:
        console.print("No passages found.", style="yellow")
    for p in passages:
        span = (
            f"{clock(p.t_start)}–{clock(p.t_end)}" if p.t_start is not None and p.t_end is not None else None
        )
        meta = " · ".join(x for x in (p.date, p.place, p.speaker, span, p.source_url) if x)
        header = Text.assemble(
            (f"[{p.rank}] ", "bold cyan"),
            (p.title, "bold"),
            *_machine_mark(p),
            f"\n{meta}",
            (f"  {p.doc_id} [{p.start}:{p.end}]  score {p.score:.4f}", "dim"),
        )
        body = Text(p.text)
        for c in citations:
            if c.chunk_id == p.chunk_id:
                body.stylize("bold black on yellow", c.start - p.start, c.end - p.start)
        console.print(header)
        if p.question:
            asked = Text.assemble(("In reply to: ", "bold"), (p.question, "italic"))
            console.print(asked, soft_wrap=True)
        console.print(body)
        print_cite_lines(p, console)
        console.print()


def _machine_mark(p: Passage) -> tuple[tuple[str, str], ...]:
    """The mark beside a machine transcript's title: its words are a recogniser's, not a person's."""
    return (("  machine transcript: check the recording", "bold magenta"),) if p.transcript == MACHINE else ()


def print_cite_lines(p: Passage, console: Console, base_url: str | None = None) -> None:
    """The ready citation and the permalink, each on a line of its own to copy from the terminal."""
    from rag.config import get_settings

    console.print(Text.assemble(("Cite: ", "dim"), p.citation), soft_wrap=True)
    console.print(Text.assemble(("Link: ", "dim"), permalink(p, base_url or get_settings().public_url)))


def print_eval(result: EvalResult, mode: str, console: Console | None = None) -> None:
    """The metrics, then each answerable question whose relevant passage was not ranked first."""
    console = console or Console()
    metrics = Table(title=f"Retrieval metrics ({mode})", title_justify="left")
    metrics.add_column("metric")
    metrics.add_column("value", justify="right")
    for name, value in result.metrics.items():
        metrics.add_row(name, f"{value:.4f}")
    console.print(metrics)
    misses = Table(title="Misses: relevant passage not at rank 1", title_justify="left", show_lines=True)
    for column in ("id", "rank", "question", "ranked first instead"):
        misses.add_column(column, overflow="fold")
    for q in result.questions:
        if q.answerable and q.first_relevant_rank != 1:
            first = q.top[0] if q.top else {}
            misses.add_row(
                q.id,
                str(q.first_relevant_rank or "-"),
                q.question,
                f"{first.get('doc_id', '')}: {first.get('text', '')[:120]}",
            )
    for q in result.questions:
        if q.abstained == q.answerable:
            what = "abstained on an answerable question" if q.answerable else "answered an unanswerable one"
            misses.add_row(q.id, "-", q.question, what)
    console.print(misses)


def print_beir(result: BeirResult, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(
        title=f"BEIR {result.dataset}: {result.documents} documents ({result.chunks} chunks, embedded in "
        f"{result.seconds:.0f} s), {result.queries} test queries",
        title_justify="left",
    )
    names = list(next(iter(result.metrics.values())))
    table.add_column("mode")
    for name in names:
        table.add_column(name, justify="right")
    for mode, values in result.metrics.items():
        table.add_row(mode, *(f"{values[n]:.4f}" for n in names))
    console.print(table)


_VERDICTS = {
    "verbatim": ("Verbatim: said word for word", "green"),
    "close": ("Close: not word for word (differences below)", "yellow"),
    "not_found": ("Not found: nothing in the transcripts is close; the closest passages", "red"),
}
_DIFF_STYLES = {"changed": "bold red", "added": "bold red strike", "missing": "bold green"}


def print_timeline(timeline: Timeline, console: Console | None = None) -> None:
    """One row a month: the passages that answer, a bar, and who said them."""
    console = console or Console()
    if timeline.reason:
        console.print(f"No passages answer this: {timeline.reason}.", style="yellow", markup=False)
        return
    table = Table(title=f"{timeline.total} passages answer: {timeline.question}", title_justify="left")
    for column in ("month", "passages", "", "speakers"):
        table.add_column(column, justify="right" if column == "passages" else "left")
    most = max((b.count for b in timeline.buckets), default=1)
    for b in timeline.buckets:
        who = ", ".join(f"{name} {n}" for name, n in b.speakers.items())
        table.add_row(b.month, str(b.count), "█" * max(1, round(20 * b.count / most)), Text(who))
    if timeline.undated:
        table.add_row("undated", str(timeline.undated), "", "")
    console.print(table)


def print_verification(result: Verification, console: Console | None = None) -> None:
    """The verdict, then each match: where it was said, by whom, and a word diff (quote vs transcript)."""
    console = console or Console()
    title, style = _VERDICTS[result.verdict]
    if result.note:
        title, style = f"{title.split(':')[0]}: {result.note}", "magenta"
    console.print(Panel(Text(result.quote), title=title, border_style=style, title_align="left"))
    if result.wrong_speaker:
        console.print(
            f"These words were said by {result.matches[0].passage.speaker or 'an unnamed speaker'}, "
            f"not by {result.speaker}.",
            style="bold red",
            markup=False,
        )
    for m in result.matches:
        p = m.passage
        meta = " · ".join(x for x in (p.date, p.place, p.speaker) if x)
        console.print(
            Text.assemble(
                (f"[{p.rank}] ", "bold cyan"),
                (p.title, "bold"),
                *_machine_mark(p),
                f"\n{meta}",
                (f"  {p.doc_id} [{p.start}:{p.end}]  {m.coverage:.0%} of the words in order", "dim"),
            )
        )
        if m.exact:
            console.print(Text(p.text, style="bold black on yellow"))
        else:
            line = Text()
            for op in m.diff:
                if op.op == "same":
                    line.append(op.source + " ")
                elif op.op == "changed":
                    line.append(f"[{op.source} → {op.quote}] ", _DIFF_STYLES["changed"])
                elif op.op == "added":
                    line.append(f"[+{op.quote}] ", _DIFF_STYLES["added"])
                else:
                    line.append(f"[-{op.source}] ", _DIFF_STYLES["missing"])
            console.print(line)
            console.print(
                "  [old → new]: the transcript's words, then the quote's; [+...]: not said; "
                "[-...]: said, left out",
                style="dim",
                markup=False,
            )
        print_cite_lines(p, console)
        console.print()


def print_quote_eval(result: QuoteEvalResult, console: Console | None = None) -> None:
    """Precision and recall of each verdict against its target, accuracy per kind, then the misses."""
    from rag.quote_eval import TARGETS

    console = console or Console()
    table = Table(title=f"Quote verification: {len(result.probes)} probes", title_justify="left")
    for column in ("metric", "value", "target"):
        table.add_column(column, justify="right" if column != "metric" else "left")
    for name, value in result.metrics.items():
        target = TARGETS.get(name)
        table.add_row(name, f"{value:.4f}", f"{target:.2f}" if target is not None else "")
    console.print(table)
    kinds = Table(title="Right verdict, by kind of probe", title_justify="left")
    kinds.add_column("kind")
    kinds.add_column("probes", justify="right")
    kinds.add_column("right", justify="right")
    for kind, share in result.by_kind.items():
        kinds.add_row(kind, str(sum(p.kind == kind for p in result.probes)), f"{share:.4f}")
    console.print(kinds)
    for p in result.probes:
        if p.verdict != p.expected or (p.kind == "wrong_speaker" and not p.flagged):
            console.print(f"miss {p.id}: {p.verdict} (expected {p.expected}): {p.quote}", markup=False)
