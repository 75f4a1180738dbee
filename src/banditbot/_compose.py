"""The composition root: settings in, wired objects out.

Every entry point builds what it runs here, from :class:`~banditbot._settings.Settings`:

* :func:`build_service` — the engine (config + store + generator);
* :func:`build_bot` — the python-telegram-bot ``Application`` (polling or webhook);
* :func:`build_http_app` — the ASGI app of ``banditbot serve`` (API, dashboard, webhook);
* :func:`build_lambda` — what the AWS Lambda handler runs, once per container.

Nothing here runs at import time; nothing connects until a function is called.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._config import BanditConfig, default_config_path, load_config
from ._errors import ConfigError
from ._settings import Settings
from .service import BanditService
from .stores import Store, open_store, store_kind

__all__ = [
    "LambdaParts",
    "attach_lambda_bot",
    "build_bot",
    "build_http_app",
    "build_lambda",
    "build_service",
    "ensure_webhook_secret",
    "http_app_from_env",
    "ssm_parameter",
]

log = logging.getLogger("banditbot")


def build_service(
    config: BanditConfig | str | os.PathLike[str] | None = None,
    store: Store | str | None = None,
    *,
    seed: int | None = None,
    init: bool = True,
    settings: Settings | None = None,
) -> BanditService:
    """Build a :class:`BanditService` from a config (object or YAML path) and a store
    (object or URL).

    Parameters
    ----------
    config
        A :class:`BanditConfig`, a path to an experiments YAML, or ``None`` for the
        settings' (``BANDITBOT_CONFIG``), then ``./experiments.yaml``,
        ``examples/experiments.yaml`` or the packaged example.
    store
        A :class:`~banditbot.stores.Store`, a store URL, or ``None`` for the settings'
        (``BANDITBOT_STORE``, default ``sqlite:///banditbot.db``).
    seed
        Seed of the service's random generator (``None``: fresh entropy).
    init
        Create the store's tables if needed (idempotent).
    settings
        Where the defaults come from (default: :meth:`Settings.from_env`).

    Examples
    --------
    >>> svc = build_service(store="memory://", seed=1)
    >>> sorted(e.id for e in svc.config.experiments)
    ['greeting', 'random', 'tip']
    """
    if settings is None:
        settings = Settings.from_env()
    if not isinstance(config, BanditConfig):
        path = config if config is not None else settings.config_path
        config = load_config(Path(path) if path is not None else default_config_path())
    if not isinstance(store, Store):
        store = open_store(store if store is not None else settings.store_url)
    if init:
        store.init()
    return BanditService(config, store, rng=np.random.default_rng(seed),
                         admins=settings.admins)


def may_init(store: Store, settings: Settings) -> bool:
    """Whether a process that writes (a CLI command, ``banditbot serve``) may ``init`` its
    store: bring an existing one up to date (migrations), but never make a network store
    from nothing — a mistyped table or schema name would start every experiment afresh in a
    new, empty one (a trial's ``serve`` made table ``nosuch`` and answered "ready"). A
    SQLite file or memory: yes (the embedded default starts empty); PostgreSQL: when its
    schema exists; DynamoDB: no (``init-db`` creates the table). A missing schema or table is
    refused here, naming ``banditbot init-db`` (a trial's ``serve`` started on a mistyped
    table, answered ready to ``/healthz`` and "retry in a moment" to every request).
    ``BANDITBOT_INIT_STORE=1``: always.

    Raises
    ------
    ConfigError
        A PostgreSQL database without the URL's schema; no DynamoDB table of that name.
    """
    kind = store_kind(store.url)
    if settings.init_store or kind not in ("postgresql", "dynamodb"):
        return True
    if kind == "dynamodb":
        from .stores import DynamoDBStore  # (its URL: loaded already)

        if isinstance(store, DynamoDBStore):
            store.require_table()
        return False
    from .stores import PostgresStore  # (its URL: loaded already)

    if not isinstance(store, PostgresStore) or store.schema_version() > 0:
        return True
    raise ConfigError(f"the database has no banditbot schema {store.schema!r}",
                      hint="check the URL's schema option, or create it with banditbot "
                           "init-db (as a role that may: docs/postgres.md); "
                           "BANDITBOT_INIT_STORE=1 lets any process create it")


def build_bot(service: BanditService, settings: Settings, *, webhook: bool = False) -> Any:
    """The Telegram bot: a python-telegram-bot ``Application`` with banditbot installed
    (``webhook=True``: without an updater; updates arrive through the webhook)."""
    from .telegram import build_application

    return build_application(service, settings.require_token(),
                             base_url=settings.telegram_base_url, webhook=webhook)


def build_http_app(service: BanditService, settings: Settings, *,
                   telegram: Any = None, webhook_secret: str | None = None) -> Any:
    """The ASGI app ``banditbot serve`` runs (API, dashboard, metrics and, with a bot, the
    Telegram webhook)."""
    from .api import Metrics, create_app

    return create_app(service, telegram=telegram, webhook_secret=webhook_secret,
                      cors_origins=list(settings.cors_origins),
                      metrics=Metrics(multiprocess=settings.metrics_multiprocess),
                      fast_path=settings.http_fast_path, metrics_key=settings.metrics_key)


def http_app_from_env() -> Any:
    """What each uvicorn worker builds (``banditbot serve``): the settings from the
    environment, the service, the webhook when a token is set, and the app."""
    from ._logging import configure_json_logging

    configure_json_logging(libraries=logging.WARNING)  # the libraries' lines redacted too
    settings = Settings.from_env()
    store = open_store(settings.store_url)
    try:
        init = may_init(store, settings)
    except BaseException:  # refused: the pool it opened closes here, not in the collector
        store.close()  # (a PostgreSQL pool collected in its own thread failed to join it)
        raise
    service = build_service(settings=settings, store=store, init=init)
    telegram = secret = None
    if settings.telegram_token:
        secret = ensure_webhook_secret(settings)
        telegram = build_bot(service, settings, webhook=True)
    return build_http_app(service, settings, telegram=telegram, webhook_secret=secret)


def ensure_webhook_secret(settings: Settings, secret: str | None = None) -> str:
    """The webhook secret: ``secret``, the settings' (``BANDITBOT_WEBHOOK_SECRET``), or a new
    random one appended to the ``.env`` file, which ends with mode 0600. Never logged."""
    from ._logging import register_secret

    for given in (secret, settings.webhook_secret):
        if given:
            register_secret(given)
            return given
    new = secrets.token_urlsafe(32)
    register_secret(new)
    path = settings.env_file
    # a line of its own: after the file's last line, which may lack its line break (a new
    # file starts with the setting, not with an empty line)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "ab+") as fh:
        size = fh.seek(0, os.SEEK_END)
        ends_open = size > 0 and (fh.seek(size - 1), fh.read(1))[1] != b"\n"
        line = f"BANDITBOT_WEBHOOK_SECRET={new}\n".encode()
        fh.write((b"\n" if ends_open else b"") + line)
    os.chmod(path, 0o600)  # a file that holds a secret is the owner's alone
    log.info("generated a webhook secret and stored it in %s", path)
    return new


@dataclass
class LambdaParts:
    """What a Lambda container builds once: the service, and on first use the bot (if a
    token is set) with its webhook secret, and the ASGI app."""

    service: BanditService
    settings: Settings
    telegram: Any = None
    secret: str | None = None
    asgi: Any = None
    #: the bot answered ``getMe`` (initialized): it can process updates
    telegram_ready: bool = False


def build_lambda(settings: Settings) -> LambdaParts:
    """The parts of a Lambda container: the service (the bot comes later, from
    :func:`attach_lambda_bot`, on the first Telegram event: the HTTP API does not wait for,
    nor depend on, SSM and Telegram).

    Raises
    ------
    ConfigError
        ``BANDITBOT_STORE`` is not set (the default SQLite file would live in the
        container's scratch space and vanish with it).
    """
    if not settings.store_given:
        raise ConfigError("BANDITBOT_STORE is not set: on Lambda there is no default store",
                          hint="set BANDITBOT_STORE, e.g. dynamodb://TABLE?region=eu-west-1")
    path = settings.config_path
    if path is not None and not Path(path).is_file():  # (the CLI's hint, --config, is none
        # here: a trial's Lambda said "pass --config PATH")
        raise ConfigError(
            f"{path}: no experiments file there (read from {Path.cwd()}, the package's root)",
            hint="set the template's ExperimentsFile (BANDITBOT_CONFIG) to a path inside the "
                 "package, e.g. banditbot/data/experiments.yaml, and build it again")
    return LambdaParts(build_service(settings=settings, init=settings.init_store), settings)


def attach_lambda_bot(parts: LambdaParts) -> None:
    """Build the Lambda container's bot (not initialized) and its webhook secret, either of
    which may come from an SSM parameter; without a token, nothing."""
    from ._logging import register_secret

    settings = parts.settings
    token = settings.telegram_token or ssm_parameter(settings.telegram_token_parameter)
    if not token:
        return
    register_secret(token)
    secret = settings.webhook_secret or ssm_parameter(settings.webhook_secret_parameter)
    if not secret:
        raise ConfigError("a Telegram webhook needs BANDITBOT_WEBHOOK_SECRET",
                          hint="or BANDITBOT_WEBHOOK_SECRET_PARAMETER naming an SSM "
                               "parameter")
    register_secret(secret)
    parts.secret = secret
    parts.telegram = build_bot(parts.service, settings.replace(telegram_token=token),
                               webhook=True)


#: an SSM read's limits: seconds to connect, seconds for the answer, attempts in all. Botocore's
#: defaults (60 s and 3 attempts) kept a webhook invocation 180 s on an endpoint that did not
#: answer, far past the function's timeout, with no log line; these give up within ~15 s
SSM_CONNECT_SECONDS, SSM_READ_SECONDS, SSM_ATTEMPTS = 2.0, 3.0, 3


def ssm_parameter(parameter: str | None) -> str | None:
    """The value of an SSM SecureString parameter (``None`` without a name), read within
    :data:`SSM_ATTEMPTS` attempts of :data:`SSM_CONNECT_SECONDS` + :data:`SSM_READ_SECONDS`."""
    if not parameter:
        return None
    import boto3
    from botocore.config import Config

    ssm = boto3.client("ssm", config=Config(
        connect_timeout=SSM_CONNECT_SECONDS, read_timeout=SSM_READ_SECONDS,
        retries={"total_max_attempts": SSM_ATTEMPTS, "mode": "standard"}))
    try:
        return str(ssm.get_parameter(Name=parameter, WithDecryption=True)["Parameter"]["Value"])
    except Exception as exc:  # which one failed, for the log (a name is no secret)
        exc.add_note(f"SSM parameter {parameter}")
        raise
