"""Progress of a long command on a terminal (rich), silent when piped.

:func:`progress_meter` yields a :class:`connectors.ingress.publish_files.Meter` for one pass
over the
inputs: on a terminal (stderr is a TTY), a rich bar with the bytes read out of the
total, the events counted, their rate and the time left (from the bytes); otherwise a
meter that prints nothing, so logs and pipes get only the command's own lines. Lines
printed on stderr while the bar shows go above it (rich redirects them).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text

from connectors.ingress.publish_files import Meter, NoMeter


class _EventsColumn(ProgressColumn):
    """``12,345 events 4,321/s``: the count in the task's ``events`` field, its rate."""

    def render(self, task: Task) -> Text:
        events = int(task.fields.get("events", 0))
        elapsed = task.elapsed or 0.0
        rate = f" {events / elapsed:,.0f}/s" if elapsed > 0.5 else ""
        return Text(f"{events:,} events{rate}")


class _RichMeter:
    def __init__(self, progress: Progress, task: TaskID) -> None:
        self.progress, self.task, self.count = progress, task, 0

    def read(self, nbytes: int) -> None:
        self.progress.advance(self.task, nbytes)

    def events(self, n: int) -> None:
        self.count += n
        self.progress.update(self.task, events=self.count)


def on_terminal(stream: TextIO | None = None) -> bool:
    """Whether ``stream`` (stderr by default) is an interactive terminal."""
    stream = stream or sys.stderr
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@contextlib.contextmanager
def progress_meter(label: str, total_bytes: int, *, show: bool | None = None) -> Iterator[Meter]:
    """A meter for one pass over ``total_bytes`` of input (module doc); ``show`` forces
    the bar on or off (default: only when stderr is a terminal)."""
    if not (on_terminal() if show is None else show):
        yield NoMeter()
        return
    console = Console(file=sys.stderr)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        _EventsColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    with progress:
        task = progress.add_task(label, total=max(total_bytes, 1), events=0)
        yield _RichMeter(progress, task)
        progress.update(task, completed=max(total_bytes, 1))
