"""Decide and reward from a terminal or a script: ``decide``, ``reward``, ``settle``."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from .._errors import PayloadError
from ._app import (
    NUMBER_ARGUMENTS,
    ConfigOpt,
    ExpArg,
    StoreOpt,
    app,
    console,
    err_console,
    service,
)


@app.command()
def decide(
    experiment: ExpArg,
    subject: Annotated[str, typer.Option(help="Who the decision is for.")] = "cli",
    context: Annotated[str | None, typer.Option(
        help='Context features as a JSON object, e.g. \'{"page": "home"}\'.')] = None,
    chat: Annotated[str | None, typer.Option(
        help="Chat id (ignored, with a warning, unless the experiment has scope: chat).")
    ] = None,
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
    svc = service(config, store)
    if chat is not None:
        exp = svc.experiment(experiment)
        _warn_chat_ignored(exp.id, exp.scope)
    d = svc.decide(experiment, subject, ctx, chat=chat)
    out = d.to_dict()
    said = svc.context_warnings(d.experiment, ctx)
    if said:  # what the HTTP API answers too
        out["warnings"] = said
    console.print_json(json.dumps(out))


#: what a bandit is per scope, when --chat does not choose it
_NOT_PER_CHAT = {"shared": "one bandit for everyone", "subject": "one bandit per --subject"}


def _warn_chat_ignored(experiment: str, scope: str) -> None:
    """Say on stderr that ``--chat`` chooses nothing in an experiment whose scope is not
    ``chat`` (it was ignored without a word)."""
    if scope != "chat":
        err_console.print(f"[yellow]warning:[/] experiment {experiment!r} has scope: {scope} "
                          f"({_NOT_PER_CHAT.get(scope, scope)}): --chat is ignored",
                          highlight=False, soft_wrap=True)


@app.command(context_settings=NUMBER_ARGUMENTS)
def reward(
    decision_id: Annotated[str, typer.Argument(help="Id printed by 'banditbot decide'.")],
    value: Annotated[str, typer.Argument(help="The reward, e.g. 1 or 0 or a rating.")],
    subject: Annotated[str | None, typer.Option(
        help="The decision's subject; refused if it differs (default: not checked; the "
             "operator is trusted).")] = None,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Report the reward of a decision (applied exactly once).

    Exit status: 0 applied; 1 already counted, nothing changed (a repeat, or an implicit
    experiment's silence counted first); 2 refused (unknown decision, someone else's, a
    value the experiment does not allow), said on stderr. A negative value goes after
    "--": banditbot reward -- ID -2.5
    """
    from ..service import RewardStatus

    # (a reward needs the decision's database: a mistyped --store made a new one and said
    # "no decision has that id")
    result = service(config, store, existing=True).reward(decision_id, value, subject)
    if result.status is RewardStatus.UNKNOWN:  # stderr, exit 2 (the first problem only)
        raise PayloadError(f"{result.message} ({result.decision_id})")
    if result.status not in (RewardStatus.APPLIED, RewardStatus.DUPLICATE):
        raise PayloadError(result.message)  # a sentence that says what was refused
    console.print(f"{result.status.value}: {result.message}")
    if result.status is RewardStatus.DUPLICATE:
        raise typer.Exit(1)


@app.command()
def settle(experiment: ExpArg, config: ConfigOpt = None, store: StoreOpt = None) -> None:
    """Apply the default reward to unanswered decisions past the wait window (implicit mode)."""
    from .._text import count_text

    svc = service(config, store)
    exp = svc.experiment(experiment)
    if exp.reward_mode != "implicit":
        raise PayloadError(f"{exp.id!r} waits for answers (reward_mode: {exp.reward_mode}): "
                           "nothing is settled by silence",
                           hint="settle applies to experiments with reward_mode: implicit")
    console.print(f"{count_text(svc.settle(experiment), 'decision')} settled")
