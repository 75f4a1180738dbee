"""Offline: ``evaluate`` other policies on a log, ``learn`` (warm-start) from one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ._app import ConfigOpt, StoreOpt, app, console, service, settings, writable_file

if TYPE_CHECKING:
    from ..offline import ColumnMap, LoggedBandit
    from ..policies import Policy


@app.command()
def evaluate(
    log: Annotated[str, typer.Argument(help="Log: a .csv/.parquet file, obd:random, obd:bts, "
                                       "or store:EXPERIMENT (the decision log in --store).")],
    policy: Annotated[list[str] | None, typer.Option(
        "--policy", "-p", help="Evaluation policy NAME[:k=v,…], 'uniform', or "
                               "'behavior:LOG' (another log's logging policy); "
                               "repeatable.")] = None,
    estimator: Annotated[list[str] | None, typer.Option(
        "--estimator", "-e", help="replay, ips, snips, dm, dr, sndr, switch-dr "
                                  "(repeatable; default: ips, snips, dm, dr).")] = None,
    train_share: Annotated[float, typer.Option(
        min=0.0, max=0.95, help="Share of rounds (oldest first) the policies learn from "
                                "before they are evaluated on the rest.")] = 0.5,
    online: Annotated[bool, typer.Option(help="Also replay each policy online.")] = False,
    n_bootstrap: Annotated[int, typer.Option(min=10, max=100_000)] = 500,
    seed: Annotated[int, typer.Option()] = 0,
    png: Annotated[Path | None, typer.Option(help="Chart of the intervals.")] = None,
    action_col: Annotated[str, typer.Option(help="Column with the action.")] = "arm",
    reward_col: Annotated[str, typer.Option(help="Column with the reward.")] = "reward",
    pscore_col: Annotated[str, typer.Option(help="Column with the propensity.")] =
    "propensity",
    context_col: Annotated[list[str] | None, typer.Option(
        help="Context columns (default: every ctx_* column).")] = None,
    obd_root: Annotated[Path | None, typer.Option(help="Open Bandit Dataset folder.")] =
    None,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Estimate what other policies would have earned on a log (off-policy evaluation)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn
    from rich.table import Table

    from ..offline import ColumnMap
    from ..offline import evaluate as run_eval

    if png is not None:
        writable_file(png, "--png")
    cmap = ColumnMap(action=action_col, reward=reward_col, pscore=pscore_col,
                     context=tuple(context_col) if context_col else None)
    data = _load_log(log, cmap, obd_root, config, store)
    specs = policy or ["uniform", "thompson", "epsilon-greedy"]
    evaluation: list[Policy | str] = []
    behavior = {}
    from ..policies import parse_policy

    for spec in specs:
        if spec == "uniform":
            evaluation.append("uniform")
        elif spec.startswith("behavior:"):
            other = spec.removeprefix("behavior:")
            behavior[other] = _load_log(other, cmap, obd_root, config, store)
        else:
            evaluation.append(parse_policy(spec))
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=console,
                  transient=True) as bar:
        task = bar.add_task("evaluating", total=None)
        rows = run_eval(data, evaluation, estimators=tuple(estimator or
                                                           ("ips", "snips", "dm", "dr")),
                        train_share=train_share, n_bootstrap=n_bootstrap, seed=seed,
                        online=online, behavior=behavior,
                        progress=lambda label: bar.update(task,
                                                          description=f"evaluating {label}"))
    table = Table(title=f"{data.source}: {data.n_rounds} rounds, {data.n_actions} actions, "
                        f"logged mean reward {data.reward.mean():.5g}",
                  title_justify="left")
    for col in ("policy", "estimator", "estimate", "95% interval", "ESS", "warnings"):
        table.add_column(col, justify="right" if col in ("estimate", "ESS") else "left")
    for row in rows:
        e = row.estimate
        table.add_row(row.policy, e.estimator, f"{e.value:.5g}",
                      f"{e.low:.5g} – {e.high:.5g}", f"{e.ess:,.0f}",
                      "; ".join(e.warnings)[:80])
    console.print(table)
    if png is not None:
        from .._plotting import pyplot

        plt = pyplot()
        fig, ax = plt.subplots(figsize=(8, 0.35 * len(rows) + 1.5))
        labels = [f"{r.policy} · {r.estimate.estimator}" for r in rows]
        values = [r.estimate.value for r in rows]
        lows = [r.estimate.value - r.estimate.low for r in rows]
        highs = [r.estimate.high - r.estimate.value for r in rows]
        y = list(range(len(rows)))[::-1]
        ax.errorbar(values, y, xerr=[lows, highs], fmt="o", capsize=3)
        ax.axvline(float(data.reward.mean()), color="grey", linestyle=":",
                   label="logged mean reward")
        ax.set_yticks(y, labels, fontsize=7)
        ax.set_xlabel("estimated value (95% interval)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(png, dpi=110)
        plt.close(fig)
        console.print(f"chart: {png}")

@app.command()
def learn(
    log: Annotated[str, typer.Argument(help="Log (as for evaluate).")],
    experiment: Annotated[str, typer.Option("--experiment", "-x",
                                            help="Experiment to start from history.")],
    as_prior: Annotated[bool, typer.Option(help="Set priors instead of statistics.")] =
    False,
    weight: Annotated[float, typer.Option(help="Weight of the history (e.g. 0.2 = count "
                                               "each round as a fifth).")] = 1.0,
    no_ips: Annotated[bool, typer.Option(help="Do not importance-weight the history.")] =
    False,
    action_col: Annotated[str, typer.Option()] = "arm",
    reward_col: Annotated[str, typer.Option()] = "reward",
    pscore_col: Annotated[str, typer.Option()] = "propensity",
    obd_root: Annotated[Path | None, typer.Option()] = None,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Warm-start an experiment from a log (IPS-weighted statistics or priors)."""
    from ..offline import ColumnMap, warm_start

    cmap = ColumnMap(action=action_col, reward=reward_col, pscore=pscore_col, context=())
    data = _load_log(log, cmap, obd_root, config, store)
    svc = service(config, store)
    result = warm_start(svc, experiment, data, as_prior=as_prior, weight=weight,
                        actor="cli", ips=not no_ips)
    for arm, (n, mean) in result.per_arm.items():
        console.print(f"{arm:<16} {n:>7} rounds  mean {mean:.4g}")
    if result.rounds_skipped:
        console.print(f"[yellow]{result.rounds_skipped} rounds skipped[/] (their action is "
                      "not an arm of the experiment)")
    console.print(result.note)


def _load_log(spec: str, cmap: ColumnMap, obd_root: Path | None, config: str | None,
              store: str | None) -> LoggedBandit:
    """A log from a path, ``obd:random|bts`` or ``store:EXPERIMENT``."""
    from ..offline import from_records, load_obd, read_log

    if spec.startswith("obd:"):
        return load_obd(spec.removeprefix("obd:"), root=obd_root or settings().obd_root)
    if spec.startswith("store:"):
        svc = service(config, store, read_only=True)
        exp = spec.removeprefix("store:")
        return from_records(svc.decisions(exp, generation=svc.current_generation(exp)))
    return read_log(spec, cmap)
