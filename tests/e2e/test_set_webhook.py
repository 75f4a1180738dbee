"""`banditbot set-webhook` refuses what would leave a deployed bot silent: a secret that is set
but empty, and a URL that is not HTTPS (as Telegram does; the Bot API double refuses it the
same way, except on a loopback address)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import run_cli
from ..telegram_double import BotApiDouble

URL = "https://abc.lambda-url.us-east-1.on.aws/telegram"


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    """The CLI reads its settings once per process: each in-process run here sets its own."""
    from banditbot.cli import _app

    _app.settings.cache_clear()
    yield
    _app.settings.cache_clear()


def test_an_empty_secret_is_refused(double: BotApiDouble, tmp_path: Path) -> None:
    """A new-user trial ran the README's step 4 with ``$(aws ssm get-parameter …)`` failing:
    ``BANDITBOT_WEBHOOK_SECRET=`` made set-webhook generate a new secret into .env, register
    it and exit 0; the Lambda (with the SSM secret) then answered 403 to every update and
    the bot was silent. Now: one line that says where the secret comes from, exit 2, no
    webhook registered, no .env written."""
    env = {**os.environ, "TELEGRAM_TOKEN": double.token,
           "BANDITBOT_TELEGRAM_BASE_URL": double.base_url, "BANDITBOT_WEBHOOK_SECRET": ""}
    proc = subprocess.run([sys.executable, "-m", "banditbot", "set-webhook", URL],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert proc.returncode == 2, proc.stdout
    (line,) = proc.stderr.strip().splitlines()
    assert "BANDITBOT_WEBHOOK_SECRET is set but empty" in line
    assert "SSM" in line and "get-parameter" in line
    assert double.webhook == {} and not any(m == "setWebhook" for m, _ in double.calls)
    assert not (tmp_path / ".env").exists()


def test_an_empty_secret_option_is_refused(double: BotApiDouble, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TELEGRAM_TOKEN", double.token)
    monkeypatch.setenv("BANDITBOT_TELEGRAM_BASE_URL", double.base_url)
    code, _, err = run_cli(["set-webhook", URL, "--secret", " "], capsys)
    assert code == 2 and "--secret is empty" in err
    assert double.webhook == {} and not (tmp_path / ".env").exists()


@pytest.mark.parametrize("url", ["http://abc.lambda-url.us-east-1.on.aws/telegram",
                                 "abc.lambda-url.us-east-1.on.aws/telegram"])
def test_a_url_that_is_not_https_is_refused_before_telegram_is_asked(
        url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Telegram refuses a webhook URL that is not HTTPS; set-webhook says so before it asks
    (no token is sent anywhere, no secret generated)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TELEGRAM_TOKEN", "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ")
    code, out, err = run_cli(["set-webhook", url], capsys)
    assert code == 2, out
    assert "HTTPS url must be provided for webhook" in err and "WebhookUrl" in err
    assert not (tmp_path / ".env").exists()


def test_the_double_refuses_plain_http_as_telegram_does(double: BotApiDouble, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    """With a Bot API server of one's own (here the double) set-webhook leaves the URL to
    it: the double refuses plain HTTP as Telegram does, except to a loopback address (as a
    local Bot API server allows)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TELEGRAM_TOKEN", double.token)
    monkeypatch.setenv("BANDITBOT_TELEGRAM_BASE_URL", double.base_url)
    monkeypatch.setenv("BANDITBOT_WEBHOOK_SECRET", "the-deployments-secret")
    code, _, err = run_cli(["set-webhook", "http://bot.example.org/telegram"], capsys)
    assert code == 2
    assert "Telegram refused the webhook" in err and "https url must be provided" in \
        err.lower()
    assert double.webhook == {}
    code, _, err = run_cli(["set-webhook", "http://127.0.0.1:8080/telegram"], capsys)
    assert code == 0, err
    assert double.webhook == {"url": "http://127.0.0.1:8080/telegram",
                              "secret_token": "the-deployments-secret"}
