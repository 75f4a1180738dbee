"""What a newcomer writing an experiments file is told: in the file's words, not pydantic's.

From a new-user trial: each case is a mistake the trial made, and the test asserts the
line ``banditbot experiments --config FILE`` prints for it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from banditbot import ConfigError, InvalidRewardError, load_config, parse_config

ARMS = [{"id": "hello", "content": "Hello!"}, {"id": "hey", "content": "Hey!"}]


def _refused(experiment: dict[str, Any] | None = None, **top: Any) -> str:
    data: dict[str, Any] = {**top}
    if experiment is not None:
        data["experiments"] = [{"id": "g", "arms": ARMS, **experiment}]
    with pytest.raises(ConfigError) as refused:
        parse_config(data, source="e.yaml")
    return str(refused.value)


@pytest.mark.parametrize(("experiment", "top", "says"), [
    # it read "Input should be a dictionary or an instance of BurnInSpec"
    ({"burn_in": "ten"}, {}, "e.yaml: experiment 'g': burn_in: a number of decisions per "
     "arm, or a mapping (fix: e.g. burn_in: 20, or burn_in: {min_per_arm: 20, min_answers: "
     "5}; burn_in: 0 turns it off)"),
    # "... an instance of Arm", once per arm
    ({"arms": ["hello", "hey"]}, {}, "e.yaml: experiment 'g': arms: a list of arms, each "
     "with an id and content (fix: e.g. - {id: hey, content: Hey!})"),
    # "Tuple should have at least 1 item after validation, not 0"
    ({"arms": []}, {}, "e.yaml: experiment 'g': arms: at least one arm, each with an id and "
     "content (fix: e.g. - {id: hey, content: Hey!})"),
    # `experiments:` with nothing after it: "Input should be a valid tuple"
    (None, {"experiments": None}, "e.yaml: experiments: at least one experiment, each with "
     "an id and arms (fix: e.g. - {id: greeting, arms: [{id: hey, content: Hey!}]})"),
    (None, {"experiments": []}, "e.yaml: experiments: at least one experiment (fix: e.g. - "
     "{id: greeting, arms: [{id: hey, content: Hey!}]})"),
])
def test_a_wrong_shape_is_said_in_the_files_words(experiment: dict[str, Any] | None,
                                                  top: dict[str, Any], says: str) -> None:
    message = _refused(experiment, **top)
    assert message == says
    assert not any(word in message for word in ("instance of", "Tuple", "tuple"))


def test_an_arm_is_counted_from_one_and_named_by_its_id() -> None:
    """It read "arms[3].id: String should match pattern '^[A-Za-z0-9]…$'"."""
    arms = [*ARMS, {"id": "formal", "content": "Good day."},
            {"id": "hey there", "content": "Yo!"}]
    assert _refused({"arms": arms}) == (
        "e.yaml: experiment 'g': arm 4 ('hey there'): id: an id is 1-32 letters, digits, "
        "'_', '.' or '-', starting with a letter or a digit (fix: e.g. hey_there)")
    assert _refused({"id": "greeting test"}) == (
        "e.yaml: experiment 'greeting test': id: an id is 1-32 letters, digits, '_', '.' or "
        "'-', starting with a letter or a digit (fix: e.g. greeting_test)")


@pytest.mark.parametrize(("field", "value", "says"), [
    # it read "Input should be a valid number, unable to parse string as a number"
    ("holdout", "50%", "holdout: '50%' is not a number (fix: a share such as 0.5, not a "
     "percentage)"),
    ("floor", "1%", "floor: '1%' is not a number (fix: a share such as 0.01, not a "
     "percentage)"),
    ("confidence", "95%", "confidence: '95%' is not a number (fix: a share such as 0.95, "
     "not a percentage)"),
    ("winner", {"threshold": "99%"}, "winner.threshold: '99%' is not a number (fix: a share "
     "such as 0.99, not a percentage)"),
    # plain 50: the bound in words, with what was given (a re-trial: "Input should be less
    # than or equal to 0.9" before the good hint)
    ("holdout", 50, "holdout: at most 0.9, not 50 (fix: a share such as 0.1, not a "
     "percentage)"),
    ("confidence", -1, "confidence: at least 0.5, not -1 (fix: use a larger number)"),
])
def test_a_percentage_is_told_the_share_it_means(field: str, value: Any, says: str) -> None:
    assert _refused({"control": "hello", field: value}) == f"e.yaml: experiment 'g': {says}"


@pytest.mark.parametrize(("experiment", "top", "says"), [
    # each read "Extra inputs are not permitted (fix: remove it or check its spelling)"
    ({"policy": "epsilon-greedy", "epsilon": 0.1}, {}, "e.yaml: experiment 'g': epsilon: a "
     "policy parameter, not an experiment's setting (fix: put it under policy: {name: "
     "epsilon-greedy, epsilon: 0.1})"),
    ({}, {"holdout": 0.1}, "e.yaml: holdout: an experiment's setting, not the file's (fix: "
     "indent it with the keys of the experiment it is for, such as id: and arms: — holdout: "
     "0.1)"),
    ({"reward": "rating", "min": 0}, {}, "e.yaml: experiment 'g': min: a setting of the "
     "experiment's reward (fix: put it under reward:, e.g. reward: {min: 0})"),
    ({"time_zone": "Europe/Berlin"}, {}, "e.yaml: experiment 'g': time_zone: a setting of "
     "the whole file, not of an experiment (fix: put it at the top of the file, not "
     "indented: time_zone: Europe/Berlin)"),
    # a key known nowhere keeps its message
    ({"colour": "red"}, {}, "e.yaml: experiment 'g': colour: Extra inputs are not permitted "
     "(fix: remove it or check its spelling)"),
])
def test_a_key_in_the_wrong_place_is_told_where_it_belongs(
        experiment: dict[str, Any], top: dict[str, Any], says: str) -> None:
    assert _refused(experiment, **top) == says


def _load(tmp_path: Path, text: str) -> str:
    path = tmp_path / "e.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    return str(refused.value).replace(str(path), "e.yaml")


_FILE = """experiments:
  - id: g
    arms:
      - {id: hello, content: 'Hello!'}
    policy: thompson
    reward: binary
"""


@pytest.mark.parametrize(("old", "new", "says"), [
    # "found character that cannot start any token"
    ("    policy: thompson", "\t  policy: thompson", "e.yaml: broken YAML at line 5, "
     "column 1: a tab indents this line; YAML does not read tabs there (indent with spaces "
     "only; set your editor to insert spaces for a tab)"),
    # libyaml's "found a tab character that violates indentation" (PyYAML's generic words):
    # a tab after a key's indentation, or inside it, in a block mapping of a list
    ("      - {id: hello, content: 'Hello!'}", "      - id: hello\n        \tcontent: 'Hello!'",
     "e.yaml: broken YAML at line 5, column 9: a tab indents this line; YAML does not read "
     "tabs there (indent with spaces only; set your editor to insert spaces for a tab)"),
    ("      - {id: hello, content: 'Hello!'}", "      - id: hello\n    \t    content: 'Hi'",
     "e.yaml: broken YAML at line 5, column 5: a tab indents this line; YAML does not read "
     "tabs there (indent with spaces only; set your editor to insert spaces for a tab)"),
    # "could not find expected ':'" at line 6, the line after the one without it
    ("    policy: thompson", "    policy thompson", "e.yaml: broken YAML at line 5, "
     "column 5: a key without its ':' ('policy thompson') (write key: value, with a space "
     "after the colon)"),
    ("reward: binary", "reward: binary\n      holdout: 0.1", "e.yaml: broken YAML at line "
     "7, column 14: mapping values are not allowed in this context (check this line's "
     "indentation against the line above; a key needs a space after its colon (key: "
     "value); a value holding ': ' must be quoted, e.g. content: 'Note: read this')"),
    ("'Hello!'", '"Hello\\!"', "e.yaml: broken YAML at line 4, column 36: found unknown "
     "escape character (a backslash inside double quotes) (write text with backslashes, "
     "such as MarkdownV2's \\!, in YAML: inside single quotes; inside double quotes a "
     "backslash is written twice)"),
    # (unchanged)
    ("reward: binary", "reward: binary\n    policy: ucb1", "e.yaml: broken YAML at line 7, "
     "column 5: the key 'policy' is given twice (first at line 5) (keep one of them)"),
])
def test_broken_yaml_says_what_is_wrong_where(tmp_path: Path, old: str, new: str,
                                              says: str) -> None:
    assert old in _FILE
    assert _load(tmp_path, _FILE.replace(old, new)) == says


@pytest.mark.parametrize(("reward", "value", "says"), [
    # it read "a number in [0.0, None]"
    ({"type": "continuous", "min": 0}, -1, "a continuous reward is a number ≥ 0, at most "
     "1e+12"),
    ({"type": "continuous", "max": 10}, 11, "a continuous reward is a number ≤ 10, at "
     "least -1e+12"),
    ({"type": "continuous", "min": 0, "max": 2.5}, 3, "a continuous reward is a number "
     "from 0 to 2.5"),
    ({"type": "continuous"}, 1e13, "a continuous reward is a number within ±1e+12"),
])
def test_a_rewards_range_is_said_in_words(reward: dict[str, Any], value: float,
                                          says: str) -> None:
    spec = parse_config({"experiments": [{"id": "g", "arms": ARMS, "reward": reward}]}) \
        .experiment("g").reward
    assert spec.describe() == says
    with pytest.raises(InvalidRewardError) as refused:
        spec.validate_value(value)
    assert str(refused.value).endswith(f" is not allowed ({says})")


def test_a_rating_refuses_bounds_that_are_not_whole() -> None:
    """`min: 1.5` validated, then every reward was told "a whole number from 1.5 to 5"."""
    assert _refused({"reward": {"type": "rating", "min": 1.5, "max": 5}}) == (
        "e.yaml: experiment 'g': reward: a rating's min is a whole number, not 1.5 (fix: "
        "use 1 or 2, or type: continuous)")
    assert parse_config({"experiments": [{"id": "g", "arms": ARMS, "reward": {
        "type": "rating", "min": 0.0, "max": 10}}]}).experiment("g").reward.bounds == (0, 10)


def test_a_list_of_arms_telegram_would_refuse_keeps_each_arms_words() -> None:
    """The last arm's own parenthesis was taken for the list's fix: "arm 'b': HTML: Telegram
    does not support <div> (fix: character 1; write '&lt;' to show '<')"."""
    arms = [{"id": "a", "content": "<b>Hi</b> & welcome"},
            {"id": "b", "content": "<div>block</div>"}]
    message = _refused({"arms": arms, "telegram": {"parse_mode": "HTML"}})
    assert message.startswith("e.yaml: experiment 'g': 2 arms hold text Telegram would "
                              "refuse:\n  arm 'a': HTML: '&' at character 11")
    last = message.splitlines()[-1]
    assert last.startswith("  arm 'b': HTML: Telegram does not support <div> (character 1")
    assert "(fix:" not in message


@pytest.mark.parametrize(("reward", "says"), [
    ({"min": 1}, "min 1 without a type: a reward without one is binary (👍/👎: 0 or 1), which "
     "has no range (fix: add type: continuous for a number of at least 1, and max: its "
     "highest value (with both, the estimates hold at every look); or type: rating for a "
     "scale of whole numbers (max 5 unless given))"),
    ({"max": 10}, "max 10 without a type: a reward without one is binary (👍/👎: 0 or 1), "
     "which has no range (fix: add type: continuous for a number of at most 10, and min: its "
     "lowest value (with both, the estimates hold at every look); or type: rating for a "
     "scale of whole numbers (min 1 unless given))"),
    ({"min": 0, "max": 2.5}, "min 0 and max 2.5 without a type: a reward without one is "
     "binary (👍/👎: 0 or 1), which has no range (fix: add type: continuous for any number "
     "from 0 to 2.5, or type: rating for whole numbers from 0 to 2.5)"),
])
def test_a_range_without_a_type_says_the_type_it_was_read_as_and_what_to_add(
        reward: dict[str, Any], says: str) -> None:
    """`reward: {min: 1}` was told "a binary reward is 0 or 1 (remove min/max or use type:
    rating)": of a binary reward the file does not name, with no word of a number."""
    assert _refused({"reward": reward}) == f"e.yaml: experiment 'g': reward: {says}"


def test_a_typed_range_missing_a_bound_is_still_read() -> None:
    """(What the advice says to write is accepted: a number from 1 up; a 1–5 rating.)"""
    for reward, bounds in (({"type": "continuous", "min": 1}, (1.0, None)),
                           ({"type": "rating", "min": 1}, (1.0, 5.0))):
        spec = parse_config({"experiments": [{"id": "g", "arms": ARMS, "reward": reward}]}) \
            .experiment("g").reward
        assert spec.bounds == bounds
