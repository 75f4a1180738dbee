"""Experiments and settings, loaded from YAML and validated with pydantic.

The specs are frozen dataclasses: their constraints are pydantic's, written as metadata that
reaches pydantic only when a file is validated, so that reading a file checked before
(:func:`save_checked`, which the Lambda build writes) imports no pydantic.

An error names the file, the experiment and the field, and suggests the fix::

    examples/experiments.yaml: experiment 'random': policy: epsilon-greedy: epsilon must be
    in [0, 1], got 1.5 (fix: set epsilon to e.g. 0.1)
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import re
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, TypeVar, cast

if TYPE_CHECKING:
    from pydantic import ValidationError

from ._errors import ConfigError, InvalidRewardError, PolicyError, UnknownExperimentError
from ._markup import markup_problem
from ._text import did_you_mean
from ._values import BLANKS, MAX_REWARD, reward_number
from .policies import Policy, make_policy

__all__ = [
    "Arm",
    "BanditConfig",
    "BurnInSpec",
    "ExperimentConfig",
    "FeatureSpec",
    "PolicySpec",
    "RewardOption",
    "RewardSpec",
    "TelegramOptions",
    "UpdateSpec",
    "WinnerSpec",
    "default_config_path",
    "load_config",
    "parse_config",
]

_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$"
#: The most feedback buttons one message shows (Telegram's inline keyboard limit)
MAX_BUTTONS = 100


def bool_text(value: bool) -> str:
    """A boolean as a categorical feature matches it: JSON's and YAML's ``true``/``false``."""
    return "true" if value else "false"


def _short(value: Any) -> str:
    """``repr`` of a value from outside, cut to a readable length."""
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**30 else "(a huge integer)"
    return text if len(text) <= 40 else text[:37] + "..."
_COMMAND_PATTERN = r"^[a-z0-9_]{1,32}$"


class _Rule:
    """A field's constraints (``pattern``, ``min_length``, ``ge``, …: pydantic's ``Field``
    arguments), handed to pydantic when a file is validated: ``Annotated[str,
    _Rule(pattern=…)]``. Nothing imports pydantic before then."""

    __slots__ = ("constraints",)

    def __init__(self, **constraints: Any) -> None:
        self.constraints = constraints

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic import Field

        return handler.generate_schema(Annotated[source, Field(**self.constraints)])


class _After:
    """A field's own check, run by pydantic after the field's type and :class:`_Rule`
    (written after them): a function of the value that returns it or raises ValueError."""

    __slots__ = ("check",)

    def __init__(self, check: Callable[[Any], Any]) -> None:
        self.check = check

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_after_validator_function(self.check, handler(source))


class _Spec:
    """A spec of the experiments file: a frozen dataclass whose unknown keys are refused.
    ``_before`` reshapes the file's data before validation (shorthands such as ``policy:
    thompson``); checks across fields are the class's ``__post_init__``, so they hold for
    a spec made in code too; ``_check_given`` checks what depends on which keys the file
    gave, once the fields are valid."""

    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}

    @classmethod
    def _before(cls, data: Any) -> Any:
        return data

    def _check_given(self, given: Collection[Any]) -> None:
        """Raise ValueError for a problem of the keys given (after ``_before``)."""

    @classmethod
    def _validate(cls, data: Any, handler: Callable[[Any], Any]) -> Any:
        data = cls._before(data)
        spec = handler(data)
        if isinstance(data, dict):
            spec._check_given(data.keys())
        return spec

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_wrap_validator_function(cls._validate, handler(source))


_S = TypeVar("_S", bound=_Spec)


def _printable(content: str) -> str:
    # a NUL or an escape sequence would reach every user's chat as it is
    problem = control_character_problem(content)
    if problem:
        raise ValueError(f"the content has {problem}: remove it (tabs and line breaks "
                         "are fine)")
    return content  # (its length is Telegram's after parsing: see markup_problem)


@dataclass(frozen=True, kw_only=True)
class Arm(_Spec):
    """One variant: an id (letters, digits, ``_.-``; ≤ 32) and the content shown to users."""

    id: Annotated[str, _Rule(pattern=_ID_PATTERN)]
    # (as written: HTML's tags and entities can make a 4,096-character message longer;
    # the length Telegram counts is checked with the experiment's parse mode)
    content: Annotated[str, _Rule(min_length=1, max_length=16384), _After(_printable)]


#: the characters no text of an experiment may hold: the C0 controls but tab, line feed and
#: carriage return, DEL, the C1 controls (U+0080–U+009F: U+009B starts a terminal escape on
#: its own) and the two bidirectional overrides (U+202D, U+202E: they reverse how the text
#: after them is shown, e.g. in an export opened in a spreadsheet); embeddings and isolates
#: stay, right-to-left text uses them
CONTROL_CHARACTERS = "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f\\u202d\\u202e"
#: text without those characters: what an arm's content, a context's keys and its text may
#: hold (as a JSON-schema pattern too)
TEXT_PATTERN = f"^[^{CONTROL_CHARACTERS}]*$"
#: the first character of a text that :data:`TEXT_PATTERN` refuses, or ``None``
has_control_character = re.compile(f"[{CONTROL_CHARACTERS}]").search


#: what an id (a subject, a chat) may not hold, as a regular expression's class: the
#: control characters and tabs and line breaks (the HTTP API's pattern is built from it;
#: Unicode's line separator U+2028 is not one: an app's chat names hold it)
ID_BREAKERS = f"\\t\\n\\r{CONTROL_CHARACTERS}"
_has_id_breaker = re.compile(f"[{ID_BREAKERS}]").search


def control_character_problem(text: str, *, breaks: bool = False) -> str | None:
    """Which refused character a text holds and where, in words (an invisible character
    is hard to find): ``"U+009B (a control character) at character 3"``; ``None`` if none.
    ``breaks``: a tab or a line break is refused too (an id, which stays on one line).

    Examples
    --------
    >>> control_character_problem("price \u202e01$")
    'U+202E (a direction override) at character 7'
    >>> control_character_problem("a\\nb", breaks=True)
    'U+000A (a control character) at character 2'
    """
    found = (_has_id_breaker if breaks else has_control_character)(text)
    if found is None:
        return None
    what = "a direction override" if found.group() in "\u202d\u202e" else "a control character"
    return f"U+{ord(found.group()):04X} ({what}) at character {found.start() + 1}"


@functools.cache
def visible_id_pattern() -> str:
    """An id (a subject) with no character of :data:`ID_BREAKERS` and one visible character
    at least, as a regular expression (:func:`~banditbot._values.blank_text`'s rule: a
    character neither blank nor an invisible format character): what the HTTP API's schema
    tells a client, whose generated subjects must then be ones the service takes. Built
    once, when a schema is first asked for (it reads every code point's category: about
    0.1 s)."""
    import unicodedata

    hidden = "".join(ch for ch in map(chr, range(0x110000))
                     if unicodedata.category(ch) == "Cf")
    return f"^[^{ID_BREAKERS}]*[^{ID_BREAKERS}{BLANKS}{hidden}][^{ID_BREAKERS}]*$"


#: what a blank subject is told (the service's check and the HTTP body's model say the same)
BLANK_SUBJECT = "a subject needs a visible character: this one has only spaces or invisible " \
    "characters"


@dataclass(frozen=True, kw_only=True)
class RewardOption(_Spec):
    """One feedback button: the label users see and the reward value it stands for."""

    label: Annotated[str, _Rule(min_length=1, max_length=32)]
    value: float


def _check_untyped_range(data: Mapping[Any, Any]) -> None:
    """Refuse a reward's ``min``/``max`` given without its ``type``: the type is then the
    default, binary (0 or 1), which has no range (``reward: {min: 1}`` was told "a binary
    reward is 0 or 1 (remove min/max or use type: rating)", of a binary reward nobody wrote,
    and not of the number it meant). Says the type read and what to add."""
    lo, hi = data.get("min"), data.get("max")
    if lo is None and hi is None:
        return
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lo, hi)
               if v is not None):
        return  # (the field's own check says what a bound must be)
    given = " and ".join(f"{k} {v:g}" for k, v in (("min", lo), ("max", hi)) if v is not None)
    if lo is not None and hi is not None:
        fix = (f"add type: continuous for any number from {lo:g} to {hi:g}, or type: rating "
               f"for whole numbers from {lo:g} to {hi:g}")
    else:
        other, side, end, default = ("max", f"of at least {lo:g}", "highest", 5) \
            if hi is None else ("min", f"of at most {hi:g}", "lowest", 1)
        fix = (f"add type: continuous for a number {side}, and {other}: its {end} value "
               f"(with both, the estimates hold at every look); or type: rating for a scale "
               f"of whole numbers ({other} {default} unless given)")
    raise ValueError(f"{given} without a type: a reward without one is binary (👍/👎: 0 or "
                     f"1), which has no range ({fix})")


@dataclass(frozen=True, kw_only=True)
class RewardSpec(_Spec):
    """What a reward is.

    ``binary``: 1 (👍) or 0 (👎). ``rating``: an integer from ``min`` to ``max`` (default
    1–5). ``continuous``: a finite number within ``[min, max]`` when given, else within
    ±:data:`MAX_REWARD` (1e12), so that sums of squares stay finite. ``options``
    overrides the feedback buttons (labels with values; each value must be allowed).
    """

    type: Literal["binary", "rating", "continuous"] = "binary"
    min: float | None = None
    max: float | None = None
    options: tuple[RewardOption, ...] | None = None

    @classmethod
    def _before(cls, data: Any) -> Any:
        if isinstance(data, str):  # (reward: rating)
            return {"type": data}
        if isinstance(data, dict) and "type" not in data:
            _check_untyped_range(data)
        return data

    def __post_init__(self) -> None:
        for name, bound in (("min", self.min), ("max", self.max)):
            if bound is not None and not (math.isfinite(bound) and abs(bound) <= MAX_REWARD):
                raise ValueError(f"{name} must be a finite number within ±{MAX_REWARD:g} "
                                 f"(use a smaller {name})")
        if self.type == "rating":  # (its buttons and values are whole numbers)
            for name, bound in (("min", self.min), ("max", self.max)):
                if bound is not None and bound != int(bound):
                    raise ValueError(f"a rating's {name} is a whole number, not {bound:g} "
                                     f"(use {math.floor(bound)} or {math.ceil(bound)}, or "
                                     "type: continuous)")
        lo, hi = self.bounds
        if lo is not None and hi is not None and not lo < hi:
            if self.min is None or self.max is None:  # one bound is the type's default
                given, default = ("min", "max") if self.max is None else ("max", "min")
                raise ValueError(f"{given} ({lo if given == 'min' else hi:g}) leaves no range: "
                                 f"{default} is {hi if default == 'max' else lo:g} by default "
                                 f"for a {self.type} (set {default} too)")
            fix = "swap them" if lo > hi else "a range needs two different values"
            raise ValueError(f"min ({lo:g}) must be below max ({hi:g}) ({fix})")
        if self.type == "binary" and (self.min is not None or self.max is not None):
            raise ValueError("a binary reward is 0 or 1 (remove min/max or use type: rating)")
        labels = [option.label for option in self.options or ()]
        if len(set(labels)) < len(labels):
            twice = next(label for label in labels if labels.count(label) > 1)
            raise ValueError(f"two buttons are labelled {twice!r} (give each its own label)")
        for option in self.options or ():
            try:
                self.validate_value(option.value)
            except InvalidRewardError as exc:
                raise ValueError(f"button {option.label!r}: {exc}") from None
        if len(self.buttons) > MAX_BUTTONS:
            raise ValueError(f"{len(self.buttons)} feedback buttons; a Telegram message holds "
                             f"at most {MAX_BUTTONS} (use a narrower rating, or a continuous "
                             "reward given through the API)")

    @cached_property
    def bounds(self) -> tuple[float | None, float | None]:
        """``(lowest, highest)`` allowed reward; ``None`` where unbounded."""
        if self.type == "binary":
            return 0.0, 1.0
        if self.type == "rating":
            return (1.0 if self.min is None else self.min), (5.0 if self.max is None else self.max)
        return self.min, self.max

    @property
    def bounded(self) -> bool:
        """Whether both bounds are known (then policies see rewards mapped to [0, 1])."""
        lo, hi = self.bounds
        return lo is not None and hi is not None

    @cached_property
    def buttons(self) -> tuple[RewardOption, ...]:
        """The feedback buttons: ``options`` or the default for the type."""
        if self.options:
            return self.options
        if self.type == "binary":
            return (RewardOption(label="👍", value=1.0), RewardOption(label="👎", value=0.0))
        if self.type == "rating":
            lo, hi = self.bounds
            assert lo is not None and hi is not None
            return tuple(RewardOption(label=f"{v}", value=float(v))
                         for v in range(math.ceil(lo), math.floor(hi) + 1))
        return ()

    def validate_value(self, value: Any) -> float:
        """Return ``value`` as a float if the spec allows it, else raise InvalidRewardError.

        ``true``/``false`` are 1 and 0 for a binary reward only: on a rating or a number
        they would silently be the lowest values."""
        number = reward_number(self.type, *self.bounds, value)  # (the rule; here its words)
        if number is not None:
            return number
        if isinstance(value, bool):
            raise InvalidRewardError(f"reward {str(value).lower()} is not a number",
                                     hint=self.describe())
        try:
            float(value)
        except (TypeError, ValueError, OverflowError):
            raise InvalidRewardError(
                f"reward {_short(value)} is not a number", hint=self.describe()
            ) from None
        raise InvalidRewardError(f"reward {_short(value)} is not allowed", hint=self.describe())

    def describe(self) -> str:
        """Human-readable description of the allowed values."""
        lo, hi = self.bounds
        if self.type == "binary":
            return "a binary reward is 1 (👍) or 0 (👎)"
        if self.type == "rating":
            return f"a rating is a whole number from {lo:g} to {hi:g}"
        if lo is None and hi is None:
            return f"a continuous reward is a number within ±{MAX_REWARD:g}"
        if hi is None:
            return f"a continuous reward is a number ≥ {lo:g}, at most {MAX_REWARD:g}"
        if lo is None:
            return f"a continuous reward is a number ≤ {hi:g}, at least -{MAX_REWARD:g}"
        return f"a continuous reward is a number from {lo:g} to {hi:g}"


_TIME_WIDTHS = {"discount": "half_life", "window": "window"}


def time_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """A policy's parameters with a half-life or window given as a duration (``'3d'``,
    ``'12h'``, ``'30m'``, ``'90s'``) in seconds."""
    out = dict(params)
    for key in _TIME_WIDTHS.values():
        value = out.get(key)
        if isinstance(value, str) and (seconds := duration_seconds(value)) is not None:
            out[key] = seconds
    return out


def check_time_width(policy: Policy, params: Mapping[str, Any]) -> None:
    """A non-stationary policy in the service names its half-life or window: the class's
    default (1000) is of the simulator's steps, 17 minutes as seconds (:class:`PolicyError`
    otherwise)."""
    weighting = policy.time_weighting()
    if weighting is not None and _TIME_WIDTHS[weighting[0]] not in params:
        key = _TIME_WIDTHS[weighting[0]]
        raise PolicyError(f"{policy.name}: give its {key}, in seconds or as a duration such "
                          f"as '3d' (its default, {weighting[1]:g}, is the simulator's "
                          "steps)", hint=f"e.g. {key}: 3d")


@dataclass(frozen=True, kw_only=True)
class PolicySpec(_Spec):
    """A policy by name with its parameters; validated by building it.

    In YAML either a name (``policy: thompson``) or a mapping
    (``policy: {name: epsilon-greedy, epsilon: 0.5}``).
    """

    name: str
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def _before(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"name": data}
        if isinstance(data, dict) and "params" not in data:
            if "name" not in data:
                raise ValueError(f"a policy mapping needs a name (got keys "
                                 f"{', '.join(map(str, data)) or 'none'}), e.g. "
                                 "{name: epsilon-greedy, epsilon: 0.1}")
            params = {k: v for k, v in data.items() if k != "name"}
            return {"name": data.get("name"), "params": time_params(params)}
        if isinstance(data, dict) and isinstance(data.get("params"), dict):
            return {**data, "params": time_params(data["params"])}
        return data

    def __post_init__(self) -> None:
        try:
            check_time_width(self.build(), self.params)
        except PolicyError as exc:
            raise ValueError(str(exc)) from None

    def build(self) -> Policy:
        """The validated policy object."""
        return make_policy(self.name, self.params)


#: Context keys the Telegram bot fills with text (see banditbot.telegram.chat_context),
#: with examples of their values: a numeric or cyclic feature of that name is always 0.
_TEXT_FEATURES = {"language_code": "en, de, es", "chat_type": "private, group, supergroup"}


#: The periods of the cyclic features the Telegram bot fills (a cyclic feature of another
#: name states its own)
_KNOWN_PERIODS = {"hour": 24.0, "weekday": 7.0}
#: The most keys a decision's context may hold (``CONTEXT_LIMITS`` in ``_features``), so
#: the most features an experiment may declare
MAX_CONTEXT_KEYS = 32


@dataclass(frozen=True, kw_only=True)
class FeatureSpec(_Spec):
    """One context feature of a contextual experiment.

    ``categorical`` features are one-hot encoded over ``values`` (others map to no column;
    ``true``/``false`` in the file and in a context are the text ``true``/``false``);
    ``numeric`` features are scaled as ``(x - center) / scale`` (booleans count as 0/1);
    ``cyclic`` features become ``sin`` and ``cos`` of ``2π·x / period`` (``period``
    defaults to 24 for ``hour`` and 7 for ``weekday``, as the Telegram bot fills them; any
    other cyclic feature states it).
    """

    name: Annotated[str, _Rule(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
    type: Literal["categorical", "numeric", "cyclic"] = "numeric"
    values: tuple[str, ...] = ()
    center: float = 0.0
    scale: Annotated[float, _Rule(gt=0)] = 1.0
    period: Annotated[float, _Rule(gt=0)] = 24.0

    @classmethod
    def _before(cls, data: Any) -> Any:
        """A cyclic feature's period (known for ``hour`` and ``weekday``, else required, and
        given for cyclic features only) and a categorical feature's ``true``/``false``
        values as the text they are matched as (YAML reads them as booleans)."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        kind, name = data.get("type", "numeric"), data.get("name")
        name = name if isinstance(name, str) else None
        if kind == "cyclic" and "period" not in data and name in _KNOWN_PERIODS:
            data["period"] = _KNOWN_PERIODS[name]
        values = data.get("values")
        if isinstance(values, list | tuple):
            data["values"] = [bool_text(v) if isinstance(v, bool) else v for v in values]
        return data

    def __post_init__(self) -> None:
        if self.values and self.type != "categorical":
            raise ValueError(f"feature {self.name!r}: values are for categorical features "
                             f"(set type: categorical, or remove values)")
        text = _TEXT_FEATURES.get(self.name)
        if text and self.type != "categorical":  # as a number every value encodes as 0
            raise ValueError(f"feature {self.name!r} is text in the Telegram bot's context "
                             f"({text}): declare it type: categorical with its values, "
                             f"e.g. values: [{text.split(', ')[0]}, …]")
        if self.type == "categorical" and not self.values:
            raise ValueError(f"categorical feature {self.name!r} needs a list of values "
                             "(add values: [...])")

    def _check_given(self, given: Collection[Any]) -> None:
        if "period" in given and self.type != "cyclic":
            raise ValueError(f"feature {self.name!r}: a period is for cyclic features (set "
                             "type: cyclic, or remove period)")
        if self.type == "cyclic" and "period" not in given:
            raise ValueError(f"cyclic feature {self.name!r} needs its period (e.g. period: 24 "
                             "for an hour of day, 7 for a weekday, 12 for a month)")


@dataclass(frozen=True, kw_only=True)
class TelegramOptions(_Spec):
    """How an experiment appears in Telegram (the ``telegram:`` section of an experiment).

    Attributes
    ----------
    command
        The command that runs it (default: the experiment id, lower-cased, ``-``/``.`` as
        ``_``).
    parse_mode
        How arm content is rendered: ``MarkdownV2``, ``HTML`` or ``plain``.
    """

    command: Annotated[str | None, _Rule(pattern=_COMMAND_PATTERN)] = None
    parse_mode: Literal["MarkdownV2", "HTML", "plain"] = "plain"

    @classmethod
    def _before(cls, data: Any) -> Any:
        command = data.get("command") if isinstance(data, dict) else None
        if isinstance(command, str) and command.startswith("/"):  # as users type it
            return {**data, "command": command[1:]}
        return data

    def command_for(self, experiment_id: str) -> str:
        """The command name without the slash."""
        return self.command or experiment_id.lower().replace("-", "_").replace(".", "_")


#: a duration: the unit's letter in lower case (an "M" could be months) or its word in any
#: case
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|(?i:(?:sec|second|min|minute|hour|day)s?))"
                       r"\s*$")
_REWARDS = re.compile(r"^\s*(\d+)\s*rewards?\s*$")
_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_UNITS = {"sec": "s", "second": "s", "min": "m", "minute": "m", "hour": "h", "day": "d"}


def duration_seconds(text: str) -> float | None:
    """A duration in seconds: ``90s``, ``15m``, ``12h``, ``3d``, or in words (``1 hour``,
    ``30 minutes``); ``None`` if ``text`` is not one.

    Examples
    --------
    >>> duration_seconds("15m"), duration_seconds("2 hours"), duration_seconds("soon")
    (900.0, 7200.0, None)
    """
    m = _DURATION.match(text)
    if m is None:
        return None
    unit = m.group(2).lower()
    return float(m.group(1)) * _SECONDS[_UNITS.get(unit.removesuffix("s"), unit)]


@dataclass(frozen=True, kw_only=True)
class UpdateSpec(_Spec):
    """When a new allocation is computed (the experiment's ``update:``).

    ``every: decision`` (the default): before every decision, from the statistics of that
    moment. ``every: 200 rewards``: a new allocation period once the current one has received
    that many rewards. ``every: 15m`` (``s``, ``m``, ``h``, ``d``): a new period once the current
    one is that old. Decisions of a period sample from its stored allocation, so servers and
    Lambda containers agree on it and a decision reads no arm statistics.
    """

    every: Literal["decision", "rewards", "time"] = "decision"
    rewards: Annotated[int | None, _Rule(ge=1, le=10_000_000)] = None
    seconds: Annotated[float | None, _Rule(gt=0, le=366 * 86400)] = None

    @classmethod
    def _before(cls, data: Any) -> Any:
        if isinstance(data, str | int):
            data = {"every": data}
        if not isinstance(data, dict) or "every" not in data or data["every"] in (
                "decision", "rewards", "time"):
            return data
        every = data["every"]
        text = str(every).strip()
        if text.lower().startswith("every "):  # as the report says it: "every 200 rewards"
            text = text[6:].strip()
            if text in ("decision", "rewards", "time"):
                return {**data, "every": text}
        if (m := _REWARDS.match(text)) is not None:
            return {**data, "every": "rewards", "rewards": int(m.group(1))}
        if (seconds := duration_seconds(text)) is not None:
            return {**data, "every": "time", "seconds": seconds}
        count = f"'every {every} rewards'" if isinstance(every, int) else "'every 200 rewards'"
        raise ValueError(f"{every!r} is not understood (use 'every decision', "
                         f"{count}, or a duration such as 'every 15m' or 'every 1h')")

    def __post_init__(self) -> None:
        if self.every == "rewards" and self.rewards is None:
            raise ValueError("update every rewards needs a count (e.g. '200 rewards')")
        if self.every == "time" and self.seconds is None:
            raise ValueError("update every time needs a duration (e.g. '15m')")

    def describe(self) -> str:
        """``every decision``, ``every 200 rewards``, ``every 15m``."""
        if self.every == "rewards":
            return f"every {self.rewards} rewards"
        if self.every == "time":
            seconds = float(self.seconds or 0)
            for unit in ("d", "h", "m"):
                if seconds >= _SECONDS[unit] and seconds % _SECONDS[unit] == 0:
                    return f"every {seconds / _SECONDS[unit]:g}{unit}"
            return f"every {seconds:g}s"
        return "every decision"


@dataclass(frozen=True, kw_only=True)
class BurnInSpec(_Spec):
    """Equal allocation until every active arm has ``min_per_arm`` decisions and, for 👍/👎
    rewards, ``min_answers`` answers (``burn_in: 0`` turns it off)."""

    min_per_arm: Annotated[int, _Rule(ge=0, le=1_000_000)] = 10
    min_answers: Annotated[int, _Rule(ge=0, le=1_000_000)] = 5

    @classmethod
    def _before(cls, data: Any) -> Any:
        if data is False or data == 0:
            return {"min_per_arm": 0, "min_answers": 0}
        if isinstance(data, int) and not isinstance(data, bool):
            return {"min_per_arm": data}
        return data

    @property
    def enabled(self) -> bool:
        """Whether any burn-in applies."""
        return self.min_per_arm > 0 or self.min_answers > 0


@dataclass(frozen=True, kw_only=True)
class WinnerSpec(_Spec):
    """When an experiment has a winner, and what then happens (``winner:``).

    ``rule``: ``sequence`` (the default: the leader's anytime-valid confidence sequence for
    its difference to every other arm excludes 0 — a stated error rate however often the
    report is read) or ``p-best`` (P(best) ≥ ``threshold``, the hosted platforms' rule, which
    repeated looks make wrong far more often than ``1 - threshold``: a description, offered
    for comparison). ``explore: top-two`` (with an allocation updated in periods): while no
    winner is named, each period's allocation is top-two sampling over the arms the rule has
    not ruled out (the leader half the time, a challenger the other half) — the sampling that
    lets the rule find a winner soon (docs/inference.md); ``none`` (default) leaves the
    policy's allocation as it is. ``on_winner``: ``keep-learning`` (report it, change nothing),
    ``send-all-to-winner`` (every later decision gets the winner) or ``stop`` (the winner is
    served and the experiment reported as stopped). Applied automatically and audited.
    ``horizon`` (optional, rule ``sequence``): the number of answered decisions the
    experiment plans to run — a design input like a fixed-horizon test's sample size. The
    rule then bets mostly on the evidence that crosses its threshold by that many answers
    (more winners named by then; docs/inference.md). It never changes the error rate: any
    value, or none (the default: a bet spread over effect sizes), keeps ``P(a wrong winner)
    ≤ 1 − confidence``; past the horizon the rule goes on.
    """

    rule: Literal["sequence", "p-best"] = "sequence"
    threshold: Annotated[float, _Rule(gt=0.5, lt=1.0)] = 0.95
    explore: Literal["none", "top-two"] = "none"
    on_winner: Literal["keep-learning", "send-all-to-winner", "stop"] = "keep-learning"
    min_decisions: Annotated[int, _Rule(ge=0)] = 100
    horizon: Annotated[int | None, _Rule(ge=1)] = None


#: an experiment's settings in seconds, which a file may also give as durations ('1d', '12h')
_SECONDS_FIELDS = ("wait_seconds", "sticky_seconds", "time_bucket_seconds")


def _unique_arms(arms: tuple[Arm, ...]) -> tuple[Arm, ...]:
    seen: set[str] = set()
    for arm in arms:
        if arm.id in seen:
            raise ValueError(f"arm id {arm.id!r} appears twice (give each arm its own id)")
        seen.add(arm.id)
    return arms


@dataclass(frozen=True, kw_only=True)
class ExperimentConfig(_Spec):
    """One experiment: arms, policy, reward spec, reward mode and scope.

    Attributes
    ----------
    id
        Identifier (letters, digits, ``_.-``).
    reward_mode
        ``explicit``: only feedback counts. ``implicit``: every decision is a pull and silence
        becomes ``default_reward`` after ``wait_seconds``.
    scope
        ``shared``: one bandit; ``chat``: one per chat; ``subject``: one per user.
    telegram
        How it appears in Telegram: its command and the parse mode of its content
        (:class:`TelegramOptions`; ``command:`` and ``parse_mode:`` at the experiment's top
        level are read as before).
    features
        Context features for contextual policies (linear statistics are kept whenever
        features are declared, so contextual and plain policies can be switched).
    time_bucket_seconds
        Keep per-time-bucket sums so non-stationary policies can discount or window them.
    track_ips
        Keep importance-weighted sums (needed by EXP3; on automatically when it is the
        configured policy).
    update
        When a new allocation is computed (:class:`UpdateSpec`; default every decision).
    burn_in
        Equal allocation at the start (:class:`BurnInSpec`; default 10 decisions and, for
        👍/👎, 5 answers per arm).
    floor
        Every active arm keeps at least this probability (default 0.01, or ``0.5 / K``
        with more than 50 active arms; a floor set above ``0.5 / K`` is refused): the
        policy's vector is mixed with the uniform one. A floor
        keeps every arm observable, which offline evaluation and valid intervals need.
    control
        The arm every other arm is compared with (uplift, chance to beat control).
    holdout
        A fixed share of decisions that goes to ``control`` outside the bandit (needs
        ``control``).
    winner
        The winner rule and what happens on a winner (:class:`WinnerSpec`).
    confidence
        Level of the anytime-valid intervals and of the winner rule (default 0.95).
    propensity
        ``exact`` (default): each decision logs its exact propensity vector when it is made.
        ``deferred`` (Beta Thompson sampling, ``update: every decision``, no holdout): the
        decision is a posterior draw that logs the posterior it came from, and the exact
        vector is computed from it when the log is read (export, evaluation, reports) —
        the same numbers, without the quadrature on the decision's path. The floor is then
        a fixed uniform share ``K · floor`` (the smallest share that lifts the least likely
        arm needs the vector at decision time).
    """

    id: Annotated[str, _Rule(pattern=_ID_PATTERN)]
    description: str = ""
    arms: Annotated[tuple[Arm, ...], _Rule(min_length=1), _After(_unique_arms)]
    policy: PolicySpec = field(default_factory=lambda: PolicySpec(name="thompson"))
    reward: RewardSpec = field(default_factory=RewardSpec)
    reward_mode: Literal["explicit", "implicit"] = "explicit"
    wait_seconds: Annotated[float, _Rule(gt=0)] = 3600.0
    default_reward: float | None = None
    scope: Literal["shared", "chat", "subject"] = "shared"
    telegram: TelegramOptions = field(default_factory=TelegramOptions)
    features: tuple[FeatureSpec, ...] = ()
    time_bucket_seconds: Annotated[float | None, _Rule(gt=0)] = None
    track_ips: bool = False
    sticky_seconds: Annotated[float, _Rule(ge=0)] = 0.0
    update: UpdateSpec = field(default_factory=UpdateSpec)
    burn_in: BurnInSpec = field(default_factory=BurnInSpec)
    floor: Annotated[float, _Rule(ge=0.0, le=0.5)] = 0.01
    control: str | None = None
    holdout: Annotated[float, _Rule(ge=0.0, le=0.9)] = 0.0
    winner: WinnerSpec = field(default_factory=WinnerSpec)
    confidence: Annotated[float, _Rule(ge=0.5, le=0.999)] = 0.95
    propensity: Literal["exact", "deferred"] = "exact"

    @classmethod
    def _before(cls, data: Any) -> Any:
        data = cls._default_policy(cls._surface_options(data))
        if isinstance(data, dict):  # (a duration where seconds are asked for)
            data = {**data, **{key: seconds for key in _SECONDS_FIELDS
                               if isinstance(data.get(key), str)
                               and (seconds := duration_seconds(data[key])) is not None}}
        return data

    @staticmethod
    def _surface_options(data: Any) -> Any:
        """Files from before the ``telegram:`` section keep working: ``command`` and
        ``parse_mode`` at the top level of an experiment move into it."""
        if isinstance(data, dict) and ("command" in data or "parse_mode" in data):
            data = dict(data)
            section = dict(data.get("telegram") or {})
            for key in ("command", "parse_mode"):
                if key not in data:
                    continue
                value = data.pop(key)
                if key in section and section[key] != value:
                    raise ValueError(f"{key} is given twice, {value!r} and telegram.{key} "
                                     f"{section[key]!r} (keep the one under telegram:)")
                section[key] = value
            data["telegram"] = section
        return data

    @staticmethod
    def _default_policy(data: Any) -> Any:
        """No policy given: Thompson sampling — Beta for bounded rewards, Gaussian else."""
        if isinstance(data, dict) and data.get("policy") is None:
            reward = data.get("reward") or {}
            kind = reward.get("type", "binary") if isinstance(reward, dict) else reward
            bounded = kind in ("binary", "rating") or (
                isinstance(reward, dict) and reward.get("min") is not None
                and reward.get("max") is not None)
            data = {**data, "policy": "thompson" if bounded else "gaussian-thompson"}
        return data

    def _check_given(self, given: Collection[Any]) -> None:
        """A floor written down above ``0.5 / K`` is refused, so that nobody reads a floor
        the bandit does not keep (the default 0.01 is capped at ``0.5 / K`` where it is
        used)."""
        k = len(self.arms)
        if "floor" in given and k > 1 and self.floor > 0.5 / k:
            raise ValueError(f"floor {self.floor:g} is above 0.5 / K = {0.5 / k:.3g} for "
                             f"{k} arms, where it would be capped (use at most "
                             f"{0.5 / k:.3g})")

    def __post_init__(self) -> None:
        if self.default_reward is not None:
            try:
                self.reward.validate_value(self.default_reward)
            except InvalidRewardError as exc:
                raise ValueError(f"default_reward: {exc}") from None
        policy = self.policy.build()
        problem = self.policy_problem(policy)
        if problem:
            raise ValueError(problem)
        if self.control is not None and self.arm(self.control) is None:
            raise ValueError(f"control {self.control!r} is not an arm of the experiment "
                             "(use one of its arm ids)")
        if self.winner.explore != "none" and self.update.every == "decision":
            raise ValueError("winner.explore acts at each allocation period (set update, e.g. "
                             "'200 rewards')")
        if self.holdout > 0 and self.control is None:
            raise ValueError("a holdout goes to the control arm (set control: ARM)")
        names = [f.name for f in self.features]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"feature {twice[0]!r} is declared twice (one entry per feature)")
        if len(names) > MAX_CONTEXT_KEYS:
            raise ValueError(f"{len(names)} features, but a decision's context holds at most "
                             f"{MAX_CONTEXT_KEYS} keys (keep the {MAX_CONTEXT_KEYS} that "
                             "matter)")
        if self.propensity == "deferred":
            why = (f"the policy is {policy.name}" + (
                       " (Beta Thompson sampling needs a reward with bounds)"
                       if policy.name == "gaussian-thompson" else "")
                   if policy.name != "thompson"
                   else "the allocation is updated by periods (update: "
                        f"{self.update.describe()})" if self.update.every != "decision"
                   else "the experiment has a holdout" if self.holdout > 0 else None)
            if why:
                raise ValueError(f"propensity: deferred is for Beta Thompson sampling (policy: "
                                 f"thompson) with update: every decision and no holdout, but "
                                 f"{why}; use propensity: exact")
        if self.telegram.command is not None and not self.reward.buttons:
            # (a trial: /spend sent its arm with no way to answer it, and never learned)
            raise ValueError(
                f"telegram.command {self.telegram.command!r}: a {self.reward.type} reward "
                "has no feedback buttons in Telegram, so no one could answer there; give "
                "reward.options (labels and the values they send, e.g. [{label: '€10', "
                "value: 10}]), or leave telegram.command out (the experiment then runs "
                "through the HTTP API, and /report still shows it)")
        # Telegram would refuse every message of such an arm: every one is named at once (a
        # trial with 40 unescaped arms needed 40 rounds of edit and check)
        problems = [(arm.id, problem) for arm in self.arms
                    if (problem := markup_problem(arm.content, self.telegram.parse_mode))]
        if problems:
            quoting = f" ({_BACKSLASH_QUOTING})" if any("\\" in p for _, p in problems) \
                else ""
            if len(problems) == 1:
                raise ValueError(f"arm {problems[0][0]!r}: {problems[0][1]}{quoting}")
            listed = "\n".join(f"  arm {arm!r}: {problem}" for arm, problem in problems)
            raise ValueError(f"{len(problems)} arms hold text Telegram would refuse:\n"
                             f"{listed}{quoting and chr(10) + quoting.strip()}")

    def policy_problem(self, policy: Policy) -> str | None:
        """Why ``policy`` cannot run on this experiment (``None`` if it can)."""
        needs = set(policy.needs_extra)
        if policy.needs_bounded and not self.reward.bounded:
            return (f"{policy.name} needs rewards with known bounds (use a binary or rating "
                    "reward, give min and max, or choose gaussian-thompson)")
        if policy.contextual and not self.features:
            return ("a contextual policy needs 'features' (declare them in the experiment's "
                    "config file, see docs/policies.md)")
        if policy.contextual and self.update.every != "decision":
            return ("a contextual policy decides per context, not per allocation period (use "
                    "update: every decision)")
        weighting = policy.time_weighting()
        if "time" in needs and self.time_bucket_seconds is None:
            what = "half-life" if weighting is not None and weighting[0] == "discount" \
                else "window"
            twentieth = f", {weighting[1] / 20:g}" if weighting is not None else ""
            return ("a non-stationary policy needs time buckets (set time_bucket_seconds in "
                    f"the experiment's config file, e.g. a twentieth of the {what}{twentieth})")
        if weighting is not None and self.time_bucket_seconds is not None \
                and self.time_bucket_seconds > weighting[1]:
            what = "half-life" if weighting[0] == "discount" else "window"
            return (f"time_bucket_seconds {self.time_bucket_seconds:g} is longer than the "
                    f"{what}, {weighting[1]:g} s: the policy would weigh whole buckets, not "
                    f"its {what} (set time_bucket_seconds to about a twentieth of it, "
                    f"{weighting[1] / 20:g})")
        if self.winner.on_winner != "keep-learning" and ("time" in needs or policy.contextual):
            why = "assumes the best arm can change" if "time" in needs else \
                "picks an arm per context, and a winner over all contexts would serve one arm " \
                "to every context"
            return (f"{policy.name} {why}: a winner cannot end it (use winner.on_winner: "
                    f"keep-learning)")
        if "ips_total" in needs and not self.tracks_ips:
            return ("EXP3 needs importance-weighted sums (set track_ips: true in the "
                    "experiment's config file, then restart: they are kept from then on)")
        return None

    @cached_property
    def arm_ids(self) -> frozenset[str]:
        """The ids of the arms the file has (a set: a reward's check of its arm is one
        lookup, whatever the number of arms)."""
        return frozenset(arm.id for arm in self.arms)

    @cached_property
    def extra_stats(self) -> bool:
        """Whether a reward adds statistics beyond the counters (importance-weighted sums,
        time buckets, linear sums for contextual policies)."""
        return bool(self.tracks_ips or self.time_bucket_seconds or self.features)

    @cached_property
    def tracks_ips(self) -> bool:
        """Whether rewards also record importance-weighted sums (for EXP3)."""
        return self.track_ips or "ips_total" in self.policy.build().needs_extra

    @property
    def silence_reward(self) -> float:
        """Reward applied to an unanswered decision in implicit mode."""
        if self.default_reward is not None:
            return self.default_reward
        lo, _ = self.reward.bounds
        return 0.0 if lo is None else lo

    def arm(self, arm_id: str) -> Arm | None:
        """The arm with that id, or ``None``."""
        return next((a for a in self.arms if a.id == arm_id), None)


@dataclass(frozen=True, kw_only=True)
class ApiKeySpec(_Spec):
    """An API key given in the config file: its name, role and SHA-256 (never the key)."""

    name: Annotated[str, _Rule(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
    role: Literal["read", "decide", "admin"] = "read"
    sha256: Annotated[str, _Rule(pattern=r"^[0-9a-f]{64}$")]


def _unique_experiments(experiments: tuple[ExperimentConfig, ...]
                        ) -> tuple[ExperimentConfig, ...]:
    for e in experiments:
        command = e.telegram.command_for(e.id)
        if command in BOT_COMMANDS:
            raise ValueError(
                f"experiment {e.id!r} would run as /{command}, one of the bot's own "
                "commands (give it another, e.g. telegram: {command: try_" + command + "})")
    keys = {"id": [e.id for e in experiments],
            "telegram command": [e.telegram.command_for(e.id) for e in experiments]}
    for what, values in keys.items():
        seen: set[str] = set()
        for key in values:
            if key in seen:
                raise ValueError(f"two experiments share the {what} {key!r} "
                                 "(give each its own id and command)")
            seen.add(key)
    return experiments


def _known_zone(zone: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {zone!r} (use an IANA name such as "
                         "Europe/Berlin)") from None
    return zone


@dataclass(frozen=True, kw_only=True)
class BanditConfig(_Spec):
    """All experiments plus bot-wide settings.

    Attributes
    ----------
    admins
        Telegram user ids allowed to run admin commands (``BANDITBOT_ADMINS`` adds more,
        see :class:`~banditbot._settings.Settings`).
    api_keys
        HTTP API keys (name, role, SHA-256 of the key); ``banditbot keys create`` adds more
        to the store.
    time_zone
        IANA time zone for context features such as the hour of day, and of the times
        reports show.
    """

    experiments: Annotated[tuple[ExperimentConfig, ...], _Rule(min_length=1),
                           _After(_unique_experiments)]
    admins: tuple[int, ...] = ()
    time_zone: Annotated[str, _After(_known_zone)] = "UTC"
    api_keys: tuple[ApiKeySpec, ...] = ()

    @cached_property
    def by_id(self) -> dict[str, ExperimentConfig]:
        """Experiments by id."""
        return {e.id: e for e in self.experiments}

    def experiment(self, experiment_id: str) -> ExperimentConfig:
        """The experiment with that id; :class:`UnknownExperimentError` if none."""
        try:
            return self.by_id[experiment_id]
        except KeyError:
            known = ", ".join(self.by_id)
            raise UnknownExperimentError(
                f"unknown experiment {experiment_id!r}",
                hint=f"{did_you_mean(experiment_id, self.by_id)}known experiments: {known}"
            ) from None


def _trailing_parenthesis(message: str) -> int | None:
    """Where the parenthesis that closes ``message`` opens (matched, so a hint with its own
    parentheses stays whole: "(a binary reward is 1 (👍) or 0 (👎))"), or ``None``."""
    if not message.endswith(")"):
        return None
    depth = 0
    for i in range(len(message) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(message[i], 0)
        if depth == 0:
            return i if i > 0 and message[i - 1] == " " else None
    return None


#: Commands the Telegram bot keeps for itself; no experiment may run as one of them
BOT_COMMANDS = frozenset({"start", "help", "experiments", "report",  # everyone's
                          "cheat", "prior", "reset", "policy", "arm", "export", "audit"})  # admins'

#: Hints for one field's error, where the type's own hint would mislead
_FIELD_HINTS = {
    ("features.name", "string_pattern_mismatch"): "a lowercase letter, then lowercase "
    "letters, digits or '_', at most 32 (the context key it reads must be spelled the same)",
    ("confidence", "less_than_equal"): "a share such as 0.95, not a percentage",
    **{(key, "float_parsing"): "a number of seconds, or a duration such as 30m, 12h or 1d"
       for key in _SECONDS_FIELDS},
    ("telegram.command", "string_pattern_mismatch"): "lowercase letters, digits and '_', "
    "at most 32",
    ("reward.options", "dataclass_type"): "each button a mapping such as {label: 👍, "
    "value: 1}",
    ("floor", "less_than_equal"): "a share such as 0.01, not a percentage",
    ("holdout", "less_than_equal"): "a share such as 0.1, not a percentage",
}
_HINTS = {
    "missing": "add the field",
    "extra_forbidden": "remove it or check its spelling",
    "unexpected_keyword_argument": "remove it or check its spelling",
    "string_pattern_mismatch": "use letters, digits, '_', '.' or '-' (commands: a-z, 0-9, _)",
    "too_short": "add at least one item",
    "literal_error": "use one of the listed values",
    "greater_than": "use a positive number",
    "float_parsing": "use a number",
    "bool_parsing": "use true or false",
    "int_parsing": "use a whole number",
    "string_type": "use text (quote it)",
    "list_type": "use a list",
    "tuple_type": "use a list",
    "model_type": "use a mapping of fields",
    "dataclass_type": "use a mapping of fields",
    "dict_type": "use a mapping of fields",
    "too_long": "use fewer characters",
    "string_too_long": "shorten it",
    "string_too_short": "it must not be empty",
    "greater_than_equal": "use a larger number",
}


def _format_errors(exc: ValidationError, source: str, raw: Any) -> str:
    lines: list[str] = []
    errors = exc.errors()
    for err in errors:
        loc = list(err["loc"])
        kind = str(err["type"])
        if kind == "too_short" and any(
            len(other["loc"]) > len(loc) and other["loc"][: len(loc)] == err["loc"]
            for other in errors
        ):
            continue  # pydantic's count of the *valid* items; the item errors say more
        if kind == "dataclass_type" and loc and isinstance(loc[-1], int):
            loc = loc[:-1]  # an item that is not a mapping: said of the list, once
        where, node = source, raw
        if len(loc) >= 2 and loc[0] == "experiments" and isinstance(loc[1], int):
            try:
                node = raw["experiments"][loc[1]]
                exp_id = node.get("id", f"#{loc[1] + 1}")
            except (KeyError, IndexError, TypeError, AttributeError):
                exp_id, node = f"#{loc[1] + 1}", None
            where += f": experiment {exp_id!r}"
            loc = loc[2:]
        loc = [p for p in loc if not str(p).startswith("function-")]
        field = _field_words(loc, node)
        message = str(err["msg"]).removeprefix("Value error, ")
        if kind == "unexpected_keyword_argument":  # (a dataclass's word for it)
            message = "Extra inputs are not permitted"
        bound = (err.get("ctx") or {})
        if kind in _BOUND_WORDS and len(bound) == 1:  # ("Input should be less than or equal
            # to 0.9": a re-trial's holdout: 50) the bound in words, with what was given
            (limit,) = bound.values()
            message = f"{_BOUND_WORDS[kind]} {limit}, not {err.get('input')!r}"
        shape = ".".join(str(p) for p in loc if not isinstance(p, int))  # features.name
        hint = _FIELD_HINTS.get((shape, kind)) or _HINTS.get(kind)
        # our errors carry their own hint, in the last parentheses (a list of problems, one
        # a line, ends with the last one's own: not a hint)
        trailing = None if "\n" in message else _trailing_parenthesis(message)
        if trailing is not None:
            message, hint = message[:trailing].rstrip(), message[trailing + 1:-1]
        said = _in_the_files_words(shape, kind, err.get("input"), where=where != source,
                                   node=node)
        if said is not None:
            message, hint = said
        text = f"{where}: {field + ': ' if field else ''}{message}"
        line = text + (f" (fix: {hint})" if hint else "")
        if line not in lines:  # (two arms written as plain text: one line says it)
            lines.append(line)
    return "\n".join(lines)


#: pydantic's bounds said as a number's limits (the limit follows)
_BOUND_WORDS = {"less_than_equal": "at most", "greater_than_equal": "at least",
                "less_than": "below", "greater_than": "above"}

#: the lists of an experiments file whose items a message names as a user counts them: the
#: list's key, the word for an item and the key that names one
_ITEMS = {"arms": ("arm", "id"), "features": ("feature", "name"),
          "options": ("button", "label"), "api_keys": ("API key", "name")}


def _field_words(loc: Sequence[Any], node: Any) -> str:
    """Where a field is, in the file's words: ``arms[3].id`` is ``arm 4 ('hey'): id`` (an
    item counted from 1, and named where it has a name); ``node`` is the data ``loc``
    starts from (``None`` where unknown)."""
    parts: list[str] = []
    path: list[str] = []
    for part in loc:
        if isinstance(part, int):
            listed = path.pop() if path and path[-1] in _ITEMS else None
            if listed is None:  # (a list without a word for its items)
                path.append(f"{path.pop() if path else ''}[{part}]")
            else:
                if path:
                    parts.append(".".join(path))
                    path = []
                word, key = _ITEMS[listed]
                item = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
                name = item.get(key) if isinstance(item, dict) else None
                named = f" ({_short(name)})" if isinstance(name, str | int) and name != "" \
                    else ""
                parts.append(f"{word} {part + 1}{named}")
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
        else:
            path.append(str(part))
            node = node.get(part) if isinstance(node, dict) else None
    if path:
        parts.append(".".join(path))
    return ": ".join(parts)


#: what an id may be, in words (as ``banditbot arms add`` says it)
ID_RULE = "an id is 1-32 letters, digits, '_', '.' or '-', starting with a letter or a digit"
_EXPERIMENT_EXAMPLE = "e.g. - {id: greeting, arms: [{id: hey, content: Hey!}]}"
_ARM_EXAMPLE = "e.g. - {id: hey, content: Hey!}"
#: the lists of mappings a file holds, in its words, for an error of their shape (pydantic's
#: ``tuple_type`` or ``dataclass_type``): field → (message, fix)
_LISTS = {
    "experiments": ("a list of experiments, each with an id and arms", _EXPERIMENT_EXAMPLE),
    "arms": ("a list of arms, each with an id and content", _ARM_EXAMPLE),
    "features": ("a list of features, each with a name and type",
                 "e.g. - {name: hour, type: cyclic}"),
    "reward.options": ("a list of buttons, each with a label and value",
                       "e.g. - {label: 👍, value: 1}"),
}
_LIST_KINDS = ("tuple_type", "dataclass_type")
#: pydantic's message for a field, in the file's words: (field, error type) → (message, fix)
_FIELD_MESSAGES = {
    ("experiments", "tuple_type"): ("at least one experiment, each with an id and arms",
                                    _EXPERIMENT_EXAMPLE),
    ("experiments", "too_short"): ("at least one experiment", _EXPERIMENT_EXAMPLE),
    ("arms", "too_short"): ("at least one arm, each with an id and content", _ARM_EXAMPLE),
    ("burn_in", "dataclass_type"): ("a number of decisions per arm, or a mapping",
                                    "e.g. burn_in: 20, or burn_in: {min_per_arm: 20, "
                                    "min_answers: 5}; burn_in: 0 turns it off"),
    ("policy", "dataclass_type"): ("a policy's name, or a mapping with its name and "
                                   "parameters", "e.g. policy: thompson, or policy: "
                                   "{name: epsilon-greedy, epsilon: 0.1}"),
    ("reward", "dataclass_type"): ("binary, rating or continuous, or a mapping",
                                   "e.g. reward: {type: rating, min: 1, max: 5}"),
    ("telegram", "dataclass_type"): ("a mapping of the experiment's command and parse mode",
                                     "e.g. telegram: {command: greeting}"),
    ("update", "dataclass_type"): ("when the allocation is computed again",
                                   "e.g. update: every decision, or update: 200 rewards, or "
                                   "update: 15m"),
    ("winner", "dataclass_type"): ("a mapping of the winner rule's settings",
                                   "e.g. winner: {rule: sequence, on_winner: stop}"),
}
#: pydantic's message for a kind of error, where a field has none of its own
_KIND_MESSAGES = {
    "tuple_type": "a list is expected here",
    "too_short": "at least one item is needed",
    "dataclass_type": "a mapping (key: value lines) is expected here",
}
#: the fields that are a share of the decisions (or a level): 0.5, never 50 or 50%
_SHARES = ("holdout", "floor", "confidence", "winner.threshold")


def _in_the_files_words(shape: str, kind: str, value: Any, *, where: bool,
                        node: Any) -> tuple[str, str] | None:
    """The message and fix for an error pydantic words in its own terms (``None`` where
    its words stand): ``shape`` is the field without list positions (``arms.id``),
    ``where`` whether it is within an experiment, ``node`` the experiment's data."""
    if kind == "string_pattern_mismatch" and shape in ("id", "arms.id"):
        fixed = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(value)).strip("_.-")[:32]
        return ID_RULE, f"e.g. {fixed or 'hello_v2'}"
    if kind in ("unexpected_keyword_argument", "extra_forbidden"):
        section, _, key = shape.rpartition(".")
        return _belongs(key, section or ("experiment" if where else "top"), value, node)
    if kind == "float_parsing":
        text = str(value).strip()
        if shape in _SHARES and text.endswith("%"):
            try:
                share = float(text[:-1]) / 100
            except ValueError:
                share = 0.5
            return (f"{_short(value)} is not a number",
                    f"a share such as {share:g}, not a percentage")
        return f"{_short(value)} is not a number", _FIELD_HINTS.get((shape, kind), "use a number")
    said = _FIELD_MESSAGES.get((shape, kind)) or \
        (_LISTS.get(shape) if kind in _LIST_KINDS else None)
    if said is not None:
        return said
    if kind in _KIND_MESSAGES:
        return _KIND_MESSAGES[kind], _HINTS[kind]
    return None


def _belongs(key: str, given: str, value: Any, node: Any) -> tuple[str, str] | None:
    """Where a key that is not allowed where it is given belongs, if it is a key of
    another part of the file (``holdout`` at the top: an experiment's), as (message, fix);
    ``given``: where it is (``top``, ``experiment``, or a section such as ``reward``),
    ``node``: the experiment's data."""
    places = _key_places()
    found = [place for place, keys in places.items() if key in keys and place != given]
    shown = value if isinstance(value, int | float | str) and not isinstance(value, bool) \
        else "…"
    if len(found) == 1:
        place = found[0]
        if place == "top":
            return ("a setting of the whole file, not of an experiment",
                    f"put it at the top of the file, not indented: {key}: {shown}")
        if place == "experiment":
            return ("an experiment's setting, not the file's" if given == "top" else
                    f"an experiment's setting, not its {given}'s",
                    f"indent it with the keys of the experiment it is for, such as id: and "
                    f"arms: — {key}: {shown}")
        section = f"{place}: {{{key}: {shown}}}" if place != "reward" or key != "type" \
            else f"reward: {shown}"
        if given == "top":
            return (f"an experiment's setting (of its {place})",
                    f"put it in the experiment it is for, as {section}")
        return f"a setting of the experiment's {place}", f"put it under {place}:, e.g. {section}"
    if found:
        return None
    owners = _policy_parameters().get(key)
    if not owners or given != "experiment":
        return None
    policy = node.get("policy") if isinstance(node, dict) else None
    name = policy.get("name") if isinstance(policy, dict) else policy or "thompson"
    if name not in owners:
        name = owners[0]
    return ("a policy parameter, not an experiment's setting" + (
                f" (of {', '.join(owners)})" if len(owners) > 1 else ""),
            f"put it under policy: {{name: {name}, {key}: {shown}}}")


@functools.cache
def _key_places() -> dict[str, frozenset[str]]:
    """The keys of each part of the file that holds settings, by the part's name."""
    def keys(spec: type[Any]) -> frozenset[str]:
        return frozenset(f.name for f in fields(spec))

    return {"top": keys(BanditConfig) - {"experiments"},
            "experiment": keys(ExperimentConfig),
            "reward": keys(RewardSpec), "telegram": keys(TelegramOptions),
            "update": keys(UpdateSpec) - {"rewards", "seconds"},
            "burn_in": keys(BurnInSpec), "winner": keys(WinnerSpec)}


@functools.cache
def _policy_parameters() -> dict[str, list[str]]:
    """Each policy parameter's name, with the policies that take it."""
    from .policies import available_policies

    owners: dict[str, list[str]] = {}
    for name, cls in available_policies().items():
        for f in fields(cast(Any, cls)):
            owners.setdefault(f.name, []).append(name)
    return owners


def parse_config(data: Any, *, source: str = "<config>") -> BanditConfig:
    """Validate an already-parsed mapping (e.g. from YAML) into a :class:`BanditConfig`."""
    if isinstance(data, list):
        data = {"experiments": data}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with 'experiments'",
                          hint="start the file with 'experiments:'")
    from pydantic import ValidationError

    try:
        return validated(BanditConfig, data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, source, data)) from None


def validated(spec: type[_S], data: Any) -> _S:
    """``data`` (a mapping, or a shorthand such as ``"thompson"`` for a policy) validated as
    a ``spec`` class; pydantic's ``ValidationError`` (a ValueError) names what is wrong.
    A spec made directly in code is checked across fields only (``__post_init__``)."""
    result: _S = _adapter(cast(Hashable, spec)).validate_python(data)
    return result


@functools.cache
def _adapter(spec: Hashable) -> Any:
    """pydantic's validator of a spec class (built once, on first use)."""
    from pydantic import TypeAdapter

    return TypeAdapter(cast(Any, spec))


def config_document(value: Any) -> Any:
    """A spec (or anything within one) as JSON-ready data: each field by name, defaults
    included, tuples as lists (what the HTTP API shows, and what a checked copy holds).
    Not a file to validate again: a field written out at its default may be one a file
    must not give (a period for a feature that is not cyclic)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: config_document(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return [config_document(item) for item in value]
    if isinstance(value, dict):
        return {str(key): config_document(item) for key, item in value.items()}
    return value


#: what a checked copy of an experiments file is written by (and read by only the same)
_CHECKED_FORMAT = "banditbot-checked-experiments/1"


def checked_path(path: str | os.PathLike[str]) -> Path:
    """Where :func:`save_checked` keeps the checked copy of an experiments file:
    ``experiments.yaml`` → ``experiments.yaml.checked.json`` beside it."""
    p = Path(path)
    return p.with_name(p.name + ".checked.json")


@functools.cache
def _schema_digest() -> str | None:
    """A digest of this module's source, where the specs and their checks are: a checked
    copy written by other code is not used (nor is any, where the source is not there:
    ``None``)."""
    try:
        return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    except OSError:
        return None


def save_checked(path: str | os.PathLike[str]) -> Path:
    """Validate an experiments file and write its checked copy (:func:`checked_path`):
    the validated document with the SHA-256 of the file's text. :func:`load_config` then
    reads that copy instead of validating the file again while the file is unchanged, and
    imports neither pydantic nor PyYAML (a Lambda's cold start; the package's build writes
    it). :class:`ConfigError` if the file does not validate."""
    p = Path(path)
    raw = _read(p)
    config = _config_from(p, raw)
    out = checked_path(p)
    body = config_document(config)
    document = {"format": _CHECKED_FORMAT, "schema": _schema_digest(),
                "source_sha256": hashlib.sha256(raw).hexdigest(),
                "config_sha256": _digest(body), "config": body}
    out.write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", "utf-8")
    return out


def config_digest(value: Any) -> str:
    """SHA-256 of a spec (or anything within one) as :func:`config_document` writes it,
    whatever its keys' order: equal for equal settings (what servers sharing a store
    compare)."""
    return _digest(config_document(value))


def _digest(document: Any) -> str:
    """SHA-256 of a JSON document, whatever its keys' order (a copy edited by hand is not
    trusted: the file is validated instead)."""
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def _checked_config(path: Path, text: bytes) -> BanditConfig | None:
    """The checked copy of the file whose text is ``text``, if there is one written for
    that text by these specs; ``None`` otherwise (the file is then validated)."""
    copy = checked_path(path)
    try:
        document = json.loads(copy.read_bytes())
    except (OSError, ValueError):
        return None
    schema = _schema_digest()
    if not isinstance(document, dict) or document.get("format") != _CHECKED_FORMAT \
            or schema is None or document.get("schema") != schema \
            or document.get("source_sha256") != hashlib.sha256(text).hexdigest() \
            or document.get("config_sha256") != _digest(document.get("config")):
        return None
    try:
        config = _from_document(BanditConfig, document["config"])
        _known_zone(config.time_zone)  # (this machine's zones: the build's may differ)
    except (KeyError, TypeError, ValueError):  # (written by hand: validated instead)
        return None
    return config


def _from_document(spec: type[_S], data: Any) -> _S:
    """A spec built from :func:`config_document`'s data of an equal one: the checks across
    fields run again (``__post_init__``), the types are trusted."""
    if not isinstance(data, dict):
        raise TypeError(f"{spec.__name__}: not a mapping")
    names = {f.name for f in fields(cast(Any, spec))}
    if not names.issuperset(data):
        raise KeyError(sorted(set(data) - names))
    nested = _NESTED[spec]
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        inner = nested.get(name)
        if inner is not None and value is not None:
            value = tuple(_from_document(inner, v) for v in value) if isinstance(value, list) \
                else _from_document(inner, value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return spec(**kwargs)


#: each spec class, with the spec classes its fields hold (a tuple of them or one)
_NESTED: dict[type[Any], dict[str, type[Any]]] = {
    Arm: {}, RewardOption: {}, RewardSpec: {"options": RewardOption}, PolicySpec: {},
    FeatureSpec: {}, TelegramOptions: {}, UpdateSpec: {}, BurnInSpec: {}, WinnerSpec: {},
    ExperimentConfig: {"arms": Arm, "policy": PolicySpec, "reward": RewardSpec,
                       "telegram": TelegramOptions, "features": FeatureSpec,
                       "update": UpdateSpec, "burn_in": BurnInSpec, "winner": WinnerSpec},
    ApiKeySpec: {}, BanditConfig: {"experiments": ExperimentConfig, "api_keys": ApiKeySpec},
}


def load_config(path: str | os.PathLike[str], *, checked: bool = True) -> BanditConfig:
    """Load and validate an experiments file.

    Parameters
    ----------
    path
        A YAML file with ``experiments:`` (and optionally ``admins:``, ``time_zone:``), or
        the same document as JSON (a name ending ``.json``: read without PyYAML).
    checked
        Read the file's checked copy (:func:`save_checked`) when there is one for the
        file's present text, instead of validating the file (the default).

    Raises
    ------
    ConfigError
        The file is missing, is not valid YAML (or JSON), or does not validate; the message
        names the file, the experiment and the field.
    """
    p = Path(path)
    raw = _read(p)
    if checked and (config := _checked_config(p, raw)) is not None:
        return config
    return _config_from(p, raw)


def _read(p: Path) -> bytes:
    """An experiments file's bytes (:class:`ConfigError` if it cannot be read)."""
    try:
        return p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the experiments file ({exc.strerror})",
                          hint="pass --config PATH or set BANDITBOT_CONFIG") from None


def _config_from(p: Path, raw: bytes) -> BanditConfig:
    """The experiments file ``p`` whose bytes are ``raw``, parsed and validated."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not UTF-8 text (byte {exc.start + 1} cannot be decoded)",
                          hint="save the file as UTF-8") from None
    if p.suffix.lower() == ".json":  # (no PyYAML to import: a Lambda's cold start)
        return parse_config(_json_document(text.removeprefix("\ufeff"), p), source=str(p))
    import yaml

    try:
        data = yaml.load(text, Loader=_unique_key_loader())  # a safe loader
    except yaml.YAMLError as exc:
        message, hint = _yaml_problem(exc, text)
        raise ConfigError(f"{p}: broken YAML{message}", hint=hint) from None
    return parse_config(data, source=str(p))


#: how to write text with backslashes in YAML (MarkdownV2's escapes): the check of an arm's
#: markup says it too
_BACKSLASH_QUOTING = "in YAML: inside single quotes; inside double quotes a backslash is " \
    "written twice"


def _yaml_problem(exc: Exception, text: str) -> tuple[str, str]:
    """PyYAML's error as ``(" at line L, column C: problem", fix)``, with what the problem
    usually is: a tab that indents, a key without its colon (named on its own line, which
    the parser reports at the next), a colon in a value, a backslash in double quotes."""
    mark = getattr(exc, "problem_mark", None)
    problem = str(getattr(exc, "problem", None) or "invalid YAML")
    if mark is None:
        return f": {problem}", "check indentation and quoting"
    line, column = mark.line, mark.column
    lines = re.split(r"\r\n|\r|\n", text)
    here = lines[line] if line < len(lines) else ""
    at = f" at line {line + 1}, column {column + 1}"
    if "given twice" in problem:
        return f"{at}: {problem}", "keep one of them"
    # (libyaml's parser says "found a tab character that violates indentation" of a tab
    # after a key's indentation, where PyYAML's own says "cannot start any token")
    if ("cannot start any token" in problem or "tab character" in problem) \
            and here[column:column + 1] == "\t":
        what = "a tab indents this line" if not here[:column].strip() else "a tab"
        return f"{at}: {what}; YAML does not read tabs there", \
            "indent with spaces only; set your editor to insert spaces for a tab"
    if "could not find expected ':'" in problem:
        key = getattr(exc, "context_mark", None)
        if key is not None and key.line < line:  # (the parser noticed at the next line)
            written = lines[key.line].strip() if key.line < len(lines) else ""
            return (f" at line {key.line + 1}, column {key.column + 1}: a key without its "
                    f"':' ({_short(written)})",
                    "write key: value, with a space after the colon")
        return (f"{at}: could not find expected ':' on this line or the one above",
                "write key: value, with a space after the colon")
    if "mapping values are not allowed" in problem:
        return (f"{at}: {problem}",
                "check this line's indentation against the line above; a key needs a space "
                "after its colon (key: value); a value holding ': ' must be quoted, e.g. "
                "content: 'Note: read this'")
    if "unknown escape character" in problem:
        return (f"{at}: {problem} (a backslash inside double quotes)",
                "write text with backslashes, such as MarkdownV2's \\!, "
                + _BACKSLASH_QUOTING)
    return f"{at}: {problem}", "check indentation and quoting"


def _json_document(text: str, path: Path) -> Any:
    """An experiments file in JSON (YAML's subset: the same document), refusing a key given
    twice in one object as the YAML loader does."""
    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise ConfigError(f"{path}: broken JSON: the key {key!r} is given twice",
                                  hint="keep one of them")
            out[key] = value
        return out

    try:
        return json.loads(text, object_pairs_hook=unique)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: broken JSON at line {exc.lineno}, column {exc.colno}: "
                          f"{exc.msg}", hint="check commas, quotes and brackets") from None


@functools.cache
def _unique_key_loader() -> type[Any]:
    """PyYAML's safe loader, refusing a key given twice in one mapping (the plain loader
    keeps the last silently: a second ``policy:`` would replace the first unseen). On
    libyaml's parser when PyYAML was built with it (the wheels are): the same documents,
    parsed about ten times faster than by the pure-Python parser (5 ms of CPU for the
    packaged example, on every Lambda cold start)."""
    import yaml

    safe: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class UniqueKeyLoader(safe):  # type: ignore[misc]
        def construct_mapping(self, node: yaml.MappingNode,
                              deep: bool = False) -> dict[Any, Any]:
            seen: dict[Any, tuple[int, int]] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=deep)
                mark = key_node.start_mark
                try:  # (line, column): `{id: a, id: b}` repeats a key on one line
                    first, _column = seen.setdefault(key, (mark.line, mark.column))
                except TypeError:  # an unhashable key: the constructor says what is wrong
                    continue
                if (first, _column) != (mark.line, mark.column):
                    raise yaml.constructor.ConstructorError(
                        None, None, f"the key {key!r} is given twice (first at line "
                                    f"{first + 1})", key_node.start_mark)
            mapping: dict[Any, Any] = super().construct_mapping(node, deep)
            return mapping

    return UniqueKeyLoader


#: the experiments file shipped inside the package (the demo's, and the last default)
PACKAGED_CONFIG = Path(__file__).parent / "data" / "experiments.yaml"


def default_config_path(candidates: Iterable[str | os.PathLike[str]] = ()) -> Path:
    """The experiments file to use when none is given: ``./experiments.yaml``,
    ``./examples/experiments.yaml``, then the copy shipped inside the package."""
    options: Sequence[str | os.PathLike[str]] = [*candidates, "experiments.yaml",
                                                 "examples/experiments.yaml"]
    for option in options:
        if Path(option).is_file():
            return Path(option)
    return PACKAGED_CONFIG
