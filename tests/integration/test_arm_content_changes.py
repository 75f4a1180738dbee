"""An arm's text edited in the experiments file (a new-user trial): the start of a server
(``banditbot run``, ``banditbot serve``) names the arm whose results now mix two texts,
on every backend; the "servers run different files" warning is kept for a second server
and reads as a sentence."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np

from banditbot import BanditService, parse_config
from banditbot.stores import Store

from ..conftest import FakeClock

HERE = "host vm, file /srv/experiments.yaml"
MIXED = ("experiment 'greet': the content of arm 'plain' changed since its decisions were "
         "logged: its results mix both texts (add it as a new arm and retire the old one to "
         "compare them)")


def _config(plain: str = "Hello", fancy: str = "Hello *there*", **extra: Any) -> Any:
    return parse_config({"experiments": [{
        "id": "greet", "policy": "thompson", **extra,
        "arms": [{"id": "plain", "content": plain}, {"id": "fancy", "content": fancy}]}]})


def _started(store: Store, config: Any, by: str = HERE) -> tuple[BanditService, list[str]]:
    service = BanditService(config, store, rng=np.random.default_rng(3), clock=FakeClock())
    return service, service.compare_config(by)


def test_an_arm_edited_in_the_file_is_named_at_the_next_start(store: Store) -> None:
    """The trial edited arm plain's text and restarted: the only line was "its settings
    differ from those vm (experiments.yaml) started with … every server on one store must
    run the same experiments file", about a second server there was not. The start names
    the arm whose decisions were logged with the old text, once; an edited arm without
    decisions mixes nothing and is not named."""
    service, said = _started(store, _config())
    assert said == []
    service.cheat("greet", "plain", "1101")  # results of plain's first text
    assert _started(store, _config())[1] == []  # the same file again: nothing to say
    # both arms edited; only plain has results
    assert _started(store, _config("Hi!", "Hi *there*"))[1] == [MIXED]
    assert _started(store, _config("Hi!", "Hi *there*"))[1] == []  # said once
    # a policy changed in the same server's file was meant: no second-server warning
    assert _started(store, _config("Hi!", "Hi *there*", policy="ucb1"))[1] == []


def test_a_second_server_with_another_file_is_named_in_a_sentence(store: Store) -> None:
    """The warning read "its settings differ from those vm (experiments.yaml) started
    with at …": it names the last server to start, its host and its file."""
    _, said = _started(store, _config())
    assert said == []
    _, (line,) = _started(store, _config(policy="ucb1"), by="host web2, file /srv/b.yaml")
    assert line.startswith("experiment 'greet': its settings differ from those of the last "
                           "server to start on this store (host vm, file "
                           "/srv/experiments.yaml, at 2023-11-14 22:13 UTC): policy.name "
                           "(this file: ucb1; theirs: thompson); every server on one store "
                           "must run the same experiments file"), line
    # and the first server started again with its file: told that web2's differ
    _, (back,) = _started(store, _config())
    assert "(host web2, file /srv/b.yaml, at " in back, back


def test_a_second_server_is_told_what_differs_in_its_file(
        store_factory: Callable[[str], Store]) -> None:
    """A trial's warning said the settings differed, not which: the arms by id, an arm's
    content, each other field by its path with both values (three at most, the rest
    counted). The check is the store's documents, alike on every backend: SQLite here."""
    store = store_factory("sqlite")
    epsilon = {"name": "epsilon-greedy", "epsilon": 0.5}
    _started(store, _config(policy=epsilon))

    def told(config: Any) -> str:
        (line,) = _started(store, config, by="host web2, file /srv/b.yaml")[1]
        _started(store, _config(policy=epsilon))  # (the first server's record again)
        return line.split(" UTC): ", 1)[1].split("; every server", 1)[0]

    wider = parse_config({"experiments": [{
        "id": "greet", "policy": {**epsilon, "epsilon": 0.2}, "arms": [
            {"id": a, "content": t} for a, t in (("plain", "Hello"), ("fancy", "Hello *there*"),
                                                 ("bold", "**Hello**"))]}]})
    assert told(wider) == ("arms (this file: plain, fancy, bold; theirs: plain, fancy), "
                           "policy.params.epsilon (this file: 0.2; theirs: 0.5)")
    assert told(_config("Hi!", policy=epsilon, description="d" * 100,
                        reward={"type": "rating", "min": 0, "max": 10})) == (
        "the content of arm 'plain', description, reward.type (this file: rating; theirs: "
        "binary) and 2 more")
    # a record an older version wrote (no outline), or a later one shaped otherwise: who
    # and when, as before, and the server starts
    for outline in (None, {"arms": "plain", "policy": 3}, {"arms": [["plain"]]}):
        text, version = store.read_document("settings:greet")
        assert text is not None
        held = {k: v for k, v in json.loads(text).items() if k != "settings"}
        if outline is not None:
            held["settings"] = outline
        store.write_document("settings:greet", json.dumps(held), version)
        (line,) = _started(store, wider, by="host web2, file /srv/b.yaml")[1]
        assert "at 2023-11-14 22:13 UTC); every server on one store" in line, line
        _started(store, _config(policy=epsilon))  # (the first server's record again)
