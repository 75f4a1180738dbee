"""Settings: read once from the environment (and a ``.env`` file), then passed down.

This is the only module that reads ``os.environ``. Every other part of banditbot gets what it
needs as arguments, so tests and embedding applications configure it without touching the
process environment.

==================================  ==========================================================
variable                            setting
==================================  ==========================================================
``BANDITBOT_CONFIG``                experiments YAML (default: ``./experiments.yaml``, …)
``BANDITBOT_STORE``                 store URL (default: ``sqlite:///banditbot.db``)
``BANDITBOT_ADMINS``                Telegram user ids allowed admin commands (comma-separated)
``TELEGRAM_TOKEN``                  the bot token from @BotFather
``TELEGRAM_TOKEN_PARAMETER``        …or the name of an SSM SecureString holding it (Lambda)
``BANDITBOT_WEBHOOK_SECRET``        secret token Telegram sends with every webhook request
``BANDITBOT_WEBHOOK_SECRET_PARAMETER``  …or its SSM parameter (Lambda)
``BANDITBOT_TELEGRAM_BASE_URL``     Bot API server root (a local Bot API server, a test double)
``BANDITBOT_CORS_ORIGINS``          origins allowed to call the HTTP API from a browser
``BANDITBOT_INIT_STORE``            ``1``: the Lambda handler creates the store's tables at start
``BANDITBOT_OBD_ROOT``              folder of the Open Bandit Dataset
``PROMETHEUS_MULTIPROC_DIR``        shared folder that merges metrics of several workers
``BANDITBOT_HTTP_FAST_PATH``        ``0``: route decide and reward through FastAPI too (to measure)
==================================  ==========================================================

The environment wins over ``.env``; command-line options win over both
(:meth:`Settings.replace`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._errors import ConfigError

__all__ = ["NO_TOKEN_HELP", "Settings", "read_env_file"]

DEFAULT_STORE_URL = "sqlite:///banditbot.db"

NO_TOKEN_HELP = (
    "no Telegram bot token: set TELEGRAM_TOKEN (in the environment or a .env file). "
    "Get a token from @BotFather in Telegram (send /newbot). "
    "Without a token, `banditbot demo` shows everything with simulated users."
)


@dataclass(frozen=True)
class Settings:
    """Everything banditbot reads from its environment, read once.

    Build it with :meth:`from_env`; entry points override single fields with
    :meth:`replace` (command-line options).
    """

    config_path: Path | None = None
    store_url: str = DEFAULT_STORE_URL
    #: ``BANDITBOT_STORE`` was set (Lambda refuses the default: its SQLite file would live
    #: in a container's scratch space)
    store_given: bool = False
    admins: frozenset[int] = frozenset()
    telegram_token: str | None = field(default=None, repr=False)
    telegram_token_parameter: str | None = None
    telegram_base_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    #: ``BANDITBOT_WEBHOOK_SECRET`` is set but empty (e.g. ``$(aws ssm get-parameter …)``
    #: failed): not the same as unset, where ``set-webhook`` generates a secret
    webhook_secret_blank: bool = False
    webhook_secret_parameter: str | None = None
    cors_origins: tuple[str, ...] = ()
    init_store: bool = False
    obd_root: Path | None = None
    metrics_multiprocess: bool = False
    http_fast_path: bool = True
    #: ``/metrics`` needs a read key (on Lambda always: a Function URL has no proxy in front)
    metrics_key: bool = False
    env_file: Path = Path(".env")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *,
                 env_file: Path | None = Path(".env")) -> Settings:
        """Settings from ``environ`` (default: the process environment) over ``env_file``.

        Examples
        --------
        >>> s = Settings.from_env({"BANDITBOT_STORE": "memory://",
        ...                        "BANDITBOT_ADMINS": "1, 2"}, env_file=None)
        >>> s.store_url, sorted(s.admins)
        ('memory://', [1, 2])
        """
        values: dict[str, str] = {}
        if env_file is not None:
            values.update(read_env_file(env_file))
        values.update(os.environ if environ is None else environ)

        def get(name: str) -> str | None:
            value = values.get(name, "").strip()
            return value or None

        admins = _admin_ids(get("BANDITBOT_ADMINS") or "")
        config = get("BANDITBOT_CONFIG")
        obd = get("BANDITBOT_OBD_ROOT")
        return cls(
            config_path=Path(config) if config else None,
            store_url=get("BANDITBOT_STORE") or DEFAULT_STORE_URL,
            store_given=bool(get("BANDITBOT_STORE")),
            admins=admins,
            telegram_token=get("TELEGRAM_TOKEN"),
            telegram_token_parameter=get("TELEGRAM_TOKEN_PARAMETER"),
            telegram_base_url=get("BANDITBOT_TELEGRAM_BASE_URL"),
            webhook_secret=get("BANDITBOT_WEBHOOK_SECRET"),
            webhook_secret_blank="BANDITBOT_WEBHOOK_SECRET" in values
            and not get("BANDITBOT_WEBHOOK_SECRET"),
            webhook_secret_parameter=get("BANDITBOT_WEBHOOK_SECRET_PARAMETER"),
            cors_origins=tuple(o.strip() for o in (get("BANDITBOT_CORS_ORIGINS") or "")
                               .split(",") if o.strip()),
            init_store=get("BANDITBOT_INIT_STORE") in ("1", "true", "yes"),
            obd_root=Path(obd) if obd else None,
            metrics_multiprocess=bool(get("PROMETHEUS_MULTIPROC_DIR")),
            http_fast_path=get("BANDITBOT_HTTP_FAST_PATH") not in ("0", "false", "no"),
            metrics_key=get("BANDITBOT_METRICS_KEY") in ("1", "true", "yes"),
            env_file=env_file or Path(".env"),
        )

    def replace(self, **changes: Any) -> Settings:
        """A copy with the fields that are not ``None`` in ``changes`` replaced (what a
        command-line option gives wins over the environment)."""
        given = {k: v for k, v in changes.items() if v is not None}
        if isinstance(given.get("config_path"), str):
            given["config_path"] = Path(given["config_path"])
        return dataclasses.replace(self, **given)

    def require_token(self) -> str:
        """The bot token; a :class:`ConfigError` that says how to get one if there is none."""
        if not self.telegram_token:
            raise ConfigError(NO_TOKEN_HELP)
        return self.telegram_token

    def to_env(self) -> dict[str, str]:
        """The environment variables that reproduce these settings (for worker processes
        that build their own)."""
        env = {"BANDITBOT_STORE": self.store_url}
        if self.config_path is not None:
            env["BANDITBOT_CONFIG"] = str(self.config_path)
        if self.admins:
            env["BANDITBOT_ADMINS"] = ",".join(str(a) for a in sorted(self.admins))
        if self.telegram_base_url:
            env["BANDITBOT_TELEGRAM_BASE_URL"] = self.telegram_base_url
        if self.cors_origins:
            env["BANDITBOT_CORS_ORIGINS"] = ",".join(self.cors_origins)
        if not self.http_fast_path:
            env["BANDITBOT_HTTP_FAST_PATH"] = "0"
        if self.metrics_key:
            env["BANDITBOT_METRICS_KEY"] = "1"
        return env


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines of a ``.env`` file (``#`` comments, optional quotes, optional
    ``export``); an empty mapping if the file does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key.strip()] = value
    return out


def _admin_ids(text: str) -> frozenset[int]:
    """The Telegram user ids of ``BANDITBOT_ADMINS`` (comma-separated; blanks between
    commas are skipped).

    Raises
    ------
    ConfigError
        An entry is not a number (a username, a typo, another separator): refused rather
        than dropped, which left every admin command answering "Not allowed".

    Examples
    --------
    >>> sorted(_admin_ids(" 1, -2,,3 "))
    [-2, 1, 3]
    """
    entries = [x.strip() for x in text.split(",")]
    bad = [x for x in entries if x and not x.lstrip("-").isdigit()]
    if bad:
        shown = ", ".join(repr(x) for x in bad[:3]) + (" …" if len(bad) > 3 else "")
        raise ConfigError(
            f"BANDITBOT_ADMINS holds {shown}: it lists numeric Telegram user ids, "
            "comma-separated",
            hint="e.g. BANDITBOT_ADMINS=123456789,987654321; the bot tells a user their id "
                 "when it refuses them an admin command")
    return frozenset(int(x) for x in entries if x)
