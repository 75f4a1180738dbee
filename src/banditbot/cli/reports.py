"""Reading commands: ``experiments``, ``report``, ``export``."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .._errors import PayloadError
from ._app import (
    ConfigOpt,
    ExpArg,
    StoreOpt,
    app,
    console,
    err_console,
    png_file,
    replaced_text,
    service,
    settings,
    writable_file,
)
from ._output import print_json, print_table

if TYPE_CHECKING:
    from rich.table import Table

    from .._config import FeatureSpec

__all__ = ["features_text", "render_report", "render_segments"]


@app.command()
def experiments(
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print one JSON document (an array of experiments) instead of a "
                       "table.")] = False,
    config: ConfigOpt = None,
) -> None:
    """List the configured experiments (and validate the experiments file)."""
    from .._config import default_config_path, load_config

    path = Path(config) if config else (settings().config_path or default_config_path())
    cfg = load_config(path)
    # no command for an experiment without feedback buttons: the bot runs none (the table
    # showed one, which a trial expected to work in Telegram)
    rows: list[dict[str, Any]] = [{"id": e.id, "command": e.telegram.command_for(e.id)
                                   if e.reward.buttons else None,
             "description": e.description, "arms": [a.id for a in e.arms],
             "policy": e.policy.build().describe(), "reward": e.reward.type,
             "reward_mode": e.reward_mode, "scope": e.scope, "propensity": e.propensity,
             **({"features": [_feature_fields(f) for f in e.features]} if e.features else {})}
            for e in cfg.experiments]
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    # the context features under the table, one line per experiment that has them (a
    # column of them squeezed every other column out of a terminal's width)
    features = [f"{e.id} features: {features_text(e.features)}" for e in cfg.experiments
                if e.features]
    table = Table(title=f"{path} — valid", title_justify="left",
                  caption="\n".join([*features,
                                     "as the file configures them; an admin's policy switch "
                                     "or added arms live in the store: banditbot report EXP "
                                     "shows what runs now"]),
                  caption_justify="left")
    for col in ("experiment", "command", "arms", "policy", "reward", "mode", "scope"):
        table.add_column(col, no_wrap=col in ("experiment", "command", "policy"))
    for e, r in zip(cfg.experiments, rows, strict=True):
        policy = str(r["policy"]) + ("\npropensity: deferred" if e.propensity == "deferred"
                                     else "")
        table.add_row(e.id, f"/{r['command']}" if r["command"] else "– (HTTP API)",
                      ", ".join(a.id for a in e.arms), policy,
                      e.reward.type, e.reward_mode, e.scope)
    print_table(table, console)


#: A categorical feature's values listed in full up to this many (then the first few and the
#: count: the whole list is in ``GET /v1/experiments/{id}/config`` and the file).
_VALUES_SHOWN = 6


def features_text(features: Sequence[FeatureSpec]) -> str:
    """An experiment's context features in one line, as the dashboard's settings show them:
    ``hour (cyclic, 24), language_code (en, de, es), past_reward_rate (numeric)``; a
    numeric feature's center and scale when they are not 0 and 1; ``""`` for none.

    Examples
    --------
    >>> from banditbot import FeatureSpec
    >>> features_text([FeatureSpec(name="hour", type="cyclic"),
    ...                FeatureSpec(name="lang", type="categorical", values=("en", "de")),
    ...                FeatureSpec(name="rate", center=0.5)])
    'hour (cyclic, 24), lang (en, de), rate (numeric, center 0.5)'
    """
    return ", ".join(f"{f.name} ({_feature_kind(f)})" for f in features)


def _feature_kind(f: FeatureSpec) -> str:
    if f.type == "categorical":
        values = list(f.values)
        if len(values) > _VALUES_SHOWN:
            values = [*values[:_VALUES_SHOWN - 1], f"… {len(f.values)} values"]
        return ", ".join(values)
    if f.type == "cyclic":
        return f"cyclic, {f.period:g}"
    return ", ".join(["numeric", *([f"center {f.center:g}"] if f.center else []),
                      *([f"scale {f.scale:g}"] if f.scale != 1 else [])])


def _feature_fields(f: FeatureSpec) -> dict[str, Any]:
    """A feature in ``experiments --json``: its name, type and the fields of that type."""
    from .._config import config_document

    kept = {"categorical": ("values",), "cyclic": ("period",),
            "numeric": ("center", "scale")}[f.type]
    return {"name": f.name, "type": f.type,
            **{k: v for k, v in config_document(f).items() if k in kept}}


@app.command()
def report(
    experiment: Annotated[str | None, typer.Argument(help="Experiment id (default: all).")] = None,
    png: Annotated[Path | None, typer.Option(help="Write a chart to this PNG file.")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print one JSON document instead of a table: the report of "
                       "EXPERIMENT, or an array of every experiment's report.")] = False,
    scope: Annotated[str | None, typer.Option(
        help="One bandit of an experiment with scope chat or subject: chat:ID or subject:ID "
             "(default: all of them summed).")] = None,
    by: Annotated[str | None, typer.Option(
        "--by", metavar="FEATURE",
        help="Split EXPERIMENT by a categorical (or true/false) context feature: each arm's "
             "estimate and intervals per value, on that value's decisions alone.")] = None,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Show what an experiment has learned (decisions, rewards, estimate, interval, P(best)).
    """
    if by is not None:  # before the store is opened: what the command cannot do is said first
        if experiment is None:
            raise PayloadError("--by needs one experiment",
                               hint="banditbot report EXP --by FEATURE")
        if png is not None:
            raise PayloadError("--by has no chart", hint="leave --png out, or --by out")
    existed = png is not None and png_file(png).expanduser().is_file()  # replaced: said
    svc = service(config, store, read_only=True)
    if by is not None and experiment is not None:
        segmented = svc.segment_report(experiment, by=by, scope=scope)
        if as_json:
            print_json(segmented.to_dict())
        else:
            print_table(render_segments(segmented), console, keys=2)
        return
    ids = [experiment] if experiment else [e.id for e in svc.config.experiments]
    if png is not None and len(ids) != 1:
        raise PayloadError("--png needs one experiment", hint="banditbot report EXP --png f.png")
    if scope is not None and len(ids) != 1:
        raise PayloadError("--scope needs one experiment",
                           hint="banditbot report EXP --scope chat:ID")
    reports = [svc.report(exp_id, scope=scope) for exp_id in ids]
    if as_json:
        documents = [rep.to_dict() for rep in reports]
        print_json(documents[0] if experiment else documents)
    else:
        for rep in reports:
            print_table(render_report(rep), console)
    if png is not None:
        from .._charts import report_png

        rep = reports[0]
        report_png(rep, svc.report_series(rep.experiment, scope=scope), png)
        (err_console if as_json else console).print(
            f"chart written to {png}{replaced_text(png, existed)}", markup=False,
            highlight=False, soft_wrap=True)


def render_report(rep: Any) -> Table:
    """A rich table of a :class:`~banditbot.Report`: status first, then one line per arm
    (the estimate the report leads with, its interval at this look, the interval valid at
    every look, P(best), the allocation, and against the control when there is one)."""
    from rich.markup import escape
    from rich.table import Table

    from .._report import chance, mean_text, span_text
    from .._text import count_text

    priors = rep.shows_posterior_mean  # the posterior the policy uses, beside
    lines = [rep.status_line]
    if rep.burn_in is not None:
        lines.append(rep.burn_in_text)
    if rep.srm is not None and rep.srm.flagged:
        lines.append(f"[bold red]⚠ {escape(rep.srm.describe())}[/]")
    elif rep.srm is not None:  # passed: said, so that it does not read as never run
        lines.append(escape(rep.srm.describe()))
    elif rep.update == "every decision" and rep.total_pulls:
        lines.append("sample ratio: not checked (a reward without bounds: the test reads "
                     "the report's inference, which needs them)" if "unbounded" in rep.notes
                     else "sample ratio: not checked yet (too few decisions of the policy, "
                     "or a reward without bounds: the test reads the report's inference)")
    lines.append(f"{count_text(rep.total_pulls, 'decision')} · "
                 f"{escape(rep.answered_text)} · estimate: {rep.estimate_kind}")
    if rep.anytime_kind:
        lines.append(f"every look: {rep.anytime_kind}")
    kinds = {a.uplift.kind for a in rep.arms if a.uplift is not None}
    if rep.control is not None and kinds:
        paired = any(a.uplift is not None and a.uplift.decisions is not None
                     for a in rep.arms)
        lines.append(f"vs {rep.control}: difference in the estimate"
                     f"{' over the decisions that offered both' if paired else ''} "
                     "(relative change), "
                     f"{' / '.join(sorted(kinds))}")
    if rep.periods:
        lines.append(f"allocation updated {rep.update}: {rep.periods} period(s)")
    if rep.verdict:
        lines.append(escape(rep.verdict))
    lines.extend(escape(line) for line in rep.footnotes())
    if priors:  # (the column's "–": nothing to show yet)
        lines.append("posterior mean: the mean of the posterior behind P(best), the prior and "
                     "the answers imported or added by hand in it (– for an arm with neither "
                     "answers nor a prior)")
    # the answer in plain words first, then the policy's name and settings
    table = Table(title=f"[bold]{escape(rep.experiment)}: {escape(rep.headline)}[/]\n"
                        f"{rep.title}", title_justify="left", caption="\n".join(lines),
                  caption_justify="left")
    table.add_column("arm", no_wrap=True)
    columns = ["decisions", "answered", "reward sum", "estimate", "interval",  # the estimate
               *(["every look"] if rep.anytime_kind else []),
               *(["posterior mean"] if priors else []), "P(best)", "allocation"]
    if rep.control is not None:
        columns += [f"vs {rep.control}", "P(beat control)"]
    for col in columns:
        table.add_column(col, justify="right", no_wrap=True)
    for a in rep.arms:
        cells = [
            a.arm + ("" if a.active else " [dim](retired)[/]"), f"{a.pulls:,}",
            f"{a.answered:,.0f}", _amount(a.reward_sum),
            "–" if a.estimate is None else f"{a.estimate:.3f}",
            span_text(a.estimate_low, a.estimate_high, digits=3),
            *([span_text(a.anytime_low, a.anytime_high, digits=3)] if rep.anytime_kind else []),
            *([mean_text(a.posterior_mean)] if priors else []),
            rep.best_text(a, 1), f"{a.allocation:.1%}"]
        if rep.control is not None:
            cells.append("control" if a.arm == rep.control else "–" if a.uplift is None else
                         _uplift(a.uplift))
            cells.append("" if a.chance_to_beat_control is None else
                         chance(a.chance_to_beat_control, 0, exact=False))
        table.add_row(*cells)
    return table


def render_segments(rep: Any) -> Table:
    """A rich table of a :class:`~banditbot.SegmentReport`: one block of rows per segment
    (its decisions and answers, then each arm's decisions, answers, estimate, interval at
    this look and interval at every look), with who leads per segment and what the numbers
    are of under it."""
    from rich.markup import escape
    from rich.table import Table

    from .._report import span_text

    scope = f" · {rep.scope}" if rep.scope else ""
    lines = [f"estimate: {rep.interval_kind}", f"every look: {rep.anytime_kind}",
             f"of: {rep.estimand}", f"leader: {rep.leader_rule}",
             *(f"{rep.by}={s.label}: {s.verdict}" for s in rep.segments),
             *rep.notes]
    table = Table(title=f"{rep.experiment}{scope} · by {rep.by} ({rep.kind})",
                  title_justify="left", caption="\n".join(escape(line) for line in lines),
                  caption_justify="left")
    table.add_column("segment", no_wrap=True)
    table.add_column("arm", no_wrap=True)
    for col in ("decisions", "answered", "estimate", "interval", "every look"):
        table.add_column(col, justify="right", no_wrap=True)
    for s in rep.segments:
        table.add_row(f"{escape(rep.by)}={escape(s.label)}", "[dim]all arms[/]",
                      f"{s.decisions:,}", f"{s.answered:,}", "", "", "", end_section=False)
        for j, a in enumerate(s.arms):
            table.add_row("", escape(a.arm) + ("" if a.active else " [dim](retired)[/]"),
                          f"{a.decisions:,}", f"{a.answered:,}",
                          "–" if a.estimate is None else f"{a.estimate:.3f}",
                          span_text(a.low, a.high, digits=3),
                          span_text(a.anytime_low, a.anytime_high, digits=3),
                          end_section=j == len(s.arms) - 1)
    return table


def _amount(x: float) -> str:
    """``9,172`` for a whole number, ``3,468.30`` otherwise (continuous rewards, weighted
    history: two decimals, as the results page; four read as false precision)."""
    return f"{int(x):,}" if x == int(x) and abs(x) < 1e15 else f"{x:,.2f}"


def _uplift(u: Any) -> str:
    """``+0.128 (+40%) [-0.130, +0.412]``: the difference, the relative change, the
    difference's interval."""
    relative = "" if u.relative is None else f" ({u.relative:+.0%})"
    return f"{u.diff:+.3f}{relative} [{u.low:+.3f}, {u.high:+.3f}]"


@app.command()
def export(
    experiment: ExpArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output .csv, .csv.gz or .parquet "
                                      "file, refused if it exists (--force replaces it); - "
                                      "writes CSV to stdout.")],
    fmt: Annotated[str | None, typer.Option("--format", help="csv or parquet (default: "
                                            "from the file suffix).")] = None,
    all_generations: Annotated[bool, typer.Option(help="Include decisions from before "
                                                  "resets.")] = False,
    raw_subjects: Annotated[bool, typer.Option(help="Keep raw subject ids (default: "
                                               "pseudonyms).")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace --out if it exists "
                                        "(default: refuse).")] = False,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Export the decision log (with propensities and rewards) to CSV or Parquet.

    An existing file is never replaced without --force.
    """
    from .._text import counted_kinds, rows_text
    from ..offline import export_decisions, store_pseudonyms, write_log_csv

    if fmt is not None and fmt.lower() not in ("csv", "parquet"):  # before what it contradicts
        raise PayloadError(f"unknown --format {fmt!r}",
                           hint="csv or parquet; or leave it out, and the file's suffix says")
    to_stdout = str(out) == "-"
    if to_stdout and fmt is not None and fmt.lower() != "csv":
        raise PayloadError(f"--out - writes CSV, not {fmt}", hint="give a file name for Parquet")
    if not to_stdout:
        writable_file(out, "--out")
        if out.expanduser().is_file() and not force:  # (a device or a pipe is written to)
            raise PayloadError(f"--out {out} exists; export does not replace a file unless "
                               "told to", hint="pass --force to replace it, or choose another "
                                               "--out")
    suffix = out.suffix.lower().lstrip(".")
    if fmt is not None and suffix in ("csv", "parquet") and fmt.lower() != suffix:
        raise PayloadError(f"--format {fmt} but {out.name} says {suffix}",
                           hint=f"name the file {out.with_suffix('.' + fmt.lower()).name}, "
                                "or leave --format out")
    svc = service(config, store, read_only=True)
    generation = None if all_generations else svc.current_generation(experiment)
    kinds: Counter[str] = Counter()
    records = counted_kinds(svc.decisions(experiment, generation=generation), kinds)
    pseudonyms = None if raw_subjects else store_pseudonyms(svc.store)
    if to_stdout:  # the data on stdout, the count on stderr
        n = write_log_csv(records, sys.stdout, raw_subjects=raw_subjects, pseudonyms=pseudonyms)
        err_console.print(f"{rows_text(n, kinds)} written to stdout", markup=False,
                          highlight=False)
        _hint_empty_generation(n, generation, experiment)
        return
    n = export_decisions(records, out, fmt=fmt, raw_subjects=raw_subjects,
                         pseudonyms=pseudonyms)
    console.print(f"{rows_text(n, kinds)} written to {out}", markup=False,
                  highlight=False, soft_wrap=True)
    _hint_empty_generation(n, generation, experiment)


def _hint_empty_generation(n: int, generation: int | None, experiment: str) -> None:
    """After a reset an export of the current generation can be empty while the earlier
    decisions are still in the log: say how to get them."""
    if n == 0 and generation:
        err_console.print(f"generation {generation} has no decisions yet; the log before "
                          f"the reset: banditbot export {experiment} --all-generations",
                          markup=False, highlight=False, soft_wrap=True)
