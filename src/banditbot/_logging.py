"""Structured JSON logs (one object per line), with secrets redacted.

Every record becomes exactly one line, its traceback included (as a JSON string), so an
outage or a burst of errors writes as many lines as it has events. No line carries a secret:
Telegram bot tokens (anywhere in the text: ``…/bot<token>/getMe`` URLs included) and every
value registered with :func:`register_secret` (the webhook secret, API keys) are replaced by
``[redacted]`` in the finished line. Handlers log no user ids in the first place (they log
update ids, experiment and arm ids, error types); the redaction is the safety net.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time

__all__ = ["JsonFormatter", "configure_json_logging", "redact", "register_secret",
           "uvicorn_log_config"]

#: a record's own attributes, and uvicorn's copy of the message with terminal colours (a
#: JSON line must not carry escape codes)
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"color_message"}
#: a Telegram bot token: the bot's numeric id, a colon, 35 characters of base64url
_BOT_TOKEN = re.compile(r"\d{5,20}:[A-Za-z0-9_-]{30,}")
_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Never write ``value`` to a log line (values shorter than 8 characters are ignored:
    they would redact ordinary words)."""
    if value and len(value) >= 8:
        with _secrets_lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """``text`` with bot tokens and registered secrets replaced by ``[redacted]``.

    Examples
    --------
    >>> redact("POST https://api.telegram.org/bot123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/getMe")
    'POST https://api.telegram.org/bot[redacted]/getMe'
    """
    text = _BOT_TOKEN.sub("[redacted]", text)
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, "[redacted]")
    return text


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", …extra fields}``; a message that is itself a
    JSON object is merged in. Secrets are redacted from the finished line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(), "logger": record.name,
        }
        message = record.getMessage()
        try:
            parsed = json.loads(message) if message.startswith("{") else None
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            entry.update(parsed)
        else:
            entry["message"] = message
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, default=str))


def uvicorn_log_config() -> dict[str, object]:
    """uvicorn's logging (``log_config``) as JSON lines like banditbot's own: a server's
    stderr is one JSON object per line, its start and stop messages included."""
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"json": {"()": "banditbot._logging.JsonFormatter"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json",
                                "stream": "ext://sys.stderr"}},
        "loggers": {"uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
                    "uvicorn.error": {"level": "INFO"},
                    "uvicorn.access": {"handlers": ["stderr"], "level": "INFO",
                                       "propagate": False},
                    # a library's warning (logging.captureWarnings, set by the server)
                    "py.warnings": {"handlers": ["stderr"], "level": "WARNING",
                                    "propagate": False}},
    }


def configure_json_logging(level: int = logging.INFO, *,
                           libraries: int | None = None) -> None:
    """Send banditbot's logs to stderr as JSON lines (idempotent).

    Parameters
    ----------
    level
        banditbot's own level.
    libraries
        Also take over the root logger at this level (e.g. ``logging.WARNING``), so that
        python-telegram-bot's and httpx's records are one redacted JSON line each too;
        ``None`` leaves the root logger alone (uvicorn configures its own).
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("banditbot")
    if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False
    # a library's warning (numpy's RuntimeWarning, a deprecation) is one JSON line as well,
    # not two lines of bare text among the JSON ones
    logging.captureWarnings(True)
    warned = logging.getLogger("py.warnings")
    if not any(isinstance(h.formatter, JsonFormatter) for h in warned.handlers):
        warned.addHandler(handler)
        warned.propagate = False
    # httpx logs every request at INFO, with its URL: for the Bot API, the token
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger("httpx").level))
    # PostgreSQL's connection pool warns at each attempt while the database is down (130
    # lines from a 10 s outage of one host, in a trial); the store's own lines tell the
    # outage once, with its cause, and its end
    pool = logging.getLogger("psycopg.pool")
    pool.setLevel(max(logging.ERROR, pool.level))
    if libraries is not None:
        root = logging.getLogger()
        if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
            root.addHandler(handler)
        root.setLevel(libraries)
