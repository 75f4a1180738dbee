"""Admin: cheater mode, priors, reset, policy switch, arms, notes, history import, audit."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .._config import (
    ID_RULE,
    Arm,
    ExperimentConfig,
    RewardSpec,
    check_time_width,
    config_digest,
    config_document,
    time_params,
    validated,
)
from .._errors import ConfigError, InvalidRewardError, NotAllowedError, PayloadError, PolicyError
from .._markup import markup_problem
from .._types import FloatArray
from ..policies import Policy, make_policy
from ..stores import (
    ALLOCATED,
    PRIORS_FROM_NOTE,
    WARM_START_NOTE,
    DecisionRecord,
    ExperimentMeta,
    ResolvedVector,
    resolve_fields,
)
from ._allocation import retired_control_note
from ._core import VectorKeeper, added_key, check_scope, new_id
from ._decay import epoch_field
from ._segments import SegmentsMixin
from ._view import ExperimentView

__all__ = ["AdminMixin", "PolicySwitch", "settings_differences", "settings_outline"]


#: The largest prior pseudo-count (a billion answers outweighs any experiment; beyond it the
#: posterior arithmetic overflows)
MAX_PRIOR = 1e9
#: The note that says the winner was retired (and the experiment runs again).
WINNER_RETIRED_NOTE = "winner_retired"
#: The context key of an ``import`` row that names the logged round it came from.
IMPORTED_FROM = "imported_from"
_MAX_CHEAT = 100_000  # rewards one cheat adds


def _allowed(spec: RewardSpec, value: str) -> bool:
    """Whether ``value`` is a reward ``spec`` takes."""
    try:
        spec.validate_value(value)
    except InvalidRewardError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class PolicySwitch:
    """What :meth:`~banditbot.BanditService.switch_policy` did.

    Attributes
    ----------
    experiment
        The experiment's id.
    policy
        The policy the experiment uses now.
    previous
        The policy it used before, described (``epsilon-greedy(epsilon=0.1)``).
    changed
        Whether the policy changed: ``False`` when it was the policy in use already, with
        the same parameters (nothing was recorded).
    served
        The arm every decision goes to meanwhile (the winner of a stopped experiment, or of
        one with ``on_winner: send-all-to-winner``), or ``None``: the policy decides.
    stopped
        Whether the experiment is stopped (``served`` is its winner).
    unweighed
        Answers a time-weighted policy (a discount, a sliding window) does not weigh: those
        with no time bucket it reads (from before the experiment kept time buckets, or on
        an earlier bucket length whose buckets were dropped), whose age is unknown (a sum
        of the answers' weights).

    Examples
    --------
    >>> from banditbot import MemoryStore, make_policy, parse_config
    >>> from banditbot.service import BanditService
    >>> cfg = parse_config({"experiments": [{"id": "hi", "arms": [
    ...     {"id": "a", "content": "Hello"}, {"id": "b", "content": "Hey"}]}]})
    >>> svc = BanditService(cfg, MemoryStore())
    >>> svc.switch_policy("hi", "softmax").message
    'hi now uses softmax(temperature=0.1, initial_value=0); what it learned is kept'
    >>> svc.switch_policy("hi", "ucb1").message  # doctest: +ELLIPSIS
    'hi now uses ucb1(c=1); what it learned is kept (ucb1 first tries the arms...'
    >>> svc.switch_policy("hi", "ucb1").message
    'hi already uses ucb1(c=1): nothing changed'
    """

    experiment: str
    policy: Policy
    previous: str
    changed: bool
    served: str | None = None
    stopped: bool = False
    unweighed: float = 0.0

    @property
    def name(self) -> str:
        """The policy's name (``switch_policy`` returned the :class:`Policy` before: code
        reading ``.name`` or ``.describe()`` of its result keeps working)."""
        return self.policy.name

    def describe(self) -> str:
        """The policy with its parameters, ``ucb1(c=1)`` (as :attr:`name`)."""
        return self.policy.describe()

    @property
    def message(self) -> str:
        """What changed, in a sentence for the person who switched (every surface shows
        it: the CLI, the API's ``detail``, the bot's reply)."""
        exp, now = self.experiment, self.policy.describe()
        said = f"{exp} now uses {now}; what it learned is kept" if self.changed else \
            f"{exp} already uses {now}: nothing changed"
        if self.changed and self.unweighed >= 1:  # (a trial: P(best) back to 50/50)
            said += (f", but not weighed by it: its {self.unweighed:,.0f} earlier answers "
                     "have no time bucket it reads (given before the experiment kept time "
                     "buckets, or on an earlier time_bucket_seconds since dropped), so their "
                     f"age is unknown ({self.policy.name} learns from the answers from now "
                     "on)")
        if self.changed and self.policy.index_policy:  # (a trial: the leader got 1% next)
            said += (f" ({self.policy.name} first tries the arms with the fewest answers, "
                     "whose bounds are widest: expect traffic on them, away from the leader, "
                     "for a while)")
        if self.served is None:
            return said
        who = f"{exp} is stopped: every decision goes to {self.served}" if self.stopped \
            else f"{exp} sends every decision to its winner {self.served} (on_winner: " \
                 "send-all-to-winner)"
        return (f"{said}. But {who}, and {now if self.changed else 'the policy'} decides "
                f"only after a reset starts learning over (banditbot reset {exp}, /reset in "
                f"Telegram; the log is kept) or after {self.served} is retired")


class AdminMixin(SegmentsMixin):
    """Operations for admins (each one audited with who did it)."""

    #: rows of history a warm start or cheat writes per store call (about a second on
    #: SQLite): a Ctrl+C is seen between two, and a progress is told after each
    history_chunk = 20_000

    def is_admin(self, user_id: int | str | None) -> bool:
        """Whether a Telegram user id is in the admin allow-list."""
        try:
            return user_id is not None and int(user_id) in self.admins
        except (TypeError, ValueError):
            return False

    def check_admin(self, user_id: int | str | None) -> None:
        """Raise :class:`NotAllowedError` unless ``user_id`` is an admin."""
        if not self.is_admin(user_id):
            raise NotAllowedError("not allowed: this command is for admins",
                                  hint="ask an admin to add your user id to the allow-list")

    def cheat(self, experiment: str, arm: str, rewards: Sequence[Any] | str = (), *,
              successes: int = 0, failures: int = 0, actor: str = "cli",
              scope: str = "") -> int:
        """Add rewards to an arm by hand ("cheater mode"): a sequence such as ``"1101"``
        (👍/👎 rewards only) or ``[4, 5, 3]``, and/or counts of ``successes`` (the top reward)
        and ``failures`` (the lowest).

        Each reward is logged as a ``manual`` decision (propensity 1, policy ``manual``) so
        the statistics stay equal to the fold of the log. Returns how many were added.
        A retired arm takes none (:class:`ConfigError`: bring it back with :meth:`add_arm`
        first).
        """
        view = self.view(experiment)
        _require_offered(view, arm, "rewards added by hand")
        per = view.config.scope
        if per != "shared" and not scope:  # "" is a bandit no chat or user reads
            raise PayloadError(
                f"{view.config.id!r} has one bandit per {'chat' if per == 'chat' else 'user'}:"
                " say whose rewards these are", hint=f"give the scope, {per}:ID")
        check_scope(view.config, scope or None)
        if successes < 0 or failures < 0:
            raise InvalidRewardError("counts of successes and failures must be >= 0")
        if successes + failures > _MAX_CHEAT:  # before building the list (a MemoryError)
            raise InvalidRewardError("too many rewards at once", hint=f"at most {_MAX_CHEAT}")
        values = list(rewards.replace(",", " ").split()) if isinstance(rewards, str) \
            else list(rewards)
        if isinstance(rewards, str) and len(values) == 1 and set(values[0]) <= {"0", "1"} \
                and view.config.reward.type == "binary":
            values = list(values[0])  # "1101" for 👍/👎 (on a 0–10 scale, "10" is ten)
        if successes or failures:
            lo, hi = view.config.reward.bounds
            if lo is None or hi is None:
                raise InvalidRewardError("successes and failures need a bounded reward",
                                         hint="give the rewards themselves instead")
            values += [hi] * successes + [lo] * failures
        if not values:
            raise InvalidRewardError("no rewards given", hint="e.g. 1101 or '4 5 3'")
        if len(values) > _MAX_CHEAT:
            raise InvalidRewardError("too many rewards at once", hint=f"at most {_MAX_CHEAT}")
        try:
            numbers = [view.config.reward.validate_value(v) for v in values]
        except InvalidRewardError as exc:
            digits = values[0] if isinstance(rewards, str) and len(values) == 1 else ""
            if view.config.reward.type == "rating" and len(digits) > 1 and digits.isdigit() \
                    and all(_allowed(view.config.reward, d) for d in digits):
                # "45" on a 1-5 rating: one reward of 45, meant as 4 and 5
                raise InvalidRewardError(
                    exc.message, hint=f"one per character is for 👍/👎 (1101); separate "
                                      f"ratings by spaces: {' '.join(digits)}"
                ) from None
            raise
        return self._record_history(view, arm, numbers, kind="manual", actor=actor,
                                    scope=scope, action="cheat")

    def _record_history(self, view: ExperimentView, arm: str, numbers: Sequence[float], *,
                        kind: str, actor: str, scope: str, action: str,
                        weights: Sequence[float] | None = None,
                        sources: Sequence[str] | None = None,
                        progress: Callable[[int], None] | None = None) -> int:
        now = self.clock()
        exp = view.config
        policy_json = json.dumps({"name": kind, "params": {}}, separators=(",", ":"))
        one = np.ones(1)
        records = [
            DecisionRecord(
                id=new_id(), experiment=exp.id,
                generation=view.meta.generation, scope=scope, arm=arm, propensity=1.0,
                arms=(arm,), probabilities=one, policy=policy_json, subject=f"{kind}:{actor}",
                created_at=now, kind=kind, reward=v, rewarded_at=now,
                weight=1.0 if weights is None else float(weights[i]),
                context=None if sources is None else {IMPORTED_FROM: sources[i]},
            )
            for i, v in enumerate(numbers)
        ]
        extras = [self._extra(exp, r, float(r.reward or 0.0)) or {} for r in records]
        extra = any(extras)
        keys = {added_key(exp.id, view.meta.generation, scope),
                added_key(exp.id, view.meta.generation, None)}
        chunk, written = self.history_chunk, 0
        summary = f"arm={arm} rewards={_summarize(numbers)}"
        with self.store.batch():  # together where the store can: the count the report shows
            try:
                # a chunk at a time, each with its count of added rows: a Ctrl+C is seen
                # between two (a store's insert of half a million rows took 25 s to return
                # to Python), and a store that keeps each write keeps them consistent
                for start in range(0, len(records), chunk):
                    part = records[start:start + chunk]
                    self.store.record_manual(part,
                                             extras[start:start + chunk] if extra else None)
                    for key in keys:
                        self.store.add_counters(key, {arm: float(len(part))})
                    written += len(part)
                    if progress is not None:
                        progress(written)
            except BaseException:
                if written:  # (rolled back with the rows where the store has transactions)
                    self.audit(actor, exp.id, action, f"{summary} (interrupted: {written:,} "
                                                      f"of {len(records):,} written)")
                raise
            self.audit(actor, exp.id, action, summary)
        return len(records)

    def import_history(self, experiment: str, arm: str, rewards: Sequence[Any],
                       weights: Sequence[float] | None = None, *, actor: str = "cli",
                       sources: Sequence[str] | None = None,
                       progress: Callable[[int], None] | None = None) -> int:
        """Add past rewards of an arm to its statistics (warm start), each with a weight
        (importance weights for history logged by another policy). Logged as ``import``
        decisions, so statistics stay the fold of the log; ``sources``, one per reward, are
        the ids of the logged rounds they came from (kept in each row's context, so that
        :meth:`imported` finds them when a log that overlaps this one comes). Written
        :attr:`history_chunk` rows at a time in one transaction where the store can (a
        Ctrl+C is seen between two; one audit line for all), ``progress`` told the rows
        written after each. Returns how many were added."""
        view = self.view(experiment)
        self._require_arm(view, arm, active=False)
        numbers = [view.config.reward.validate_value(v) for v in rewards]
        if weights is not None and (len(weights) != len(numbers) or not all(
                math.isfinite(w) and w > 0 for w in weights)):
            raise InvalidRewardError("weights must be positive, one per reward")
        if sources is not None and len(sources) != len(numbers):
            raise PayloadError("sources must be one decision id per reward")
        return self._record_history(view, arm, numbers, kind="import", actor=actor, scope="",
                                    action="import", weights=weights, sources=sources,
                                    progress=progress)

    def set_prior(self, experiment: str, arm: str, alpha: float, beta: float, *,
                  actor: str = "cli") -> str:
        """Set an arm's prior as pseudo-successes ``alpha`` and pseudo-failures ``beta``.

        Priors are kept apart from observations: reports show both, and a reset can keep them.
        On a rating or a bounded number the pseudo-answers are the top (``alpha``) and the
        bottom (``beta``) of the range. Returns what the prior amounts to, in the reward's
        units (e.g. "10 pseudo-answers averaging 2.2 on 1–5"). A retired arm takes none
        (:class:`ConfigError`: bring it back with :meth:`add_arm` first).
        """
        view = self.view(experiment)
        _require_offered(view, arm, "prior")
        if not view.config.reward.bounded:  # pseudo-answers at the top and bottom of what?
            raise PayloadError(
                f"{view.config.id!r} has a reward without bounds: a prior is pseudo-answers "
                "at the top (alpha) and the bottom (beta) of the reward's range",
                hint="give the reward a min and max, or start the arm from history with "
                     "banditbot learn")
        if not (math.isfinite(alpha) and math.isfinite(beta) and 0 <= alpha <= MAX_PRIOR
                and 0 <= beta <= MAX_PRIOR and alpha + beta > 0):
            raise PayloadError(f"prior ({alpha:g}, {beta:g}) is not valid",
                               hint=f"alpha and beta are pseudo-counts from 0 to "
                                    f"{MAX_PRIOR:.0e}, not both 0")

        def change(meta: ExperimentMeta) -> ExperimentMeta:
            return replace(meta, priors={**meta.priors, arm: (float(alpha), float(beta))})

        self._update_meta(experiment, change)
        self.audit(actor, view.config.id, "prior", f"arm={arm} alpha={alpha:g} beta={beta:g}")
        lo, hi = view.config.reward.bounds
        assert lo is not None and hi is not None
        mean = lo + (hi - lo) * alpha / (alpha + beta)
        unused = f" ({view.policy.name} decides from the context and does not use priors; " \
            "they apply once the experiment switches to a policy that does)" \
            if view.policy.contextual else ""
        return (f"{alpha + beta:g} pseudo-answers averaging {mean:.3g} on {lo:g}–{hi:g}, which "
                f"the policy counts beside the real answers (the report's estimate is from "
                f"real answers alone and does not move){unused}")

    def reset(self, experiment: str, *, keep_priors: bool = True, actor: str = "cli") -> int:
        """Start the experiment's learning over (a new generation). Returns the generation.

        The decision log keeps the old generation's records; statistics start from zero, and
        so does the winner rule: a winner it named is forgotten and a stopped experiment
        runs again (the policy decides; the rule may name a winner again from the new
        generation's answers). The audit log keeps the old winner. To go on sending
        everyone one arm, retire the others instead of resetting.
        """
        dropped = {WARM_START_NOTE, WINNER_RETIRED_NOTE} if keep_priors else \
            {WARM_START_NOTE, PRIORS_FROM_NOTE, WINNER_RETIRED_NOTE}

        def change(meta: ExperimentMeta) -> ExperimentMeta:
            # a winner and a stop were the old generation's answers' (a reset kept them: the
            # new generation served the old winner to everyone and never learned)
            return replace(meta, generation=meta.generation + 1,
                           priors=meta.priors if keep_priors else {},
                           notes={k: v for k, v in meta.notes.items() if k not in dropped},
                           winner=None, stopped=False)

        meta = self._update_meta(experiment, change)
        self.audit(actor, experiment, "reset",
                   f"generation={meta.generation} keep_priors={keep_priors}")
        return meta.generation

    def switch_policy(self, experiment: str, name: str,
                      params: Mapping[str, Any] | None = None, *,
                      actor: str = "cli") -> PolicySwitch:
        """Switch the experiment's policy; what was learned is kept (statistics are
        policy-agnostic).

        A switch to the policy the experiment uses already, with the same parameters,
        changes and records nothing. An experiment that sends every decision to its winner
        (stopped, or ``on_winner: send-all-to-winner``) takes the new policy, which decides
        nothing until a reset starts learning over (or the winner is retired): the result's
        :attr:`PolicySwitch.message` says so.

        Parameters
        ----------
        experiment
            The experiment's id.
        name, params
            The policy (see :func:`banditbot.available_policies`) and its parameters.
        actor
            Who switched it, for the audit log.

        Returns
        -------
        PolicySwitch
            The policy, whether anything changed, and a sentence saying what did.

        Raises
        ------
        PolicyError
            The policy is unknown, its parameters are not valid, or the experiment cannot
            run it (e.g. a non-stationary policy with ``on_winner: stop``).
        """
        view = self.view(experiment)
        exp = view.config
        given = time_params(params or {})
        policy = make_policy(name, given)
        if exp.time_bucket_seconds is not None:  # (without buckets, that is said first)
            check_time_width(policy, given)
        problem = exp.policy_problem(policy)
        if problem:
            message, _, hint = problem.partition(" (")
            raise PolicyError(f"{policy.name}: {message}", hint=hint.rstrip(")") or None)
        served = view.arms[view.served] if view.served is not None else None
        stopped = served is not None and (view.meta.stopped or exp.winner.on_winner == "stop")
        if policy == view.policy:  # (frozen dataclasses: the same class and parameters)
            return PolicySwitch(exp.id, policy, view.policy.describe(), False, served, stopped)
        spec = {"name": policy.name, "params": policy.params()}
        self._update_meta(experiment, lambda m: replace(m, policy=spec))
        self.audit(actor, exp.id, "policy", policy.describe())
        return PolicySwitch(exp.id, policy, view.policy.describe(), True, served, stopped,
                            self._unweighed(view) if policy.time_weighting() else 0.0)

    def _unweighed(self, view: ExperimentView) -> float:
        """The answers with no time bucket: every answer adds to its epoch's count
        (``ec.*``) while the experiment keeps buckets, and the counts only ever fold."""
        table = self.store.read_stats(view.config.id, view.meta.generation, None,
                                      view.all_arms, time_buckets=False)
        timed = sum((value for fields in table.extra.values() for name, value in fields.items()
                     if name.startswith("ec.") and epoch_field(name) is not None), 0.0)
        return max(float(table.n.sum()) - timed, 0.0)

    def add_arm(self, experiment: str, arm: str, content: str, *, actor: str = "cli") -> None:
        """Add an arm (or bring back a retired one) without touching the others' statistics."""
        view = self.view(experiment)
        if not (content or view.contents.get(arm)):
            raise ConfigError(f"new arm {arm!r} needs its content (the message it sends)",
                              hint="give the content; it may be left out only to bring back "
                                   "a retired arm")
        try:
            validated(Arm, {"id": arm, "content": content or view.contents.get(arm, "")})
        except ValueError as exc:
            error = exc.errors()[0]  # type: ignore[attr-defined]
            if error.get("loc", ("id",))[0] == "id":  # not the validator's regular expression
                raise ConfigError(
                    f"{arm if len(arm) <= 40 else arm[:39] + '…'!r} is not an arm id: "
                    f"{ID_RULE}", hint="e.g. hello_v2") from None
            raise ConfigError(f"invalid arm: {error['msg'].removeprefix('Value error, ')}",
                              hint="the content is the message the arm sends") from None
        if arm in view.arms:
            raise ConfigError(f"arm {arm!r} is already active in {view.config.id!r}",
                              hint="retire it first or choose another id")
        if content and arm in view.all_arms and content != view.contents.get(arm):
            # its decisions and rewards are the old message's: a new message under its id
            # would start with them (and, when it did well, with most of the traffic)
            raise ConfigError(f"retired arm {arm!r} of {view.config.id!r} sent another "
                              "message, and its results are that message's",
                              hint=f"give the new message a new id, or bring {arm!r} back as "
                                   "it was by leaving the content out")
        problem = markup_problem(content or view.contents.get(arm, ""),
                                 view.config.telegram.parse_mode)
        if problem:  # Telegram would refuse every message of this arm
            message, _, fix = problem.partition(": write ")
            raise ConfigError(f"arm {arm!r}: {message}",
                              hint=f"write {fix}" if fix else None)

        def change(meta: ExperimentMeta) -> ExperimentMeta:
            added = dict(meta.added_arms)
            if content and (arm not in view.contents or view.contents[arm] != content):
                added[arm] = content
            return replace(meta, added_arms=added,
                           retired_arms=tuple(a for a in meta.retired_arms if a != arm))

        self._update_meta(experiment, change)
        self.audit(actor, view.config.id, "arm-add", f"arm={arm}")

    def retire_arm(self, experiment: str, arm: str, *, actor: str = "cli") -> str:
        """Stop offering an arm; its statistics and decisions are kept.

        Returns what else changed, for the person who retired it: ``""``, or, for the
        control arm, that its holdout share and the comparison to it stop."""
        view = self.view(experiment)
        if arm in view.all_arms and arm not in view.arms:
            raise ConfigError(f"arm {arm!r} of {view.config.id!r} is retired already",
                              hint=f"active arms: {', '.join(view.arms)}; adding it again "
                                   "brings it back")
        self._require_arm(view, arm)
        if len(view.arms) == 1:
            raise ConfigError("cannot retire the last active arm", hint="add another arm first")
        def change(meta: ExperimentMeta) -> ExperimentMeta:
            retired = replace(meta, retired_arms=(*meta.retired_arms, arm))
            if meta.winner != arm:
                return retired
            # a retired winner is no one's: the winner and the stop go with it (it went on
            # being reported as the winner, and stopped, while the decisions went elsewhere)
            # and the rule looks among the active arms again
            was = "the winner, and the experiment stopped on it," if meta.stopped \
                else "the winner"
            return replace(retired, winner=None, stopped=False, notes={
                **meta.notes, WINNER_RETIRED_NOTE:
                    f"{arm} was {was} until it was retired (see the history): the policy "
                    "decides among the active arms again, and the winner rule may name one "
                    "of them"})

        self._update_meta(experiment, change)
        self.audit(actor, view.config.id, "arm-retire", f"arm={arm}")
        return retired_control_note(view.config) if arm == view.config.control else ""

    def compare_config(self, started_by: str) -> list[str]:
        """Check each experiment's settings against those the last process that started on
        this store recorded, and record this one's. Every server on one store must run the
        same experiments file: with two, each report counted only its own arms and each
        server checked rewards by its own rules (a trial).

        It also records each arm's content (a digest of it), and says which arm's content
        changed since: an arm whose text was edited in the file (or brought back with
        another by an admin) goes on counting its decisions of the old text with those of
        the new one, and its results mix both (a trial's edit was said only as "settings
        differ"). An arm without decisions in this generation mixes nothing and is not named.

        Parameters
        ----------
        started_by
            Who this process is, as the next one's warning names it (the host and the
            experiments file: ``host vm, file experiments.yaml``).

        Returns
        -------
        list of str
            A line per experiment whose settings differ from another server's, saying who
            started with the others, when, and what differs (the arms, an arm's content,
            a field with both values: :func:`settings_differences`), and a line per arm
            whose content changed
            (empty: every experiment as recorded, or none recorded yet).
        """
        out = []
        now = self.clock()
        for exp in self.config.experiments:
            name = f"settings:{exp.id}"
            mine = config_digest(exp)
            text, version = self.store.read_document(name)
            held = json.loads(text) if text else {}
            # the content each arm runs with (an arm an admin added or brought back with
            # other text runs the store's): recorded, to tell an edit at the next start
            contents = self.view(exp.id).contents
            arms = {arm: config_digest(content) for arm, content in contents.items()}
            outline = settings_outline(exp)
            if held.get("sha256") not in (None, mine) and held.get("by") != started_by:
                # (the same server with its own file edited is no second server: its arm
                # changes are said below, the rest was meant)
                when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(held.get("at", 0)))
                what = _differences_said(outline, held.get("settings"), arms,
                                         held.get("arms"))
                out.append(f"experiment {exp.id!r}: its settings differ from those of the "
                           "last server to start on this store "
                           f"({held.get('by', 'another process')}, at {when})"
                           f"{': ' + what if what else ''}; every server "
                           "on one store must run the same experiments file (during a "
                           "rolling change this says so until all run the new one)")
            out += self._changed_arms(exp.id, held.get("arms") or {}, arms)
            if held.get("sha256") != mine or held.get("by") != started_by or \
                    held.get("arms") != arms or held.get("settings") != outline:
                self.store.write_document(name, json.dumps(
                    {"sha256": mine, "by": started_by, "at": now, "arms": arms,
                     "settings": outline}), version)
        return out

    def _changed_arms(self, experiment: str, recorded: Mapping[str, str],
                      running: Mapping[str, str]) -> list[str]:
        """A line per arm whose content digest differs from the one ``recorded`` for it,
        if the current generation has decisions (or rewards) of it."""
        changed = [arm for arm, digest in running.items()
                   if recorded.get(arm) not in (None, digest)]
        if not changed:
            return []
        generation = self.view(experiment).meta.generation
        stats = self.store.read_stats(experiment, generation, None, changed, with_extra=False,
                                      time_buckets=False)
        return [f"experiment {experiment!r}: the content of arm {arm!r} changed since its "
                "decisions were logged: its results mix both texts (add it as a new arm "
                "and retire the old one to compare them)"
                for arm, pulls, n in zip(stats.arms, stats.pulls, stats.n, strict=True)
                if pulls > 0 or n > 0]

    def note(self, experiment: str, key: str, text: str) -> None:
        """Attach a note to the experiment's meta (shown by reports); an empty ``text``
        removes the note."""
        self._update_meta(experiment, lambda m: replace(m, notes={
            **{k: v for k, v in m.notes.items() if k != key}, **({key: text} if text else {})}))

    def notes(self, experiment: str) -> Mapping[str, str]:
        """The notes attached to the experiment (what reports show under the table)."""
        return dict(self.view(experiment).meta.notes)

    def priors(self, experiment: str) -> Mapping[str, tuple[float, float]]:
        """The arms' priors as the store holds them: ``arm -> (alpha, beta)``
        (:meth:`set_prior`)."""
        return dict(self.view(experiment).meta.priors)

    def current_generation(self, experiment: str) -> int:
        """The experiment's generation (bumped by every reset)."""
        return self.view(experiment).meta.generation

    def counted(self, experiment: str, decision_ids: Collection[str]) -> int:
        """How many of ``decision_ids`` are decisions of the experiment's current generation:
        rounds its statistics count already (a log of them must not be imported again)."""
        wanted = frozenset(decision_ids)
        if not wanted:
            return 0
        view = self.view(experiment)
        return sum(1 for (decision_id,) in self.store.iter_fields(
            view.config.id, ("id",), generation=view.meta.generation) if decision_id in wanted)

    def answered_rounds(self, experiment: str
                        ) -> tuple[tuple[str, ...], FloatArray, FloatArray, FloatArray]:
        """The current generation's answered policy and holdout decisions — the rounds an
        export of them holds — as ``(arms, rewards, propensities, times)``, one entry per
        round (the last three float arrays): what a log of them, whatever its columns, is
        recognised by. A deferred decision's propensity is the one its export writes
        (:func:`~banditbot.stores.resolve_fields`: computed from its logged posterior where
        the store holds none yet, and kept for the next read)."""
        view = self.view(experiment)
        fields: tuple[str, ...] = ("arm", "reward", "propensity", "created_at")
        arms, *columns = self._answered(view, fields)
        if np.isnan(columns[1]).any():  # deferred decisions: read again, with what resolving
            # them needs (not every time: 1M rows read a second slower)
            fields = (*fields, "probabilities", "posterior", "policy", "arms", "id")
            keeper = VectorKeeper(self)
            arms, *columns = self._answered(view, fields, computed=keeper.add)
            keeper.flush()
        return arms, columns[0], columns[1], columns[2]

    def _answered(self, view: ExperimentView, fields: Sequence[str], *,
                  computed: Callable[[ResolvedVector], Any] | None = None
                  ) -> tuple[tuple[str, ...], FloatArray, FloatArray, FloatArray]:
        """:meth:`answered_rounds` read with ``fields`` (the first four: arm, reward,
        propensity, time; more: a deferred decision's propensity computed, ``computed`` told
        each vector)."""
        rows: Iterable[Sequence[Any]] = (
            row for row in self.store.iter_fields(view.config.id, fields,
                                                  generation=view.meta.generation,
                                                  kinds=ALLOCATED)
            if row[1] is not None)
        if len(fields) > 4:
            rows = resolve_fields(rows, fields, computed=computed)
        arms: list[str] = []
        values: list[Sequence[float]] = []
        for row in rows:
            arms.append(row[0])
            values.append(row[1:4])
        table = np.array(values, dtype=np.float64).reshape(-1, 3)
        return tuple(arms), table[:, 0], table[:, 1], table[:, 2]

    def imported(self, experiment: str, decision_ids: Collection[str]) -> frozenset[str]:
        """Those of ``decision_ids`` the current generation's imported history came from
        (:meth:`import_history` with ``sources``): rounds of a log learned already, e.g. of
        an export that overlaps one learned before."""
        wanted = frozenset(decision_ids)
        if not wanted:
            return frozenset()
        view = self.view(experiment)
        return frozenset(
            context[IMPORTED_FROM] for (context,) in self.store.iter_fields(
                view.config.id, ("context",), generation=view.meta.generation,
                kinds=("import",))
            if context and context.get(IMPORTED_FROM) in wanted)

    def active_arms(self, experiment: str) -> tuple[str, ...]:
        """Arm ids offered now."""
        return self.view(experiment).arms

    def content(self, experiment: str, arm: str) -> str:
        """The content of an arm (active or retired)."""
        view = self.view(experiment)
        self._require_arm(view, arm, active=False)
        return view.contents[arm]


def _require_offered(view: ExperimentView, arm: str, what: str) -> None:
    """Refuse an arm ``view`` does not have, or has retired: ``what`` (rewards added by
    hand, a prior) would move no decision of it (they were accepted and counted without a
    word)."""
    if arm in view.all_arms and arm not in view.arms:
        exp = view.config.id
        raise ConfigError(f"arm {arm!r} of {exp!r} is retired: it takes no {what}",
                          hint=f"add it again first with /arm add {exp} {arm} in Telegram "
                               f"or banditbot arms add {exp} {arm} in a shell, which keeps "
                               "its content and results; active arms: "
                               f"{', '.join(view.arms) or 'none'}")
    AdminMixin._require_arm(view, arm)


def _summarize(values: Sequence[float]) -> str:
    text = "".join(f"{v:g}" for v in values[:40]) if all(v in (0, 1) for v in values) \
        else " ".join(f"{v:g}" for v in values[:20])
    return text + (f"… ({len(values)} in all)" if len(values) > 40 else "")


#: the longest text a settings outline keeps as it is (a longer one: its digest, enough to
#: tell that it differs), and the longest value a difference shows
_OUTLINE_TEXT = 80
_SHOWN_VALUE = 40
#: how many differences one warning names (the rest are counted)
_SHOWN_DIFFERENCES = 3


def settings_outline(experiment: ExperimentConfig) -> dict[str, Any]:
    """An experiment's settings as :meth:`AdminMixin.compare_config` records them, for the
    next server on the store to say what differs: its document (each field by name), its
    arms by id (their contents' digests are recorded beside it, once) and any text longer
    than 80 characters as a digest.

    Parameters
    ----------
    experiment
        The experiment as this process's experiments file gives it.

    Returns
    -------
    dict
        JSON-ready data: ``{"id": ..., "arms": ["a", "b"], "policy": {"name": "thompson",
        "params": {}}, …}``.
    """
    outline: dict[str, Any] = _shortened(config_document(experiment))
    outline["arms"] = [arm.id for arm in experiment.arms]
    return outline


def _differences_said(mine: Mapping[str, Any], theirs: object,
                      my_contents: Mapping[str, str], their_contents: object) -> str:
    """:func:`settings_differences` against another server's recorded outline and arm
    digests; empty for a record this version cannot read (an older version's has no
    outline; a later one's may be shaped otherwise: a server is told who and when, and
    still starts)."""
    if not isinstance(theirs, dict):
        return ""
    arms = theirs.get("arms")
    if not isinstance(arms, list) or not all(isinstance(arm, str) for arm in arms):
        return ""
    try:
        return settings_differences(mine, theirs, my_contents, their_contents
                                    if isinstance(their_contents, dict) else {})
    except (TypeError, AttributeError, ValueError):
        return ""


def _shortened(value: Any) -> Any:
    """``value`` with every text longer than :data:`_OUTLINE_TEXT` as its digest."""
    if isinstance(value, dict):
        return {key: _shortened(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shortened(item) for item in value]
    if isinstance(value, str) and len(value) > _OUTLINE_TEXT:
        return "sha256:" + config_digest(value)
    return value


def settings_differences(mine: Mapping[str, Any], theirs: Mapping[str, Any],
                         my_contents: Mapping[str, str] | None = None,
                         their_contents: Mapping[str, str] | None = None) -> str:
    """What differs between two :func:`settings_outline` of one experiment, in words: the
    arms by id, an arm's content (by the digests of each arm's content, recorded beside the
    outline), each other field by its path in the experiments file with both values where
    they are short; the first three, the rest counted.

    Parameters
    ----------
    mine
        This process's outline.
    theirs
        The one another server recorded.
    my_contents, their_contents
        Arm id → the digest of its content, this process's and the one recorded.

    Returns
    -------
    str
        ``"arms (this file: a, b, c; theirs: a, b), policy.name (this file: ucb1; theirs:
        thompson)"``; empty if nothing differs.
    """
    found = []
    my_ids, their_ids = list(mine.get("arms") or []), list(theirs.get("arms") or [])
    if my_ids != their_ids:
        found.append(f"arms (this file: {', '.join(map(str, my_ids))}; theirs: "
                     f"{', '.join(map(str, their_ids))})")
    elif my_contents and their_contents:
        found += [f"the content of arm {arm!r}" for arm in my_ids
                  if their_contents.get(arm) not in (None, my_contents.get(arm))]
    found += _field_differences({k: v for k, v in mine.items() if k != "arms"},
                                {k: v for k, v in theirs.items() if k != "arms"}, "")
    more = len(found) - _SHOWN_DIFFERENCES
    return ", ".join(found[:_SHOWN_DIFFERENCES]) + (f" and {more} more" if more > 0 else "")


def _field_differences(mine: Any, theirs: Any, path: str) -> list[str]:
    """The paths (``policy.params.epsilon``) at which two outlines' values differ, each with
    both values if they are short."""
    if isinstance(mine, dict) and isinstance(theirs, dict):
        out = []
        for key in dict.fromkeys([*mine, *theirs]):
            out += _field_differences(mine.get(key), theirs.get(key),
                                      f"{path}.{key}" if path else str(key))
        return out
    if mine == theirs:
        return []
    shown = _shown(mine), _shown(theirs)
    if max(len(text) for text in shown) > _SHOWN_VALUE or "sha256:" in "".join(shown):
        return [path]
    return [f"{path} (this file: {shown[0]}; theirs: {shown[1]})"]


def _shown(value: Any) -> str:
    """A value of an outline as a warning shows it."""
    if value is None:
        return "not set"
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(", ", ": "))
