"""The :class:`BanditService` facade: decisions, rewards, reports and admin in one object."""

from __future__ import annotations

from ._admin import AdminMixin

__all__ = ["BanditService"]


class BanditService(AdminMixin):
    """Decide, reward, report and administer the configured experiments.

    The one place every entry point calls; its only I/O is the store it is given. Each part
    lives in its own module (a mixin each, sharing :class:`~banditbot.service._core.
    ServiceCore`'s state, in one chain of single inheritance as mypyc's compiled classes
    need: core, rewards, decisions, reports, segments, admin): decisions (``decide``,
    ``plan_decision`` → ``commit_decision``), rewards (``reward``, ``plan_reward`` →
    ``commit_reward``, ``settle``), reports (``report``, ``segment_report``, ``timeline``)
    and admin (``cheat``, ``set_prior``, ``reset``, ``switch_policy``, ``add_arm``,
    ``retire_arm``, ``import_history``).

    Parameters
    ----------
    config
        The experiments (see :func:`banditbot.load_config`).
    store
        Where state lives (see :func:`banditbot.open_store`); must be initialized.
    rng
        Random generator for choices; seed it for reproducible runs.
    clock
        Returns the current time in seconds since the epoch (tests pass a fake clock).
    admins
        Telegram user ids allowed to run admin commands, beside the config's ``admins``.

    Examples
    --------
    >>> import numpy as np
    >>> from banditbot import parse_config, MemoryStore
    >>> cfg = parse_config({"experiments": [{"id": "hi", "arms": [
    ...     {"id": "a", "content": "Hello"}, {"id": "b", "content": "Hey"}]}]})
    >>> svc = BanditService(cfg, MemoryStore(), rng=np.random.default_rng(1))
    >>> d = svc.decide("hi", subject="user-1")
    >>> svc.reward(d.id, 1, subject="user-1").status.value
    'applied'
    >>> svc.reward(d.id, 1, subject="user-1").status.value
    'duplicate'
    """
