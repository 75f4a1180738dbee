"""Name → policy class registry; parameters are validated when the spec is built."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from .._errors import PolicyError
from ._base import Policy

__all__ = ["available_policies", "make_policy", "parse_params", "parse_policy", "policy_class",
           "register"]

_REGISTRY: dict[str, type[Policy]] = {}
_ALIASES: dict[str, str] = {}

P = TypeVar("P", bound=type[Policy])


def _normalize(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(" ", "-")


def register(*aliases: str) -> Callable[[P], P]:
    """Class decorator: register a policy under its ``name`` and optional aliases."""

    def decorate(cls: P) -> P:
        key = _normalize(cls.name)
        if key in _REGISTRY:
            raise RuntimeError(f"policy {key!r} registered twice")
        _REGISTRY[key] = cls
        for alias in aliases:
            _ALIASES[_normalize(alias)] = key
        return cls

    return decorate


def _ensure_loaded() -> None:
    # the implementations register themselves on import (the package loads the common ones:
    # greedy, Thompson sampling, UCB; a name found among them needs none of the others)
    from . import (  # noqa: F401
        _bai,
        _contextual,
        _exp3,
        _greedy,
        _nonstationary,
        _thompson,
        _ucb,
    )


def available_policies() -> dict[str, type[Policy]]:
    """Registered policies by canonical name.

    Examples
    --------
    >>> "thompson" in available_policies()
    True
    """
    _ensure_loaded()
    return dict(sorted(_REGISTRY.items()))


def policy_class(name: str) -> type[Policy]:
    """The policy class registered under ``name`` (or an alias); :class:`PolicyError` if none."""
    key = _normalize(name)
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:  # not among those loaded so far
        _ensure_loaded()
        key = _ALIASES.get(_normalize(name), _normalize(name))
    try:
        return _REGISTRY[key]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise PolicyError(
            f"unknown policy {name!r}", hint=f"use one of: {known}"
        ) from None


def make_policy(name: str, params: Mapping[str, Any] | None = None, /, **kwargs: Any) -> Policy:
    """Build a validated policy from its name and parameters.

    Parameters
    ----------
    name
        Registered name or alias, e.g. ``"epsilon-greedy"``, ``"ucb1"``, ``"thompson"``.
    params, **kwargs
        Policy parameters; unknown names raise :class:`PolicyError` listing the valid ones.

    Examples
    --------
    >>> make_policy("epsilon-greedy", epsilon=0.5).describe()
    'epsilon-greedy(epsilon=0.5, initial_value=0)'
    """
    cls = policy_class(name)
    merged = {**(params or {}), **kwargs}
    fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(merged) - fields)
    if unknown:
        valid = ", ".join(sorted(fields)) or "(none)"
        raise PolicyError(
            f"{cls.name}: unknown parameter(s) {', '.join(unknown)}",
            hint=f"valid parameters: {valid}",
        )
    declared = dataclasses.fields(cls)  # type: ignore[arg-type]
    types = {f.name: str(f.type) for f in declared}
    # (a hint's example: the parameter's default where it is a number)
    examples = {f.name: f.default for f in declared if isinstance(f.default, int | float)
                and not isinstance(f.default, bool) and math.isfinite(f.default)}
    checked = {key: _checked(cls.name, key, value, types[key], examples.get(key, 1))
               for key, value in merged.items()}
    try:
        return cls(**checked)
    except (TypeError, ValueError, OverflowError) as exc:
        raise PolicyError(f"{cls.name}: {exc}", hint="check the parameter types") from None


def _example(key: str, value: float) -> str:
    """A hint's example: ``key=value``; a half-life's or a window's in both of its units (an
    experiment's seconds, as a duration, and a simulation's steps, the default)."""
    if key in ("half_life", "window"):
        return f"{key}=3d in an experiment, {key}={value:g} (steps) in a simulation"
    return f"{key}={value:g}"


#: the largest magnitude a numeric policy parameter may have (documented in docs/policies.md)
MAX_PARAM = 1e9


def _checked(policy: str, key: str, value: Any, annotation: str, example: float = 1) -> Any:
    """A parameter of the declared kind: numbers finite and within ±:data:`MAX_PARAM`,
    booleans true/false, text text. ``example``: the number a refusal's hint suggests (the
    parameter's default)."""
    if "float" in annotation:
        if value is None and "None" in annotation:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PolicyError(f"{policy}: {key} must be a number, got {value!r}",
                              hint=f"e.g. {_example(key, example)}")
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not (math.isfinite(number) and abs(number) <= MAX_PARAM):
            raise PolicyError(f"{policy}: {key} must be a finite number within "
                              f"±{MAX_PARAM:g}, got {value!r}"[:200],
                              hint=f"e.g. {_example(key, example)}")
        return number
    if annotation == "bool" and not isinstance(value, bool):
        raise PolicyError(f"{policy}: {key} must be true or false, got {value!r}"[:200],
                          hint=f"e.g. {key}=true")
    if annotation == "str" and not isinstance(value, str):
        raise PolicyError(f"{policy}: {key} must be text, got {value!r}"[:200])
    return value


def parse_params(pairs: Sequence[str]) -> dict[str, Any]:
    """Policy parameters from ``key=value`` words (values read as JSON where they are).

    Examples
    --------
    >>> parse_params(["epsilon=0.1", "name=x"])
    {'epsilon': 0.1, 'name': 'x'}
    """
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise PolicyError(f"policy parameter {pair!r} is not key=value",
                              hint="e.g. epsilon=0.1")
        if key.strip() in params:  # which one was meant? (the last silently won)
            raise PolicyError(f"policy parameter {key.strip()!r} is given twice",
                              hint="give each parameter once")
        try:
            params[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            params[key.strip()] = raw
    return params


def parse_policy(spec: str) -> Policy:
    """A policy from ``NAME`` or ``NAME:key=value,key=value`` (command-line form).

    Examples
    --------
    >>> parse_policy("epsilon-greedy:epsilon=0.2").describe()
    'epsilon-greedy(epsilon=0.2, initial_value=0)'
    """
    name, _, params = spec.partition(":")
    return make_policy(name, parse_params([p for p in params.split(",") if p]))
