"""Subjects over real HTTP: one of only spaces or invisible characters is refused (a
trial: "   " and "\u200b" were accepted as subjects of their own); any other is kept as
sent, byte for byte (no Unicode normalization: "Zoë" composed and decomposed are two)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from banditbot import BanditService, PayloadError, SQLiteStore, parse_config
from banditbot.api import create_app
from banditbot.service import KeyRing

from ..conftest import CONFIG
from ..http_client import HTTP
from ..telegram_double import ServerThread


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str, BanditService]]:
    store = SQLiteStore(tmp_path / "subjects.db")
    store.init()
    service = BanditService(parse_config(CONFIG), store, rng=np.random.default_rng(3))
    key = KeyRing(store).create("app", "decide")[0]
    with ServerThread(create_app(service)) as url:
        yield url, key, service


@pytest.mark.parametrize("subject", ["   ", "\u200b", "\u200b \u2060", "\u3000\u3164"])
def test_a_blank_or_invisible_subject_is_refused(
        served: tuple[str, str, BanditService], subject: str) -> None:
    url, key, service = served
    refused = HTTP.post(f"{url}/v1/experiments/seed/decisions", json={"subject": subject},
                        headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert refused.status_code == 422, refused.text
    assert "visible character" in refused.json()["detail"]
    # every caller of the service: Python (and the CLI, the bot) too
    with pytest.raises(PayloadError, match="visible character"):
        service.decide("seed", subject)
    assert service.report("seed").total_pulls == 0


def test_subjects_with_spaces_or_composed_letters_are_kept_as_sent(
        served: tuple[str, str, BanditService]) -> None:
    url, key, service = served
    for subject in (" padded ", "Zo\u00eb", "Zoe\u0308", "👍🏽"):
        made = HTTP.post(f"{url}/v1/experiments/seed/decisions", json={"subject": subject},
                         headers={"Authorization": f"Bearer {key}"}, timeout=30)
        assert made.status_code == 201, (subject, made.text)
    assert {r.subject for r in service.decisions("seed")} == {
        " padded ", "Zo\u00eb", "Zoe\u0308", "👍🏽"}
