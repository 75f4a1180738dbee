"""``banditbot demo``: simulated users with known preferences talk to the experiments.

Everything goes through the same :class:`BanditService` and SQLite store a real bot uses; the
only simulated part is the people.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ._compose import build_service
from ._config import BanditConfig, ExperimentConfig
from ._errors import ConfigError, PayloadError
from ._report import Report, chance
from .service import BanditService

__all__ = ["default_truth", "parse_rates", "run_demo", "simulate_user"]


def default_truth(config: BanditConfig) -> dict[str, dict[str, float]]:
    """Known preferences per experiment and arm: a spread of rates (👍/👎) or mean ratings,
    with the best arm placed in the middle so the policy has to find it."""
    truth: dict[str, dict[str, float]] = {}
    for exp in config.experiments:
        k = len(exp.arms)
        lo, hi = exp.reward.bounds
        if exp.reward.type == "binary":
            values = np.linspace(0.15, 0.15 + 0.1 * (k - 1), k) if k > 1 else np.array([0.3])
        elif lo is not None and hi is not None:
            values = np.linspace(lo + 0.35 * (hi - lo), lo + 0.8 * (hi - lo), k)
        else:
            values = np.linspace(0.0, 1.0, k)
        order = np.argsort(np.abs(np.arange(k) - (k - 1) / 2.0), kind="stable")[::-1]
        truth[exp.id] = {exp.arms[i].id: float(v) for i, v in zip(order, values, strict=True)}
    return truth


def parse_rates(specs: Sequence[str], config: BanditConfig,
                truth: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Apply ``EXP.ARM=VALUE`` overrides to ``truth``."""
    out = {k: dict(v) for k, v in truth.items()}
    for spec in specs:
        key, sep, raw = spec.partition("=")
        exp_id, dot, arm = key.partition(".")
        if not sep or not dot:
            raise PayloadError(f"--rate {spec!r} is not EXP.ARM=VALUE",
                               hint="e.g. --rate greeting.hey=0.4")
        exp = config.experiment(exp_id)
        if exp.arm(arm) is None:
            raise ConfigError(f"experiment {exp_id!r} has no arm {arm!r}",
                              hint=f"arms: {', '.join(a.id for a in exp.arms)}")
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
        out[exp_id][arm] = value
    return out


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
    the table is cut at the terminal's width: the interval's kind was lost)."""
    best = max(truth.values()) if truth else math.nan
    table = Table(title=rep.title, title_justify="left")
    table.add_column("arm")
    for col in ("true", "decisions", "mean", "95% interval", "P(best)", "allocation"):
        table.add_column(col, justify="right")
    for a in rep.arms:
        t = truth.get(a.arm, math.nan)
        mark = " ★" if t == best else ""
        table.add_row(
            a.arm + mark, f"{t:.2f}", str(a.pulls),
            "–" if a.mean is None else f"{a.mean:.3f}",
            "–" if a.low is None or a.high is None else f"{a.low:.2f}–{a.high:.2f}",
            chance(a.p_best, 0), f"{a.allocation:.0%}")
    notes = [f"{rep.total_pulls} decisions · {rep.total_answered:g} rewards",
             "true: what the simulated answers average",
             f"mean and interval: {rep.interval_kind}", *([rep.verdict] if rep.verdict else [])]
    return Group(table, *(Text(line, overflow="fold") for line in notes))


def run_demo(*, config: BanditConfig | str | None, store: str, steps: int, rates: Sequence[str],
             response_rate: float, seed: int, out: Path, keep: bool, live: bool,
             console: Console, on_step: Callable[[int], object] | None = None) -> list[Path]:
    """Run the demo; returns the PNG paths written. ``on_step`` is called with the number
    of visits done (per experiment) after each one."""
    svc: BanditService = build_service(config, store, seed=seed)
    truth = parse_rates(rates, svc.config, default_truth(svc.config))
    experiments = [e for e in svc.config.experiments if not e.features]
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
    console.print(view())
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        from ._charts import report_png
        from ._series import DecisionSeries

        for exp in experiments:
            path = out / f"banditbot-demo-{exp.id}.png"
            rep = svc.report(exp.id)
            series = DecisionSeries.from_records(
                [a.arm for a in rep.arms], svc.decisions(exp.id, generation=rep.generation))
            report_png(rep, series, path)
            written.append(path)
    except ImportError as exc:  # MissingDependencyError is an ImportError
        from rich.markup import escape  # the hint names banditbot[plots]: not markup

        console.print(f"[yellow]no charts:[/] {escape(str(exc))}")
    db = getattr(svc.store, "path", None)
    console.print()
    if db is not None:
        console.print(f"database: {Path(db).resolve()}")
    for path in written:
        console.print(f"chart:    {path.resolve()}")
    if svc.store.url.startswith("memory:"):  # gone with this process: nothing to report on
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
