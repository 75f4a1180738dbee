"""What the commands print: tables that fit a terminal and survive a pipe, JSON a script can
parse, and progress that says how long is left.

- **Tables.** In a terminal a table fits the window: cells wrap between words, never inside
  one (a number, an arm id), and a table too wide for that is split into several, each
  repeating the key column(s) (the arm) with the next columns; the title and the lines
  under it wrap at the window's width. Only a window too narrow for a key and one column
  folds a word over lines; nothing is cut to "…". Piped or redirected, a table is printed
  at its natural width: no line is wrapped at 80 columns and no cell is cut.
- **JSON.** One document on stdout, NaN and infinities written as ``null`` (JSON has neither).
- **Progress** goes to stderr, so stdout stays data. In a terminal: a bar with the steps done,
  the time elapsed and the time left. Otherwise (a pipe, a log file, CI): one line when the
  work starts, a line at most every ``interval`` seconds (10 by default), and one when it ends.
"""

from __future__ import annotations

import copy
import json
import math
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any, TypeVar

from rich.console import Console

__all__ = ["Progress", "distinct", "finite", "fit_table", "print_json", "print_table",
           "progress"]

T = TypeVar("T")


def distinct(items: Sequence[T], key: Callable[[T], str], *, done: str,
             console: Console | None) -> list[T]:
    """``items`` with each one once (the first of those with the same ``key``), and a note
    on ``console`` naming those given more than once: ``note: uniform given more than once;
    evaluated once`` (``done``; none without a ``console``). ``-p thompson -p thompson``
    ran it twice and printed its rows twice."""
    seen: dict[str, T] = {}
    times: Counter[str] = Counter()
    for item in items:
        seen.setdefault(key(item), item)
        times[key(item)] += 1
    if len(seen) < len(items) and console is not None:
        twice = sorted(k for k, n in times.items() if n > 1)
        console.print(f"note: {', '.join(twice)} given more than once; {done}",
                      markup=False, highlight=False, soft_wrap=True)
    return list(seen.values())


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by ``None`` (recursively)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def print_json(document: Any, *, file: IO[str] | None = None) -> None:
    """Write one JSON document (indented, UTF-8, non-finite numbers as ``null``)."""
    out = file or sys.stdout
    out.write(json.dumps(finite(document), indent=2, ensure_ascii=False, default=str) + "\n")
    out.flush()


def print_table(table: Any, console: Console, *, keys: int = 1) -> None:
    """Print a rich table: fitted to a terminal, or at its natural width when piped.

    In a terminal, the first ``keys`` columns name a row (the arm; a segment and its arm)
    and are repeated in each part when the table is split to fit (see :func:`fit_table`).
    Piped, a title's and a caption's lines are printed whole above and under the table:
    inside it they wrapped at the table's width, mid-entry (a report's headline, its history
    and winner-rule lines)."""
    if console.is_terminal:
        _print_fitted(table, console, keys)
        return
    caption = getattr(table, "caption", None)
    title = getattr(table, "title", None)
    if caption is not None or title is not None:
        table = copy.copy(table)
        table.caption = table.title = None
    wide = Console(width=100_000, color_system=None, highlight=False)
    width = wide.measure(table).maximum
    plain = Console(width=max(width, 20), color_system=None, highlight=False)

    def whole(renderable: Any, console: Console = wide) -> str:
        with console.capture() as captured:
            console.print(renderable, soft_wrap=console is wide)
        return captured.get()

    text = (whole(title) if title is not None else "") + whole(table, plain) + \
        (whole(caption) if caption is not None else "")
    console.file.write("".join(line.rstrip() + "\n" for line in text.splitlines()))
    console.file.flush()


#: the narrowest a key or text column is folded to when nothing else fits (a number is
#: never folded: its column is as wide as its longest number)
_FOLD_WIDTH = 8


def _print_fitted(table: Any, console: Console, keys: int) -> None:
    """A table in a terminal of ``console.width`` columns: a left-justified title and
    caption printed apart, wrapped at the window's width (inside the table they wrapped at
    its width, or not at all in a soft-wrapping console), the table in as many parts as it
    needs (:func:`fit_table`)."""
    title = getattr(table, "title", None)
    caption = getattr(table, "caption", None)
    table = copy.copy(table)
    above = title is not None and table.title_justify == "left"
    below = caption is not None and table.caption_justify == "left"
    if above:
        table.title = None
    if below:
        table.caption = None
    if above:
        _annotation(console, title, table.title_style or "table.title")
    for part in fit_table(table, console.width, keys=keys):
        console.print(part, soft_wrap=False)
    if below:
        _annotation(console, caption, table.caption_style or "table.caption")


def _annotation(console: Console, text: Any, style: Any) -> None:
    """A table's title or caption, as the table styles it, wrapped at the window."""
    shown = console.render_str(text, style=style, highlight=False) if isinstance(text, str) \
        else text
    console.print(shown, soft_wrap=False)


def fit_table(table: Any, width: int, *, keys: int = 1) -> list[Any]:
    """``table`` as one or more tables no wider than ``width``, none of whose cells is cut.

    Every column keeps its longest word whole (a number, an arm id, an interval): cells
    wrap between words. When the columns at those widths are too wide together, the table
    is split: each part has the first ``keys`` columns (what names a row) and as many of
    the next columns as fit, the title on the first part and the caption on the last. Only
    when a key and one column do not fit side by side are text columns folded inside a
    word (numbers never are); a table that fits is returned at its natural widths."""
    from rich.console import Console
    from rich.measure import Measurement

    columns = list(table.columns)
    if not columns:
        return [table]
    keys = max(1, min(keys, len(columns) - 1)) if len(columns) > 1 else 1
    probe = Console(width=100_000, color_system=None, highlight=False)
    options = probe.options
    least, most, numeric = [], [], []
    for column in columns:
        cells = [column.header, *column._cells]
        sizes = [Measurement.get(probe, options, cell) for cell in cells if cell is not None]
        least.append(max((m.minimum for m in sizes), default=1))
        most.append(max((m.maximum for m in sizes), default=1))
        numeric.append(column.justify == "right")

    def part_of(chosen: list[int], first: bool, last: bool, fold: bool) -> Any | None:
        part = copy.copy(table)
        part.columns = [copy.copy(columns[i]) for i in chosen]
        part.title = table.title if first else None
        part.caption = table.caption if last else None
        part.expand, part.width, part.min_width = False, None, None
        room = width - part._extra_width - sum(part._get_padding_width(j)
                                                for j in range(len(chosen)))
        low = [least[i] if numeric[i] or not fold else
               min(least[i], max(_FOLD_WIDTH, (least[i] + 1) // 2)) for i in chosen]
        high = [max(most[i], lo) for i, lo in zip(chosen, low, strict=True)]
        if sum(low) > room:
            return None
        sizes = list(low)
        spare = room - sum(sizes)
        while spare > 0:  # the column furthest from its natural width first
            j = max(range(len(sizes)), key=lambda k: high[k] - sizes[k])
            if high[j] <= sizes[j]:
                break
            sizes[j] += 1
            spare -= 1
        for j, (column, size) in enumerate(zip(part.columns, sizes, strict=True)):
            column._index = j
            column.width, column.min_width, column.max_width, column.ratio = \
                size, None, None, None
            column.no_wrap, column.overflow = False, "fold"
        return part

    rest = list(range(keys, len(columns)))
    key = list(range(keys))
    whole = part_of(key + rest, True, True, fold=False)
    if whole is not None:
        return [whole]
    def squeezed(chosen: list[int], first: bool, last: bool) -> Any:
        """Narrower than a key and one number: rich squeezes it, folding every cell (with
        ``no_wrap`` it cropped them)."""
        part = copy.copy(table)
        part.columns = [copy.copy(columns[i]) for i in chosen]
        for j, column in enumerate(part.columns):
            column._index = j
            column.no_wrap, column.overflow = False, "fold"
        part.title = table.title if first else None
        part.caption = table.caption if last else None
        return part

    if not rest:  # one column, wider than the window: folded (it printed nothing)
        return [part_of(key, True, True, fold=True) or squeezed(key, True, True)]
    # the key(s) beside any one column whole, or else folded to half their width (long
    # segment values and arm ids over two lines, rather than one column a part)
    fold = any(part_of([*key, i], False, False, fold=False) is None for i in rest)
    groups: list[list[int]] = []
    for i in rest:
        if groups and part_of(key + groups[-1] + [i], False, False, fold=fold) is not None:
            groups[-1].append(i)
        else:
            groups.append([i])
    parts = []
    for n, group in enumerate(groups):
        first, last = n == 0, n == len(groups) - 1
        parts.append(part_of(key + group, first, last, fold=fold)
                     or part_of(key + group, first, last, fold=True)
                     or squeezed(key + group, first, last))
    return parts


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def _left(seconds: float) -> str:
    """Time left in words: ``about 2 min 05 s left``; under a second, ``under 1 s left`` (a
    trial read "about 0 s left for this policy" at 44%, and wondered)."""
    return "under 1 s left" if seconds < 1.0 else f"about {_duration(seconds)} left"


class Progress:
    """Progress of one long job, in ``total`` steps of ``unit``.

    Parameters
    ----------
    title
        What runs (``"simulate"``).
    total
        Steps in all.
    unit
        What a step is (``"steps"``, ``"policies"``).
    stream
        Where progress goes (stderr by default).
    interval
        Seconds between two lines when ``stream`` is not a terminal.
    first
        Seconds before the first of those lines (default: ``interval``): a shorter wait
        gives the time left early, from the first seconds' pace.
    parts
        ``(steps, singular, plural)`` when the job runs parts of ``steps`` steps one after
        another, each at its own pace (simulate: a policy's horizon; kl-ucb runs about 30×
        slower than Thompson sampling): the time left is then the running part's, from its
        own pace, and the parts still to come are counted, not timed (extrapolated from the
        fast policies the time left grew from 9 s to 27 s while the job took 32 s).
    """

    def __init__(self, title: str, total: int, unit: str, *, stream: IO[str] | None = None,
                 interval: float = 10.0, first: float | None = None,
                 clock: Any = time.monotonic,
                 parts: tuple[int, str, str] | None = None) -> None:
        self.title, self.total, self.unit = title, max(1, total), unit
        self.parts = parts
        self._part = (0, clock(), 0)  # the running part: its index, start time, steps then
        self.stream = stream or sys.stderr
        self.interval, self.clock = interval, clock
        self._wait = interval if first is None else first  # until the next line
        self.done, self.label = 0, ""
        self.started = self.last_line = clock()
        self._bar: Any = None
        self._task: Any = None
        self._titled = True
        #: Ctrl+C came (see :meth:`_interrupted`)
        self.interrupted = False
        self._previous: Any = None
        self._hook: Any = None  # sys.unraisablehook before the job (see _unraisable)
        #: a Ctrl+C came that no update has raised again yet (C code may have dropped it)
        self._owed = False

    @property
    def terminal(self) -> bool:
        """Whether progress is drawn as a live bar."""
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    def _interrupted(self, signum: int, frame: Any) -> None:
        """Ctrl+C during the job: a flag that :meth:`update` checks, and a
        ``KeyboardInterrupt`` at once. Raised alone, C code that clears errors (numpy) could
        drop it: a simulation went on after Ctrl+C about 1 time in 100, to its end."""
        self.interrupted = self._owed = True
        raise KeyboardInterrupt

    def _unraisable(self, unraisable: Any) -> None:
        """A Ctrl+C that came in a weakref callback or a ``__del__`` (an import's module
        lock freed, as numpy imports ``numpy.random`` on first use) cannot be raised there:
        Python printed it as "Exception ignored … Traceback … KeyboardInterrupt" before
        :meth:`update` raised it again. It is not printed; anything else is, as before."""
        if not (self.interrupted and issubclass(unraisable.exc_type, KeyboardInterrupt)):
            self._hook(unraisable)

    def __enter__(self) -> Progress:
        if threading.current_thread() is threading.main_thread():  # (signals: main only)
            # (None: a handler not set from Python; Python's own is put back then)
            self._previous = signal.signal(signal.SIGINT, self._interrupted) or \
                signal.default_int_handler
            self._hook, sys.unraisablehook = sys.unraisablehook, self._unraisable
        try:
            self._start()
        except BaseException:  # (a Ctrl+C in the bar's import too: Python's handlers back)
            self._restore()
            raise
        return self

    def _start(self) -> None:
        """Draw the bar, or write the started line."""
        if self.terminal:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as Bar
            from rich.table import Column

            # a long label (a policy and its parameters) is cut, then the bar is left out,
            # never the numbers and the time left (in 80 columns they were blank or cut)
            def keep(width: int) -> Column:
                return Column(no_wrap=True, min_width=width, max_width=width)

            # times grow past 8 characters only beyond a day ("1 day, 2:03:04"): never cut
            clock = Column(no_wrap=True, min_width=8, justify="right")
            console = Console(file=self.stream)
            count = 2 * len(str(self.total)) + 1  # "1500/3000"
            # with parts: the running part's time left, and how many parts come after it
            after = len(self._after()) if self.parts is not None else len("left")
            fixed = [count, len(self.unit), 8, len("elapsed,"), 8, after]  # "10:00:00"
            room = console.width - sum(fixed) - len(fixed) - 1  # one space between columns
            bar = 12 if room >= 12 + 1 + 16 else 0  # the bar only beside a 16-column label
            width = max(8, min(40, room - (bar + 1 if bar else 0)))
            self._titled = width >= 28  # else the label alone: what runs, not the command
            label = Column(max_width=width, no_wrap=True, overflow="ellipsis")
            self._bar = Bar(TextColumn("{task.description}", table_column=label),
                            *([BarColumn(bar_width=bar)] if bar else []),
                            MofNCompleteColumn(table_column=keep(count)),
                            TextColumn(self.unit, table_column=keep(len(self.unit))),
                            TimeElapsedColumn(table_column=clock),
                            TextColumn("elapsed,", table_column=keep(8)),
                            *([TimeRemainingColumn(table_column=clock),
                               TextColumn("left", table_column=keep(4))]
                              if self.parts is None else
                              [TextColumn("{task.fields[part_left]}", table_column=clock,
                                          justify="right"),
                               TextColumn("{task.fields[after]}", table_column=keep(after))]),
                            console=console, transient=True, get_time=self.clock)
            self._bar.__enter__()
            self._task = self._bar.add_task(self.title, total=self.total,
                                            **self._part_fields())
        else:
            self._line(f"{self.title}: started, {self.total:,} {self.unit}")

    def _restore(self) -> None:
        """Put back the Ctrl+C handler and the unraisable hook the job found (once)."""
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            sys.unraisablehook = self._hook
            self._previous = None

    def update(self, done: int, label: str | None = None) -> None:
        """``done`` steps of ``total`` are done; ``label`` names what runs now (a Ctrl+C
        that the job's own code lost is raised here again)."""
        if self._owed:
            self._owed = False
            raise KeyboardInterrupt
        self.done = min(max(done, 0), self.total)
        if label is not None:
            self.label = label
        if self.parts is not None:
            index = min(self.done // self.parts[0], self.total // self.parts[0] - 1)
            if index != self._part[0]:  # the next part starts: its own pace from now
                self._part = (index, self.clock(), self.done)
        if self._bar is not None:
            text = f"{self.title} · {self.label}" if self.label and self._titled else \
                self.label or self.title
            self._bar.update(self._task, completed=self.done, description=text,
                             **self._part_fields())
        elif self.clock() - self.last_line >= self._wait:
            self._wait = self.interval
            self._line(self.status())

    def _part_left(self) -> float | None:
        """Seconds the running part has left at its own pace (``None``: no pace yet)."""
        assert self.parts is not None
        index, start, before = self._part
        ran = self.done - before
        if ran <= 0:
            return None
        return (self.parts[0] * (index + 1) - self.done) * float(self.clock() - start) / ran

    def _part_left_clock(self) -> str:
        """:meth:`_part_left` as the bar's clocks show a time (``-:--:--``: no pace yet)."""
        seconds = self._part_left()
        if seconds is None:
            return "-:--:--"
        whole = round(seconds)
        return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"

    def _more_parts(self) -> str:
        """The parts still to come after the running one (``"2 more policies"``; ``""``:
        none)."""
        assert self.parts is not None
        rest = self.total // self.parts[0] - 1 - self._part[0]
        _, one, many = self.parts
        return f"{rest} more {one if rest == 1 else many}" if rest else ""

    def _after(self) -> str:
        """What the bar says after the running part's time left."""
        more = self._more_parts()
        return f"left, {more}" if more else "left"

    def _part_fields(self) -> dict[str, str]:
        """The bar's fields for parts: the running part's time left, and what follows."""
        if self.parts is None:
            return {}
        return {"part_left": self._part_left_clock(), "after": self._after()}

    def status(self) -> str:
        """One line: what runs, steps done, share, time elapsed and time left."""
        elapsed = self.clock() - self.started
        share = self.done / self.total
        what = f" ({self.label})" if self.label else ""
        if self.parts is None:
            left = "unknown left" if self.done == 0 else _left(elapsed / share - elapsed)
        else:  # the running part's time left; the parts to come are not timed yet
            seconds = self._part_left()
            more = self._more_parts()
            left = ("time left unknown" if seconds is None else _left(seconds)) + \
                f" for this {self.parts[1]}"
            if more:
                left += f", then {more} (not timed yet)"
        return (f"{self.title}{what}: {self.done:,}/{self.total:,} {self.unit} "
                f"({share:.0%}), {_duration(elapsed)} elapsed, {left}")

    def __exit__(self, kind: object, error: object, tb: object) -> None:
        self._restore()
        # a Ctrl+C that C code dropped after the last update: the job is not done
        lost = kind is None and self._owed
        if self._bar is not None:
            self._bar.__exit__(kind, error, tb)
        elif kind is None and not lost:
            self.label = ""
            self._line(f"{self.title}: done, {self.total:,} {self.unit} in "
                       f"{_duration(self.clock() - self.started)}")
        if lost:
            raise KeyboardInterrupt

    def _line(self, text: str) -> None:
        self.last_line = self.clock()
        self.stream.write(text + "\n")
        self.stream.flush()


@contextmanager
def progress(title: str, total: int, unit: str, **kwargs: Any) -> Iterator[Progress]:
    """``with progress("simulate", 40_000, "steps") as p: p.update(n)``."""
    with Progress(title, total, unit, **kwargs) as p:
        yield p
