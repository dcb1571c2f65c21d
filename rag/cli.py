"""Command line: thin verbs over the Service. Errors become one line on stderr and exit status 2."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from rag.config import Settings, get_settings
from rag.errors import RagError

index_option = click.option(
    "--index", "index_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Index directory (default: index/, or RAG_INDEX_DIR).",
)


class _Group(click.Group):
    """Turns domain errors into a one-line message and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RagError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)


@click.group(cls=_Group)
@click.version_option(package_name="transcript-rag")
def main() -> None:
    """Ask questions of diplomatic transcripts and get cited, verbatim answers."""


def _settings(**overrides: Any) -> Settings:
    try:
        return get_settings(**overrides)
    except ValueError as exc:
        raise click.UsageError(f"invalid setting: {exc}") from exc


@contextmanager
def _progress_bar(quiet: bool, label: str) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on a terminal; nothing with --quiet or when stderr is not a TTY."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    bar = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   console=console, disable=quiet or not console.is_terminal, transient=True)
    task = bar.add_task(label, total=None)
    with bar:
        yield lambda done, total: bar.update(task, completed=done, total=total)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@index_option
@click.option("--quiet", is_flag=True, help="No progress bar and no summary line.")
def ingest(paths: tuple[Path, ...], index_dir: Path | None, quiet: bool) -> None:
    """Index transcripts (.txt, .md) from PATHS (default: docs_raw/), incrementally."""
    from rag.service import Service

    service = Service(_settings(index_dir=index_dir))
    with _progress_bar(quiet, "embedding") as progress:
        report = service.ingest(list(paths) or None, progress)
    for _, reason in report.skipped:
        click.echo(f"warning: skipped {reason}", err=True)
    if report.rebuild_reason and not quiet:
        click.echo(f"rebuilt the whole index: {report.rebuild_reason}", err=True)
    if not quiet:
        click.echo(report.summary())


def ask_alias() -> None:
    """`ask ...` is `rag ask ...`."""
    sys.argv[1:1] = ["ask"]
    main()
