"""``banditbot demo``: simulated users with known preferences talk to the experiments.

Everything goes through the same :class:`BanditService` and SQLite store a real bot uses; the
only simulated part is the people.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ._compose import build_service
from ._config import BanditConfig, ExperimentConfig
from ._errors import BanditBotError, ConfigError, PayloadError
from ._files import remove_database
from ._report import Report, span_text
from .service import BanditService

__all__ = ["DemoSetup", "default_truth", "parse_rates", "prepare_demo", "run_demo",
           "running_truth", "simulate_user"]


def default_truth(config: BanditConfig) -> dict[str, dict[str, float]]:
    """Known preferences per experiment and arm: a spread of rates (👍/👎) or mean ratings,
    with the best arm placed in the middle so the policy has to find it."""
    truth: dict[str, dict[str, float]] = {}
    for exp in config.experiments:
        k = len(exp.arms)
        lo, hi = exp.reward.bounds
        if exp.reward.type == "binary":
            # 10 points apart, up to 0.85 (beyond 8 arms, closer: 10 arms went past 1)
            values = np.linspace(0.15, min(0.15 + 0.1 * (k - 1), 0.85), k) if k > 1 \
                else np.array([0.3])
        elif lo is not None and hi is not None:
            values = np.linspace(lo + 0.35 * (hi - lo), lo + 0.8 * (hi - lo), k)
        else:
            values = np.linspace(0.0, 1.0, k)
        order = np.argsort(np.abs(np.arange(k) - (k - 1) / 2.0), kind="stable")[::-1]
        truth[exp.id] = {exp.arms[i].id: float(v) for i, v in zip(order, values, strict=True)}
    return truth


def parse_rates(specs: Sequence[str], config: BanditConfig,
                truth: dict[str, dict[str, float]], *,
                arms: Mapping[str, Sequence[str]] | None = None) -> dict[str, dict[str, float]]:
    """Apply ``EXP.ARM=VALUE`` overrides to ``truth``.

    Parameters
    ----------
    specs
        The ``--rate`` values, ``EXP.ARM=VALUE`` each.
    config
        The experiments (their reward scales; their arms unless ``arms`` says otherwise).
    truth
        Experiment id → arm → true value, the starting point (not changed).
    arms
        Experiment id → the arms it runs now, when an admin added or retired arms (the
        store's meta); an experiment not in it runs the arms of ``config``.

    Returns
    -------
    dict
        A copy of ``truth`` with the overrides applied.
    """
    out = {k: dict(v) for k, v in truth.items()}
    for spec in specs:
        key, sep, raw = spec.partition("=")
        exp_id, dot, arm = key.partition(".")
        if not sep or not dot:
            raise PayloadError(f"--rate {spec!r} is not EXP.ARM=VALUE",
                               hint="e.g. --rate greeting.hey=0.4")
        exp = config.experiment(exp_id)
        known = tuple(arms[exp_id]) if arms is not None and exp_id in arms else \
            tuple(a.id for a in exp.arms)
        if arm not in known:  # (a retired arm is in the log, not among the arms it runs)
            raise ConfigError(f"experiment {exp_id!r} runs no arm {arm!r}",
                              hint=f"the arms it runs: {', '.join(known)} (a retired arm "
                                   "takes no --rate)")
        try:
            value = float(raw)
        except ValueError:
            raise PayloadError(f"--rate {spec!r}: {raw!r} is not a number") from None
        if exp.reward.type == "binary" and not 0.0 <= value <= 1.0:
            raise PayloadError(f"--rate {spec!r}: a 👍 rate is in [0, 1]")
        lo, hi = exp.reward.bounds
        if not math.isfinite(value) or (lo is not None and value < lo) or \
                (hi is not None and value > hi):  # a rating of 9 on 1-5 showed as 5.00
            scale = f"from {lo:g} to {hi:g}" if lo is not None and hi is not None else \
                "a finite number"
            raise PayloadError(f"--rate {spec!r}: {exp_id}'s rewards are {scale}")
        out.setdefault(exp_id, {})[arm] = value
    return out


def running_truth(svc: BanditService, experiments: Sequence[ExperimentConfig],
                  rates: Sequence[str]) -> dict[str, dict[str, float]]:
    """The simulated users' true values for the arms the experiments run now.

    An admin may have added arms (``banditbot arms add``) or retired some since the
    experiments file was written: the demo decides among the running arms, so every active
    arm needs a value. The file's arms get :func:`default_truth`'s; an added arm has none
    and must be given one with ``--rate`` (:class:`~banditbot.ConfigError` otherwise,
    raised before anything is written).

    Parameters
    ----------
    svc
        The service over the demo's store.
    experiments
        The experiments the demo runs.
    rates
        The ``--rate`` values, ``EXP.ARM=VALUE`` each.

    Returns
    -------
    dict
        Experiment id → arm → true value (every active arm; retired arms of the file too).
    """
    running = {e.id: tuple(dict.fromkeys([*(a.id for a in e.arms),
                                          *svc.active_arms(e.id)])) for e in experiments}
    truth = parse_rates(rates, svc.config, default_truth(svc.config), arms=running)
    for exp in experiments:
        missing = [a for a in svc.active_arms(exp.id) if a not in truth.get(exp.id, {})]
        if missing:
            scale = "P its 👍 rate, in [0, 1]" if exp.reward.type == "binary" else \
                "P its mean reward"
            raise ConfigError(
                f"no rate for arm {missing[0]!r} of {exp.id!r} (added after the experiments "
                "file was written): the simulated users need to know how much they like it",
                hint=f"pass --rate {exp.id}.{missing[0]}=P, {scale}" +
                (f"; and a rate for {', '.join(missing[1:])}" if missing[1:] else ""))
    return truth


def _noise(exp: ExperimentConfig) -> float:
    """The spread of a simulated user's rating (or continuous reward) around the arm's."""
    return 0.9 if exp.reward.type == "rating" else 0.3


def expected_reaction(exp: ExperimentConfig, true_value: float) -> float:
    """The mean of :func:`simulate_user`'s answers: what the arm is really worth once
    ratings are rounded and capped at the scale's ends (a rating arm set to 4.2 on a 1–5
    scale averages about 4.12 — the value a report's interval should cover).

    Examples
    --------
    >>> from banditbot import parse_config
    >>> exp = parse_config({"experiments": [{"id": "t", "arms": [{"id": "a", "content": "a"}],
    ...     "reward": {"type": "rating", "min": 1, "max": 5}}]}).experiments[0]
    >>> round(expected_reaction(exp, 4.2), 3), round(expected_reaction(exp, 3.0), 3)
    (4.12, 3.0)
    """
    if exp.reward.type == "binary":
        return true_value
    lo, hi = exp.reward.bounds
    sigma = _noise(exp)

    def cdf(x: float) -> float:  # P(X <= x) for X ~ N(true_value, sigma)
        return 0.5 * (1.0 + math.erf((x - true_value) / (sigma * math.sqrt(2.0))))

    if exp.reward.type == "rating" and lo is not None and hi is not None:
        values = range(math.ceil(lo), math.floor(hi) + 1)
        mean = 0.0
        for v in values:  # round() to v (the scale's ends take the tails)
            upper = 1.0 if v == values[-1] else cdf(v + 0.5)
            lower = 0.0 if v == values[0] else cdf(v - 0.5)
            mean += v * (upper - lower)
        return mean
    # a continuous reward, capped at its bounds: E[min(max(X, lo), hi)]
    def partial(x: float) -> float:  # E[X; X <= x]
        z = (x - true_value) / sigma
        return true_value * cdf(x) - sigma * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)

    low = -math.inf if lo is None else lo
    high = math.inf if hi is None else hi
    below = low * cdf(low) if lo is not None else 0.0
    above = high * (1.0 - cdf(high)) if hi is not None else 0.0
    inside = (partial(high) if hi is not None else true_value) - \
        (partial(low) if lo is not None else 0.0)
    return below + inside + above


def simulate_user(exp: ExperimentConfig, true_value: float, rng: np.random.Generator) -> float:
    """One simulated reaction: 👍 with probability ``true_value``, or a noisy rating
    (rounded, capped at the scale; its mean is :func:`expected_reaction`)."""
    if exp.reward.type == "binary":
        return float(rng.random() < true_value)
    lo, hi = exp.reward.bounds
    value = rng.normal(true_value, _noise(exp))
    if exp.reward.type == "rating":
        value = round(value)
    if lo is not None:
        value = max(value, lo)
    if hi is not None:
        value = min(value, hi)
    return float(value)


def _table(rep: Report, truth: Mapping[str, float]) -> Group:
    """The experiment's table, then what it says in lines of their own (a caption inside
    the table is cut at the terminal's width: the interval's kind was lost). The star marks
    the truly best arm among those that can still be chosen (a retired arm gets none)."""
    offered = [truth[a.arm] for a in rep.arms if a.active and a.arm in truth]
    best = max(offered) if offered else math.nan
    table = Table(title=rep.title, title_justify="left")
    table.add_column("arm", no_wrap=True)
    for col in ("true", "decisions", "mean", "95% interval", "P(best)", "allocation"):
        table.add_column(col, justify="right")
    for a in rep.arms:
        t = truth.get(a.arm, math.nan)
        mark = " ★" if a.active and t == best else "" if a.active else " (retired)"
        table.add_row(
            a.arm + mark, "–" if math.isnan(t) else f"{t:.2f}", str(a.pulls),
            "–" if a.mean is None else f"{a.mean:.3f}",
            span_text(a.low, a.high),
            rep.best_text(a), f"{a.allocation:.0%}")
    notes = [f"{rep.total_pulls} decisions · {rep.total_answered:g} rewards",
             "true: what the simulated answers average (★ the best active arm)",
             f"mean and interval: {rep.interval_kind}", *([rep.verdict] if rep.verdict else [])]
    return Group(table, *(Text(line, overflow="fold") for line in notes))


class DemoSetup(NamedTuple):
    """A demo ready to run: its service, experiments and simulated users' true values
    (see :func:`prepare_demo`)."""

    service: BanditService
    experiments: tuple[ExperimentConfig, ...]
    truth: dict[str, dict[str, float]]
    seed: int


def prepare_demo(*, config: BanditConfig | str | None, store: str, rates: Sequence[str],
                 seed: int) -> DemoSetup:
    """Open the demo's store and settle the true values of the arms the experiments run
    now (an admin's added and retired arms included: :func:`running_truth`).

    Nothing is written on a refusal (:class:`~banditbot.BanditBotError`): the store is
    closed, and a SQLite file this call created is removed again.

    Parameters
    ----------
    config
        The experiments (object, YAML path, or ``None`` for the default).
    store
        The store URL.
    rates
        The ``--rate`` values, ``EXP.ARM=VALUE`` each.
    seed
        The random seed of the service and the simulated users.

    Returns
    -------
    DemoSetup
    """
    from .stores import new_sqlite_file

    fresh = new_sqlite_file(store)
    svc: BanditService = build_service(config, store, seed=seed)
    experiments = tuple(e for e in svc.config.experiments if not e.features)
    try:
        truth = running_truth(svc, experiments, rates)
    except BanditBotError:
        svc.store.close()
        if fresh is not None:  # refused: no empty database left behind
            remove_database(fresh)
        raise
    return DemoSetup(svc, experiments, truth, seed)


def run_demo(setup: DemoSetup, *, steps: int, response_rate: float, out: Path, keep: bool,
             live: bool, console: Console,
             on_step: Callable[[int], object] | None = None) -> list[Path]:
    """Run the demo prepared by :func:`prepare_demo`; returns the PNG paths written.
    ``on_step`` is called with the number of visits done (per experiment) after each one."""
    svc, experiments, truth, seed = setup
    if not keep:  # a fresh start; on a new database there is nothing to start over from
        for exp in experiments:
            if next(iter(svc.decisions(exp.id, limit=1)), None) is not None:
                svc.reset(exp.id, keep_priors=True, actor="demo")
    # what each arm's answers average (ratings rounded and capped): the table's "true"
    worth = {e.id: {a: expected_reaction(e, v) for a, v in truth[e.id].items()}
             for e in experiments}
    rng = np.random.default_rng(seed + 1)
    users = [f"demo-user-{i}" for i in range(1000)]
    refresh = max(1, steps // 60)

    def view() -> Group:
        return Group(*(_table(svc.report(e.id), worth[e.id]) for e in experiments))

    console.print(f"[bold]banditbot demo[/]: {steps} simulated visits per experiment, "
                  f"{response_rate:.0%} of users answer. Store: {svc.store.url}")
    # the live table makes way for the final one, printed in full (a live display cuts
    # every line at the terminal's width)
    with Live(view(), console=console, refresh_per_second=8, transient=True,
              auto_refresh=False) if live else _NoLive() as screen:
        for step in range(1, steps + 1):
            for exp in experiments:
                user = users[int(rng.integers(len(users)))]
                decision = svc.decide(exp.id, user, chat=user)
                if rng.random() < response_rate:
                    value = simulate_user(exp, truth[exp.id][decision.arm], rng)
                    svc.reward(decision.id, value, subject=user)
            if live and (step % refresh == 0 or step == steps):
                screen.update(view(), refresh=True)
            if on_step is not None:
                on_step(step)
    # in a terminal fitted to it; to a pipe or a file at its natural width (at 80 columns
    # the headers were cut once "(retired)" widened the arm column: "decisio…")
    from .cli._output import print_table

    print_table(view(), console)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        from ._charts import report_png

        for exp in experiments:
            path = out / f"banditbot-demo-{exp.id}.png"
            report_png(svc.report(exp.id), svc.report_series(exp.id), path)
            written.append(path)
    except ImportError as exc:  # MissingDependencyError is an ImportError
        from rich.markup import escape  # the hint names banditbot[plots]: not markup

        console.print(f"[yellow]no charts:[/] {escape(str(exc))}")
    from .stores import store_kind

    db = getattr(svc.store, "path", None)
    console.print()
    if db is not None:
        console.print(f"database: {Path(db).resolve()}")
    for path in written:
        console.print(f"chart:    {path.resolve()}")
    if store_kind(svc.store.url) == "memory":  # gone with this process: nothing to report on
        console.print("next:     the memory store ends with the demo; --store "
                      "sqlite:///banditbot-demo.db keeps it for `banditbot report`")
    else:
        console.print(f"next:     banditbot report {experiments[0].id} --store {svc.store.url}")
    svc.store.close()
    return written


class _NoLive:
    def __enter__(self) -> _NoLive:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, *args: object, **kwargs: object) -> None:
        return None
