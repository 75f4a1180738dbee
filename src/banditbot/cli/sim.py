"""Simulated users and environments: ``demo`` and ``simulate``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .._errors import PayloadError, require
from ._app import ConfigOpt, app, console, err_console, settings
from ._output import print_table, progress


@app.command()
def simulate(
    env: Annotated[str | None, typer.Option(
        "--env", help="Environment: bernoulli:0.1,0.12,0.15 · gaussian:0,0.5,1 · "
                      "rating:3,3.5,4 · abrupt:0.2,0.1/0.1,0.2[@step] · "
                      "gradual:0.2,0.1/0.1,0.2 · linear:K,d · logistic:K,d")] = None,
    experiment: Annotated[str | None, typer.Option(
        help="Replay a configured experiment with assumed true rates (--rate).")] = None,
    rate: Annotated[list[str] | None, typer.Option(
        help="Assumed truth EXP.ARM=VALUE for --experiment (repeatable).")] = None,
    policy: Annotated[list[str] | None, typer.Option(
        "--policy", "-p", help="Policy NAME or NAME:key=value,key=value (repeatable; "
                               "default: thompson, kl-ucb, ucb1, epsilon-greedy; for "
                               "unbounded rewards gaussian-thompson, ucb1, epsilon-greedy; "
                               "after the experiment's own policy with --experiment).")] = None,
    runs: Annotated[int, typer.Option(min=1, max=1_000_000,
                                      help="Independent runs per policy.")] = 200,
    horizon: Annotated[int, typer.Option(min=1, max=10_000_000,
                                         help="Decisions per run.")] = 10_000,
    seed: Annotated[int, typer.Option(
        min=0, help="Random seed: the same seed, --workers and engine give the same result "
                    "(each process draws its own block of runs).")] = 0,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Processes.")] = 2,
    compiled: Annotated[bool | None, typer.Option(
        "--compiled/--numpy", help="Run Thompson sampling in bernoulli:… on numba's compiled "
                                   "kernel (pip install 'banditbot[fast]'; about 2x faster, "
                                   "another random stream) or on numpy. Default: compiled "
                                   "when numba is installed and runs × horizon >= 5 "
                                   "million.")] = None,
    out: Annotated[Path, typer.Option(help="Folder for simulation.csv and .png.")] = Path("."),
    config: ConfigOpt = None,
) -> None:
    """Simulate policies in a known environment: regret with 95% bands (PNG + CSV).

    Progress goes to stderr: a bar with the time left in a terminal, a line every 10 s
    otherwise.
    """
    from rich.markup import escape
    from rich.table import Table

    from ..policies import parse_policy
    from ..sim import parse_env, plot_regret, write_csv
    from ..sim import simulate as run_sim

    if (env is None) == (experiment is None):
        raise PayloadError("give either --env or --experiment",
                           hint="e.g. --env bernoulli:0.1,0.12,0.15")
    if experiment is not None:
        from .._config import default_config_path, load_config
        from .._demo import parse_rates
        from ..sim import experiment_env

        cfg = load_config(Path(config) if config else
                          (settings().config_path or default_config_path()))
        truth = parse_rates(rate or [], cfg, {experiment: {}})
        environment = experiment_env(cfg.experiment(experiment), truth[experiment])
    else:
        environment = parse_env(str(env), horizon=horizon)
    unbounded = environment.bounds is None
    specs = policy or (["lin-thompson", "linucb", "thompson"] if environment.context_dim
                       else ["thompson", "kl-ucb", "ucb1", "epsilon-greedy"])
    policies = [parse_policy(spec) for spec in specs]
    if unbounded and not policy:  # the defaults that fit rewards without bounds
        policies = [p for p in policies if not p.needs_bounded]
        if not environment.context_dim:
            policies.insert(0, parse_policy("gaussian-thompson"))
    unfit = [p.name for p in policies if unbounded and p.needs_bounded]
    if unfit:  # before any work: not a worker's traceback after the others ran
        raise PayloadError(
            f"{', '.join(unfit)} {'needs' if len(unfit) == 1 else 'need'} rewards with known "
            f"bounds; {environment.describe()} pays unbounded rewards",
            hint="try gaussian-thompson, ucb1, epsilon-greedy (or linucb, lin-thompson with "
                 "a context)")
    blind = [p.name for p in policies if "linear" in p.needs_extra and
             not environment.context_dim]
    if blind:
        raise PayloadError(f"{', '.join(blind)} {'decides' if len(blind) == 1 else 'decide'} "
                           f"from a context; {environment.describe()} has none",
                           hint="simulate in linear:K,d or logistic:K,d")
    if experiment is not None and not policy:  # the experiment's own policy, first
        own = cfg.experiment(experiment).policy.build()
        policies = [own, *(p for p in policies if p.describe() != own.describe())]
    if compiled:  # before any work, not after the policies ahead of the first with a kernel
        require("numba", "fast")
    results = []
    with progress("simulate", len(policies) * horizon, f"steps (× {runs:,} runs)") as bar:
        for i, pol in enumerate(policies):
            bar.update(i * horizon, pol.describe())

            def advance(steps: int, before: int = i * horizon) -> None:
                bar.update(before + steps)

            results.append(run_sim(pol, environment, runs=runs, horizon=horizon, seed=seed,
                                   workers=workers, progress=advance, compiled=compiled))
    out.mkdir(parents=True, exist_ok=True)
    csv_path = write_csv(results, out / "simulation.csv")
    table = Table(title=f"{environment.describe()} · {runs} runs × {horizon} steps",
                  title_justify="left")
    for col in ("policy", "regret (mean ± 95%)", "regret / Lai–Robbins asymptote",
                "decisions/s"):  # a policy's name and parameters are never cut
        table.add_column(col, justify="left" if col == "policy" else "right",
                         no_wrap=col == "policy")
    for r in results:
        mean, half = r.final
        ratio = "–" if r.lower_bound is None or r.lower_bound[-1] <= 0 else \
            f"{mean / r.lower_bound[-1]:.2f}"
        table.add_row(r.policy, f"{mean:.1f} ± {half:.1f}", ratio,
                      f"{r.decisions_per_second:,.0f}" +
                      (" (compiled)" if r.engine == "compiled" else ""))
    print_table(table, console)
    if any(r.lower_bound is not None and r.lower_bound[-1] > 0
           and r.final[0] < r.lower_bound[-1] for r in results):
        console.print("(below 1: the Lai–Robbins asymptote is log t times a constant, a "
                      "limit as t → ∞; a finite run may sit below it)", markup=False,
                      highlight=False, soft_wrap=True)
    if compiled:
        numpy_only = [r.policy for r in results if r.engine != "compiled"]
        if numpy_only:
            err_console.print(f"note: no compiled kernel for {', '.join(numpy_only)} in "
                              f"{environment.describe()} (it runs thompson in bernoulli:…); "
                              "ran on numpy", markup=False, highlight=False, soft_wrap=True)
    try:
        png = plot_regret(results, out / "simulation.png")
        console.print(f"chart: {png}", markup=False, highlight=False, soft_wrap=True)
    except ImportError as exc:  # the plots extra is missing: say how to get it
        console.print(f"[yellow]no chart:[/] {escape(str(exc))}", highlight=False)
    console.print(f"data:  {csv_path}", markup=False, highlight=False, soft_wrap=True)


@app.command()
def demo(
    steps: Annotated[int, typer.Option(min=1, max=10_000_000,
                                       help="Simulated user visits per experiment.")] = 3000,
    rate: Annotated[list[str] | None, typer.Option(
        help="True preference EXP.ARM=VALUE (rate for 👍/👎, mean for ratings); repeatable.")
    ] = None,
    response_rate: Annotated[float, typer.Option(min=0.0, max=1.0,
                                                 help="Share of users who answer.")] = 0.8,
    seed: Annotated[int, typer.Option(min=0, help="Random seed.")] = 7,
    out: Annotated[Path, typer.Option(help="Folder for the report PNGs.")] = Path("."),
    keep: Annotated[bool, typer.Option(help="Continue the previous demo instead of starting "
                                       "a new generation.")] = False,
    live: Annotated[bool, typer.Option(help="Show the live table.")] = True,
    config: ConfigOpt = None,
    store: Annotated[str | None, typer.Option(
        "--store", "-s", envvar="BANDITBOT_DEMO_STORE",
        help="Store URL (default: sqlite:///banditbot-demo.db).")] = None,
) -> None:
    """Watch bandits learn from simulated users, then get the report charts (no token).

    Simulated users with known preferences talk to the configured experiments through the
    same service and store a real bot uses; a live table shows the statistics converging.
    """
    from contextlib import nullcontext

    from .._config import default_config_path, load_config
    from .._demo import prepare_demo, run_demo

    cfg = load_config(Path(config) if config else
                      (settings().config_path or default_config_path()))
    # the rates are checked against the arms the store runs (an admin may have added or
    # retired some): refused before any work is announced or anything written
    setup = prepare_demo(config=cfg, store=store or "sqlite:///banditbot-demo.db",
                         rates=rate or [], seed=seed)

    # without a live table on a terminal (piped, or --no-live), progress goes to stderr
    watched = live and console.is_terminal
    with nullcontext() if watched else progress("demo", steps, "visits per experiment") as bar:
        run_demo(setup, steps=steps, response_rate=response_rate, out=out, keep=keep,
                 live=live, console=console, on_step=None if bar is None else bar.update)
