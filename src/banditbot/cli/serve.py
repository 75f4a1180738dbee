"""``serve``: the HTTP API, the dashboard and the Telegram webhook under uvicorn."""

from __future__ import annotations

import errno
import logging
import os
import socket
from typing import Annotated

import typer

from .._errors import ConfigError, require
from ._app import ConfigOpt, StoreOpt, app, config_read, service, settings, this_server
from .telegram import BaseUrlOpt


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8080,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    config: ConfigOpt = None,
    store: StoreOpt = None,
    bot_api_url: BaseUrlOpt = None,
) -> None:
    """Serve the HTTP API, the dashboard and (with a token) the Telegram webhook.

    uvicorn with uvloop and httptools: the API under /v1, the dashboard at /, metrics at
    /metrics, and POST /telegram when TELEGRAM_TOKEN is set. While Telegram cannot be
    reached (or refuses the token) the API serves anyway: one warning line, POST /telegram
    answers 503 and the bot retries with backoff.
    """
    require("uvicorn", "api")
    import uvicorn

    built = service(config, store, quiet=True)  # validate, create the tables once (the
    # packaged example is said in the server's log)
    opened = built.store
    try:  # (a second server on the store with another experiments file: said at once)
        differs = built.compare_config(this_server())
    finally:
        opened.close()
    _check_free(host, port)
    # each worker builds its own service from the environment: hand it the options
    chosen = settings().replace(config_path=config, store_url=store,
                                telegram_base_url=bot_api_url)
    os.environ.update(chosen.to_env())
    # access_log off: the app writes its own JSON access line (with the request id)
    from .._logging import configure_json_logging, uvicorn_log_config

    configure_json_logging()
    _say_what_is_served(config_read()[0], opened.url)
    for line in differs:
        logging.getLogger("banditbot.serve").warning(line)
    if workers > 1 and not chosen.metrics_multiprocess:
        logging.getLogger("banditbot.serve").warning(
            "%d workers without PROMETHEUS_MULTIPROC_DIR: /metrics shows the counts of "
            "whichever one worker answers; set PROMETHEUS_MULTIPROC_DIR to an empty shared "
            "folder to merge them", workers)

    uvicorn.run("banditbot._compose:http_app_from_env", factory=True, host=host, port=port,
                workers=workers, loop="uvloop", http="httptools", log_level="info",
                proxy_headers=True, access_log=False, log_config=uvicorn_log_config())


def _say_what_is_served(config_path: str, store_url: str) -> None:
    """One start-up line: which experiments file and which store (its password masked: a
    store's ``url`` is), so a server in the wrong folder does not serve the packaged
    example silently."""
    from pathlib import Path

    from .. import _config
    from ..stores import store_kind

    log = logging.getLogger("banditbot.serve")
    path = Path(config_path).resolve()
    packaged = path == _config.PACKAGED_CONFIG.resolve()
    fields = {"experiments_file": None if packaged else str(path), "store": store_url}
    keys = "; API keys: only the experiments file's api_keys (banditbot keys create " \
        "cannot reach an in-memory store)" if store_kind(store_url) == "memory" else ""
    if packaged:
        log.warning("serving the packaged example experiments (no --config, no "
                    "BANDITBOT_CONFIG, no ./experiments.yaml) with the store %s%s",
                    store_url, keys, extra=fields)
    else:
        log.info("serving the experiments of %s with the store %s%s", path, store_url,
                 keys, extra=fields)


def _check_free(host: str, port: int) -> None:
    """Refuse, with the fix, an address another process holds (uvicorn would only log it
    and exit): every address the host resolves to is bound as uvicorn binds it
    (``SO_REUSEADDR``; an IPv6 one v6-only), then released."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"cannot listen on {host!r}: {exc.strerror}",
                          hint="pass --host with an address of this machine, e.g. "
                               "127.0.0.1 or 0.0.0.0") from None
    for family, kind, proto, address in dict.fromkeys(
            (family, kind, proto, address) for family, kind, proto, _, address in infos):
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise ConfigError(f"port {port} on {host} is already in use",
                                      hint="stop the other server, or pass --port with "
                                           "another port") from None
                raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}",
                                  hint="pass --host and --port that this user may bind"
                                  ) from None
