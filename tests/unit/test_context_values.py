"""What a decision's context takes from a data scientist's Python (a trial: a DataFrame's
cells are numpy scalars, a column with a gap is floats, a missing value is None)."""

from __future__ import annotations

import numpy as np
import pytest

from banditbot import BanditService, MemoryStore, PayloadError, parse_config


def _service() -> BanditService:
    return BanditService(parse_config({"experiments": [{
        "id": "tone", "arms": [{"id": a, "content": a} for a in ("formal", "casual")],
        "policy": "linucb", "burn_in": 0,
        "features": [{"name": "tier", "type": "categorical", "values": ["1", "2", "3"]},
                     {"name": "hour", "type": "cyclic", "period": 24},
                     {"name": "premium", "type": "categorical", "values": ["true", "false"]}],
    }]}), MemoryStore(), rng=np.random.default_rng(1))


def test_numpy_scalars_are_taken_as_the_numbers_they_are() -> None:
    """``np.int64(9)`` was refused as "values are text, numbers or true/false"; now it is
    logged as the number 9, as are numpy's floats, booleans and text."""
    service = _service()
    context = {"hour": np.int64(9), "tier": np.str_("2"), "premium": np.bool_(True),
               "score": np.float32(0.5)}
    d = service.decide("tone", "u", context)
    (logged,) = [r.context for r in service.decisions("tone") if r.id == d.id]
    assert logged == {"hour": 9, "tier": "2", "premium": True, "score": 0.5}
    assert [type(v) for v in logged.values()] == [int, str, bool, float]
    assert service.context_warnings("tone", logged) == [
        "not features of this experiment (logged, not used): score; features: hour, premium, "
        "tier"]


def test_a_whole_float_matches_its_category_and_null_is_refused_in_words() -> None:
    service = _service()
    featurizer = service.featurizer(service.experiment("tone"))
    assert featurizer is not None
    # tier 1.0 (a column with a gap reaches JSON as floats) is the category "1"
    assert featurizer.encode({"tier": 1.0}).tolist() == featurizer.encode({"tier": 1}).tolist()
    assert featurizer.encode({"tier": 1.0})[1:4].tolist() == [1.0, 0.0, 0.0]
    assert not any("tier" in w for w in service.context_warnings("tone", {"tier": 1.0}))
    assert any("tier=2.5" in w for w in service.context_warnings("tone", {"tier": 2.5}))
    # categories written as floats still take the float (a review: "1.0" had stopped
    # matching 1.0)
    from banditbot._config import FeatureSpec
    from banditbot._features import Featurizer

    versions = Featurizer([FeatureSpec(name="v", type="categorical", values=("1.0", "2.0"))])
    assert versions.encode({"v": 1.0})[1:].tolist() == [1.0, 0.0]
    assert versions.encode({"v": "2.0"})[1:].tolist() == [0.0, 1.0]
    assert versions.warnings({"v": 1.0}) == []
    with pytest.raises(PayloadError, match="'tier': null is not a value") as refused:
        service.decide("tone", "u", {"tier": None})
    assert refused.value.hint == "leave the key out when it is not known"
    with pytest.raises(PayloadError, match=r"not list: no lists or objects"):
        service.decide("tone", "u", {"tier": [1]})


def test_a_cyclic_value_outside_its_period_is_said() -> None:
    """A trial: hour=99, -5, true and 1e15 went in without a word (a numeric feature far
    from its center is warned about); each is said, with where on the cycle it lands, and
    the hours of a day are not."""
    service = _service()
    for value, lands in ((99, "3"), (-5, "19"), (True, "1"), (1e15, "16")):
        said = [w for w in service.context_warnings("tone", {"hour": value}) if "hour" in w]
        assert said == [f"hour={value!r} is not in 0 to 24, its period: read as {lands} on "
                        "the cycle (check the value)"], said
    for value in (0, 9, 23.5):
        assert not any("hour" in w for w in service.context_warnings("tone", {"hour": value}))


def test_a_decimal_is_refused_as_a_number_of_another_type() -> None:
    """A trial: Decimal("0.5") was refused with "(not Decimal: no lists or objects)"."""
    from decimal import Decimal

    with pytest.raises(PayloadError, match="numbers are int or float, not Decimal") as no:
        _service().decide("tone", "u", {"hour": Decimal("0.5")})
    assert no.value.hint == "convert it with float()"
