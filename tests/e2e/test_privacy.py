"""No raw user id or secret leaves: every export (CLI CSV and Parquet, the API's JSON lines and
CSV, the bot's /export) carries keyed pseudonyms only, log lines carry no user id, token or
secret, and a file that holds a secret is the owner's alone."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from banditbot import BanditService, SQLiteStore, parse_config
from banditbot._logging import JsonFormatter
from banditbot.api import create_app
from banditbot.cli import main
from banditbot.service import KeyRing
from banditbot.telegram import build_application

from ..conftest import CONFIG, EXAMPLES
from ..http_client import HTTP
from ..telegram_double import BotApiDouble, ServerThread
from .test_telegram_polling import run_bot

USER = 987654321  # distinctive Telegram ids: any appearance in an export or a log is a leak
ADMIN = 7319446201
CHAT = -1009876543210
RAW = (str(USER), str(ADMIN), str(CHAT)[1:])
SECRET = "webhook-secret-that-must-never-be-logged"


def config() -> dict[str, Any]:
    return {**CONFIG, "admins": [ADMIN]}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "p.db")
    s.init()
    yield s
    s.close()


@pytest.fixture
def service(store: SQLiteStore) -> BanditService:
    svc = BanditService(parse_config(config()), store, rng=np.random.default_rng(7))
    for experiment in ("seed", "perchat"):  # perchat: scope chat:<id>
        d = svc.decide(experiment, str(USER), {"hour": 9}, chat=str(CHAT))
        svc.reward(d.id, 1, str(USER))
    svc.cheat("seed", "arm1", "10", actor=f"tg:{ADMIN}")  # manual decisions name the admin
    return svc


def _no_raw_ids(text: str, where: str) -> None:
    for raw in RAW:
        assert raw not in text, f"{where} carries a raw id {raw}"


def _old_pseudonym(value: str) -> str:
    return hashlib.sha256(f":{value}".encode()).hexdigest()[:16]


def test_no_raw_id_leaves_in_any_export(service: BanditService, store: SQLiteStore,
                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        double: BotApiDouble,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    import yaml

    monkeypatch.chdir(tmp_path)
    (tmp_path / "experiments.yaml").write_text(yaml.safe_dump(config()))
    exports: dict[str, str] = {}
    url = f"sqlite:///{tmp_path / 'p.db'}"
    for experiment in ("seed", "perchat"):
        for suffix in ("csv", "parquet"):
            out = tmp_path / f"{experiment}.{suffix}"
            code: object = 0
            try:
                main(["export", experiment, "--out", str(out), "--config",
                      str(tmp_path / "experiments.yaml"), "--store", url])
            except SystemExit as done:
                code = done.code
            assert code in (0, None), capsys.readouterr()
            exports[f"cli {out.name}"] = out.read_text() if suffix == "csv" else \
                json.dumps(pq.read_table(out).to_pylist(), default=str)
    capsys.readouterr()
    ring = KeyRing(store)
    key, _ = ring.create("reader", "read")
    app = create_app(service, keys=ring)
    with ServerThread(app) as api:
        for experiment in ("seed", "perchat"):
            for fmt in ("jsonl", "csv"):
                got = HTTP.get(f"{api}/v1/experiments/{experiment}/decisions?format={fmt}",
                                headers={"Authorization": f"Bearer {key}"})
                assert got.status_code == 200
                exports[f"api {experiment}.{fmt}"] = got.text
    exports["bot /export"] = _bot_export(service, double)
    for where, text in exports.items():
        _no_raw_ids(text, where)
    # the pseudonyms are keyed: hashing candidate ids (the old scheme) finds nothing …
    for text in exports.values():
        assert _old_pseudonym(str(USER)) not in text
    # … and stable across exports, so one person's decisions can be followed
    cli_rows = [r for r in exports["cli perchat.csv"].splitlines()[1:] if r]
    api_rows = [json.loads(line) for line in exports["api perchat.jsonl"].splitlines()]
    assert api_rows[0]["subject"] in cli_rows[0] and api_rows[0]["scope"] in cli_rows[0]
    assert api_rows[0]["scope"].startswith("chat:")
    # rotating the secret makes later exports unlinkable to earlier ones
    from banditbot.offline import rotate_pseudonym_key

    rotate_pseudonym_key(store)
    with ServerThread(create_app(service, keys=ring)) as api:
        after = HTTP.get(f"{api}/v1/experiments/perchat/decisions",
                          headers={"Authorization": f"Bearer {key}"}).json()
    assert after["subject"] != api_rows[0]["subject"]


def _bot_export(service: BanditService, double: BotApiDouble) -> str:
    admin = double.user(ADMIN, "Ada")
    got: list[str] = []

    async def script() -> None:
        double.send_command(admin, ADMIN, "/export perchat")
        document = await double.wait_for(lambda: next(
            (m for m in double.chat_messages(ADMIN) if m.kind == "document"), None))
        got.append(bytes(document.file_bytes).decode())

    run_bot(service, double, script)
    return got[0]


def test_log_lines_carry_no_user_id_and_no_secret(service: BanditService, double: BotApiDouble,
                                                  tmp_path: Path) -> None:
    """The bot's and the API's flows, with the logging banditbot configures (its own records
    at INFO, every library's at WARNING), scanned line by line."""
    lines: list[str] = []
    formatter = JsonFormatter()

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(formatter.format(record))

    handler = Collect()
    root, ours = logging.getLogger(), logging.getLogger("banditbot")
    saved = root.level, ours.level
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    ours.setLevel(logging.INFO)
    try:
        _bot_flows(service, double)
        _api_flows(service, double)
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        ours.setLevel(saved[1])
    assert any("admin command refused" in line for line in lines)
    assert any("admin action" in line for line in lines)
    for line in lines:
        _no_raw_ids(line, "a log line")
        for secret in (double.token, double.token.split(":")[1], SECRET, "bb_"):
            assert secret not in line, line


def _bot_flows(service: BanditService, double: BotApiDouble) -> None:
    user, admin = double.user(USER, "Ulla"), double.user(ADMIN, "Ada")

    async def script() -> None:
        double.send_command(user, USER, "/cheat seed arm1 1")  # refused: not an admin
        double.send_command(user, CHAT, "/random", chat_type="group")
        double.send_command(admin, ADMIN, "/cheat seed arm1 11")
        double.send_command(admin, ADMIN, "/policy seed nonsense")  # a user error
        await double.wait_for(lambda: len(double.messages) >= 4, timeout=30)
        double.flood["sendMessage"] = 4  # a reply Telegram never takes: the handler fails
        double.send_command(user, USER, "/random")
        await double.wait_for(lambda: double.flood["sendMessage"] == 0, timeout=30)
        await double.wait_for(lambda: len(double.messages) >= 5, timeout=30)

    run_bot(service, double, script)


def _api_flows(service: BanditService, double: BotApiDouble) -> None:
    ring = KeyRing(service.store)
    key, _ = ring.create("app", "decide")
    telegram = build_application(service, double.token, base_url=double.base_url,
                                 webhook=True)
    app = create_app(service, keys=ring, telegram=telegram, webhook_secret=SECRET)
    with ServerThread(app) as url:
        d = HTTP.post(f"{url}/v1/experiments/seed/decisions", json={"subject": str(USER)},
                       headers={"Authorization": f"Bearer {key}"}).json()
        HTTP.post(f"{url}/v1/decisions/{d['decision_id']}/reward",
                   json={"value": 1, "subject": str(USER)},
                   headers={"Authorization": f"Bearer {key}"})
        HTTP.post(f"{url}/v1/experiments/seed/decisions", json={"subject": "x"},
                   headers={"Authorization": f"Bearer {key}x"})  # a wrong key
        HTTP.post(f"{url}/telegram", content=b'{"update_id": 5, "message": "str"}',
                   headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})


def test_set_webhook_leaves_an_existing_env_file_at_0600(double: BotApiDouble,
                                                         tmp_path: Path) -> None:
    """The README's own ``echo TELEGRAM_TOKEN=… > .env`` makes a 0644 file; the secret
    appended to it must not stay world-readable. And the command list is published."""
    env_file = tmp_path / ".env"
    env_file.write_text(f"TELEGRAM_TOKEN={double.token}\n")
    env_file.chmod(0o644)
    env = {**{k: v for k, v in os.environ.items() if k != "TELEGRAM_TOKEN"},
           "BANDITBOT_TELEGRAM_BASE_URL": double.base_url}
    proc = subprocess.run([sys.executable, "-m", "banditbot", "set-webhook",
                           "https://bot.example.org/telegram", "--config", str(EXAMPLES)],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert "BANDITBOT_WEBHOOK_SECRET=" in env_file.read_text()
    assert {c["command"] for c in double.commands} >= {"random", "greeting", "report", "help"}
    secret = double.webhook["secret_token"]
    assert secret not in proc.stdout + proc.stderr and double.token not in proc.stdout


def test_a_new_sqlite_database_is_the_owners_alone(tmp_path: Path) -> None:
    """The database holds the pseudonym secret and API key hashes."""
    store = SQLiteStore(tmp_path / "fresh.db")
    store.init()
    store.close()
    assert stat.S_IMODE((tmp_path / "fresh.db").stat().st_mode) == 0o600


def test_export_rows_read_back_as_a_log(service: BanditService, tmp_path: Path) -> None:
    """Pseudonymized exports are still logs the offline tools read."""
    from banditbot.offline import export_decisions, read_log, store_pseudonyms

    out = tmp_path / "log.csv"
    export_decisions(service.decisions("seed"), out, pseudonyms=store_pseudonyms(service.store))
    data = read_log(str(out))
    assert data.n_rounds == 1  # the policy decision (cheater-mode rows are not rounds)
    assert io.StringIO(out.read_text()).readline().startswith("decision_id")


def test_a_library_warning_is_one_json_line_too() -> None:
    """A warning (numpy's RuntimeWarning once printed two bare lines among a server's JSON
    log lines) arrives as one JSON line once the JSON log is configured."""
    script = ("import warnings; from banditbot._logging import configure_json_logging; "
              "configure_json_logging(); warnings.warn('invalid value', RuntimeWarning)")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=True)
    (line,) = proc.stderr.splitlines()
    record = json.loads(line)
    assert "RuntimeWarning: invalid value" in record["message"]


def test_a_connection_pool_retrying_a_database_that_is_down_is_not_in_the_log() -> None:
    """An operator's trial: PostgreSQL's pool wrote 130 warnings ("error connecting in
    'banditbot'", "discarding closed connection") during a 10 s outage of one host, burying
    the store's own one line with the cause, which a serve's log keeps."""
    script = ("import logging; from banditbot._logging import configure_json_logging; "
              "configure_json_logging(); "
              "logging.getLogger('psycopg.pool').warning(\"error connecting in 'banditbot'\"); "
              "logging.getLogger('banditbot.store').warning('the store failed: StoreError')")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=True)
    (line,) = proc.stderr.splitlines()
    assert json.loads(line)["message"] == "the store failed: StoreError"


def test_a_json_log_line_carries_no_terminal_colours() -> None:
    """uvicorn adds ``color_message`` (its message with escape codes) to its records: in a
    JSON line it was an escaped control sequence a log reader shows as noise."""
    record = logging.makeLogRecord({"name": "uvicorn.error", "levelno": logging.INFO,
                                    "levelname": "INFO", "msg": "Started server process [1]",
                                    "color_message": "Started server process [\x1b[36m1\x1b[0m]"})
    line = JsonFormatter().format(record)
    assert "Started server process [1]" in line
    assert "\\u001b" not in line and "color_message" not in line
