"""Offline: ``evaluate`` other policies on a log, ``learn`` (warm-start) from one."""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from .._errors import BanditBotError, PayloadError
from .._files import remove_database
from .._text import did_you_mean
from ._app import (
    ConfigOpt,
    StoreOpt,
    app,
    console,
    err_console,
    png_file,
    replaced_text,
    service,
    settings,
)
from ._output import distinct, print_json, print_table, progress

if TYPE_CHECKING:
    from ..offline import ColumnMap, LoggedBandit, WarmStart
    from ..policies import Policy
    from ._output import Progress

# the log's columns, the same options for evaluate and learn
ActionCol = Annotated[str, typer.Option(help="Column with the action.")]
RewardCol = Annotated[str, typer.Option(help="Column with the reward.")]
PscoreCol = Annotated[str, typer.Option(help="Column with the propensity.")]
TimestampCol = Annotated[str | None, typer.Option(
    help="Column with each round's time, ISO 8601 or seconds since 1970 (default: "
         "created_at, if the log has it); behavior:LOG needs times in both logs.")]
ExactActions = Annotated[bool, typer.Option(
    "--exact-actions", help="Take the action column as written: a rare action that "
                            "differs from a common one only by case or spaces (Hey beside "
                            "hey) is refused as a typo otherwise.")]
ObdRoot = Annotated[Path | None, typer.Option(
    help="Open Bandit Dataset folder, the one with random/ and bts/ (default: "
         "BANDITBOT_OBD_ROOT, else ./data/obd, or the sample in a clone's "
         "tests/data/obd).")]


def _colon_form(spec: str) -> str:
    """``NAME(key=value, key=value)`` — as the evaluation table's policy column writes a
    policy, Python's ``True`` and ``False`` included — in the option's form
    ``NAME:key=value,key=value``; any other text as it is."""
    match = re.fullmatch(r"\s*([\w-]+)\s*\((.*)\)\s*", spec)
    if match is None:
        return spec
    pairs = [p.strip() for p in match[2].split(",") if p.strip()]
    pairs = [re.sub(r"=\s*(True|False)$", lambda m: f"={m[1].lower()}", p) for p in pairs]
    return f"{match[1]}:{','.join(pairs)}" if pairs else match[1]


@app.command()
def evaluate(
    log: Annotated[str, typer.Argument(help="Log: a .csv/.parquet file, - (a log piped in: "
                                       "banditbot export EXP -o - | banditbot evaluate -), "
                                       "obd:random, obd:bts, or store:EXPERIMENT (the "
                                       "decision log in --store).")],
    policy: Annotated[list[str] | None, typer.Option(
        "--policy", "-p", help="Evaluation policy NAME[:k=v,…], 'uniform', or "
                               "'behavior:LOG' (another log's logging policy); "
                               "repeatable (default: uniform, thompson and "
                               "epsilon-greedy).")] = None,
    estimator: Annotated[list[str] | None, typer.Option(
        "--estimator", "-e", help="replay, ips, snips, dm, dr, sndr, switch-dr "
                                  "(repeatable; default: ips, snips, dm, dr).")] = None,
    train_share: Annotated[float, typer.Option(
        min=0.0, max=0.95, help="Share of rounds (oldest first) the policies learn from "
                                "before they are evaluated on the rest.")] = 0.5,
    online: Annotated[bool, typer.Option(help="Also replay each policy online.")] = False,
    n_bootstrap: Annotated[int, typer.Option(
        min=10, max=100_000, help="Bootstrap resamples per interval.")] = 500,
    seed: Annotated[int, typer.Option(min=0, help="Random seed (reproducible).")] = 0,
    jobs: Annotated[int | None, typer.Option(
        "--jobs", "-j", min=1, max=1024,
        help="Threads the bootstrap replicates run on (default: every core). The result "
             "depends on --seed only, not on --jobs.")] = None,
    png: Annotated[Path | None, typer.Option(help="Write a chart of the estimates and their "
                                             "intervals to this PNG file.")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print one JSON document (the log and a row per policy and "
                       "estimator) instead of a table.")] = False,
    action_col: ActionCol = "arm",
    reward_col: RewardCol = "reward",
    pscore_col: PscoreCol = "propensity",
    timestamp_col: TimestampCol = None,
    context_col: Annotated[list[str] | None, typer.Option(
        help="Context columns (default: every ctx_* column).")] = None,
    exact_actions: ExactActions = False,
    obd_root: ObdRoot = None,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Estimate what other policies would have earned on a log (off-policy evaluation).

    The bootstrap replicates run on every core (--jobs to choose). Progress goes to stderr:
    a bar of the replicates done with the time left in a terminal, a line every 10 s
    otherwise.
    """
    from rich.markup import escape
    from rich.table import Table

    from ..offline import ColumnMap, check_behavior, in_time_order, make_estimator
    from ..offline import evaluate as run_eval

    existed = png is not None and png_file(png).expanduser().is_file()  # replaced: said
    for name in estimator or ():  # before anything starts (it failed after "started")
        make_estimator(name)
    # each once, as simulate runs a policy given twice (their rows were printed twice)
    estimators = distinct(list(estimator or ("ips", "snips", "dm", "dr")),
                          lambda name: name.strip().lower().replace("_", "-"),
                          done="estimated once", console=err_console)
    cmap = ColumnMap(action=action_col, reward=reward_col, pscore=pscore_col,
                     context=tuple(context_col) if context_col else None,
                     timestamp=timestamp_col)
    # oldest first, as run_eval reads it (its split, and the baseline below, by time); the
    # reward model alone (-e dm) needs no propensities
    data = in_time_order(_load_log(
        log, cmap, obd_root, config, store,
        pscore_required=online or not set(estimator or ()) <= {"dm"} or not estimator,
        exact_actions=exact_actions))
    specs = policy or ["uniform", "thompson", "epsilon-greedy"]
    evaluation: list[Policy | str] = []
    behavior = {}
    from ..policies import parse_policy

    given: list[str] = []  # each policy as its rows name it: one given twice runs once
    for spec in specs:
        if spec == "uniform":
            evaluation.append("uniform")
            given.append("uniform")
        elif spec.startswith("behavior:"):
            other = spec.removeprefix("behavior:")
            if not other.strip():  # (it read the current folder: "error: .: Is a directory")
                raise PayloadError("-p behavior: names no log after the colon",
                                   hint="behavior:LOG, LOG a .csv/.parquet file, obd:bts or "
                                        "store:EXPERIMENT (e.g. -p behavior:old-log.csv)")
            given.append(spec)
            if other in behavior:
                continue
            if other == "-" == log:
                raise PayloadError("the log and -p behavior:- both read stdin, which holds "
                                   "one log", hint="give one of them as a file")
            behavior[other] = _load_log(other, cmap, obd_root, config, store)
            check_behavior(behavior[other], data)  # before it starts (it failed after)
        else:
            try:
                parsed = parse_policy(_colon_form(spec))
                evaluation.append(parsed)
                given.append(parsed.describe())
            except BanditBotError as exc:  # the names this option takes beside policies'
                if exc.hint and exc.hint.startswith("use one of: "):
                    names = [*exc.hint.removeprefix("use one of: ").split(", "), "uniform"]
                    exc.hint = did_you_mean(_colon_form(spec).partition(":")[0],
                                            names) + exc.hint + \
                        ", uniform, or behavior:LOG (another log's logging policy); " \
                        "parameters as NAME:key=value,key=value (e.g. epsilon-greedy:" \
                        "epsilon=0.2)"
                raise
    distinct(given, str, done="evaluated once", console=err_console)  # (the note)
    evaluation = distinct(evaluation, lambda p: p if isinstance(p, str) else p.describe(),
                          done="", console=None)
    n_policies = len(evaluation) + len(behavior)
    with progress("evaluate", n_policies * n_bootstrap, "bootstrap replicates") as bar:
        started = [-1]

        def step(label: str) -> None:  # called as each policy starts
            started[0] += 1
            bar.update(started[0] * n_bootstrap, label)

        def replicates(done: int) -> None:  # the current policy's replicates done
            bar.update(started[0] * n_bootstrap + done)

        rows = run_eval(data, evaluation, estimators=tuple(estimators),
                        train_share=train_share, n_bootstrap=n_bootstrap, seed=seed,
                        online=online, behavior=behavior, progress=step, n_jobs=jobs,
                        bootstrap_progress=replicates)
    cut = int(data.n_rounds * train_share)  # as run_eval splits the log
    parts = [f"policies learn from the first {cut:,}, evaluated on the last "
             f"{data.n_rounds - cut:,}"] if cut else []
    if online:  # (its rows replay every round, learning as they go: not the split's)
        parts.append(f"replay-online learns as it replays all {data.n_rounds:,}")
    split = f" ({'; '.join(parts)})" if parts else ""
    # the logged policy's mean reward on the rounds the estimates are about (over the whole
    # log it was another baseline than the estimates': a policy equal to the logged one
    # looked better or worse)
    baseline = float(data.reward[cut:].mean())
    title = (f"{data.source}: {data.n_rounds:,} rounds{split}, {data.n_actions} actions, "
             "logged mean reward " + (f"on the {data.n_rounds - cut:,} evaluated rounds "
                                      if cut else "") + f"{baseline:.5g}")
    notes = [*data.notes, *_untrained(evaluation, cut, train_share, data.n_rounds)]
    for note in notes:
        err_console.print(f"note: {note}", markup=False, highlight=False)
    if as_json:
        print_json({"log": data.source, "rounds": data.n_rounds, "actions": data.n_actions,
                    "train_rounds": cut, "notes": notes,
                    "logged_mean_reward": baseline,  # on the evaluated rounds
                    "logged_mean_reward_all_rounds": float(data.reward.mean()),
                    # what each row's two intervals are
                    "interval": "low, high: 95% bootstrap percentile interval (one look)",
                    "anytime_interval": "anytime_low, anytime_high: 95% confidence sequence "
                                        "(betting on the importance-weighted rewards; valid "
                                        "at every look; IPS and SNIPS only)",
                    "ess": "effective sample size (Σw)²/Σw² of the importance "
                           "weights; dm: the number of evaluated rounds; replay, "
                           "replay-online: the matched rounds",
                    "rows": [{"policy": r.policy, "estimator": r.estimate.estimator,
                              "value": r.estimate.value if r.estimate.overlap else None,
                              "low": r.estimate.low, "high": r.estimate.high,
                              "anytime_low": r.estimate.cs_low,
                              "anytime_high": r.estimate.cs_high,
                              "ess": r.estimate.ess, "max_weight": r.estimate.max_weight,
                              "rounds": r.estimate.n_rounds, "overlap": r.estimate.overlap,
                              # the policy's average choice over the evaluated rounds
                              "choices": dict(r.choices),
                              "warnings": list(r.estimate.warnings)} for r in rows]})
    else:
        table = Table(title=title, title_justify="left", caption="\n".join(
            escape(line) for line in _legend({r.estimate.estimator for r in rows})),
            caption_justify="left")
        for col in ("policy", "estimator", "estimate", "95% bootstrap", "95% every look",
                    "ESS", "max weight", "warnings"):
            table.add_column(col, justify="right" if col in ("estimate", "ESS", "max weight")
                             else "left", no_wrap=col != "warnings")
        for row in rows:
            e = row.estimate
            table.add_row(row.policy, e.estimator, e.value_text(), e.interval_text(),
                          e.anytime_text(), f"{e.ess:,.0f}",
                          "–" if e.max_weight != e.max_weight else f"{e.max_weight:,.3g}",
                          "; ".join(e.warnings))
        print_table(table, console)
    if png is not None:
        from .._charts import evaluation_png

        evaluation_png([(r.policy, r.estimate) for r in rows], path=png, title=title,
                       baseline=baseline)
        (err_console if as_json else console).print(
            f"chart: {png}{replaced_text(png, existed)}", markup=False, highlight=False,
            soft_wrap=True)


def _untrained(policies: list[Policy | str], cut: int, train_share: float,
               n_rounds: int) -> list[str]:
    """A note when the policies that learn learned from no round (``--train-share 0``:
    thompson's rows were uniform's to the digit, 0.29210 both, and nothing said why)."""
    learners = [p.describe() for p in policies if not isinstance(p, str)]
    if cut or not learners:
        return []
    they = "it starts" if len(learners) == 1 else "they start"
    return [f"{', '.join(learners)} learned from 0 rounds (--train-share {train_share:g} of "
            f"{n_rounds:,}): evaluated untrained, as {they} (most policies then choose "
            "uniformly at random); a --train-share above 0 lets them learn from the oldest "
            "rounds first"]


#: the estimators with an interval valid at every look (the table's "95% every look")
_ANYTIME = ("ips", "snips")


def _legend(shown: set[str]) -> list[str]:
    """What the evaluation table's columns mean, for the estimators ``shown`` (a trial read
    "95% every look" and DR's "–" without a word on either; --json says it in its keys)."""
    lines = ["95% bootstrap: percentile bootstrap interval over the evaluated rounds, for "
             "one look at this log"]
    if shown & set(_ANYTIME):
        lines.append("95% every look: an anytime interval (confidence sequence) for the "
                     "policy's value, valid at every look at the log read in order, however "
                     "often you look; IPS and SNIPS only (the same for both)")
    others = sorted(shown - set(_ANYTIME))
    if others:
        lines.append(f"– under 95% every look ({', '.join(others)}): only IPS and SNIPS "
                     "have an interval valid at every look (a reward model's bias, or a "
                     "replay's matching, has no such bound)")
    ess = ("ESS: effective sample size (Σw)²/Σw² of the importance weights w = the policy's "
           "probability of the logged action / its propensity; max weight: the largest w")
    if "dm" in shown:
        ess += "; DM weighs no round: its ESS is just the number of evaluated rounds"
    replays = sorted(shown & {"replay", "replay-online"})
    if replays:
        ess += (f"; {' and '.join(replays)}: the ESS is the matched rounds (where the "
                "policy's choice is the logged action), no weights")
    lines.append(ess)
    return lines


def _history_weight(value: float) -> float:
    """``--weight`` must be a number in (0, 100]: ``nan`` (which every comparison refuses)
    was told "should be less than or equal to 100", which it is not greater than either."""
    import math

    if not (math.isfinite(value) and 0.0 < value <= 100.0):
        raise typer.BadParameter(f"must be a number in (0, 100], got {value:g} (e.g. 0.2 "
                                 "counts each round of history as a fifth)")
    return value


@app.command()
def learn(
    log: Annotated[str, typer.Argument(help="Log (as for evaluate).")],
    experiment: Annotated[str, typer.Option("--experiment", "-x",
                                            help="Experiment to start from history.")],
    as_prior: Annotated[bool, typer.Option(help="Set priors instead of statistics.")] =
    False,
    weight: Annotated[float, typer.Option(
        callback=_history_weight, help="Weight of the history, in (0, 100] (e.g. 0.2 = "
                                       "count each round as a fifth).")] = 1.0,
    ips: Annotated[bool, typer.Option(
        "--ips/--no-ips", help="Importance-weight the history by its logged propensities "
                               "(--no-ips: count every round as it is).")] = True,
    min_ess: Annotated[float, typer.Option(
        min=0.0, help="Refuse when an arm's effective sample size is below this (0: import "
                      "whatever the history holds).")] = 10.0,
    clip: Annotated[float, typer.Option(
        min=1.0, help="Cap each weight at this multiple of the arm's median weight (inf: "
                      "no cap).")] = 10.0,
    skip_learned: Annotated[bool, typer.Option(
        "--skip-learned", help="Learn only the rounds not learned before (a newer export "
                               "that holds an older, learned one).")] = False,
    action_col: ActionCol = "arm",
    reward_col: RewardCol = "reward",
    pscore_col: PscoreCol = "propensity",
    exact_actions: ExactActions = False,
    obd_root: ObdRoot = None,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Warm-start an experiment from a log (IPS-weighted statistics or priors)."""
    from ..offline import ColumnMap, WarmStartInterrupted, warm_start
    from ..stores import new_sqlite_file

    cmap = ColumnMap(action=action_col, reward=reward_col, pscore=pscore_col, context=())
    try:
        # --no-ips counts every round as it is: a log without propensities will do
        data = _load_log(log, cmap, obd_root, config, store, title="learn",
                         pscore_required=ips, exact_actions=exact_actions)
        fresh = new_sqlite_file(store or settings().store_url)
        svc = service(config, store)
        try:
            with contextlib.ExitStack() as bars:
                result = warm_start(svc, experiment, data, as_prior=as_prior, weight=weight,
                                    actor="cli", ips=ips, min_ess=min_ess, clip=clip,
                                    skip_learned=skip_learned,
                                    progress=_write_progress(bars))
        except (BanditBotError, KeyboardInterrupt) as exc:
            # refused or stopped with nothing written: no empty database left behind
            if fresh is not None and not getattr(exc, "changed", False):
                svc.store.close()
                remove_database(fresh)
            raise
    except WarmStartInterrupted as stop:  # what the store holds now, not a generic word
        _interrupted(f"{stop.message} ({stop.hint})")
    except KeyboardInterrupt:  # before the warm start wrote anything
        _interrupted(f"stopped before anything was imported: {experiment!r} is as it was")
    try:
        _print_warm_start(result)
    except KeyboardInterrupt:
        _interrupted(f"the warm start was complete ({result.note})")


def _write_progress(bars: contextlib.ExitStack) -> Callable[[int, int, str], None]:
    """``learn``'s progress as it writes (a bar in a terminal, a line every 10 s
    otherwise), started when the rounds to write are known (1M rows ran 50 s with nothing
    after "learn: loading big.csv …")."""
    bar: list[Progress] = []

    def update(done: int, total: int, arm: str) -> None:
        if not bar:
            bar.append(bars.enter_context(progress("learn", total, "rounds")))
        bar[0].update(done, arm)

    return update


def _interrupted(what: str) -> NoReturn:
    """Ctrl+C during ``learn``: what the store holds, and exit code 130 (the generic word,
    "stopped before the end", said nothing of an import half done)."""
    err_console.print(f"interrupted (Ctrl+C): {what}", markup=False, highlight=False,
                      soft_wrap=True)
    raise SystemExit(130)  # (not typer.Exit: its 130 adds the generic word after this)


def _print_warm_start(result: WarmStart) -> None:
    """What ``learn`` imported, per arm, and the note it left."""
    if result.plan is not None:
        console.print(f"{'arm':<16} {'rounds':>7} {'ESS':>8} {'imported':>9} "
                      f"{'largest weight':>15}  naive mean → imported mean", highlight=False)
        for a in result.plan.arms:  # imported: the clipped history's evidence at --weight
            console.print(f"{a.arm:<16} {a.rounds:>7} {a.ess_raw:>8.1f} "
                          f"{float(a.weights.sum()):>9.1f} "
                          f"{a.max_weight:>15.3g}  {a.naive_mean:.4g} → {a.mean:.4g}",
                          highlight=False, markup=False)
    if result.rounds_skipped:
        console.print(f"[yellow]{result.rounds_skipped} rounds skipped[/] (their action is "
                      "not an arm of the experiment)")
    console.print(result.note)


#: A log file at least this large is said as it is read (below, reading takes a moment).
LARGE_LOG = 5_000_000


def _load_log(spec: str, cmap: ColumnMap, obd_root: Path | None, config: str | None,
              store: str | None, *, title: str = "evaluate",
              pscore_required: bool = True, exact_actions: bool = False) -> LoggedBandit:
    """A log from a path, ``obd:random|bts`` or ``store:EXPERIMENT``; one line on stderr as
    the loading starts, unless the log is a small file (``evaluate obd:bts`` printed
    nothing for 6 s, then "evaluate: started"). ``pscore_required`` false: a file without
    the propensity column reads each propensity as 1; ``exact_actions``: as
    :func:`~banditbot.offline.read_log`'s."""
    from ..offline import from_records, load_obd, read_log

    if spec == "-" and sys.stdin.isatty():  # (it would wait for a log typed in)
        raise PayloadError("- reads the log from stdin, which is this terminal",
                           hint=f"pipe a log in: banditbot export EXP -o - | banditbot {title} "
                                "-; or give a file")
    path = Path(spec)
    if spec.startswith(("obd:", "store:")) or (path.is_file()
                                               and path.stat().st_size >= LARGE_LOG):
        err_console.print(f"{title}: loading {spec} …", markup=False, highlight=False,
                          soft_wrap=True)
    if spec.startswith("obd:"):
        return load_obd(spec.removeprefix("obd:"), root=obd_root or settings().obd_root)
    if spec.startswith("store:"):
        svc = service(config, store, read_only=True)
        exp = spec.removeprefix("store:")
        generation = svc.current_generation(exp)
        try:
            return from_records(svc.decisions(exp, generation=generation))
        except PayloadError as exc:  # after a reset: the earlier generations' log, as
            if generation:  # export points to it (not "run the experiment first")
                exc.hint = (f"generation {generation} (since the last reset) has none yet; "
                            f"the log before the reset: banditbot export {exp} "
                            f"--all-generations -o old.csv, then banditbot {title} old.csv")
            raise
    return read_log(spec, cmap, pscore_required=pscore_required,
                    exact_actions=exact_actions)
