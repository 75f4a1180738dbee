"""The one exception tree of banditbot.

Every error banditbot raises on purpose derives from :class:`BanditBotError`, so an entry point
can translate all of them in one place (bot: a friendly reply; HTTP: a status code and a JSON
problem, mapped in ``banditbot.api``; CLI: a one-line message and exit code 2; Lambda: a status
code)::

    BanditBotError
    ├── ConfigError               bad experiments file or settings (names file, experiment, field)
    ├── UnknownExperimentError    no experiment with that id
    ├── UnknownArmError           no (active) arm with that id in the experiment
    ├── InvalidRewardError        a reward value the experiment's reward spec does not allow
    ├── PolicyError               unknown policy name or invalid policy parameters
    ├── NotAllowedError           a non-admin tried an admin operation
    ├── PayloadError              malformed or oversize input from outside (callback, webhook, file)
    │   └── KeyReusedError        an idempotency key sent again with another request
    ├── StoreError                the store failed (after retries); nothing was half-written
    └── MissingDependencyError    an optional extra is not installed (says what to install)

Each error carries ``hint``: one sentence that tells the user how to fix it.
"""

from __future__ import annotations

__all__ = [
    "BanditBotError",
    "ConfigError",
    "InvalidRewardError",
    "KeyReusedError",
    "MissingDependencyError",
    "NotAllowedError",
    "PayloadError",
    "PolicyError",
    "StoreError",
    "UnknownArmError",
    "UnknownExperimentError",
]


class BanditBotError(Exception):
    """Base class of every error banditbot raises on purpose.

    Parameters
    ----------
    message
        What went wrong, in one sentence.
    hint
        How to fix it, in one sentence (optional).
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(BanditBotError):
    """The experiments file or the settings are invalid."""


class UnknownExperimentError(BanditBotError):
    """No experiment with the given id is configured."""


class UnknownArmError(BanditBotError):
    """The experiment has no active arm with the given id."""


class InvalidRewardError(BanditBotError):
    """The reward value is not allowed by the experiment's reward spec."""


class PolicyError(BanditBotError):
    """Unknown policy name or invalid policy parameters."""


class NotAllowedError(BanditBotError):
    """The caller may not perform this (admin) operation."""


class PayloadError(BanditBotError):
    """Malformed or oversize input from outside (callback data, webhook body, a log file)."""


class KeyReusedError(PayloadError):
    """An idempotency key came again with another request than the one it was first sent
    with (another subject, context, chat or sticky flag): its decision is not answered to a
    different question."""


class StoreError(BanditBotError):
    """The store failed (after retries). Nothing was half-written.

    Parameters
    ----------
    message, hint
        As :class:`BanditBotError`'s.
    lasting
        The store refused because of how it is set up (no such table, no credentials, no
        region): retrying will not help, and an HTTP server says so (500, not 503).
    """

    def __init__(self, message: str, *, hint: str | None = None, lasting: bool = False
                 ) -> None:
        super().__init__(message, hint=hint)
        self.lasting = lasting


class MissingDependencyError(BanditBotError, ImportError):
    """An optional extra is not installed; the message says which one to install."""


def require(module: str, extra: str) -> None:
    """Raise :class:`MissingDependencyError` with an install hint if ``module`` is missing."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise MissingDependencyError(
            f"this feature needs the optional package {module!r}",
            hint=f"install it with: pip install 'banditbot[{extra}]'",
        )
