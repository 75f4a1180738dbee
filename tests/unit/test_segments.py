"""The segment view where the report has no estimates: a reward without bounds."""

from __future__ import annotations

import numpy as np

from banditbot import BanditService, MemoryStore, parse_config


def test_an_unbounded_reward_is_split_into_counts_and_says_why_there_is_no_interval() -> None:
    """A continuous reward without min and max has no AIPW sequences (they need the
    bounds): each segment still counts its decisions and answers per arm, shows no estimate,
    names no leader and says why, instead of 'the intervals do not separate the arms'."""
    cfg = parse_config({"experiments": [{
        "id": "spend", "reward": {"type": "continuous"},
        "arms": [{"id": "a", "content": "A"}, {"id": "b", "content": "B"}]}]})
    svc = BanditService(cfg, MemoryStore(), rng=np.random.default_rng(3))
    for t in range(40):
        d = svc.decide("spend", f"u{t}", {"plan": "pro" if t % 2 else "free"})
        svc.reward(d.id, 12.5 * (t % 3), f"u{t}")
    rep = svc.segment_report("spend", by="plan")
    assert [s.label for s in rep.segments] == ["free", "pro"]
    for s in rep.segments:
        assert s.decisions == s.answered == 20
        assert sum(a.answered for a in s.arms) == 20
        assert all(a.estimate is None and a.low is None for a in s.arms)
        assert s.leader is None
        assert s.verdict == "no leader: no intervals without the reward's bounds"
    assert any("the reward has no bounds" in n for n in rep.notes)


def test_values_a_categorical_feature_does_not_declare_are_one_segment() -> None:
    """A trial: test values (fr, EN, 1) beside a feature's declared en and de were segments
    of their own, and the error rate of each was split over more segments. The policy reads
    them all as none of its values: one "(other values)" segment, named in a note, and the
    leader rule split over en, de, the others and the decisions without one (4, not 6)."""
    cfg = parse_config({"experiments": [{
        "id": "hi", "policy": "linucb", "burn_in": 0,
        "features": [{"name": "language", "type": "categorical", "values": ["en", "de"]}],
        "arms": [{"id": "a", "content": "A"}, {"id": "b", "content": "B"}]}]})
    svc = BanditService(cfg, MemoryStore(), rng=np.random.default_rng(4))
    languages = ["en", "de", "fr", "EN", 1, None]
    for t in range(240):
        value = languages[t % len(languages)]
        d = svc.decide("hi", f"u{t}", {} if value is None else {"language": value})
        svc.reward(d.id, t % 2, f"u{t}")
    rep = svc.segment_report("hi", by="language")
    assert [s.label for s in rep.segments] == ["en", "de", "(other values)", "(not given)"]
    assert [s.decisions for s in rep.segments] == [40, 40, 120, 40]
    assert any(n.startswith("(other values): 1, EN, fr: values 'language' does not declare")
               for n in rep.notes), rep.notes
    assert "/ 4 per segment" in rep.leader_rule


def test_an_other_values_segment_never_takes_a_declared_value_s_name() -> None:
    """A review: a feature that declares "(other values)" itself had the undeclared values
    merged into that declared segment; they get a name the feature does not declare."""
    cfg = parse_config({"experiments": [{
        "id": "hi", "policy": "linucb", "burn_in": 0,
        "features": [{"name": "tier", "type": "categorical",
                      "values": ["gold", "(other values)"]}],
        "arms": [{"id": "a", "content": "A"}, {"id": "b", "content": "B"}]}]})
    svc = BanditService(cfg, MemoryStore(), rng=np.random.default_rng(4))
    for t in range(90):
        d = svc.decide("hi", f"u{t}", {"tier": ["gold", "(other values)", "silver"][t % 3]})
        svc.reward(d.id, t % 2, f"u{t}")
    rep = svc.segment_report("hi", by="tier")
    assert [(s.label, s.decisions) for s in rep.segments] == [
        ("gold", 30), ("(other values)", 30), ("((other values))", 30)]
