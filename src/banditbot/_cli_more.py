"""CLI commands of the optional entry points (bot, server). Imports happen inside commands."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .cli import ConfigOpt, StoreOpt, console

if TYPE_CHECKING:
    from .offline import ColumnMap, LoggedBandit
    from .policies import Policy

__all__ = ["register"]

_REGISTERED: set[int] = set()

BaseUrlOpt = Annotated[str | None, typer.Option(
    "--bot-api-url", envvar="BANDITBOT_TELEGRAM_BASE_URL",
    help="Bot API server root (default: Telegram's; e.g. a local Bot API server).")]
TokenOpt = Annotated[str | None, typer.Option(
    "--token", envvar="TELEGRAM_TOKEN", show_envvar=True,
    help="Bot token from @BotFather (better: TELEGRAM_TOKEN in the environment or .env).")]


def register(app: typer.Typer) -> None:
    """Add the optional commands to ``app`` (once)."""
    if id(app) in _REGISTERED:
        return
    _REGISTERED.add(id(app))

    @app.command()
    def run(config: ConfigOpt = None, store: StoreOpt = None, token: TokenOpt = None,
            bot_api_url: BaseUrlOpt = None) -> None:
        """Run the Telegram bot with long polling (no public URL needed)."""
        from ._bootstrap import build_service
        from .telegram import build_application, load_token

        token = load_token(token)
        service = build_service(config, store)
        application = build_application(service, token, base_url=bot_api_url)
        console.print(f"banditbot is polling Telegram; store: {service.store.url}. "
                      "Stop with Ctrl+C.")
        application.run_polling(allowed_updates=["message", "callback_query"])

    @app.command()
    def serve(
        host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port.")] = 8080,
        workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
        config: ConfigOpt = None,
        store: StoreOpt = None,
        bot_api_url: BaseUrlOpt = None,
    ) -> None:
        """Serve the HTTP API, the dashboard and (with a token) the Telegram webhook.

        uvicorn with uvloop and httptools: the API under /v1, the dashboard at /, metrics at
        /metrics, and POST /telegram when TELEGRAM_TOKEN is set.
        """
        from ._errors import require

        require("uvicorn", "api")
        import uvicorn

        from ._bootstrap import build_service

        # workers build their own service from the environment
        if config:
            os.environ["BANDITBOT_CONFIG"] = config
        if store:
            os.environ["BANDITBOT_STORE"] = store
        if bot_api_url:
            os.environ["BANDITBOT_TELEGRAM_BASE_URL"] = bot_api_url
        build_service(config, store).store.close()  # validate and create tables once
        # access_log off: the app writes its own JSON access line (with the request id)
        uvicorn.run("banditbot.api._factory:app_from_env", factory=True, host=host, port=port,
                    workers=workers, loop="uvloop", http="httptools", log_level="info",
                    proxy_headers=True, access_log=False)

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
                                   "default: thompson, kl-ucb, ucb1, epsilon-greedy).")] = None,
        runs: Annotated[int, typer.Option(min=1, max=1_000_000)] = 200,
        horizon: Annotated[int, typer.Option(min=1, max=10_000_000)] = 10_000,
        seed: Annotated[int, typer.Option(help="Random seed (reproducible).")] = 0,
        workers: Annotated[int, typer.Option(min=1, max=64, help="Processes.")] = 2,
        out: Annotated[Path, typer.Option(help="Folder for simulation.csv and .png.")] = Path("."),
        config: ConfigOpt = None,
    ) -> None:
        """Simulate policies in a known environment: regret with 95% bands (PNG + CSV)."""
        from rich.progress import (
            BarColumn,
            Progress,
            TaskID,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.table import Table

        from ._errors import PayloadError
        from .cli import _parse_params
        from .policies import make_policy
        from .sim import parse_env, plot_regret, write_csv
        from .sim import simulate as run_sim

        if (env is None) == (experiment is None):
            raise PayloadError("give either --env or --experiment",
                               hint="e.g. --env bernoulli:0.1,0.12,0.15")
        if experiment is not None:
            from ._config import default_config_path, load_config
            from ._demo import parse_rates
            from .sim import experiment_env

            cfg = load_config(Path(config) if config else default_config_path())
            truth = parse_rates(rate or [], cfg, {experiment: {}})
            environment = experiment_env(cfg.experiment(experiment), truth[experiment])
        else:
            environment = parse_env(str(env), horizon=horizon)
        specs = policy or (["lin-thompson", "linucb", "thompson"] if environment.context_dim
                           else ["thompson", "kl-ucb", "ucb1", "epsilon-greedy"])
        policies = []
        for spec in specs:
            name, _, params = spec.partition(":")
            policies.append(make_policy(name, _parse_params(
                [p for p in params.split(",") if p])))
        results = []
        with Progress(TextColumn("{task.description}"), BarColumn(),
                      TextColumn("{task.completed}/{task.total} steps"),
                      TimeRemainingColumn(), console=console) as bar:
            for pol in policies:
                task = bar.add_task(pol.describe(), total=horizon)

                def advance(steps: int, task: TaskID = task) -> None:
                    bar.update(task, completed=steps)

                results.append(run_sim(pol, environment, runs=runs, horizon=horizon, seed=seed,
                                       workers=workers, progress=advance))
        out.mkdir(parents=True, exist_ok=True)
        csv_path = write_csv(results, out / "simulation.csv")
        table = Table(title=f"{environment.describe()} · {runs} runs × {horizon} steps",
                      title_justify="left")
        for col in ("policy", "regret (mean ± 95%)", "regret / Lai–Robbins",
                    "decisions/s"):
            table.add_column(col, justify="left" if col == "policy" else "right")
        for r in results:
            mean, half = r.final
            ratio = "–" if r.lower_bound is None or r.lower_bound[-1] <= 0 else \
                f"{mean / r.lower_bound[-1]:.2f}"
            table.add_row(r.policy, f"{mean:.1f} ± {half:.1f}", ratio,
                          f"{r.decisions_per_second:,.0f}")
        console.print(table)
        try:
            png = plot_regret(results, out / "simulation.png")
            console.print(f"chart: {png}")
        except ImportError as exc:
            console.print(f"[yellow]no chart:[/] {exc}")
        console.print(f"data:  {csv_path}")

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

        from .offline import ColumnMap
        from .offline import evaluate as run_eval

        cmap = ColumnMap(action=action_col, reward=reward_col, pscore=pscore_col,
                         context=tuple(context_col) if context_col else None)
        data = _load_log(log, cmap, obd_root, config, store)
        specs = policy or ["uniform", "thompson", "epsilon-greedy"]
        evaluation: list[Policy | str] = []
        behavior = {}
        from .cli import _parse_params
        from .policies import make_policy

        for spec in specs:
            if spec == "uniform":
                evaluation.append("uniform")
            elif spec.startswith("behavior:"):
                other = spec.removeprefix("behavior:")
                behavior[other] = _load_log(other, cmap, obd_root, config, store)
            else:
                name, _, params = spec.partition(":")
                evaluation.append(make_policy(name, _parse_params(
                    [x for x in params.split(",") if x])))
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
            from ._charts import _pyplot

            plt = _pyplot()
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
        from ._bootstrap import build_service
        from .offline import ColumnMap, warm_start

        cmap = ColumnMap(action=action_col, reward=reward_col, pscore=pscore_col, context=())
        data = _load_log(log, cmap, obd_root, config, store)
        svc = build_service(config, store)
        result = warm_start(svc, experiment, data, as_prior=as_prior, weight=weight,
                            actor="cli", ips=not no_ips)
        for arm, (n, mean) in result.per_arm.items():
            console.print(f"{arm:<16} {n:>7} rounds  mean {mean:.4g}")
        if result.rounds_skipped:
            console.print(f"[yellow]{result.rounds_skipped} rounds skipped[/] (their action is "
                          "not an arm of the experiment)")
        console.print(result.note)

    keys_app = typer.Typer(help="Create, list or revoke HTTP API keys.", no_args_is_help=True)
    app.add_typer(keys_app, name="keys")

    @keys_app.command("create")
    def keys_create(
        name: Annotated[str, typer.Option(help="A name for the key (who uses it).")],
        role: Annotated[str, typer.Option(help="read, decide (decide + reward) or admin.")] =
        "decide",
        config: ConfigOpt = None,
        store: StoreOpt = None,
    ) -> None:
        """Create an API key; it is printed once and stored only as a hash."""
        from ._bootstrap import build_service
        from ._keys import KeyRing

        svc = build_service(config, store)
        key, record = KeyRing(svc.store, svc.config.api_keys).create(name, role)
        console.print(f"{record.role} key {record.name!r} (shown once, keep it safe):")
        console.print(key, markup=False, highlight=False, soft_wrap=True)

    @keys_app.command("list")
    def keys_list(config: ConfigOpt = None, store: StoreOpt = None) -> None:
        """List API keys (names, roles, status; never the keys)."""
        from ._bootstrap import build_service
        from ._keys import KeyRing

        svc = build_service(config, store)
        for k in KeyRing(svc.store, svc.config.api_keys).list():
            status = "revoked" if k.revoked else "active"
            console.print(f"{k.name:<24} {k.role:<7} {status:<8} {k.source}  "
                          f"sha256:{k.sha256[:12]}…", markup=False, highlight=False)

    @keys_app.command("revoke")
    def keys_revoke(name: Annotated[str, typer.Argument(help="Key name.")],
                    config: ConfigOpt = None, store: StoreOpt = None) -> None:
        """Revoke an API key (effective within seconds on every server)."""
        from ._bootstrap import build_service
        from ._errors import ConfigError
        from ._keys import KeyRing

        svc = build_service(config, store)
        if not KeyRing(svc.store, svc.config.api_keys).revoke(name):
            raise ConfigError(f"no active stored key named {name!r}",
                              hint="see banditbot keys list")
        console.print(f"key {name!r} revoked")

    @app.command("set-webhook")
    def set_webhook(
        url: Annotated[str, typer.Argument(help="Public HTTPS URL of /telegram.")],
        secret: Annotated[str | None, typer.Option(
            envvar="BANDITBOT_WEBHOOK_SECRET",
            help="Secret token (default: generated and stored in .env).")] = None,
        token: TokenOpt = None,
        bot_api_url: BaseUrlOpt = None,
    ) -> None:
        """Register the webhook with Telegram, with a secret token."""
        from .telegram import ensure_webhook_secret

        secret = ensure_webhook_secret(secret)
        bot = _bot(token, bot_api_url)

        async def go() -> None:
            async with bot:
                await bot.set_webhook(url, secret_token=secret,
                                      allowed_updates=["message", "callback_query"])

        asyncio.run(go())
        console.print(f"webhook set to {url} (secret token stored; not shown)")

    @app.command("delete-webhook")
    def delete_webhook(token: TokenOpt = None, bot_api_url: BaseUrlOpt = None) -> None:
        """Remove the webhook (back to polling with `banditbot run`)."""
        bot = _bot(token, bot_api_url)

        async def go() -> None:
            async with bot:
                await bot.delete_webhook()

        asyncio.run(go())
        console.print("webhook deleted")


def _load_log(spec: str, cmap: ColumnMap, obd_root: Path | None, config: str | None,
              store: str | None) -> LoggedBandit:
    """A log from a path, ``obd:random|bts`` or ``store:EXPERIMENT``."""
    from .offline import from_records, load_obd, read_log

    if spec.startswith("obd:"):
        return load_obd(spec.removeprefix("obd:"), root=obd_root)
    if spec.startswith("store:"):
        from ._bootstrap import build_service

        svc = build_service(config, store)
        exp = spec.removeprefix("store:")
        return from_records(svc.decisions(exp, generation=svc.current_generation(exp)))
    return read_log(spec, cmap)


def _bot(token: str | None, base_url: str | None):  # type: ignore[no-untyped-def]
    from ._errors import require

    require("telegram", "telegram")
    from telegram import Bot

    from .telegram import load_token

    token = load_token(token)
    if base_url:
        return Bot(token, base_url=f"{base_url.rstrip('/')}/bot")
    return Bot(token)
