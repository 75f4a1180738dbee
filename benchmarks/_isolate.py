"""Imported first by every benchmark script: takes this folder off ``sys.path``, because it
holds ``http.py``, which would otherwise shadow the standard library's ``http``. Also
holds what several scripts share (this folder is not importable after it runs)."""

import importlib.util
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]


def sibling(name: str) -> ModuleType:
    """The script ``name``.py of this folder, imported by its path (the folder is off
    ``sys.path``); once per process."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, _HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def two_commits_us(n: int = 20_000, clock: Callable[[], float] = time.process_time
                   ) -> float:
    """Two durable SQLite WAL commits (synchronous=NORMAL) of one tiny row each, per pair:
    the floor under a logged decision and its reward on SQLite (on the store's 1 KiB pages,
    which make a minimal commit 5-10% cheaper than SQLite's default 4 KiB)."""
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(os.path.join(tmp, "floor.db"), isolation_level=None)
        conn.execute("PRAGMA page_size = 1024")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, reward REAL)")
        start = clock()
        for i in range(n):
            conn.execute("INSERT INTO t VALUES (?, NULL)", (i,))
            conn.execute("UPDATE t SET reward = 1 WHERE id = ? AND reward IS NULL", (i,))
        elapsed = clock() - start
        conn.close()
    return elapsed / n * 1e6


def service_loop_us(svc: Any, n: int, seed: int, experiment: str = "bench") -> float:
    """µs of process time per decide -> Bernoulli reward -> reward of ``svc`` on
    ``experiment``, its arms' rates spread over 0.05-0.25 in their order (200 warm-up
    pairs first, not timed). The rates and draws are Python floats, as in the layered
    prototype's loop: numpy scalars would charge the service ~0.2 µs of the harness's own
    indexing and comparison a decision."""
    import numpy as np

    arms = svc.active_arms(experiment)
    truth = dict(zip(arms, np.linspace(0.05, 0.25, len(arms)).tolist(), strict=True))
    draws = np.random.default_rng(seed + 1).random(n + 200).tolist()

    def loop(count: int, offset: int) -> None:
        for i in range(count):
            d = svc.decide(experiment, "user")
            svc.reward(d.id, 1 if draws[offset + i] < truth[d.arm] else 0, "user")

    loop(200, n)
    start = time.process_time()
    loop(n, 0)
    return (time.process_time() - start) / n * 1e6


def rotated(names: list[str], runs: int, measure: Callable[[str], tuple[float, float]]
            ) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Measure every name once per repeat, each repeat starting one name further along (so
    each is timed at every position, and the figures of one repeat were taken in the same
    minute): ``measure(name)`` gives ``(wall, cpu)`` seconds; returns both, per name."""
    times: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for i in range(runs):
        k = i % len(names)
        for name in names[k:] + names[:k]:
            wall, used = measure(name)
            times[name].append(wall)
            cpu[name].append(used)
    return times, cpu


#: the imports of the Lambda webhook path (benchmarks/lambda_cold_start.py, lambda_package.py)
LAMBDA_IMPORTS = ("import banditbot.aws, banditbot._compose, banditbot.telegram, "
                  "banditbot.stores._dynamodb, boto3")
#: a token of the right shape (nothing is sent: nothing connects before the first update)
LAMBDA_TOKEN = "123456:" + "A" * 35
#: the first invocation's build (``LambdaApp.parts`` without ``getMe``): the packaged
#: experiments file (as deploy/template.yaml sets it), a DynamoDB store, the bot; to be
#: formatted with ``config`` and ``token``
LAMBDA_BUILD = ("\nfrom banditbot._compose import build_lambda\n"
                "from banditbot._settings import Settings\n"
                "build_lambda(Settings.from_env({{'BANDITBOT_STORE': "
                "'dynamodb://banditbot?region=eu-west-1', 'BANDITBOT_CONFIG': {config!r}, "
                "'TELEGRAM_TOKEN': {token!r}, 'BANDITBOT_WEBHOOK_SECRET': 's' * 32}}, "
                "env_file=None))")


def binom(k: int, n: int) -> tuple[float, float]:
    """Clopper–Pearson 95% interval of ``k`` out of ``n`` (a coverage rate's)."""
    from scipy.stats import beta

    lo = 0.0 if k == 0 else float(beta.ppf(0.025, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(0.975, k + 1, n - k))
    return lo, hi


def ever_outside(scores: Any, column: int, mu: float, log_c: float) -> bool:
    """Whether the arm's confidence sequence excludes ``mu`` at some decision: the
    e-process of either side, at ``θ = mu``, reaches ``c`` (the report's sequence at ``t``
    is ``{θ : W_t(θ) < c}`` on each side, ``log W`` monotone in ``θ``). ``scores`` is an
    :class:`~banditbot.statistics.AipwScores` (the coverage scripts'; loaded on first use,
    so that a timing script importing this module does not pay for numpy)."""
    import numpy as np

    from banditbot.statistics._sequential import (
        DEFAULT_EFFECTS,
        _bet_parts,
        _block_bets,
        _logmix,
        _weights,
    )

    grid = np.asarray(DEFAULT_EFFECTS)
    weights = _weights(grid, None)
    var = scores.variance[:, column]
    for sign, low, theta_max in ((1.0, scores.lower[:, column], 1.0),
                                 (-1.0, -scores.upper[:, column], 0.0)):
        x = sign * scores.scores[:, column]
        inv, cap = _bet_parts(var, low, theta_max)
        lam = _block_bets(inv, cap, grid)  # (n, G)
        logw = np.cumsum(np.log1p(lam * (x - sign * mu)[:, None]), axis=0)
        if logw.shape[0] and float(_logmix(logw, weights).max()) >= log_c:
            return True
    return False
