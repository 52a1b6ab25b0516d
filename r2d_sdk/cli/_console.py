"""What the CLI prints that is not a result: the progress bar and the plugin listings."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

console = Console()


@contextlib.contextmanager
def progress_bar(quiet: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A progress callback (advance, total) drawing counts, rate and ETA; None when quiet.

    The bar appears at the first callback, once the run has started: a recipe that fails to
    build prints its error alone.
    """
    if quiet:
        yield None
        return
    columns = (TextColumn("[bold]grid"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
    progress = Progress(*columns, console=Console(stderr=True), transient=False)
    task = progress.add_task("grid", total=None, rate="", start=False)

    def advance(step: int, total: int) -> None:
        if not progress.live.is_started:
            progress.start()
            progress.start_task(task)
        progress.update(task, total=total, advance=step)
        elapsed = progress.tasks[0].elapsed or 0
        done = progress.tasks[0].completed
        if elapsed > 0:
            progress.update(task, rate=f"{done / elapsed:.1f} cells/s")

    try:
        yield advance
    finally:
        if progress.live.is_started:
            progress.stop()


def print_plugins(kind: str | None) -> None:
    from r2d_sdk._registry import plugin_load_errors, plugins

    table = Table(title="r2d-sdk plugins")
    for column in ("kind", "name", "from", "description"):
        table.add_column(column)
    for info in plugins(kind):
        table.add_row(info.kind, info.name, info.source, info.description)
    console.print(table)
    for entry_point, error in plugin_load_errors().items():
        # Escaped: an import error's text may hold [brackets] that rich would read as markup.
        console.print(f"[red]failed to load plugin {escape(entry_point)}[/red]: {escape(error)}", soft_wrap=True,
                      highlight=False)


def print_plugin_info(name: str) -> None:
    from r2d_sdk._errors import ConfigError
    from r2d_sdk._registry import lookup

    found = []
    for kind in ("attack", "defense", "judge", "metric", "dataset"):
        with contextlib.suppress(ConfigError):
            found.append(lookup(kind, name))
    if not found:
        raise ConfigError(f"no plugin named '{name}'", fix="`r2d-sdk plugins list` shows every name")
    for info in found:
        console.print(f"[bold]{info.name}[/bold] ({info.kind}, from {info.source})")
        console.print((info.cls.__doc__ or "").strip())
        sides = getattr(info.cls, "sides", None)
        if info.kind == "defense" and sides is not None:
            where = sorted(sides())
            console.print(f"in a stack: answers{''.join(f'; {side}-side check' for side in where)}")
        table = Table(title="arguments")
        for column in ("name", "type", "default", "description"):
            table.add_column(column)
        for field_name, field in info.cls.Config.model_fields.items():
            default = "required" if field.is_required() else repr(field.get_default(call_default_factory=True))
            table.add_row(field_name, str(field.annotation).replace("typing.", ""), default, field.description or "")
        console.print(table)
