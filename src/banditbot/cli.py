"""The ``banditbot`` command line (typer + rich). Thin: parse, call the service, render.

Errors are translated in one place (:func:`main`): a one-line message on stderr and exit
code 2, with nothing written.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ._errors import BanditBotError, PayloadError

__all__ = ["app", "main"]

app = typer.Typer(
    name="banditbot",
    help="Adaptive experiments (multi-armed bandits) for chatbots and apps.\n\n"
         "Start with: banditbot demo",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
arms_app = typer.Typer(help="List, add or retire arms of an experiment.", no_args_is_help=True)
app.add_typer(arms_app, name="arms")

console = Console()
err_console = Console(stderr=True)

ConfigOpt = Annotated[str | None, typer.Option(
    "--config", "-c", envvar="BANDITBOT_CONFIG",
    help="Experiments YAML (default: ./experiments.yaml, examples/experiments.yaml, or the "
         "packaged example).")]
StoreOpt = Annotated[str | None, typer.Option(
    "--store", "-s", envvar="BANDITBOT_STORE",
    help="Store URL: sqlite:///banditbot.db (default), memory://, dynamodb://TABLE?region=…")]
ExpArg = Annotated[str, typer.Argument(help="Experiment id.")]


def _service(config: str | None, store: str | None, *, seed: int | None = None) -> Any:
    from ._bootstrap import build_service

    return build_service(config, store, seed=seed)


def _parse_params(pairs: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise PayloadError(f"policy parameter {pair!r} is not key=value",
                               hint="e.g. epsilon=0.1")
        try:
            params[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            params[key.strip()] = raw
    return params


# --- experiments ------------------------------------------------------------------------------
@app.command()
def experiments(config: ConfigOpt = None) -> None:
    """List the configured experiments (and validate the experiments file)."""
    from ._config import default_config_path, load_config

    path = Path(config) if config else default_config_path()
    cfg = load_config(path)
    table = Table(title=f"{path} — valid", title_justify="left")
    for col in ("experiment", "command", "arms", "policy", "reward", "mode", "scope"):
        table.add_column(col)
    for e in cfg.experiments:
        table.add_row(e.id, f"/{e.telegram_command}", ", ".join(a.id for a in e.arms),
                      e.policy.build().describe(), e.reward.type, e.reward_mode, e.scope)
    console.print(table)


@app.command()
def decide(
    experiment: ExpArg,
    subject: Annotated[str, typer.Option(help="Who the decision is for.")] = "cli",
    context: Annotated[str | None, typer.Option(help="Context features as JSON.")] = None,
    chat: Annotated[str | None, typer.Option(help="Chat id (for scope: chat).")] = None,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Choose an arm for a subject and log the decision; prints it as JSON."""
    ctx = None
    if context:
        try:
            ctx = json.loads(context)
        except json.JSONDecodeError as exc:
            raise PayloadError(f"--context is not JSON: {exc.msg}",
                               hint='e.g. --context \'{"hour": 9}\'') from None
        if not isinstance(ctx, dict):
            raise PayloadError("--context must be a JSON object", hint='e.g. {"hour": 9}')
    svc = _service(config, store)
    d = svc.decide(experiment, subject, ctx, chat=chat)
    console.print_json(json.dumps({
        "decision_id": d.id, "experiment": d.experiment, "arm": d.arm, "content": d.content,
        "propensity": d.propensity, "probabilities": dict(d.probabilities)}))


@app.command()
def reward(
    decision_id: Annotated[str, typer.Argument(help="Id printed by 'banditbot decide'.")],
    value: Annotated[str, typer.Argument(help="The reward, e.g. 1 or 0 or a rating.")],
    subject: Annotated[str | None, typer.Option(help="Rewarding subject (checked).")] = None,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Report the reward of a decision (applied exactly once)."""
    from ._service import RewardStatus

    svc = _service(config, store)
    result = svc.reward(decision_id, value, subject)
    console.print(f"{result.status.value}: {result.message}")
    if result.status not in (RewardStatus.APPLIED, RewardStatus.DUPLICATE):
        raise typer.Exit(2)


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
    svc = _service(config, store)
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
            from ._charts import report_png

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
    from .offline import export_decisions

    svc = _service(config, store)
    generation = None if all_generations else svc.current_generation(experiment)
    n = export_decisions(svc.decisions(experiment, generation=generation), out, fmt=fmt,
                         raw_subjects=raw_subjects)
    console.print(f"{n} decisions written to {out}")


# --- admin ------------------------------------------------------------------------------------
@app.command()
def cheat(
    experiment: ExpArg,
    arm: Annotated[str, typer.Argument(help="Arm id.")],
    rewards: Annotated[str, typer.Argument(help="Rewards, e.g. 1101 or '4 5 3'.")] = "",
    successes: Annotated[int, typer.Option(min=0, help="Add this many top rewards.")] = 0,
    failures: Annotated[int, typer.Option(min=0, help="Add this many lowest rewards.")] = 0,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Add rewards to an arm by hand ("cheater mode", for testing)."""
    svc = _service(config, store)
    n = svc.cheat(experiment, arm, rewards, successes=successes, failures=failures,
                  actor="cli")
    console.print(f"added {n} rewards to {experiment}/{arm}")


@app.command()
def prior(
    experiment: ExpArg,
    arm: Annotated[str, typer.Argument(help="Arm id.")],
    alpha: Annotated[float, typer.Argument(help="Pseudo-successes.")],
    beta: Annotated[float, typer.Argument(help="Pseudo-failures.")],
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Set an arm's prior (kept apart from observations)."""
    svc = _service(config, store)
    svc.set_prior(experiment, arm, alpha, beta, actor="cli")
    console.print(f"prior of {experiment}/{arm} set to alpha={alpha:g}, beta={beta:g}")


@app.command()
def reset(
    experiment: ExpArg,
    clear_priors: Annotated[bool, typer.Option(help="Also clear the priors.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Start an experiment's learning over (the decision log is kept)."""
    svc = _service(config, store)
    svc.experiment(experiment)
    if not yes:
        typer.confirm(f"Reset {experiment!r}? Its statistics start from zero", abort=True)
    gen = svc.reset(experiment, keep_priors=not clear_priors, actor="cli")
    console.print(f"{experiment} reset (generation {gen})")


@app.command()
def policy(
    experiment: ExpArg,
    name: Annotated[str, typer.Argument(help="Policy name, e.g. thompson, ucb1.")],
    params: Annotated[list[str] | None, typer.Argument(help="Parameters as key=value.")] = None,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Switch an experiment's policy (what was learned is kept)."""
    svc = _service(config, store)
    p = svc.switch_policy(experiment, name, _parse_params(params or []), actor="cli")
    console.print(f"{experiment} now uses {p.describe()}")


@arms_app.command("list")
def arms_list(experiment: ExpArg, config: ConfigOpt = None, store: StoreOpt = None) -> None:
    """List an experiment's arms (active and retired)."""
    svc = _service(config, store)
    active = set(svc.active_arms(experiment))
    rep = svc.report(experiment)
    for a in rep.arms:
        console.print(f"{a.arm:<16} {'active ' if a.arm in active else 'retired'}  {a.content}",
                      markup=False, highlight=False)


@arms_app.command("add")
def arms_add(
    experiment: ExpArg,
    arm: Annotated[str, typer.Argument(help="New arm id.")],
    content: Annotated[str, typer.Argument(help="What users see.")] = "",
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Add an arm (or bring back a retired one)."""
    svc = _service(config, store)
    svc.add_arm(experiment, arm, content, actor="cli")
    console.print(f"arm {arm} added to {experiment}")


@arms_app.command("retire")
def arms_retire(
    experiment: ExpArg,
    arm: Annotated[str, typer.Argument(help="Arm id.")],
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Stop offering an arm (its statistics are kept)."""
    svc = _service(config, store)
    svc.retire_arm(experiment, arm, actor="cli")
    console.print(f"arm {arm} of {experiment} retired")


@app.command()
def settle(experiment: ExpArg, config: ConfigOpt = None, store: StoreOpt = None) -> None:
    """Apply the default reward to unanswered decisions past the wait window (implicit mode)."""
    svc = _service(config, store)
    console.print(f"{svc.settle(experiment)} decisions settled")


@app.command("init-db")
def init_db(store: StoreOpt = None) -> None:
    """Create what the store needs (tables; for DynamoDB the table with TTL). Idempotent."""
    from .stores import open_store

    s = open_store(store)
    s.init()
    console.print(f"store ready: {s.url}")


@app.command()
def demo(
    steps: Annotated[int, typer.Option(min=1, max=10_000_000,
                                       help="Simulated user visits per experiment.")] = 3000,
    rate: Annotated[list[str] | None, typer.Option(
        help="True preference EXP.ARM=VALUE (rate for 👍/👎, mean for ratings); repeatable.")
    ] = None,
    response_rate: Annotated[float, typer.Option(min=0.0, max=1.0,
                                                 help="Share of users who answer.")] = 0.8,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
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
    from ._demo import run_demo

    run_demo(config=config, store=store or "sqlite:///banditbot-demo.db", steps=steps,
             rates=rate or [], response_rate=response_rate, seed=seed, out=out, keep=keep,
             live=live, console=console)


def _register_optional() -> None:
    """Commands contributed by the entry-point modules (kept thin, imported lazily)."""
    from . import _cli_more

    _cli_more.register(app)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; translate errors into a one-line message and exit code 2."""
    _register_optional()
    try:
        code = app(args=argv, standalone_mode=False)
    except BanditBotError as exc:
        err_console.print(f"[bold red]error:[/] {escape(exc.message)}"
                          + (f" [dim]({escape(exc.hint)})[/]" if exc.hint else ""),
                          highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Abort:
        err_console.print("aborted; nothing changed")
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:  # usage errors: one line, exit 2
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        err_console.print(f"[bold red]error:[/] {escape(message)} [dim](see --help)[/]",
                          highlight=False, soft_wrap=True)
        sys.exit(int(getattr(exc, "exit_code", 2)))
    if isinstance(code, int) and code != 0:  # typer.Exit(code) returns it here
        sys.exit(code)
