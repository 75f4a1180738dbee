"""Admin commands: cheater mode, priors, reset, policy, arms, API keys, the store's tables."""

from __future__ import annotations

from typing import Annotated

import typer

from .._errors import ConfigError, InvalidRewardError
from .._text import one_line
from ._app import (
    NUMBER_ARGUMENTS,
    ConfigOpt,
    ExpArg,
    StoreOpt,
    app,
    arms_app,
    console,
    err_console,
    keys_app,
    service,
    settings,
)


@app.command(context_settings=NUMBER_ARGUMENTS)
def cheat(
    experiment: ExpArg,
    arm: Annotated[str, typer.Argument(help="Arm id.")],
    rewards: Annotated[str, typer.Argument(
        help="Rewards, e.g. 1101 or '4 5 3' (required unless --successes or --failures "
             "gives some).")] = "",
    successes: Annotated[int, typer.Option(
        min=0, help="N rewards at the top of the scale (1 for 👍/👎, the maximum of a "
                    "rating or a bounded number).")] = 0,
    failures: Annotated[int, typer.Option(
        min=0, help="N rewards at the bottom of the scale (0 for 👍/👎, the minimum of a "
                    "rating or a bounded number).")] = 0,
    scope: Annotated[str | None, typer.Option(
        help="Whose bandit, for an experiment with scope chat or subject: chat:ID or "
             "subject:ID.")] = None,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Add rewards to an arm by hand ("cheater mode", for testing)."""
    if not (rewards.replace(",", " ").split() or successes or failures):  # before the store
        raise InvalidRewardError("no rewards given",  # is opened (it would be created)
                                 hint="e.g. 1101 or '4 5 3', or --successes N and/or "
                                      "--failures N")
    n = service(config, store, admin=True).cheat(experiment, arm, rewards, successes=successes,
                                     failures=failures, actor="cli", scope=scope or "")
    where = f" ({scope})" if scope else ""
    console.print(f"added {n:,} reward{'' if n == 1 else 's'} to {experiment}/{arm}{where}")


@app.command(context_settings=NUMBER_ARGUMENTS)
def prior(
    experiment: ExpArg,
    arm: Annotated[str, typer.Argument(help="Arm id.")],
    alpha: Annotated[float, typer.Argument(
        help="Pseudo-successes (on a rating or a bounded number: answers at the top).")],
    beta: Annotated[float, typer.Argument(
        help="Pseudo-failures (on a rating or a bounded number: answers at the bottom).")],
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Set an arm's prior (kept apart from observations)."""
    means = service(config, store, admin=True).set_prior(experiment, arm, alpha, beta, actor="cli")
    console.print(f"prior of {experiment}/{arm} set to alpha={alpha:g}, beta={beta:g}: {means}")


@app.command()
def reset(
    experiment: ExpArg,
    clear_priors: Annotated[bool, typer.Option(help="Also clear the priors.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Start an experiment's learning over (the decision log is kept)."""
    svc = service(config, store, existing=True)
    svc.experiment(experiment)
    if not yes:
        typer.confirm(f"Reset {experiment!r}? Its statistics start from zero", abort=True)
    gen = svc.reset(experiment, keep_priors=not clear_priors, actor="cli")
    console.print(f"{experiment} reset (generation {gen})")


@app.command()
def policy(
    experiment: ExpArg,
    name: Annotated[str, typer.Argument(help="Policy name, e.g. thompson, ucb1.")],
    params: Annotated[list[str] | None, typer.Argument(
        help="Parameters as key=value, e.g. epsilon=0.2; each policy's parameters: "
             "docs/policies.md or GET /v1/policies.")] = None,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Switch an experiment's policy (what was learned is kept)."""
    from ..policies import parse_params

    p = service(config, store, admin=True).switch_policy(
        experiment, name, parse_params(params or []), actor="cli")
    console.print(p.message, markup=False, highlight=False)


@arms_app.command("list")
def arms_list(experiment: ExpArg, config: ConfigOpt = None, store: StoreOpt = None) -> None:
    """List an experiment's arms (active and retired)."""
    # (from the experiment as it runs, as /arm list: a report leaves out an arm retired
    # before a reset, which has no results in this generation, but it is still the
    # experiment's, and `arms add` brings it back)
    view = service(config, store, read_only=True).view(experiment)
    # the ids' column as wide as the longest (an id past 16 characters pushed its row's
    # state and content out of line with the others')
    width = max([16, *(len(arm) for arm in view.all_arms)])
    for arm in view.all_arms:
        state = "active " if arm in view.arms else "retired"
        # one row per arm: its content on one line, whole (a content of several lines ran
        # over several rows; the bot's /arm list cuts at 60 characters, a terminal need not)
        console.print(f"{arm:<{width}} {state}  {one_line(view.contents[arm], None)}",
                      markup=False, highlight=False)


@arms_app.command("add")
def arms_add(
    experiment: ExpArg,
    arm: Annotated[str, typer.Argument(help="New arm id.")],
    content: Annotated[str, typer.Argument(
        help="What users see (required for a new arm; leave it out only to bring back a "
             "retired one).")] = "",
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Add an arm (or bring back a retired one)."""
    service(config, store, admin=True).add_arm(experiment, arm, content, actor="cli")
    console.print(f"arm {arm} added to {experiment}")


@arms_app.command("retire")
def arms_retire(
    experiment: ExpArg,
    arm: Annotated[str, typer.Argument(help="Arm id.")],
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Stop offering an arm (its statistics are kept)."""
    also = service(config, store, admin=True).retire_arm(experiment, arm, actor="cli")
    console.print(f"arm {arm} of {experiment} retired" + (f"; {also}" if also else ""))


@app.command("init-db")
def init_db(store: StoreOpt = None) -> None:
    """Create what the store needs (tables; for DynamoDB the table with TTL). Idempotent."""
    from ..stores import open_store

    s = open_store(store or settings().store_url)
    s.init()
    console.print(f"store ready: {s.url}")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="A name for the key (who uses it).")],
    role: Annotated[str, typer.Option(help="read, decide (decide + reward) or admin.")] =
    "decide",
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Create an API key; it is printed once and stored only as a hash.

    The key alone goes to stdout and what it is to stderr, so a script can keep it:
    KEY=$(banditbot keys create --name app --role decide)
    """
    from ..service import KeyRing
    from ..stores import store_kind

    svc = service(config, store)
    if store_kind(svc.store.url) == "memory":  # a key no server could ever be asked with
        raise ConfigError("a key stored in memory:// is gone when this command ends",
                          hint="create it in the store the server uses (--store or "
                               "BANDITBOT_STORE), or list keys by hash in the experiments "
                               "file's api_keys")
    key, record = KeyRing(svc.store, svc.config.api_keys).create(name, role)
    err_console.print(f"{record.role} key {record.name!r} created; it is shown once, keep it "
                      "safe:", markup=False, highlight=False, soft_wrap=True)
    typer.echo(key)


@keys_app.command("list")
def keys_list(config: ConfigOpt = None, store: StoreOpt = None) -> None:
    """List API keys (names, roles, status; never the keys)."""
    from ..service import KeyRing

    svc = service(config, store, read_only=True)
    keys = KeyRing(svc.store, svc.config.api_keys).list()
    if not keys:
        err_console.print("no API keys yet: banditbot keys create --name NAME --role read",
                          markup=False, highlight=False)
        return
    rows = [("name", "role", "status", "source", "fingerprint")] + [
        (k.name, k.role, "revoked" if k.revoked else "active", k.source,
         f"sha256:{k.sha256[:12]}…") for k in keys]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        console.print("  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)),
                                 row[4]]), markup=False, highlight=False)


@keys_app.command("revoke")
def keys_revoke(name: Annotated[str, typer.Argument(help="Key name.")],
                config: ConfigOpt = None, store: StoreOpt = None) -> None:
    """Revoke an API key (effective within seconds on every server)."""
    from ..service import KeyRing

    svc = service(config, store)
    if not KeyRing(svc.store, svc.config.api_keys).revoke(name):
        raise ConfigError(f"no active stored key named {name!r}",
                          hint="see banditbot keys list")
    console.print(f"key {name!r} revoked")


@keys_app.command("rotate-pseudonyms")
def keys_rotate_pseudonyms(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Replace the secret behind export pseudonyms: later exports cannot be linked to
    earlier ones."""
    from ..offline import rotate_pseudonym_key

    # a store that has run (a new database has no exports to unlink: one was created, then
    # left behind when the prompt was answered no)
    svc = service(config, store, existing=True)
    if not yes:
        typer.confirm("Rotate the pseudonym secret? Exports made from now on cannot be "
                      "linked to earlier ones", abort=True)
    rotate_pseudonym_key(svc.store)
    svc.audit("cli", "*", "rotate-pseudonyms", "")
    console.print("pseudonym secret rotated")


@app.command()
def audit(
    experiment: Annotated[str | None, typer.Argument(
        help="Experiment id (default: every experiment's actions).")] = None,
    action: Annotated[list[str] | None, typer.Option(
        "--action", "-a", help="Only this action (repeatable), e.g. reset or policy (a "
                               "name it does not know is refused with the list).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000,
                                       help="The most recent this many.")] = 50,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print one JSON document (an array, newest first).")] = False,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Show the audit log: who changed what, when (newest first). Every admin action is in
    it — hand-added rewards, priors, resets, policy switches, arms added and retired, the
    winner rule's stop, exports from the bot — from the CLI (actor ``cli``), the HTTP API
    (``api:KEY``), Telegram (``tg:USER_ID``) and the service's own rules (``rule``). Times
    are in the experiments file's ``time_zone``, as reports show them (``--json``: UTC, ISO
    8601, as the HTTP API gives them)."""
    from datetime import UTC, datetime

    from .._text import local_time
    from ..stores import ADMIN_ACTIONS
    from ._output import print_json, print_table

    svc = service(config, store, read_only=True)
    unknown = sorted(set(action or ()) - set(ADMIN_ACTIONS))
    if unknown:
        raise typer.BadParameter(
            f"{', '.join(unknown)}: the actions are {', '.join(ADMIN_ACTIONS)}",
            param_hint="--action")
    records = svc.store.admin_log(experiment, limit, actions=set(action) if action else None)
    if experiment is not None and not records and not svc.store.admin_log(experiment, 1):
        # an id the log and the config do not know is refused, with the known ones (an
        # experiment since removed from the config keeps its audit log)
        svc.experiment(experiment)
    zone = svc.config.time_zone
    rows = [{"at": datetime.fromtimestamp(r.at, UTC).isoformat(timespec="seconds"),
             "actor": r.actor, "experiment": r.experiment, "action": r.action,
             "details": r.details} for r in records]
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print(f"no admin actions{f' on {experiment}' if experiment else ''} in the "
                      "audit log", markup=False, highlight=False)
        return
    from rich.table import Table

    more = " (the most recent; --limit shows more)" if len(rows) == limit else ""
    table = Table(title=f"audit log, newest first{more}", title_justify="left")
    # (the zone as the file names it: Europe/Berlin is CET in winter and CEST in summer)
    for col in (f"time ({zone})", "actor", "experiment", "action", "details"):
        table.add_column(col, no_wrap=col != "details")
    for r, record in zip(rows, records, strict=True):
        table.add_row(local_time(record.at, zone).strftime("%Y-%m-%d %H:%M:%S"), r["actor"],
                      r["experiment"], r["action"], r["details"])
    print_table(table, console)
