"""Turn settings into a wired service. Nothing connects anywhere until this is called."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ._config import BanditConfig, default_config_path, load_config
from ._service import BanditService
from .stores import Store, open_store

__all__ = ["build_service"]


def build_service(
    config: BanditConfig | str | os.PathLike[str] | None = None,
    store: Store | str | None = None,
    *,
    seed: int | None = None,
    init: bool = True,
) -> BanditService:
    """Build a :class:`BanditService` from a config (object or YAML path) and a store
    (object or URL).

    Parameters
    ----------
    config
        A :class:`BanditConfig`, a path to an experiments YAML, or ``None`` for
        ``BANDITBOT_CONFIG`` / ``./experiments.yaml`` / ``examples/experiments.yaml`` / the
        packaged example.
    store
        A :class:`~banditbot.stores.Store`, a store URL, or ``None`` for ``BANDITBOT_STORE`` /
        ``sqlite:///banditbot.db``.
    seed
        Seed of the service's random generator (``None``: fresh entropy).
    init
        Create the store's tables if needed (idempotent).

    Examples
    --------
    >>> svc = build_service(store="memory://", seed=1)
    >>> sorted(e.id for e in svc.config.experiments)
    ['greeting', 'random', 'tip']
    """
    if not isinstance(config, BanditConfig):
        config = load_config(Path(config) if config is not None else default_config_path())
    if not isinstance(store, Store):
        store = open_store(store)
    if init:
        store.init()
    return BanditService(config, store, rng=np.random.default_rng(seed))
