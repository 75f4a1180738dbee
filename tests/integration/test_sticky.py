"""Sticky assignment on every store: first requests that arrive together cannot split a
subject between arms."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from banditbot import BanditService, parse_config

from ..conftest import BACKENDS

CONFIG = {"experiments": [{
    "id": "s", "sticky_seconds": 3600, "burn_in": 0,
    "arms": [{"id": a, "content": a} for a in ("x", "y", "z")]}]}


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_first_requests_get_one_arm(backend: str, store_factory: Any) -> None:
    store = store_factory(backend)
    services = [BanditService(parse_config(CONFIG), store, rng=np.random.default_rng(seed))
                for seed in range(8)]  # eight servers, each with its own generator
    for subject in ("alice", "bob", "carol"):
        with ThreadPoolExecutor(8) as pool:
            arms = set(pool.map(lambda s, who=subject: s.decide("s", who, sticky=True).arm,
                                services))
        assert len(arms) == 1, (subject, arms)
    records = list(store.iter_decisions("s"))
    assert len(records) == 24
    for subject in ("alice", "bob", "carol"):
        mine = [r for r in records if r.subject == subject]
        assert len({r.arm for r in mine}) == 1
        assert sum(r.kind != "sticky" for r in mine) == 1  # one policy decision, then holds
