"""A per-chat experiment's report of all its chats together: its intervals hold.

Each chat has its own bandit, which gives an arm much of its traffic where that arm pays:
the probabilities the decisions were drawn with follow each chat's answers, as a contextual
policy's follow the context. A statistician's trial: 20 chats, half paying 0.6 for arm a
and 0.2 for b, half the reverse (each arm worth 0.40 over all the chats); the all-chats
every-look intervals, built as for one bandit, held 0.40 in 0 of 276 runs. Built as for
contextual decisions (``vectors_vary``), they held it in every run.
"""

from __future__ import annotations

import numpy as np

from banditbot import BanditService, MemoryStore, parse_config

CHATS, T, RUNS = 20, 800, 20
#: P(reward | chat parity, arm)
RATE = ((0.6, 0.2), (0.2, 0.6))
CONFIG = {"experiments": [{"id": "x", "scope": "chat", "burn_in": 0,
                           "policy": {"name": "thompson"},
                           "arms": [{"id": "a", "content": "a"}, {"id": "b", "content": "b"}]}]}


def test_the_all_chats_intervals_of_a_per_chat_experiment_hold_its_value() -> None:
    """Both arms' every-look intervals hold the true 0.40 at the last look in at least 18
    of 20 seeded runs (they held it in 164 of 164 in the trial; at a true rate of 97% the
    bound fails with chance about 2%; built as for one bandit: 0 of 20). Likewise split by
    a language drawn apart from the chat (each segment's arms worth 0.40 too): four
    intervals a run, held together in at least 16 of 20."""
    held = split_held = 0
    for run in range(RUNS):
        rng = np.random.default_rng([7000 + run, 1])
        svc = BanditService(parse_config(CONFIG), MemoryStore(),
                            rng=np.random.default_rng([7000 + run, 2]))
        chats = rng.integers(CHATS, size=T)
        draws = rng.random(T)
        languages = rng.random(T) < 0.5
        for i in range(T):
            d = svc.decide("x", f"u{i}", {"language": "en" if languages[i] else "fr"},
                           chat=f"c{chats[i]}")
            arm = 0 if d.arm == "a" else 1
            svc.reward(d.id, int(draws[i] < RATE[chats[i] % 2][arm]), f"u{i}")
        report = svc.report("x")
        rows = report.arms
        if run == 0:  # why the intervals are wide is said (a re-trial saw 0-1 unexplained)
            assert "allow for each chat's bandit following its own answers" in \
                report.notes["allocation"]
        held += all(r.anytime_low is not None and r.anytime_high is not None
                    and r.anytime_low <= 0.40 <= r.anytime_high for r in rows)
        split = svc.segment_report("x", by="language")
        split_held += all(a.anytime_low is not None and a.anytime_high is not None
                          and a.anytime_low <= 0.40 <= a.anytime_high
                          for segment in split.segments for a in segment.arms)
    assert held >= 18, held
    assert split_held >= 16, split_held
