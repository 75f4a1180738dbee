"""Reading commands: ``experiments``, ``report``, ``export``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from .._errors import PayloadError
from ._app import ConfigOpt, ExpArg, StoreOpt, app, console, service, settings, writable_file

__all__ = ["render_report"]


@app.command()
def experiments(config: ConfigOpt = None) -> None:
    """List the configured experiments (and validate the experiments file)."""
    from .._config import default_config_path, load_config

    path = Path(config) if config else (settings().config_path or default_config_path())
    cfg = load_config(path)
    table = Table(title=f"{path} — valid", title_justify="left")
    for col in ("experiment", "command", "arms", "policy", "reward", "mode", "scope"):
        table.add_column(col)
    for e in cfg.experiments:
        table.add_row(e.id, f"/{e.telegram.command_for(e.id)}",
                      ", ".join(a.id for a in e.arms), e.policy.build().describe(),
                      e.reward.type, e.reward_mode, e.scope)
    console.print(table)


@app.command()
def report(
    experiment: Annotated[str | None, typer.Argument(help="Experiment id (default: all).")] = None,
    png: Annotated[Path | None, typer.Option(help="Write a chart to this PNG file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    scope: Annotated[str | None, typer.Option(
        help="One bandit of an experiment with scope chat or subject: chat:ID or subject:ID "
             "(default: all of them summed).")] = None,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Show what an experiment has learned (pulls, rewards, mean, interval, P(best))."""
    if png is not None:
        writable_file(png, "--png")
    svc = service(config, store, read_only=True)
    ids = [experiment] if experiment else [e.id for e in svc.config.experiments]
    if png is not None and len(ids) != 1:
        raise PayloadError("--png needs one experiment", hint="banditbot report EXP --png f.png")
    if scope is not None and len(ids) != 1:
        raise PayloadError("--scope needs one experiment",
                           hint="banditbot report EXP --scope chat:ID")
    for exp_id in ids:
        rep = svc.report(exp_id, scope=scope)
        if as_json:
            console.print_json(json.dumps(rep.to_dict()))
        else:
            console.print(render_report(rep))
        if png is not None:
            from .._charts import report_png

            report_png(rep, svc.timeline(exp_id, scope=scope), png)
            console.print(f"chart written to {png}")


def render_report(rep: Any) -> Table:
    """A rich table of a :class:`~banditbot.Report`."""
    table = Table(title=rep.title, title_justify="left",
                  caption=f"{rep.total_pulls} decisions · {rep.total_rewards:g} rewards · "
                          f"{rep.interval_kind}" + (f"\n{rep.verdict}" if rep.verdict else ""),
                  caption_justify="left")
    table.add_column("arm")
    for col in ("pulls", "rewards", "mean", "95% interval", "P(best)", "allocation"):
        table.add_column(col, justify="right")
    for a in rep.arms:
        table.add_row(
            a.arm + ("" if a.active else " [dim](retired)[/]"), str(a.pulls), f"{a.rewards:g}",
            "–" if a.mean is None else f"{a.mean:.3f}",
            "–" if a.low is None or a.high is None else f"{a.low:.3f}–{a.high:.3f}",
            f"{a.p_best:.1%}", f"{a.allocation:.1%}")
    return table


@app.command()
def export(
    experiment: ExpArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output .csv or .parquet file.")],
    fmt: Annotated[str | None, typer.Option("--format", help="csv or parquet (default: "
                                            "from the file suffix).")] = None,
    all_generations: Annotated[bool, typer.Option(help="Include decisions from before "
                                                  "resets.")] = False,
    raw_subjects: Annotated[bool, typer.Option(help="Keep raw subject ids (default: "
                                               "pseudonyms).")] = False,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Export the decision log (with propensities and rewards) to CSV or Parquet."""
    from ..offline import export_decisions, store_pseudonyms

    writable_file(out, "--out")
    svc = service(config, store, read_only=True)
    generation = None if all_generations else svc.current_generation(experiment)
    records = svc.decisions(experiment, generation=generation)
    n = export_decisions(records, out, fmt=fmt, raw_subjects=raw_subjects,
                         pseudonyms=None if raw_subjects else store_pseudonyms(svc.store))
    console.print(f"{n} decisions written to {out}")
