"""Experiments from YAML: the shipped examples load; every error names file, experiment, field
and a fix."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from banditbot import (
    ConfigError,
    InvalidRewardError,
    UnknownExperimentError,
    load_config,
    parse_config,
)
from banditbot._values import reward_number

from ..conftest import EXAMPLES, ROOT


def test_shipped_examples_load_with_the_seed_experiment() -> None:
    cfg = load_config(EXAMPLES)
    seed = cfg.experiment("random")
    assert [a.content for a in seed.arms] == ["This is arm *1*", "This _is_ arm _2_"]
    assert seed.policy.build().describe().startswith("epsilon-greedy(epsilon=0.5")
    assert [b.label for b in seed.reward.buttons] == ["👍", "👎"]
    assert seed.telegram.command_for(seed.id) == "random"
    assert len(cfg.experiments) >= 3
    tip = cfg.experiment("tip")
    assert [b.value for b in tip.reward.buttons] == [1, 2, 3, 4, 5]
    greeting = cfg.experiment("greeting")
    assert greeting.policy.name == "thompson" and len(greeting.arms) >= 3


def test_packaged_copy_matches_the_example() -> None:
    packaged = ROOT / "src" / "banditbot" / "data" / "experiments.yaml"
    assert packaged.read_text() == EXAMPLES.read_text()


def _base() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLES.read_text())


def _mutate(path: list[Any], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(_base())
    node = data
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


@pytest.mark.parametrize(("path", "value", "expected"), [
    (["experiments", 0, "policy", "epsilon"], 1.5,
     "experiment 'random': policy: epsilon-greedy: epsilon must be in [0, 1]"),
    (["experiments", 0, "policy", "name"], "thompsen", "unknown policy 'thompsen'"),
    (["experiments", 1, "arms", 0, "id"], "hello world",
     "experiment 'greeting': arm 1 ('hello world'): id: an id is 1-32 letters"),
    (["experiments", 1, "arms", 1, "id"], "hello", "arm id 'hello' appears twice"),
    (["experiments", 2, "reward", "type"], "stars", "experiment 'tip': reward.type"),
    (["experiments", 2, "reward", "min"], 7, "min (7) must be below max (5)"),
    (["experiments", 0, "arms"], [], "experiment 'random': arms"),
    (["experiments", 0, "colour"], "red", "experiment 'random': colour: Extra inputs"),
    (["experiments", 1, "telegram", "command"], "random",
     "share the telegram command 'random'"),
    (["experiments", 0, "telegram", "command"], "export",
     "experiment 'random' would run as /export, one of the bot's own commands"),
    (["experiments", 2, "reward", "max"], 101,
     "101 feedback buttons; a Telegram message holds at most 100"),
    (["experiments", 1, "policy", "alpha"], -1, "(fix: use alpha = beta = 1 (uniform prior))"),
    (["experiments", 0, "floor"], 0.4,
     "floor 0.4 is above 0.5 / K = 0.25 for 2 arms, where it would be capped"),
    (["experiments", 0, "telegram", "parse_mode"], "Markdown", "telegram.parse_mode"),
    (["experiments", 0, "parse_mode"], "HTML", "parse_mode is given twice"),
    (["experiments", 0, "arms", 0, "content"], KeyError,
     "arm 1 ('arm1'): content: Field required"),
    (["time_zone"], "Mars/Olympus", "unknown time zone"),
    (["experiments", 0, "default_reward"], 3, "default_reward"),
])
def test_invalid_config_names_file_experiment_field_and_fix(path: list[Any], value: Any,
                                                            expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(_mutate(path, value), source="exp.yaml")
    text = str(err.value)
    assert text.startswith("exp.yaml: ")
    assert expected in text
    assert "(fix: " in text


def test_an_experiment_named_like_a_bot_command_needs_its_own_command() -> None:
    """An experiment "help" would have run as /help (the welcome's command): refused, with
    the telegram command that fixes it; given one, it loads."""
    arms = [{"id": "a", "content": "x"}]
    with pytest.raises(ConfigError, match=r"would run as /help.*try_help"):
        parse_config({"experiments": [{"id": "help", "arms": arms}]})
    config = parse_config({"experiments": [{"id": "help", "arms": arms,
                                            "telegram": {"command": "try_help"}}]})
    assert config.experiment("help").telegram.command_for("help") == "try_help"


def test_broken_yaml_reports_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("experiments:\n  - id: x\n    arms: [\n")
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    assert str(bad) in str(err.value) and "line" in str(err.value)


def test_missing_file_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "nope.yaml")
    assert "--config" in str(err.value)


@pytest.mark.parametrize(("spec", "good", "bad"), [
    ({"type": "binary"}, [0, 1, "1", 1.0, True, False],
     [2, -1, 0.5, "yes", None, float("nan")]),
    # true/false on a rating or a number would be its lowest values: refused
    ({"type": "rating"}, [1, 3, 5, "4"], [0, 6, 2.5, float("inf"), True, False]),
    ({"type": "rating", "min": 0, "max": 10}, [0, 10], [11, -1, True, False]),
    ({"type": "continuous"}, [-3.5, 1e6], [float("nan"), float("inf"), "x", True]),
    ({"type": "continuous", "min": 0, "max": 1}, [0, 0.25, 1], [1.1, -0.1, True, False]),
])
def test_reward_spec_accepts_only_allowed_values(spec: dict[str, Any], good: list[Any],
                                                 bad: list[Any]) -> None:
    exp = {"id": "e", "arms": [{"id": "a", "content": "A"}], "reward": spec}
    reward = parse_config({"experiments": [exp]}).experiment("e").reward
    for v in good:
        assert reward.validate_value(v) == float(v)
        # (the rule the service's reward path asks first, compiled in the compiled build)
        assert reward_number(reward.type, *reward.bounds, v) == float(v)
    for v in bad:
        with pytest.raises(InvalidRewardError):
            reward.validate_value(v)
        assert reward_number(reward.type, *reward.bounds, v) is None


def test_custom_buttons_must_be_allowed_values() -> None:
    exp = {"id": "e", "arms": [{"id": "a", "content": "A"}],
           "reward": {"type": "binary", "options": [{"label": "Yes!", "value": 1},
                                                    {"label": "Meh", "value": 0.5}]}}
    with pytest.raises(ConfigError) as err:
        parse_config({"experiments": [exp]})
    assert "0.5" in str(err.value)


def test_unknown_experiment_lists_known_ones() -> None:
    cfg = load_config(EXAMPLES)
    with pytest.raises(UnknownExperimentError) as err:
        cfg.experiment("nope")
    assert "random" in str(err.value)


def test_telegram_options_live_in_their_section_and_old_files_still_load() -> None:
    arms = [{"id": "a", "content": "A"}, {"id": "b", "content": "B"}]
    new = parse_config({"experiments": [
        {"id": "x", "arms": arms, "telegram": {"command": "try_x", "parse_mode": "HTML"}}]})
    old = parse_config({"experiments": [
        {"id": "x", "arms": arms, "command": "try_x", "parse_mode": "HTML"}]})
    assert new.experiments[0].telegram == old.experiments[0].telegram
    assert old.experiments[0].telegram.command_for("x") == "try_x"
    assert parse_config({"experiments": [{"id": "My-Exp.1", "arms": arms}]}) \
        .experiments[0].telegram.command_for("My-Exp.1") == "my_exp_1"
    with pytest.raises(ConfigError) as err:
        parse_config({"experiments": [{"id": "x", "arms": arms,
                                       "telegram": {"parse_mode": "Markdown"}}]})
    assert "telegram.parse_mode" in str(err.value)


@pytest.mark.parametrize(("text", "every", "rewards", "seconds"), [
    ("decision", "decision", None, None),
    ("every decision", "decision", None, None),
    ("200 rewards", "rewards", 200, None),
    ("every 200 rewards", "rewards", 200, None),  # what the report prints
    ("15m", "time", None, 900.0),
    ("every 15m", "time", None, 900.0),
])
def test_update_accepts_the_forms_the_docs_and_the_report_show(
        text: str, every: str, rewards: int | None, seconds: float | None) -> None:
    exp = {"id": "e", "arms": [{"id": "a", "content": "A"}], "update": text}
    update = parse_config({"experiments": [exp]}).experiment("e").update
    assert (update.every, update.rewards, update.seconds) == (every, rewards, seconds)
    again = {**exp, "update": update.describe()}  # copied back from a report: the same
    assert parse_config({"experiments": [again]}).experiment("e").update == update
    with pytest.raises(ConfigError, match="not understood"):
        parse_config({"experiments": [{**exp, "update": "every so often"}]})


@pytest.mark.parametrize(("fragment", "says"), [
    # a typo in the policy's key: named as such (it read "policy.name: should be a string")
    ({"policy": {"nmae": "thompson"}}, "a policy mapping needs a name (got keys nmae)"),
    # one bound given, the other the type's default: no "swap them" with nothing to swap
    ({"reward": {"type": "rating", "min": 6}}, "max is 5 by default for a rating"),
    ({"reward": {"type": "rating", "min": 3, "max": 3}}, "two different values"),
    ({"reward": {"type": "rating", "min": 5, "max": 1}}, "swap them"),
    ({"confidence": 95}, "a share such as 0.95, not a percentage"),
])
def test_config_mistakes_are_named_as_a_user_makes_them(fragment: dict[str, Any],
                                                        says: str) -> None:
    exp = {"id": "e", "arms": [{"id": "a", "content": "A"}, {"id": "b", "content": "B"}],
           **fragment}
    with pytest.raises(ConfigError) as err:
        parse_config({"experiments": [exp]})
    assert says in str(err.value)


def test_the_default_floor_fits_any_number_of_arms() -> None:
    """80 arms with no floor written were refused ("floor 0.01 is above 0.5 / K"): the
    default is capped where it is used, and only a floor written above the cap is refused."""
    from banditbot import BanditService, MemoryStore

    arms = [{"id": f"a{i}", "content": f"arm {i}"} for i in range(80)]
    cfg = parse_config({"experiments": [{"id": "many", "arms": arms, "burn_in": 0}]})
    service = BanditService(cfg, MemoryStore())
    assert service.report("many").floor == 0.5 / 80
    assert min(service.decide("many", "u").probabilities.values()) >= 0.5 / 80 - 1e-12
    with pytest.raises(ConfigError, match=r"floor 0\.01 is above 0\.5 / K = 0\.00625"):
        parse_config({"experiments": [{"id": "many", "arms": arms, "floor": 0.01}]})


def test_a_text_feature_of_the_bot_declared_as_a_number_is_refused() -> None:
    """`features: [{name: chat_type}]` is numeric by default; the bot fills chat_type with
    text, so every decision saw 0 for it and the policy could not tell groups from private
    chats (it sent the same message to groups after 21 straight 👎): refused, with the fix."""
    def config(feature: dict[str, object]) -> dict[str, object]:
        return {"experiments": [{"id": "t", "policy": "linucb", "features": [feature],
                                 "arms": [{"id": "a", "content": "a"}]}]}

    for name in ("chat_type", "language_code"):
        with pytest.raises(ConfigError, match=f"feature '{name}' is text.*categorical"):
            parse_config(config({"name": name}))
        with pytest.raises(ConfigError, match="is text"):
            parse_config(config({"name": name, "type": "cyclic"}))
    ok = parse_config(config({"name": "chat_type", "type": "categorical",
                              "values": ["private", "group"]}))
    assert ok.experiments[0].features[0].values == ("private", "group")


def _contextual(*features: dict[str, object], **extra: object) -> dict[str, object]:
    return {"experiments": [{"id": "t", "policy": "linucb", "features": list(features),
                             "arms": [{"id": "a", "content": "a"}], **extra}]}


def test_a_feature_file_that_could_not_run_as_written_is_refused() -> None:
    """A new user's file passed `banditbot experiments` and then misbehaved: a feature
    declared twice, 40 features for a context of at most 32 keys (every decide failed),
    `weekday` cyclic with the silent period 24, `values` on a numeric feature (ignored):
    each is refused with the fix, and the bot's own `hour` and `weekday` get their periods."""
    with pytest.raises(ConfigError, match="feature 'n' is declared twice"):
        parse_config(_contextual({"name": "n"}, {"name": "n", "center": 3}))
    with pytest.raises(ConfigError, match="40 features, but a decision's context holds at "
                                          "most 32 keys"):
        parse_config(_contextual(*[{"name": f"f{i}"} for i in range(40)]))
    with pytest.raises(ConfigError, match="cyclic feature 'month' needs its period"):
        parse_config(_contextual({"name": "month", "type": "cyclic"}))
    with pytest.raises(ConfigError, match="values are for categorical features"):
        parse_config(_contextual({"name": "age", "values": ["1", "2"]}))
    with pytest.raises(ConfigError, match="a period is for cyclic features"):
        parse_config(_contextual({"name": "age", "period": 7}))
    features = parse_config(_contextual({"name": "hour", "type": "cyclic"},
                                        {"name": "weekday", "type": "cyclic"},
                                        {"name": "month", "type": "cyclic", "period": 12})
                            ).experiments[0].features
    assert [f.period for f in features] == [24.0, 7.0, 12.0]


def test_a_bad_feature_name_gets_the_rule_it_broke() -> None:
    """`name: past-rate` was told "use letters, digits, '_', '.' or '-'", which the
    pattern refuses: the hint is the feature-name rule."""
    for name in ("past-rate", "past.rate", "isPremium"):
        with pytest.raises(ConfigError) as caught:
            parse_config(_contextual({"name": name}))
        message = str(caught.value)
        assert f"feature 1 ({name!r}): name" in message and "a lowercase letter, then lowercase " \
            "letters, digits or '_'" in message and "'.'" not in message


def test_a_boolean_categorical_feature_matches_a_boolean_context() -> None:
    """`values: [true, false]` (YAML booleans) was refused with "use text (quote it)";
    quoted, a JSON `true` in the context matched none of them and the feature was all
    zeros (what the bot's `is_premium` is): both spellings now mean the same."""
    from banditbot._features import Featurizer

    cfg = parse_config(yaml.safe_load(
        "experiments:\n- id: t\n  policy: linucb\n  arms: [{id: a, content: a}]\n"
        "  features: [{name: is_premium, type: categorical, values: [true, false]}]\n"))
    feature = cfg.experiments[0].features[0]
    assert feature.values == ("true", "false")
    featurizer = Featurizer([feature])
    assert featurizer.encode({"is_premium": True}).tolist() == [1.0, 1.0, 0.0]
    assert featurizer.encode({"is_premium": False}).tolist() == [1.0, 0.0, 1.0]
    assert featurizer.warnings({"is_premium": True}) == []


def test_a_policy_a_winner_would_end_wrongly_cannot_be_stopped_by_one() -> None:
    """A discounted-Thompson experiment named the arm that had become the worse one its
    winner after a drift, and `on_winner: send-all-to-winner` would have sent it every
    user: a winner that ends the experiment is refused for the non-stationary and the
    contextual policies (at load, and when an admin switches to one); buckets longer than
    the half-life (600 s buckets, half-life 60) are refused too."""
    from banditbot import BanditService, MemoryStore, PolicyError

    arms = [{"id": "a", "content": "a"}, {"id": "b", "content": "b"}]
    for on_winner in ("stop", "send-all-to-winner"):
        with pytest.raises(ConfigError, match=r"discounted-thompson assumes the best arm can "
                                              r"change.*on_winner: keep-learning"):
            parse_config({"experiments": [{
                "id": "d", "arms": arms, "time_bucket_seconds": 3,
                "policy": {"name": "discounted-thompson", "half_life": 60},
                "winner": {"on_winner": on_winner}}]})
        with pytest.raises(ConfigError, match="linucb picks an arm per context"):
            parse_config(_contextual({"name": "age"}, winner={"on_winner": on_winner}))
    with pytest.raises(ConfigError, match="time_bucket_seconds 600 is longer than the "
                                          "half-life"):
        parse_config({"experiments": [{
            "id": "d", "arms": arms, "time_bucket_seconds": 600,
            "policy": {"name": "discounted-thompson", "half_life": 60}}]})
    cfg = parse_config({"experiments": [{"id": "d", "arms": arms, "time_bucket_seconds": 3,
                                         "winner": {"on_winner": "stop"}}]})
    service = BanditService(cfg, MemoryStore())
    with pytest.raises(PolicyError, match="assumes the best arm can change") as caught:
        service.switch_policy("d", "sliding-window-ucb", {"window": 60})
    assert caught.value.hint == "use winner.on_winner: keep-learning"
    assert "thompson" in service.report("d").policy


def test_a_half_life_or_window_is_given_and_may_be_a_duration() -> None:
    """A trial's `policy: {name: discounted-thompson}` ran with a half-life of 1000
    seconds (the class default, meant as the simulator's steps: 17 minutes), and
    `half_life: 1d` was refused with the hint "e.g. half_life=1" (one second). The
    service's half-life or window is now given, in seconds or as a duration, in the file
    and in an admin's switch; and a missing time_bucket_seconds says how long to make it."""
    from banditbot import BanditService, MemoryStore, PolicyError

    arms = [{"id": "a", "content": "a"}, {"id": "b", "content": "b"}]

    def exp(policy: Any, **more: Any) -> dict[str, Any]:
        return {"experiments": [{"id": "d", "arms": arms, "policy": policy, **more}]}

    cfg = parse_config(exp({"name": "discounted-thompson", "half_life": "3d"},
                           time_bucket_seconds=3600))
    assert cfg.experiments[0].policy.build().time_weighting() == ("discount", 259200.0)
    cfg = parse_config(exp({"name": "sliding-window-ucb", "window": "12h"},
                           time_bucket_seconds="600"))
    assert cfg.experiments[0].policy.build().time_weighting() == ("window", 43200.0)
    for name, key in (("discounted-thompson", "half_life"), ("discounted-ucb", "half_life"),
                      ("sliding-window-ucb", "window")):
        with pytest.raises(ConfigError, match=f"{name}: give its {key}, in seconds or as a "
                                              f"duration such as '3d'.*e.g. {key}: 3d"):
            parse_config(exp(name, time_bucket_seconds=60))
    with pytest.raises(ConfigError, match=r"needs time buckets.*a twentieth of the "
                                          r"half-life, 4320"):
        parse_config(exp({"name": "discounted-thompson", "half_life": "1d"}))
    service = BanditService(parse_config(exp("thompson", time_bucket_seconds=3600)),
                            MemoryStore())
    switch = service.switch_policy("d", "discounted-thompson", {"half_life": "2d"})
    assert switch.policy.time_weighting() == ("discount", 172800.0)
    with pytest.raises(PolicyError, match="give its window"):
        service.switch_policy("d", "sliding-window-ucb")


def test_every_arm_whose_text_telegram_would_refuse_is_named_at_once() -> None:
    """A trial's 40 arms with unescaped MarkdownV2 took 40 rounds of edit and check: the
    check named one arm at a time. It names each such arm, with its fix, in one error."""
    arms = [{"id": f"a{i}", "content": f"Hello {i}!" if i % 2 else "fine"} for i in range(8)]
    with pytest.raises(ConfigError) as err:
        parse_config({"experiments": [{"id": "greet", "arms": arms,
                                       "telegram": {"parse_mode": "MarkdownV2"}}]})
    text = str(err.value)
    assert "4 arms hold text Telegram would refuse" in text
    for i in (1, 3, 5, 7):
        assert f"arm 'a{i}': MarkdownV2 reserves '!'" in text and f"Hello {i}\\!" in text
    assert "arm 'a0'" not in text


#: a file that sets every section and shorthand a checked copy has to carry back
RICH = """\
time_zone: Europe/Berlin
admins: [42]
api_keys: [{name: ci, role: decide, sha256: %s}]
experiments:
  - id: rich
    description: every section
    arms: [{id: a, content: "Hi *there*"}, {id: b, content: Hey}, {id: c, content: Yo}]
    policy: {name: linucb, alpha: 0.5}
    reward: {type: rating, min: 1, max: 3, options: [{label: bad, value: 1},
             {label: ok, value: 2}, {label: good, value: 3}]}
    reward_mode: implicit
    wait_seconds: 600
    default_reward: 1
    scope: chat
    command: rich_cmd
    parse_mode: MarkdownV2
    features: [{name: hour, type: cyclic}, {name: chat_type, type: categorical,
               values: [private, group]}, {name: score, center: 2, scale: 3}]
    burn_in: 3
    floor: 0.05
    control: a
    holdout: 0.1
    confidence: 0.9
  - id: drift
    arms: [{id: x, content: X}, {id: y, content: Y}]
    policy: {name: discounted-thompson, half_life: 3d}
    time_bucket_seconds: 3600
    update: every 200 rewards
    winner: {rule: p-best, threshold: 0.9, explore: top-two, horizon: 500}
""" % ("ab" * 32)


def _fresh_load(path: Path) -> dict[str, Any]:
    """Load ``path`` in a fresh interpreter: the experiments as JSON, and whether pydantic
    or PyYAML were imported to read them."""
    import json
    import subprocess
    import sys

    probe = ("import json, sys\nfrom banditbot._config import config_document, load_config\n"
             f"c = load_config({str(path)!r})\n"
             "print(json.dumps({'config': config_document(c), 'loaded': sorted("
             "{m.split('.')[0] for m in sys.modules} & {'pydantic', 'yaml'})}))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120, check=True)
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def test_a_checked_copy_is_read_without_pydantic_and_holds_what_the_file_says(
        tmp_path: Path) -> None:
    """The Lambda build writes each experiments file's checked copy; reading it gives the
    same experiments as validating the file, every section and shorthand included, and
    imports neither pydantic nor PyYAML (docs/performance.md: about 80 ms of a cold
    start). Without the copy, the same process imports both."""
    from banditbot._config import checked_path, config_document, save_checked

    path = tmp_path / "experiments.yaml"
    path.write_text(RICH, encoding="utf-8")
    validated = load_config(path)
    assert _fresh_load(path)["loaded"] == ["pydantic", "yaml"]
    assert save_checked(path) == checked_path(path) == tmp_path / "experiments.yaml.checked.json"
    assert load_config(path) == validated  # (equal specs, every field)
    fresh = _fresh_load(path)
    assert fresh == {"config": config_document(validated), "loaded": []}
    assert validated.experiments[0].telegram.parse_mode == "MarkdownV2"
    assert validated.experiments[1].policy.params == {"half_life": 3 * 86400.0}

    for i, example in enumerate((EXAMPLES, ROOT / "src" / "banditbot" / "data"
                                 / "experiments.yaml")):
        copy_ = tmp_path / f"example-{i}.yaml"
        copy_.write_bytes(example.read_bytes())
        save_checked(copy_)
        assert load_config(copy_) == load_config(copy_, checked=False)


def test_a_checked_copy_is_not_used_once_the_file_or_the_copy_changed(
        tmp_path: Path) -> None:
    """A copy counts only for the file's text it was written from and as it was written: a
    file edited after the build is validated again (its mistakes named), and so is a file
    whose copy was edited by hand (a floor the file never allowed stays refused)."""
    import json

    from banditbot._config import checked_path, save_checked

    path = tmp_path / "e.yaml"
    path.write_text(RICH, encoding="utf-8")
    save_checked(path)
    path.write_text(RICH.replace("content: Yo", "content: Yoo"), encoding="utf-8")
    assert load_config(path).experiments[0].arms[2].content == "Yoo"
    path.write_text(RICH.replace("policy: {name: linucb", "policy: {name: linucbb"),
                    encoding="utf-8")
    with pytest.raises(ConfigError, match="linucbb"):
        load_config(path)

    path.write_text(RICH, encoding="utf-8")
    save_checked(path)
    copy_ = checked_path(path)
    document = json.loads(copy_.read_text(encoding="utf-8"))
    document["config"]["experiments"][0]["floor"] = 0.4  # above 0.5 / 3: refused in a file
    copy_.write_text(json.dumps(document), encoding="utf-8")
    assert load_config(path).experiments[0].floor == 0.05
    copy_.write_text("{not json", encoding="utf-8")
    assert load_config(path).experiments[0].floor == 0.05
    with pytest.raises(ConfigError, match="does-not-exist"):
        save_checked(tmp_path / "does-not-exist.yaml")


@pytest.mark.parametrize(("experiment", "named"), [
    # a floor above 0.5 / K however the file writes it (YAML reads 3e-1 as text)
    ({"floor": "0.3"}, "floor 0.3 is above 0.5 / K = 0.25"),
    ({"floor": 0.3}, "floor 0.3 is above 0.5 / K = 0.25"),
    # and a field's own mistake is named first, as the fields were checked before
    ({"floor": 0.3, "foo": 1}, "foo: Extra inputs are not permitted"),
    ({"floor": 0.2, "arms": [{"id": "a", "content": "A"}, {"id": "a", "content": "B"},
                             {"id": "c", "content": "C"}]}, "arm id 'a' appears twice"),
    ({"floor": 0.3, "arms": [{"id": "a", "content": "A"}, {"id": "b"}]},
     "arm 2 ('b'): content: Field required"),
    ({"features": [{"name": "X", "period": 3}]}, "feature 1 ('X'): name: String should match"),
    ({"features": [{"period": 3}]}, "feature 1: name: Field required"),
    ({"features": [{"name": "x", "period": None}]},
     "feature 1 ('x'): period: Input should be a valid number"),
    ({"features": [{"name": "x", "period": 3}]}, "a period is for cyclic features"),
    ({"features": [{"name": "month", "type": "cyclic"}]}, "needs its period"),
])
def test_checks_of_what_the_file_gave_come_after_the_fields(experiment: dict[str, Any],
                                                            named: str) -> None:
    """A review found a floor written as text ("0.3", or YAML's 3e-1) loaded and was
    capped unseen, and the checks of which keys a file gave ran before the fields' own,
    hiding an unknown key, a repeated arm or a missing field behind them."""
    data = {"id": "e", "arms": [{"id": "a", "content": "A"}, {"id": "b", "content": "B"}],
            "policy": "linucb" if "features" in experiment else "thompson", **experiment}
    with pytest.raises(ConfigError) as refused:
        parse_config({"experiments": [data]})
    assert named in str(refused.value)


def test_the_forms_a_newcomer_writes_are_read_as_meant() -> None:
    """A new-user trial wrote durations in words and for the settings in seconds, a reward
    as its type alone, and a command with its slash: each was refused with a message that
    did not say the fix. They are read as meant now."""
    def experiment(**fields: Any) -> Any:
        return parse_config({"experiments": [{
            "id": "e", "arms": [{"id": "a", "content": "A"}, {"id": "b", "content": "B"}],
            **fields}]}).experiments[0]

    assert experiment(update="every 1 hour").update.seconds == 3600
    assert experiment(update="every 2 Hours").update.describe() == "every 2h"
    assert experiment(update="30 minutes").update.seconds == 1800
    timed = experiment(sticky_seconds="1d", wait_seconds="30m", time_bucket_seconds="1 hour",
                       policy={"name": "discounted-thompson", "half_life": "3 days"})
    assert (timed.sticky_seconds, timed.wait_seconds, timed.time_bucket_seconds) == (
        86400, 1800, 3600)
    assert timed.policy.params == {"half_life": 3 * 86400.0}
    assert experiment(reward="rating").reward.bounds == (1.0, 5.0)
    # (and a reward without bounds gets the policy that needs none)
    assert experiment(reward="continuous").policy.name == "gaussian-thompson"
    assert experiment(telegram={"command": "/hello"}).telegram.command == "hello"
    assert experiment(command="/hi").telegram.command == "hi"


@pytest.mark.parametrize(("fields", "says"), [
    ({"update": 200}, "'every 200 rewards'"),
    # a parameter's example is its default (it said "e.g. epsilon=1": pure exploration)
    ({"policy": {"name": "epsilon-greedy", "epsilon": "x"}}, "(fix: e.g. epsilon=0.1)"),
    # (a half-life's default is the simulator's steps: the example is a duration)
    ({"policy": {"name": "discounted-thompson", "half_life": "1 dya"},
      "time_bucket_seconds": 3600}, "(fix: e.g. half_life=3d in an experiment, "
     "half_life=1000 (steps) in a simulation)"),
    ({"reward": {"type": "rating", "min": 1, "max": 3, "options": [
        {"label": "ok", "value": 1}, {"label": "ok", "value": 2}]}},
     "two buttons are labelled 'ok'"),
    # an "M" could be months: only "m" (or the word) is minutes
    ({"update": "every 15M"}, "'every 15m'"),
    ({"wait_seconds": "1M"}, "a duration such as 30m, 12h or 1d"),
    ({"sticky_seconds": "2 weeks"}, "a duration such as 30m, 12h or 1d"),
    ({"update": "every 1 fortnight"}, "'every 1h'"),
    ({"telegram": {"command": "Hello!"}}, "(fix: lowercase letters, digits and '_'"),
    ({"reward": {"type": "rating", "options": ["bad", "good"]}}, "{label: 👍, value: 1}"),
])
def test_a_newcomers_mistake_is_told_with_its_fix(fields: dict[str, Any], says: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config({"experiments": [{
            "id": "e", "arms": [{"id": "a", "content": "A"}, {"id": "b", "content": "B"}],
            **fields}]})
    assert says in str(refused.value)
