"""Simulated users and environments: ``demo`` and ``simulate``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .._errors import PayloadError, require
from .._text import count_text
from ._app import ConfigOpt, app, console, err_console, settings
from ._output import distinct, print_json, print_table, progress

if TYPE_CHECKING:
    from .._config import ExperimentConfig
    from ..policies import Policy
    from ..sim import Environment, SimulationResult


#: Above this many decisions (policies × runs × steps) simulate warns before it starts.
BIG_JOB = 1_000_000_000
#: Policies the simulator runs 10-60x slower than the others (tens to hundreds of thousands
#: of decisions per second against millions): kl-ucb solves for each arm's index at every
#: step, top-two-thompson redraws until a challenger differs (and integrates when the leader
#: is near certain). A trial's 12-million-decision run took 60 s, unannounced.
SLOW_POLICIES = ("kl-ucb", "top-two-thompson")
#: how much slower, as the help and the note before a long run say it
SLOWER = ("10-60x slower than the other policies (about 50,000-250,000 decisions/s against "
          "millions)")
#: Above this many decisions of a slow policy, simulate says so before it starts.
SLOW_JOB = 1_000_000

_ENV_HELP = (
    "Environment (give one): bernoulli:R,R,… (👍/👎 with rates R in [0, 1]) · "
    "gaussian:M,M,…[;sd=1] (normal rewards around means M, standard deviation sd) · "
    "rating:C,C,…[;sd=1] (1-5 ratings around centers C) · "
    "abrupt:R,R/R,R[@STEP] (Bernoulli rates that switch at step STEP, from 1 to "
    "--horizon minus 1; default half-way) · gradual:R,R/R,R (Bernoulli rates that move from the "
    "first to the second over --horizon) · linear:K[,D][;seed=0] (K arms, D features, "
    "default 5; rewards linear in a random context; seed draws the arms' weights) · "
    "logistic:K[,D][;seed=0] (the same with 👍/👎 rewards). No other option is taken. "
    "Limits: at most 10,000 arms and 100 features, and about 4 GiB of memory for the runs' "
    "statistics and results (a bigger simulation is refused before it starts).")


@app.command()
def simulate(
    env: Annotated[list[str] | None, typer.Option("--env", help=_ENV_HELP)] = None,
    experiment: Annotated[str | None, typer.Option(
        help="Replay a configured experiment's arms and policy with assumed true rates "
             "(--rate); its burn-in, floor, holdout and allocation cadence are not "
             "simulated.")] = None,
    rate: Annotated[list[str] | None, typer.Option(
        help="Assumed truth EXP.ARM=VALUE for --experiment (repeatable).")] = None,
    policy: Annotated[list[str] | None, typer.Option(
        "--policy", "-p", help="Policy NAME or NAME:key=value,key=value (repeatable; "
                               "default: thompson, kl-ucb, ucb1, epsilon-greedy; for "
                               "unbounded rewards gaussian-thompson, ucb1, epsilon-greedy; "
                               "for linear: lin-thompson, linucb; for logistic: lin-thompson, "
                               "linucb, thompson; after the experiment's own policy with "
                               f"--experiment). kl-ucb and top-two-thompson simulate "
                               f"{SLOWER}.")] = None,
    runs: Annotated[int, typer.Option(min=1, max=1_000_000,
                                      help="Independent runs per policy (at least 2 for a "
                                           "95% interval).")] = 200,
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
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print one JSON document (a row per policy: mean regret, its 95% "
                       "interval, …) instead of a table.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Simulate policies in a known environment: regret with 95% bands (PNG + CSV).

    Before it starts, it prints the work in decisions and warns above a billion. Progress goes to
    stderr: a bar with the time left in a terminal; otherwise a line with the time left
    after 3 s, then every 10 s.
    """
    from ..sim import plot_regret, write_csv
    from ..sim import simulate as run_sim

    environment, policies = _setup(env, experiment, rate, policy, horizon, config)
    from ..sim import check_memory

    check_memory(policies, environment, runs=runs, horizon=horizon)
    if compiled:  # before any work, not after the policies ahead of the first with a kernel
        require("numba", "fast")
    decisions = len(policies) * runs * horizon
    err_console.print(f"simulate: {len(policies)} "
                      f"{'policy' if len(policies) == 1 else 'policies'} × "
                      f"{count_text(runs, 'run')} × {count_text(horizon, 'step')} = "
                      f"{count_text(decisions, 'decision')}", markup=False, highlight=False)
    slow = [p.name for p in policies if p.name in SLOW_POLICIES]
    if slow and runs * horizon * len(slow) > SLOW_JOB:  # (a trial waited 60 s, not told why)
        err_console.print(f"note: {' and '.join(slow)} {'runs' if len(slow) == 1 else 'run'} "
                          f"{SLOWER}"
                          + (": most of the time goes there" if len(slow) < len(policies)
                             else ""),
                          markup=False, highlight=False, soft_wrap=True)
    if decisions > BIG_JOB:
        err_console.print(f"warning: over {BIG_JOB:,} decisions can take hours; the time "
                          "left shows after a few seconds (Ctrl+C stops)", markup=False,
                          highlight=False)
    results = []
    total = len(policies) * horizon
    with progress("simulate", total, f"{'step' if total == 1 else 'steps'} "
                  f"× {count_text(runs, 'run')}", first=3.0,
                  # policies run one after another at their own pace (kl-ucb ~30× slower
                  # than Thompson sampling): each one's time left from its own pace
                  parts=(horizon, "policy", "policies")) as bar:
        for i, pol in enumerate(policies):
            bar.update(i * horizon, pol.describe())

            def advance(steps: int, before: int = i * horizon) -> None:
                bar.update(before + steps)

            results.append(run_sim(pol, environment, runs=runs, horizon=horizon, seed=seed,
                                   workers=workers, progress=advance, compiled=compiled))
    out.mkdir(parents=True, exist_ok=True)
    # a run writes over the last one's files in the folder: said (it was silent)
    had = {name for name in ("simulation.csv", "simulation.png") if (out / name).exists()}
    csv_path = write_csv(results, out / "simulation.csv")
    rows = [_summary(r) for r in results]
    notes = _notes(environment, results, runs=runs)
    numpy_only = [r.policy for r in results if r.engine != "compiled"]
    if compiled and numpy_only:
        err_console.print(f"note: no compiled kernel for {', '.join(numpy_only)} in "
                          f"{environment.describe()} (it runs thompson in bernoulli:…); "
                          "ran on numpy", markup=False, highlight=False, soft_wrap=True)
    say = err_console if as_json else console  # stdout stays one document with --json
    try:
        png: Path | None = plot_regret(results, out / "simulation.png")
    except ImportError as exc:  # the plots extra is missing: say how to get it
        png = None
        notes.append(f"no chart: {exc}")
    if as_json:
        print_json({"environment": environment.describe(), "runs": runs, "horizon": horizon,
                    "seed": seed, "workers": workers,
                    "interval": "ci95_low, ci95_high: 95% interval of the mean regret "
                                "(normal, over the runs; null with one run)",
                    "notes": notes, "chart": None if png is None else str(png),
                    "data": str(csv_path), "rows": rows})
    else:
        _print_table(environment.describe(), rows, runs=runs, horizon=horizon)
    for note in notes:
        say.print(note, markup=False, highlight=False, soft_wrap=True)

    def replaced(path: Path) -> str:
        return " (replaced the previous run's; another --out folder keeps both)" \
            if path.name in had else ""

    if png is not None:
        say.print(f"chart: {png}{replaced(png)}", markup=False, highlight=False,
                  soft_wrap=True)
    say.print(f"data:  {csv_path}{replaced(csv_path)}", markup=False, highlight=False,
              soft_wrap=True)


def _setup(env: list[str] | None, experiment: str | None, rate: list[str] | None,
           policy: list[str] | None, horizon: int, config: str | None
           ) -> tuple[Environment, list[Policy]]:
    """The environment and the policies to simulate, every input checked before any work."""
    from ..policies import parse_policy
    from ..sim import parse_env

    if bool(env) == (experiment is not None):
        raise PayloadError("give either --env or --experiment",
                           hint="e.g. --env bernoulli:0.1,0.12,0.15")
    if env and len(env) > 1:  # only the last one ran
        raise PayloadError(f"give one --env, got {len(env)}: {', '.join(env)}",
                           hint="simulate each environment in its own command")
    own: Policy | None = None
    if experiment is not None:
        environment, own = _experiment(experiment, rate or [], config)
    else:
        if rate:
            raise PayloadError("--rate is the truth of an --experiment's arms",
                               hint="give --experiment EXP, or the rates in --env")
        environment = parse_env(env[0] if env else "", horizon=horizon)
    unbounded = environment.bounds is None
    specs = policy or (["lin-thompson", "linucb", "thompson"] if environment.context_dim
                       else ["thompson", "kl-ucb", "ucb1", "epsilon-greedy"])
    policies = _distinct([parse_policy(spec) for spec in specs])
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
    if own is not None and not policy:  # the experiment's own policy, first
        policies = [own, *(p for p in policies if p.describe() != own.describe())]
    return environment, policies


def _experiment(experiment: str, rates: list[str], config: str | None
                ) -> tuple[Environment, Policy]:
    """A configured experiment's environment, from ``--rate EXP.ARM=VALUE`` for its arms,
    and its own policy."""
    from .._config import default_config_path, load_config
    from .._demo import parse_rates
    from ..sim import experiment_env

    cfg = load_config(Path(config) if config else
                      (settings().config_path or default_config_path()))
    exp = cfg.experiment(experiment)  # an unknown one named first, not a --rate's
    for spec in rates:  # a rate for another experiment: a typo, most often
        other = spec.partition("=")[0].partition(".")[0]
        if "=" in spec and "." in spec.partition("=")[0] and other != experiment:
            raise PayloadError(f"--rate {spec}: {other!r} is not the experiment simulated "
                               f"({experiment!r})",
                               hint=f"give the rates as {experiment}.ARM=VALUE")
    truth = parse_rates(rates, cfg, {experiment: {}})
    left = _not_simulated(exp)
    if left:  # (a trial took the table for the experiment's own cost)
        listed = left[0] if len(left) == 1 else f"{', '.join(left[:-1])} and {left[-1]}"
        err_console.print(f"note: simulates {exp.id}'s arms and policy only; its {listed} "
                          f"{'is' if len(left) == 1 else 'are'} not simulated (they usually "
                          "add to the regret the experiment pays)",
                          markup=False, highlight=False, soft_wrap=True)
    return experiment_env(exp, truth[experiment]), exp.policy.build()


def _not_simulated(exp: ExperimentConfig) -> list[str]:
    """What of the experiment's hygiene a simulation of its policy leaves out, in words."""
    left = []
    if exp.burn_in.enabled:
        left.append(f"burn-in ({exp.burn_in.min_per_arm:,} decisions per arm)")
    if exp.floor > 0.0:
        left.append(f"floor ({exp.floor:.0%} per arm)")
    if exp.holdout > 0.0 and exp.control is not None:
        left.append(f"holdout ({exp.holdout:.0%} on {exp.control})")
    update = exp.update
    if update.every == "rewards":
        left.append(f"allocation every {update.rewards:,} rewards")
    elif update.every == "time":
        left.append(f"allocation every {update.seconds:g} s")
    return left


def _distinct(policies: list[Policy]) -> list[Policy]:
    """``policies`` with each one once (``-p thompson -p thompson`` simulated it twice)."""
    return distinct(policies, lambda p: p.describe(), done="simulated once",
                    console=err_console)


def _summary(r: SimulationResult) -> dict[str, Any]:
    """One policy's row, for the table and ``--json`` (None where a value is undefined)."""
    mean, half = r.final
    bound = None if r.lower_bound is None else float(r.lower_bound[-1])
    # a ratio only where the bound is within any policy's reach at the horizon: beyond it
    # (close rates), every policy read as beating the theory by 3-30x
    return {"policy": r.policy, "regret_mean": mean,
            "ci95_low": None if math.isnan(half) else mean - half,
            "ci95_high": None if math.isnan(half) else mean + half,
            "lai_robbins_asymptotic": bound,
            "regret_over_lai_robbins": mean / bound if bound and r.bound_in_reach else None,
            "reward_mean": float(r.reward.mean()),
            "decisions_per_second": r.decisions_per_second, "seconds": r.seconds,
            "engine": r.engine}


def _print_table(title: str, rows: list[dict[str, Any]], *, runs: int, horizon: int) -> None:
    """The summary table; the Lai–Robbins column only where the bound is defined."""
    from rich.table import Table

    table = Table(title=f"{title} · {count_text(runs, 'run')} × {count_text(horizon, 'step')}",
                  title_justify="left")
    bounded = any(row["regret_over_lai_robbins"] is not None for row in rows)
    for col in ("policy", "regret (mean ± 95%)",
                *(("regret / Lai–Robbins asymptote",) if bounded else ()), "decisions/s"):
        table.add_column(col, justify="left" if col == "policy" else "right",
                         no_wrap=col == "policy")  # a policy's name and parameters are never cut
    for row in rows:
        mean, low = row["regret_mean"], row["ci95_low"]
        ratio = row["regret_over_lai_robbins"]
        table.add_row(row["policy"], f"{mean:,.1f} ± " + ("–" if low is None else
                                                           f"{mean - low:,.1f}"),
                      *((("–" if ratio is None else f"{ratio:.2f}"),) if bounded else ()),
                      f"{row['decisions_per_second']:,.0f}" +
                      (" (compiled)" if row["engine"] == "compiled" else ""))
    print_table(table, console)


def _out_of_reach(result: SimulationResult, gap: float) -> str:
    """Why the column is left out where the asymptote is beyond every policy's reach at the
    horizon (close rates: a large constant)."""
    assert result.lower_bound is not None and result.lower_bound_from is not None
    bound, horizon = float(result.lower_bound[-1]), result.horizon
    return (f"the asymptote, {bound / math.log(horizon):,.1f} × log t, is {bound:,.1f} at step "
            f"{horizon:,}, above the regret of always playing the worst arm "
            f"({gap * horizon:,.1f}); a limit as t → ∞ that no policy can reach before step "
            f"{result.lower_bound_from:,} (close rates), so a ratio to it would say nothing")


def _notes(environment: Environment, results: list[SimulationResult], *, runs: int
           ) -> list[str]:
    """The lines under the table: what a "–" or a missing column means, and why."""
    notes = []
    if runs < 2:
        notes.append("(1 run: no 95% interval; give --runs 2 or more for one)")
    rates = environment.bernoulli_rates()
    why = None  # the column is left out where no row has a ratio: say why, once
    if rates is None:
        why = f"the asymptote is defined for stationary Bernoulli arms only, not " \
              f"{environment.describe()}"
    elif rates.min() == rates.max():
        why = "every arm has the same rate: no regret to bound"
    elif all(r.horizon == 1 for r in results):
        why = "the asymptote, log t times a constant, is 0 at step 1"
    elif not any(r.bound_in_reach for r in results):
        why = _out_of_reach(results[0], float(rates.max() - rates.min()))
    if why is not None:
        notes.append(f"(no regret / Lai–Robbins column: {why})")
    if any(r.lower_bound is not None and r.lower_bound[-1] > 0 and r.bound_in_reach
           and r.final[0] < r.lower_bound[-1] for r in results):
        notes.append("(below 1: the Lai–Robbins asymptote is log t times a constant, a "
                     "limit as t → ∞; a finite run may sit below it)")
    return notes


@app.command()
def demo(
    steps: Annotated[int, typer.Option(min=1, max=10_000_000,
                                       help="Simulated user visits per experiment.")] = 3000,
    rate: Annotated[list[str] | None, typer.Option(
        help="True preference EXP.ARM=VALUE (rate for 👍/👎, mean for ratings); repeatable.")
    ] = None,
    response_rate: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Share of users who answer, 0–1 (0.8 = 80%).")] = 0.8,
    seed: Annotated[int, typer.Option(min=0, help="Random seed.")] = 7,
    out: Annotated[Path, typer.Option(help="Folder for the report PNGs.")] = Path("."),
    keep: Annotated[bool, typer.Option(help="Continue the previous demo: keep the demo "
                                       "database's statistics instead of resetting "
                                       "them.")] = False,
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
