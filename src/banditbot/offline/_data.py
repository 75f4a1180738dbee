"""Logged bandit feedback as arrays: from banditbot's decision log, from CSV/Parquet of other
systems (with a column mapping), and from the Open Bandit Dataset sample."""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .._errors import PayloadError, require
from .._text import did_you_mean
from .._types import FloatArray
from ..stores import ALLOCATED, DecisionRecord, resolve_propensities

__all__ = ["ColumnMap", "LoggedBandit", "from_records", "load_obd", "read_log"]

IntArray = npt.NDArray[np.intp]


@dataclass(frozen=True)
class LoggedBandit:
    """Logged bandit feedback, validated.

    Attributes
    ----------
    actions
        Names of the ``K`` actions (arms); ``action`` indexes into it.
    action
        Shape ``(n,)``: the logged action of each round.
    reward
        Shape ``(n,)``: the observed reward.
    pscore
        Shape ``(n,)``: the logging policy's probability of the logged action, in (0, 1].
    context
        Shape ``(n, d)`` or ``None``: numeric context features.
    position
        Shape ``(n,)`` or ``None``: slot of a multi-slot interface (Open Bandit Dataset).
    action_dist
        Shape ``(n, K)`` or ``None``: the logging policy's full distribution (banditbot
        logs it with every decision).
    timestamp
        Shape ``(n,)`` or ``None``: seconds since the epoch.
    decision_ids
        Each round's banditbot decision id, when the log has them (a ``decision_id``
        column, as an export has, with or without its arms and probabilities columns; or the
        store): what tells a log from the statistics it is already in.
    experiments
        The banditbot experiments the rounds were logged by, when the log says (an export
        or the store); empty when unknown.
    """

    actions: tuple[str, ...]
    action: IntArray
    reward: FloatArray
    pscore: FloatArray
    context: FloatArray | None = None
    context_names: tuple[str, ...] = ()
    position: IntArray | None = None
    action_dist: FloatArray | None = None
    timestamp: FloatArray | None = None
    source: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)
    decision_ids: tuple[str, ...] | None = None
    experiments: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n = self.action.shape[0]
        if n == 0:
            raise PayloadError(f"{self.source or 'the log'}: no rounds to use")
        for name in ("reward", "pscore"):
            arr = getattr(self, name)
            if arr.shape != (n,):
                raise PayloadError(f"{name} has {arr.shape[0]} rows but action has {n}",
                                   hint="every column needs one value per round")
        if not np.all(np.isfinite(self.reward)):
            raise PayloadError("rewards must be finite numbers", hint="drop or fix the rows")
        bad = ~((self.pscore > 0) & (self.pscore <= 1))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise PayloadError(
                f"propensity {float(self.pscore[i])!r} in row {i + 1} is outside (0, 1]",
                hint="a propensity is the probability the logging policy gave the logged "
                     "action; rows without one cannot be used for off-policy evaluation")
        if self.action.min() < 0 or self.action.max() >= len(self.actions):
            raise PayloadError("an action index is outside the list of actions")
        if self.context is not None and self.context.shape[0] != n:
            raise PayloadError(f"context has {self.context.shape[0]} rows but action has {n}")
        if self.action_dist is not None and self.action_dist.shape != (n, len(self.actions)):
            raise PayloadError("action_dist must have shape (rounds, actions)")
        if self.decision_ids is not None and len(self.decision_ids) != n:
            raise PayloadError(f"decision_ids has {len(self.decision_ids)} rows but action "
                               f"has {n}")

    @property
    def n_rounds(self) -> int:
        """Number of rounds."""
        return int(self.action.shape[0])

    @property
    def n_actions(self) -> int:
        """Number of actions."""
        return len(self.actions)

    def subset(self, index: IntArray | slice) -> LoggedBandit:
        """The rounds selected by ``index`` (for train/test splits)."""
        def take(a: Any) -> Any:
            return None if a is None else a[index]

        return LoggedBandit(self.actions, self.action[index], self.reward[index],
                            self.pscore[index], take(self.context), self.context_names,
                            take(self.position), take(self.action_dist),
                            take(self.timestamp), self.source, self.notes,
                            None if self.decision_ids is None
                            else self.decision_ids[index] if isinstance(index, slice)
                            else tuple(self.decision_ids[i] for i in index), self.experiments)

    def to_obp(self) -> dict[str, Any]:
        """The dictionary layout Open Bandit Pipeline's estimators take
        (``n_rounds``, ``n_actions``, ``action``, ``reward``, ``pscore``, ``context``,
        ``position``; ``position`` is zeros when the log has none)."""
        return {
            "n_rounds": self.n_rounds, "n_actions": self.n_actions,
            "action": self.action.astype(int), "reward": self.reward,
            "pscore": self.pscore,
            "context": self.context if self.context is not None
            else np.ones((self.n_rounds, 1)),
            "position": self.position if self.position is not None
            else np.zeros(self.n_rounds, dtype=int),
        }


def from_records(records: Iterable[DecisionRecord], *, policy_only: bool = True,
                 context_features: Sequence[str] | None = None) -> LoggedBandit:
    """Feedback from banditbot's decision log: rewarded decisions made by a policy (manual
    and imported entries are skipped — they were not chosen by the logging policy).

    Parameters
    ----------
    records
        Decision records (e.g. ``service.decisions("exp")``); the unrewarded ones are
        skipped.
    policy_only
        Skip the decisions no policy chose (manual and imported entries); ``False`` keeps
        them.
    context_features
        The context keys to make context columns of (numeric and boolean values); default:
        every key seen.

    Raises
    ------
    PayloadError
        No rewarded decision is left.
    """
    chosen: list[DecisionRecord] = []
    left: Counter[str] = Counter()  # the rows left out, by why (said in the log's name)
    for r in records:
        if policy_only and r.kind not in ALLOCATED:
            left[str(r.kind)] += 1
        elif r.reward is None:
            left[""] += 1
        else:
            chosen.append(r)
    # deferred decisions' exact vectors, of these rows
    rows = list(resolve_propensities(chosen))
    said = ""  # as read_log names a file: "(569 of 3,000 rows left out: 569 unanswered)"
    if left:
        n = len(rows) + left.total()
        unanswered = left.pop("", 0)
        parts = [f"{unanswered:,} unanswered"] if unanswered else []
        if left:
            kinds = ", ".join(f"{count:,} {kind}" for kind, count in left.most_common())
            parts.append(f"{left.total():,} not the policy's choice ({kinds})")
        said = f" ({n - len(rows):,} of {n:,} rows left out: {'; '.join(parts)})"
    if not rows:
        raise PayloadError(f"the log has no rewarded policy decisions{said}",
                           hint="run the experiment (or banditbot demo) first")
    actions = tuple(dict.fromkeys(a for r in rows for a in r.arms))
    index = {a: i for i, a in enumerate(actions)}
    dist = np.zeros((len(rows), len(actions)))
    for i, r in enumerate(rows):
        for a, p in zip(r.arms, r.probabilities, strict=True):
            dist[i, index[a]] = p
    if context_features is None:
        context_features = tuple(dict.fromkeys(k for r in rows for k in (r.context or {})))
    context, names, notes = context_matrix(
        {k: [(r.context or {}).get(k) for r in rows] for k in context_features}, "key")
    return LoggedBandit(
        actions=actions, action=np.array([index[r.arm] for r in rows], dtype=np.intp),
        reward=np.array([r.reward for r in rows], dtype=np.float64),
        pscore=np.array([r.propensity for r in rows], dtype=np.float64),
        context=context, context_names=names, action_dist=dist,
        timestamp=np.array([r.created_at for r in rows]),
        source=f"banditbot decision log{said}",
        notes=notes, decision_ids=tuple(r.id for r in rows),
        experiments=tuple(dict.fromkeys(r.experiment for r in rows)))


def _num(value: Any) -> float:
    """A context value as a feature: a number, a boolean (also as CSV or JSON text,
    ``True``/``true``) as 1 or 0; anything else (empty, text, not finite) 0."""
    number = _number(value)
    return 0.0 if number is None or not math.isfinite(number) else number


_TRUTH = {"true": 1.0, "false": 0.0}


def _number(value: Any) -> float | None:
    """``value`` as a number, or ``None`` when it is none (booleans count: 1, 0)."""
    if isinstance(value, str):
        truth = _TRUTH.get(value.strip().lower())
        if truth is not None:
            return truth
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class ColumnMap:
    """Which columns of a foreign log hold what (``None``: not present; ``timestamp``
    ``None``: ``created_at`` when the log has that column, as banditbot's export does)."""

    action: str = "arm"
    reward: str = "reward"
    pscore: str = "propensity"
    context: tuple[str, ...] | None = None  # None: every ctx_* column
    position: str | None = None
    timestamp: str | None = None


def _cell_list(cell: Any) -> list[Any]:
    """An export's list cell: a Parquet list, or the CSV's space-separated text."""
    return list(cell) if isinstance(cell, list | tuple) else str(cell).split()


def _read_table(path: Path) -> dict[str, list[Any]]:
    """The file's columns; a file that is not what its name says is one clear error."""
    import csv

    kind = {".gz": "gzip-compressed CSV", ".parquet": "Parquet"}.get(path.suffix.lower(),
                                                                      "CSV")
    try:
        table = _read_columns(path)
    except (OSError, EOFError, UnicodeDecodeError, csv.Error, ValueError) as exc:
        if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError):
            raise PayloadError(f"{path}: {exc.strerror or exc}") from None
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise PayloadError(f"{path}: not a readable {kind} file ({detail})",
                           hint="export a log with `banditbot export`, or check the file") \
            from None
    if not table:  # (it said "missing column(s) arm, reward, propensity (columns are: )")
        raise PayloadError(f"{path}: the file is empty",
                           hint="export a log with `banditbot export`, or check the path")
    return table


def _read_stdin() -> dict[str, list[Any]]:
    """The columns of a log piped in (``banditbot export EXP -o - | banditbot evaluate -``):
    CSV, or gzip-compressed CSV or Parquet by their first bytes."""
    import csv
    import gzip
    import io
    import sys

    where = Path("<stdin>")
    data = sys.stdin.buffer.read()
    if not data:
        raise PayloadError("<stdin>: nothing was piped in",
                           hint="pipe a log in: banditbot export EXP -o - | banditbot "
                                "evaluate -")
    if data.startswith(b"PAR1"):
        require("pyarrow", "parquet")
        import pyarrow as pa
        import pyarrow.parquet as pq

        return dict(pq.read_table(pa.BufferReader(data)).to_pydict())
    try:
        text = (gzip.decompress(data) if data.startswith(b"\x1f\x8b") else data).decode()
        columns = _csv_columns(where, csv.DictReader(io.StringIO(text, newline="")))
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise PayloadError(f"<stdin>: not a readable CSV log ({detail})",
                           hint="pipe a CSV, gzip-compressed CSV or Parquet log in") from None
    if not columns:
        raise PayloadError("<stdin>: no columns in what was piped in",
                           hint="pipe a log in: banditbot export EXP -o - | banditbot "
                                "evaluate -")
    return columns


def _read_columns(path: Path) -> dict[str, list[Any]]:
    suffix = path.suffix.lower()
    if suffix == ".gz":
        import csv
        import gzip
        import io

        with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
            return _csv_columns(path, csv.DictReader(io.StringIO(fh.read())))
    if suffix == ".parquet":
        require("pyarrow", "parquet")
        import pyarrow.parquet as pq

        return dict(pq.read_table(path).to_pydict())
    if suffix in (".csv", ".txt", ""):
        import csv

        with path.open("rb") as raw:  # another format under a CSV's name: said as such
            magic = raw.read(4)
        for start, kind, name in ((b"PAR1", "a Parquet file", ".parquet"),
                                  (b"\x1f\x8b", "gzip-compressed", ".csv.gz")):
            if magic.startswith(start):
                raise PayloadError(f"{path}: {kind}, named {suffix or 'without a suffix'}",
                                   hint=f"name it {path.stem}{name}, as the log's format is "
                                        "read from its name")
        with path.open(newline="", encoding="utf-8") as fh:
            return _csv_columns(path, csv.DictReader(fh))
    if suffix in (".db", ".sqlite", ".sqlite3"):  # a store, not an exported log
        raise PayloadError(f"{path}: a database, not a log file",
                           hint=f"read a store's log with store:EXPERIMENT --store "
                                f"sqlite:///{path}, or export it first with banditbot export")
    raise PayloadError(f"{path}: unknown log format {suffix!r}",
                       hint="use .csv, .csv.gz or .parquet")


def _csv_columns(path: Path, reader: Any) -> dict[str, list[Any]]:
    """A CSV's columns; a row with fewer cells than the header (a file cut short: its last
    row lost its last cells, which read as missing values) is refused."""
    columns: dict[str, list[Any]] = {name: [] for name in reader.fieldnames or []}
    for number, row in enumerate(reader, 1):
        values = [row.get(name) for name in columns]
        if None in values:  # (an empty cell reads as "", a missing one as None)
            have = len(columns) - values.count(None)
            raise PayloadError(
                f"{path}: row {number} is short ({have} of {len(columns)} cells): the file "
                "looks truncated", hint="export or copy the log again, or drop that row")
        for name, value in zip(columns, values, strict=True):
            columns[name].append(value)
    return columns


def _require_actions(path: Path, column: str, values: list[Any], keep: list[int]) -> None:
    """Every kept row names its action (an empty one would become an action of its own)."""
    for i in keep:
        if values[i] is None or not str(values[i]).strip():
            raise PayloadError(f"{path}: row {i + 1}: the action in column {column!r} is "
                               "empty", hint="fix or drop that row")


#: A logged probability vector sums to 1 within this (the export writes 10 significant
#: digits of each probability).
VECTOR_TOLERANCE = 1e-6


def _check_propensities(path: Path, column: str, values: list[Any], rows: Sequence[int],
                        kept: set[int]) -> None:
    """Every logging-policy row's propensity is a number in (0, 1] (an unanswered row may
    leave it empty: it is dropped), named by its row in the file."""
    for i in rows:
        value = values[i]
        if value in (None, "") and i not in kept:
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise PayloadError(f"{path}: row {i + 1}: propensity {value!r} in column "
                               f"{column!r} is not a number",
                               hint=_number_hint(value)) from None
        if not 0.0 < number <= 1.0:  # (also NaN)
            raise PayloadError(
                f"{path}: row {i + 1}: propensity {value!r} in column {column!r} is outside "
                "(0, 1]",
                hint="a propensity is the probability the logging policy gave the logged "
                     "action; rows without one cannot be used for off-policy evaluation")


def _number_hint(value: Any) -> str:
    """The hint for a cell that is not a number: a decimal comma (``0,5``, as a spreadsheet
    in another language writes it) is named as one."""
    import re

    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d*,\d+\s*", value):
        return ("a decimal comma? numbers are read with a point (0.5); save the file with "
                "points (a spreadsheet's language settings), or as Parquet; or fix or drop "
                "that row")
    return "fix or drop that row"


def _check_unit_weights(path: Path, values: list[Any], rows: Sequence[int]) -> None:
    """Every logging-policy row of an export weighs 1 (its ``weight`` column: how much the
    row counts in the experiment's statistics, other than 1 only for imported history, which
    is left out): a round that counted more or less than once would need weights that the
    estimators and the warm start do not apply."""
    for i in rows:
        value = values[i]
        if value in (None, ""):
            continue
        weight = _number(value)
        if weight != 1.0:
            raise PayloadError(
                f"{path}: row {i + 1}: a decision of the logging policy with weight "
                f"{value!r}; only imported history (kind import, left out) weighs other "
                "than 1", hint="export the log again, or fix or drop that row")


def _logged_vectors(path: Path, table: Mapping[str, list[Any]], cmap: ColumnMap,
                    rows: Sequence[int]) -> dict[int, tuple[list[str], list[float]]]:
    """Each logging-policy row's arms and logged probabilities (a banditbot export), checked:
    one probability per arm, summing to 1, and the chosen arm's entry equal to the row's
    propensity (a file cut or edited by hand reads otherwise as another distribution)."""
    out: dict[int, tuple[list[str], list[float]]] = {}
    hint = "export the log again, or fix or drop that row"
    for i in rows:
        arms = [str(a) for a in _cell_list(table["arms"][i])]
        cells = _cell_list(table["probabilities"][i])
        probs = [_number(x) for x in cells]
        if len(probs) != len(arms) or any(x is None or not math.isfinite(x) for x in probs):
            raise PayloadError(f"{path}: row {i + 1}: the probabilities "
                               f"{' '.join(map(str, cells))!r} do not match the arms "
                               f"{' '.join(arms)!r}", hint=hint)
        vector = [float(x) for x in probs if x is not None]
        total = math.fsum(vector)
        if abs(total - 1.0) > VECTOR_TOLERANCE:
            raise PayloadError(f"{path}: row {i + 1}: the logged probabilities sum to "
                               f"{total:.10g}, not 1", hint=hint)
        arm, propensity = str(table[cmap.action][i]), _number(table[cmap.pscore][i])
        if arm not in arms:  # a typo (HEY): it read as a propensity that differs from 0
            raise PayloadError(f"{path}: row {i + 1}: arm {arm!r} in column {cmap.action!r} "
                               f"is not among the row's logged arms ({' '.join(arms)})",
                               hint=did_you_mean(arm, arms) + hint)
        if propensity is not None:  # (none: an unanswered row's, or refused elsewhere)
            logged = vector[arms.index(arm)]
            if not math.isclose(propensity, logged, rel_tol=VECTOR_TOLERANCE, abs_tol=1e-12):
                raise PayloadError(
                    f"{path}: row {i + 1}: propensity {propensity:.10g} differs from the "
                    f"logged probability of arm {arm!r} ({logged:.10g})", hint=hint)
        out[i] = (arms, vector)
    return out


def _missing_columns(path: Path, header: list[str], missing: list[str]) -> PayloadError:
    """The error for a log without the columns asked for: one whose only column's name
    holds the others was written with another separator (a spreadsheet's semicolons)."""
    for sep in (";", "\t"):
        if len(header) == 1 and header[0].count(sep) >= 2:
            shown = "semicolons" if sep == ";" else "tabs"
            return PayloadError(
                f"{path}: its columns are separated by {shown} ({header[0][:60]!r}); a CSV "
                "log is read with commas", hint="save it with commas as the separator (a "
                "spreadsheet's 'CSV (comma delimited)'), or as Parquet")
    return PayloadError(f"{path}: missing column(s) {', '.join(missing)}",
                        hint=f"columns are: {', '.join(header[:20])}; map yours with "
                             "--action-col, --reward-col, --pscore-col, --timestamp-col")


#: An action on at most this many rounds, beside one on :data:`COMMON_FACTOR` times as
#: many that it resembles, is read as a typo of that one.
RARE_ACTION = 5
COMMON_FACTOR = 20
#: At most this many rare actions spelt close to common ones are named (a long-tail
#: catalogue's item_10 … item_999 beside item_1 … item_9 would be a thousand lines).
_NEAR_NOTES = 5


def _rare_near_duplicates(path: Path, column: str, actions: Sequence[str],
                          rows: Sequence[int]) -> tuple[str, ...]:
    """Refuse a rare action that differs from a common one only by case or spaces (``Hey``
    on 1 round beside ``hey`` on 811: a typo, which became an action of its own that the
    policies learned as a sure winner); notes for one spelt close to a common one.

    ``actions[j]`` is the action of the file's row ``rows[j] + 1``."""
    from .._text import closest

    count = Counter(actions)
    rare = [a for a, n in count.items() if n <= RARE_ACTION]
    if not rare:
        return ()
    by_count = sorted(count.items(), key=lambda item: -item[1])
    # each folded spelling's most common action (one pass: a long-tail catalogue has
    # thousands of rare ids, and a scan per rare action took 12.6 s on 200,000 rows)
    folded: dict[str, tuple[str, int]] = {}
    for a, n in by_count:
        folded.setdefault(" ".join(a.split()).casefold(), (a, n))
    found: list[tuple[str, str, bool]] = []  # (rare action, the common one, same when folded)
    for action in rare:
        least = COMMON_FACTOR * count[action]
        same = folded.get(" ".join(action.split()).casefold())
        if same is not None and same[0] != action and same[1] >= least:
            found.append((action, same[0], True))
            break  # (refused: the first is enough to say)
        if len(found) < _NEAR_NOTES:
            common = [a for a, n in by_count if n >= least]  # (sorted: stops early)
            near = closest(action, common) if common else None
            if near is not None:
                found.append((action, near, False))
    if not found:
        return ()
    wanted = {action for action, _, _ in found}
    where: dict[str, list[int]] = {}
    for j, a in enumerate(actions):  # the rows of the actions said, in one pass
        if a in wanted:
            where.setdefault(a, []).append(rows[j] + 1)

    def on(action: str) -> str:
        at = where[action]
        return f"row{'s' if len(at) > 1 else ''} {', '.join(map(str, at))}"

    action, same_as, refused = found[-1]
    if refused:
        raise PayloadError(
            f"{path}: action {action!r} in column {column!r} ({on(action)}) differs from "
            f"{same_as!r} ({count[same_as]:,} rounds) only by case or spaces: a typo would "
            "be read as an action of its own",
            hint=f"write {same_as} in {'those rows' if len(where[action]) > 1 else 'that row'}"
                 "; or, if they are different actions, read the log with --exact-actions")
    notes = [f"action {action!r} ({on(action)}) is rare and spelt close to {near!r} "
             f"({count[near]:,} rounds): a typo? it is read as an action of its own; fix the "
             "row if so" for action, near, _ in found]
    if len(found) == _NEAR_NOTES and rare[-1] != found[-1][0]:
        notes.append(f"(only the first {_NEAR_NOTES} rare actions spelt close to common ones "
                     "are named)")
    return tuple(notes)


#: Rewards outside a 0/1 log's scale are named when at most this many rows hold them.
OFF_SCALE = 5


def _off_scale(reward: FloatArray, rows: Sequence[int]) -> tuple[str, ...]:
    """A note on the few rewards outside a 0/1 log's scale (a 👍/👎 export with one
    reward edited to 5: its every-look interval for a click rate reached 1.49, without a
    word); ``reward[j]`` is the file's row ``rows[j] + 1``."""
    off = np.flatnonzero((reward != 0.0) & (reward != 1.0))
    if not off.size or off.size > OFF_SCALE or off.size * 20 > reward.size \
            or np.count_nonzero(reward == 1.0) <= off.size:
        return ()  # all on the 0/1 scale, or another scale (ratings; amounts, mostly 0)
    cells = ", ".join(f"{float(reward[j]):g} in row {rows[int(j)] + 1}" for j in off)
    return (f"rewards are 0/1 except {cells}: out of the log's scale (a typo?), "
            "they count as they are in every estimate; fix or drop "
            f"{'those rows' if off.size > 1 else 'that row'} if so",)


def _rows_used(table: Mapping[str, Sequence[Any]], cmap: ColumnMap, is_export: bool,
               rewarded_only: bool, added: str | None = None
               ) -> tuple[frozenset[int], list[int], list[int]]:
    """A log's blank rows (:func:`_blank_rows`; ``added``: a column the reading filled
    in), the logging policy's rows (answered or not) and those of them read as rounds
    (``rewarded_only``: the answered)."""
    blank = _blank_rows(table, cmap.action, added)
    logged = []
    keep = []
    for i in range(len(table[cmap.action])):
        if i in blank:  # a spreadsheet's trailing ,,,,: no round at all
            continue
        # the experiment's allocation drew both policy and holdout decisions (the logged
        # probabilities include the holdout's share): leaving either out biases the weights
        if is_export and table["kind"][i] is not None and table["kind"][i] not in ALLOCATED:
            continue
        logged.append(i)
        if table[cmap.reward][i] in (None, "") and rewarded_only:
            continue
        keep.append(i)
    return blank, logged, keep


def _blank_rows(table: Mapping[str, Sequence[Any]], action: str,
                added: str | None = None) -> frozenset[int]:
    """The rows with every cell empty (a spreadsheet's trailing ``,,,,``): no round, not
    an unanswered one nor one of another kind; ``added``: a column the reading filled in
    (a log without propensities), not the file's."""
    columns = [c for name, c in table.items() if name != added]
    return frozenset(i for i, a in enumerate(table[action]) if a in (None, "")
                     and all(c[i] in (None, "") for c in columns))


def _left_out(table: Mapping[str, Sequence[Any]], logged: list[int], keep: list[int],
              n: int, blank: frozenset[int] = frozenset()) -> str:
    """How many rows of each reason a log's reading left out: ``"500 unanswered; 69 not the
    policy's choice (40 sticky, 29 import); 2 blank rows ignored"``."""
    parts = []
    if len(logged) > len(keep):
        parts.append(f"{len(logged) - len(keep):,} unanswered")
    other = Counter(str(table["kind"][i])
                    for i in sorted(set(range(n)) - set(logged) - blank))
    if other:
        kinds = ", ".join(f"{count:,} {kind}" for kind, count in other.most_common())
        parts.append(f"{other.total():,} not the policy's choice ({kinds})")
    if blank:
        parts.append(f"{len(blank):,} blank row{'s' if len(blank) > 1 else ''} ignored")
    return "; ".join(parts)


#: What a log without propensities can be used for (the hint of its missing column).
_NO_PSCORE = ("without the logging policy's propensities a log can be learned with "
              "--no-ips (every round counted as it is) and evaluated with -e dm alone (the "
              "reward model: its interval ignores the model's bias); IPS, SNIPS and DR need "
              "them")


def _without_pscore(path: Path, table: dict[str, list[Any]], pscore: str,
                    needed: list[str], pscore_required: bool) -> bool:
    """Refuse a log without the ``needed`` columns, saying what one without propensities
    can still do; ``True`` when only the propensity column is missing and not required (it
    is added then, every propensity 1)."""
    missing = [c for c in needed if c not in table]
    if missing == [pscore] and not pscore_required:
        table[pscore] = [1.0] * len(next(iter(table.values())))
        return True
    if missing:
        error = _missing_columns(path, list(table), missing)
        if pscore in missing and len(table) > 1:
            error.hint = (f"{error.hint}; " if error.hint else "") + _NO_PSCORE
        raise error
    return False


def read_log(path: str | os.PathLike[str], columns: ColumnMap | None = None, *,
             rewarded_only: bool = True, pscore_required: bool = True,
             exact_actions: bool = False) -> LoggedBandit:
    """Read a log exported by banditbot or written by another system.

    Parameters
    ----------
    path
        ``.csv``, ``.csv.gz`` or ``.parquet``; ``"-"``: the log on standard input (CSV,
        gzip-compressed CSV or Parquet, told by its first bytes), named ``<stdin>``.
    columns
        Column mapping (default: banditbot's export columns).
    rewarded_only
        Drop rounds without a reward (an empty reward cell) instead of failing.
    pscore_required
        ``False``: a log without the propensity column is read with every propensity 1
        (for what needs none: a warm start without importance weights, the direct method),
        and a note says so.
    exact_actions
        Take every action as written. By default a rare action (at most
        :data:`RARE_ACTION` rows) that differs from a common one (at least
        :data:`COMMON_FACTOR` times as many rows) only by case or spaces (``Hey`` beside
        ``hey``) is refused as a typo, and one spelt close to a common one is noted.

    Raises
    ------
    PayloadError
        Missing columns, propensities outside (0, 1], non-numeric rewards, or a rare
        action that differs from a common one only by case or spaces — naming the column,
        the row and the fix.
    """
    stdin = str(path) == "-"
    p = Path("<stdin>") if stdin else Path(path)
    if not stdin and not p.exists():
        raise PayloadError(f"{p}: no such file")
    cmap = columns or ColumnMap()
    table = _read_stdin() if stdin else _read_table(p)
    needed = [cmap.action, cmap.reward, cmap.pscore] + \
        [c for c in (cmap.position, cmap.timestamp) if c]
    no_pscore = _without_pscore(p, table, cmap.pscore, needed, pscore_required)
    is_export = "kind" in table and "probabilities" in table and "arms" in table
    n = len(table[cmap.action])
    blank, logged, keep = _rows_used(table, cmap, is_export, rewarded_only,
                                     cmap.pscore if no_pscore else None)
    # checked before the unanswered rows are dropped: a bad row is named by its row in the
    # file (1 = the first data row), and a bad unanswered row is not passed over in silence
    _check_propensities(p, cmap.pscore, table[cmap.pscore], logged, set(keep))
    vectors = _logged_vectors(p, table, cmap, logged) if is_export else {}
    if is_export and "weight" in table:
        _check_unit_weights(p, table["weight"], logged)

    def numbers(name: str, what: str, truth: bool = False) -> FloatArray:
        out = np.empty(len(keep))
        for j, i in enumerate(keep):
            value = table[name][i]
            try:  # truth: TRUE/FALSE (a spreadsheet's rewrite of 1/0) read as 1 and 0
                out[j] = _TRUTH[value.strip().lower()] if truth and isinstance(value, str) \
                    and value.strip().lower() in _TRUTH else float(value)
            except (TypeError, ValueError):
                raise PayloadError(f"{p}: row {i + 1}: {what} {value!r} in column {name!r} is "
                                   "not a number", hint=_number_hint(value)) from None
            if not np.isfinite(out[j]):
                raise PayloadError(f"{p}: row {i + 1}: {what} {value!r} in column {name!r} is "
                                   "not a finite number", hint="fix or drop that row")
        return out

    _require_actions(p, cmap.action, table[cmap.action], keep)

    reward = numbers(cmap.reward, "reward", truth=True)
    pscore = numbers(cmap.pscore, "propensity")
    raw_actions = [str(table[cmap.action][i]) for i in keep]
    actions = tuple(sorted(set(raw_actions), key=_natural))
    # an export's arms are checked against each row's logged arms (_logged_vectors)
    typos = () if is_export or exact_actions else \
        _rare_near_duplicates(p, cmap.action, raw_actions, keep)
    if is_export and keep:
        arm_lists = [vectors[i][0] for i in keep]
        actions = tuple(dict.fromkeys([a for arms in arm_lists for a in arms] + list(actions)))
    index = {a: k for k, a in enumerate(actions)}
    # by default every ctx_* column with a value on a round used (as from_records takes
    # the keys of those rounds: another kind of row's context, such as the round an
    # imported row came from, is no feature)
    context_cols = cmap.context if cmap.context is not None else tuple(
        c for c in table if c.startswith("ctx_")
        and any(table[c][i] not in ("", None) for i in keep))
    absent = [c for c in context_cols if c not in table]
    if absent:
        raise PayloadError(f"{p}: missing context column(s) {', '.join(absent)}")
    context, context_names, notes = context_matrix(
        {c: [table[c][i] for i in keep] for c in context_cols}, "column")
    dist = None
    if is_export:
        dist = np.zeros((len(keep), len(actions)))
        for j, i in enumerate(keep):
            for a, prob in zip(*vectors[i], strict=True):
                dist[j, index[a]] = prob
    position = None
    if cmap.position:
        position = numbers(cmap.position, "position").astype(np.intp)
    timestamp = None
    time_column = cmap.timestamp or ("created_at" if "created_at" in table else None)
    if time_column:
        timestamp = _timestamps([table[time_column][i] for i in keep])
        unread = np.flatnonzero(~np.isfinite(timestamp))
        if unread.size:  # every time is one, in the column asked for or read by default
            # (a spreadsheet's 05/12/2026 10:24 in created_at was passed over in silence:
            # the rounds had no time, which behavior:LOG and the span check read)
            i = keep[int(unread[0])]
            default = "" if cmap.timestamp else \
                " (a spreadsheet may have rewritten the times: export the log again); or " \
                "name another column with --timestamp-col, or rename this one to read " \
                "the log without times"
            raise PayloadError(f"{p}: row {i + 1}: time {table[time_column][i]!r} in column "
                               f"{time_column!r} is not a time",
                               hint="ISO 8601 (2026-12-02T19:13:33+00:00) or seconds since "
                                    f"1970; fix or drop that row{default}")
    notes = (*typos, *_off_scale(reward, keep), *notes)
    if no_pscore:
        notes = (*notes, f"no propensity column ({cmap.pscore!r}): every round counts as it "
                         "is, its propensity read as 1")
    left_out = n - len(keep)
    source = str(p) if not left_out else \
        f"{p} ({left_out:,} of {n:,} rows left out: " \
        f"{_left_out(table, logged, keep, n, blank)})"
    ids = None
    if "decision_id" in table:  # (also of an export without its arms/probabilities columns:
        # its rounds learned before are known by their ids)
        ids = tuple(str(table["decision_id"][i]) for i in keep)
    experiments = tuple(dict.fromkeys(str(table["experiment"][i]) for i in keep)) \
        if is_export and "experiment" in table else ()
    return LoggedBandit(actions, np.array([index[a] for a in raw_actions], dtype=np.intp),
                        reward, pscore, context, context_names, position, dist,
                        timestamp, source=source, notes=notes, decision_ids=ids,
                        experiments=experiments)


#: A context value of words becomes one 0/1 feature per level up to this many levels (a
#: categorical feature); with more (free text, ids) it is left out.
MAX_LEVELS = 32


def context_matrix(columns: Mapping[str, Sequence[Any]], what: str
                   ) -> tuple[FloatArray | None, tuple[str, ...], tuple[str, ...]]:
    """The context features of a log: ``(matrix (n, d) or None, feature names, notes)``.

    A column of numbers and booleans (also as text: ``True``/``false``) is one feature; a
    column of words with at most :data:`MAX_LEVELS` distinct values — a categorical feature,
    as banditbot exports its experiments' ``categorical`` features — is one 0/1 feature per
    value, named ``column=value``; a column of more distinct words is left out. An empty
    cell (or a value that is not a finite number) of a numeric feature reads as 0. The notes
    say on how many rounds each numeric feature was empty, and which were encoded and which
    left out."""
    features: list[FloatArray] = []
    names: list[str] = []
    encoded: list[str] = []
    left_out: list[str] = []
    empty: list[str] = []
    for name, values in columns.items():
        if _numeric(values):
            features.append(np.array([_num(v) for v in values], dtype=np.float64))
            names.append(name)
            missing = sum(1 for v in values if v is None or v == ""
                          or not math.isfinite(_number(v) or 0.0))
            if missing:  # read as 0, which is a value: said, not silent
                empty.append(f"{name} empty on {missing:,} of {len(values):,} rounds (read "
                             "as 0)")
            continue
        words = [None if v is None or v == "" else str(v) for v in values]
        levels = sorted({w for w in words if w is not None}, key=_natural)
        if len(levels) > MAX_LEVELS:
            left_out.append(name)
            continue
        for level in levels:
            features.append(np.array([w == level for w in words], dtype=np.float64))
            names.append(f"{name}={level}")
        encoded.append(f"{name} ({', '.join(levels)})")
    notes = list(empty)
    if encoded:
        notes.append(f"context {what}{'s' if len(encoded) > 1 else ''} of words one-hot "
                     f"encoded: {'; '.join(encoded)}")
    if left_out:
        notes.append(_words_left_out(what, left_out))
    matrix = np.stack(features, axis=1) if features else None
    return matrix, tuple(names), tuple(notes)


def _words_left_out(what: str, names: Sequence[str]) -> str:
    """The note on context features of words, left out of a log's context."""
    return (f"context {what}{'s' if len(names) > 1 else ''} {', '.join(names)} left out: "
            f"more than {MAX_LEVELS} distinct words (encode them as numbers first)")


def _numeric(values: Iterable[Any]) -> bool:
    """Whether every value of a column that is there (not empty) is a number or a
    boolean."""
    return all(_number(v) is not None for v in values if v is not None and v != "")


def _natural(text: str) -> tuple[int, float | str]:
    try:
        return (0, float(text))
    except ValueError:
        return (1, text)


def _timestamps(values: Sequence[Any]) -> FloatArray:
    from datetime import datetime

    out = np.zeros(len(values))
    for i, v in enumerate(values):
        if isinstance(v, datetime):  # a Parquet export's timestamp column
            out[i] = v.timestamp()
            continue
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            try:
                out[i] = datetime.fromisoformat(str(v)).timestamp()
            except ValueError:
                out[i] = math.nan
    return out


def load_obd(behavior: str = "random", *, root: str | os.PathLike[str] | None = None,
             campaign: str = "all") -> LoggedBandit:
    """The Open Bandit Dataset sample (ZOZO, Inc.; Saito et al. 2021): 10,000 rounds of one
    behaviour policy (``random`` or ``bts``), campaign ``all``, 80 items, 3 positions.

    Context: one-hot user features plus the 80 user–item affinities. Actions are the item
    ids; positions are kept (1–3 → 0–2).

    Parameters
    ----------
    behavior
        Which sample: ``"random"`` (uniform random) or ``"bts"`` (Bernoulli Thompson
        sampling).
    root
        The folder with ``random/`` and ``bts/`` (default: ``data/obd`` under the current
        folder, or the ``shared/data/obd`` beside it or beside the repository).
    campaign
        The campaign's file name in the sample's folder, without ``.csv``.

    Raises
    ------
    PayloadError
        An unknown ``behavior``, or no such file.
    """
    if behavior not in ("random", "bts"):  # (it read as a missing file under the root)
        raise PayloadError(f"unknown Open Bandit Dataset sample {behavior!r}",
                           hint="obd:random or obd:bts")
    base = Path(root) if root is not None else _obd_root()
    path = base / behavior / f"{campaign}.csv"
    if not path.exists() and path.with_suffix(".csv.gz").exists():
        path = path.with_suffix(".csv.gz")
    if not path.exists():
        raise PayloadError(f"{path}: Open Bandit Dataset file not found",
                           hint="pass --obd-root pointing at the folder with random/ and bts/")
    table = _read_table(path)
    n = len(table["item_id"])
    items = sorted({int(x) for x in table["item_id"]})
    actions = tuple(str(i) for i in items)
    index = {i: k for k, i in enumerate(items)}
    user_cols = sorted(c for c in table if c.startswith("user_feature_"))
    affinity = sorted((c for c in table if c.startswith("user-item_affinity_")),
                      key=lambda c: int(c.rsplit("_", 1)[1]))
    names: list[str] = []
    blocks: list[FloatArray] = []
    for col in user_cols:
        values = sorted(set(table[col]))
        onehot = np.zeros((n, len(values)))
        lookup = {v: k for k, v in enumerate(values)}
        for i, v in enumerate(table[col]):
            onehot[i, lookup[v]] = 1.0
        blocks.append(onehot)
        names += [f"{col}={v[:8]}" for v in values]
    blocks.append(np.array([[float(table[c][i]) for c in affinity] for i in range(n)]))
    names += affinity
    return LoggedBandit(
        actions=actions,
        action=np.array([index[int(x)] for x in table["item_id"]], dtype=np.intp),
        reward=np.array([float(x) for x in table["click"]]),
        pscore=np.array([float(x) for x in table["propensity_score"]]),
        context=np.hstack(blocks), context_names=tuple(names),
        position=np.array([int(x) - 1 for x in table["position"]], dtype=np.intp),
        timestamp=_timestamps(table["timestamp"]),
        source=f"Open Bandit Dataset sample: {behavior}/{campaign}",
    )


def _obd_root() -> Path:
    """Where the Open Bandit Dataset sample is when no ``root`` is given (the CLI passes
    ``BANDITBOT_OBD_ROOT`` from the settings)."""
    here = Path.cwd()
    repo = Path(__file__).resolve().parents[3]
    for candidate in (here / "data" / "obd", here.parent / "shared" / "data" / "obd",
                      repo.parent / "shared" / "data" / "obd", repo / "tests" / "data" / "obd"):
        if candidate.exists():
            return candidate
    return here / "data" / "obd"


def dumps(log: LoggedBandit) -> str:
    """A short JSON summary of a log (for CLI output)."""
    return json.dumps({"source": log.source, "rounds": log.n_rounds,
                       "actions": log.n_actions,
                       "context_dim": 0 if log.context is None else int(log.context.shape[1]),
                       "mean_reward": float(log.reward.mean())})

