"""Context features → vectors, and the additive linear statistics built from them (pure)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._config import (
    MAX_CONTEXT_KEYS,
    FeatureSpec,
    bool_text,
    control_character_problem,
    has_control_character,
)
from ._errors import PayloadError
from ._types import FloatArray

__all__ = ["CONTEXT_LIMITS", "Featurizer", "category_of", "category_text", "check_context",
           "linear_arrays", "linear_extra"]

#: What a decision's ``context`` may hold (documented in docs/architecture.md and the API):
#: a flat mapping (no nesting) of at most ``keys`` names of at most ``key_length``
#: characters to scalars: text of at most ``text_length`` characters, ``true``/``false``,
#: whole numbers within ±``integer`` (exact in a float) and finite numbers within ±``number``.
CONTEXT_LIMITS = {"keys": MAX_CONTEXT_KEYS, "key_length": 64, "text_length": 256,
                  "integer": 2**53, "number": 1e15}


#: How far from its center, in scales, a numeric feature's value is warned about: a
#: standardized feature rarely leaves ±10, and a linear model extrapolates it as it is
FAR_SCALES = 10.0


class Featurizer:
    """Turns a context mapping into a vector: an intercept, then each feature.

    Examples
    --------
    >>> from banditbot import FeatureSpec
    >>> f = Featurizer([FeatureSpec(name="lang", type="categorical", values=("en", "de")),
    ...                 FeatureSpec(name="hour", type="cyclic", period=24)])
    >>> f.dim, f.encode({"lang": "de", "hour": 6}).round(3).tolist()
    (5, [1.0, 0.0, 1.0, 1.0, 0.0])
    """

    def __init__(self, specs: Sequence[FeatureSpec]) -> None:
        self.specs = tuple(specs)
        names = ["intercept"]
        for spec in self.specs:
            if spec.type == "categorical":
                names += [f"{spec.name}={v}" for v in spec.values]
            elif spec.type == "cyclic":
                names += [f"{spec.name}:sin", f"{spec.name}:cos"]
            else:
                names.append(spec.name)
        self.names = tuple(names)
        self.dim = len(names)

    def encode(self, context: Mapping[str, Any] | None) -> FloatArray:
        """The feature vector (missing or unparsable values encode as zeros; so does a
        context that is not a mapping, e.g. a corrupted row)."""
        if not isinstance(context, Mapping):
            context = {}
        out = [1.0]
        for spec in self.specs:
            value = context.get(spec.name)
            if spec.type == "categorical":
                text = category_of(value, spec.values)
                out += [1.0 if text == v else 0.0 for v in spec.values]
                continue
            number = _number(value)
            if spec.type == "cyclic":
                if number is None:
                    out += [0.0, 0.0]
                else:
                    angle = 2.0 * math.pi * number / spec.period
                    out += [math.sin(angle), math.cos(angle)]
            else:
                out.append(0.0 if number is None else (number - spec.center) / spec.scale)
        return np.array(out, dtype=np.float64)

    def warnings(self, context: Mapping[str, Any] | None) -> list[str]:
        """What in ``context`` the features cannot use, in words for the caller: a feature
        it lacks (encoded as zeros), a value a categorical feature does not list, a number
        that is not one, a cyclic value outside its period (or true/false), a number far
        from its center, and keys that are no feature at all (logged, not used; a typo such
        as ``Lang`` makes every decision context-free)."""
        context = context or {}
        known = {spec.name for spec in self.specs}
        out = []
        for spec in self.specs:
            if spec.name not in context or context[spec.name] is None:
                out.append(f"no {spec.name!r} in the context: the policy saw zeros for it")
            elif spec.type == "categorical" and \
                    category_of(context[spec.name], spec.values) not in spec.values:
                out.append(f"{spec.name}={context[spec.name]!r} is not one of its values "
                           f"({', '.join(spec.values)}): encoded as none of them")
            elif spec.type != "categorical" and _number(context[spec.name]) is None:
                out.append(f"{spec.name}={context[spec.name]!r} is not a number: encoded as "
                           "zeros")
            elif spec.type == "cyclic":
                value = context[spec.name]
                number = _number(value) or 0.0
                if isinstance(value, bool) or not 0.0 <= number < spec.period:
                    # (a trial: hour=99, -5, true and 1e15 went in without a word; past
                    # about 1e15 the angle is noise)
                    out.append(f"{spec.name}={value!r} is not in 0 to {spec.period:g}, its "
                               f"period: read as {number % spec.period:g} on the cycle "
                               "(check the value)")
            elif spec.type == "numeric":
                z = ((_number(context[spec.name]) or 0.0) - spec.center) / spec.scale
                if abs(z) > FAR_SCALES:
                    out.append(f"{spec.name}={context[spec.name]!r} is {abs(z):.3g} scales "
                               f"from its center {spec.center:g} (scale {spec.scale:g}): one "
                               "such value can outweigh all the model learned (used as "
                               "sent; check the value, or the feature's center and scale)")
        extra = [k for k in context if k not in known]
        if extra:
            out.append(f"not features of this experiment (logged, not used): "
                       f"{', '.join(extra[:8])}{' …' if len(extra) > 8 else ''}; features: "
                       f"{', '.join(sorted(known))}")
        return out


def category_of(value: Any, values: Sequence[str]) -> str:
    """``str(value)`` for a float that ``values`` spells that way (``"1.0"``), else
    :func:`category_text` (``"1"`` for 1.0): the category of ``values`` a context value
    matches, or, matching none, its text.

    Examples
    --------
    >>> category_of(1.0, ("1", "2")), category_of(1.0, ("1.0", "2.0")), category_of(7, ("1",))
    ('1', '1.0', '7')
    """
    if isinstance(value, float) and str(value) in values:
        return str(value)
    return category_text(value)


def category_text(value: Any) -> str:
    """A context value as a categorical feature's values are written: ``true``/``false``
    for booleans, as in JSON and YAML, and a whole number as one (``1.0`` is ``1``: JSON
    does not tell them apart, and a column with a gap reaches JSON as floats; a trial's
    ``tier: 1.0`` matched none of ``"1", "2", "3"``).

    Examples
    --------
    >>> [category_text(v) for v in (True, 1.0, 1, 2.5, "de")]
    ['true', '1', '1', '2.5', 'de']
    """
    if isinstance(value, bool):
        return bool_text(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def check_context(context: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``context`` as a plain dict, if it keeps :data:`CONTEXT_LIMITS`.

    Raises
    ------
    PayloadError
        It is not a mapping, is nested, or is too big, with the limit it broke.

    Examples
    --------
    >>> check_context({"hour": 9, "lang": "de"})
    {'hour': 9, 'lang': 'de'}
    """
    if context is None:
        return None
    if not isinstance(context, Mapping):
        raise PayloadError("context must be a mapping of names to values",
                           hint='e.g. {"hour": 9}')
    limits = CONTEXT_LIMITS
    if len(context) > limits["keys"]:
        raise PayloadError(f"context has {len(context)} keys; at most {limits['keys']}")
    out: dict[str, Any] = {}
    for key, value in context.items():
        if isinstance(value, np.generic):  # numpy's scalars (a DataFrame's cell) as Python's
            value = value.item()
        if not isinstance(key, str) or not 0 < len(key) <= limits["key_length"] \
                or has_control_character(key):
            raise PayloadError(f"context keys are names of 1–{limits['key_length']} "
                               "printable characters")
        if isinstance(value, bool):
            pass
        elif isinstance(value, int):
            if abs(value) > limits["integer"]:
                raise PayloadError(f"context {key!r}: whole numbers are limited to "
                                   f"±2**53", hint="send it as text if it is an id")
        elif isinstance(value, float):
            # a whole number written as 9007199254740992.0 is a whole number (JSON does not
            # tell them apart; the documented schema takes it as an integer)
            whole = math.isfinite(value) and value.is_integer() and \
                abs(value) <= limits["integer"]
            if not whole and not (math.isfinite(value) and abs(value) <= limits["number"]):
                raise PayloadError(f"context {key!r}: numbers must be finite and within "
                                   f"±{limits['number']:g}")
        elif isinstance(value, str):
            if len(value) > limits["text_length"]:
                raise PayloadError(f"context {key!r}: text is limited to "
                                   f"{limits['text_length']} characters")
            problem = control_character_problem(value)  # a NUL byte went into exports
            if problem:
                raise PayloadError(f"context {key!r}: the text has {problem}",
                                   hint="remove it (tabs and line breaks are fine)")
        elif value is None:
            raise PayloadError(f"context {key!r}: null is not a value",
                               hint="leave the key out when it is not known")
        elif isinstance(value, numbers.Number):  # a Decimal, a Fraction: a number, not a float
            raise PayloadError(f"context {key!r}: numbers are int or float, not "
                               f"{type(value).__name__}", hint="convert it with float()")
        else:
            raise PayloadError(f"context {key!r}: values are text, numbers or true/false "
                               f"(not {type(value).__name__}: no lists or objects)")
        out[key] = value
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def linear_extra(x: FloatArray, reward: float, weight: float = 1.0) -> dict[str, float]:
    """Additive fields one reward adds: ``lin.A.i.j`` (upper triangle of ``x xᵀ``) and
    ``lin.b.i`` (``r·x``), weighted."""
    d = x.shape[0]
    fields: dict[str, float] = {}
    for i in range(d):
        xi = float(x[i])
        if xi == 0.0:
            continue
        fields[f"lin.b.{i}"] = weight * reward * xi
        for j in range(i, d):
            xj = float(x[j])
            if xj != 0.0:
                fields[f"lin.A.{i}.{j}"] = weight * xi * xj
    return fields


def linear_arrays(extra: Mapping[str, Mapping[str, float]], arms: Sequence[str],
                  d: int) -> tuple[FloatArray, FloatArray]:
    """``A`` of shape ``(K, d, d)`` and ``b`` of shape ``(K, d)`` from stored fields."""
    a = np.zeros((len(arms), d, d))
    b = np.zeros((len(arms), d))
    for k, arm in enumerate(arms):
        for name, value in extra.get(arm, {}).items():
            if not name.startswith("lin."):
                continue
            parts = name.split(".")
            if parts[1] == "A":
                i, j = int(parts[2]), int(parts[3])
                if i < d and j < d:
                    a[k, i, j] = value
                    a[k, j, i] = value
            elif parts[1] == "b" and int(parts[2]) < d:
                b[k, int(parts[2])] = value
    return a, b
