"""Request and response bodies of the HTTP API (pydantic models; the OpenAPI schema)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from fastapi import Query
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    TypeAdapter,
    WithJsonSchema,
    field_validator,
)

from .._config import BLANK_SUBJECT, ID_BREAKERS, TEXT_PATTERN, visible_id_pattern
from .._errors import PayloadError
from .._features import CONTEXT_LIMITS, check_context
from .._values import blank_text
from ..service import MAX_SUBJECT

__all__ = [
    "ArmIn", "AuditEntry", "ByQuery", "CheatIn", "DecisionIn", "DecisionOut", "Done",
    "ExperimentOut", "PolicyIn", "PriorIn", "ResetIn", "RewardIn", "RewardOut", "ScopeQuery",
]

Scalar = str | int | float | bool
_TEXT = TEXT_PATTERN  # no control characters but tab and line breaks
_LIMIT = CONTEXT_LIMITS
#: a context value: bounded text, true/false, an exact whole number or a finite number
ContextValue = (StrictBool
                | Annotated[int, Field(ge=-_LIMIT["integer"], le=_LIMIT["integer"])]
                | Annotated[float, Field(allow_inf_nan=False, ge=-_LIMIT["number"],
                                         le=_LIMIT["number"])]
                | Annotated[str, Field(max_length=int(_LIMIT["text_length"]), pattern=_TEXT)])


#: the documented shape of a context (what ``check_context`` enforces, with its messages:
#: a union's own error named the last type tried, "context.k.bool: should be a boolean",
#: for text too long, a number too large, null, a list or an object alike)
_CONTEXT_SCHEMA = TypeAdapter(
    dict[Annotated[str, Field(min_length=1, max_length=int(_LIMIT["key_length"]))],
         ContextValue] | None).json_schema()
# pydantic leaves a key's pattern out of propertyNames: the keys' rule, said by hand
_CONTEXT_SCHEMA["anyOf"][0]["propertyNames"]["pattern"] = _TEXT


#: ids without control characters (a NUL or a newline in a subject reached the CSV export)
_PRINTABLE = f"^[^{ID_BREAKERS}]+$"
_CONTROL_WORDS = {_TEXT: "has a control character or a direction override (tabs and line "
                         "breaks are fine)",
                  _PRINTABLE: "has a control character or a direction override"}


def error_text(errors: Sequence[Mapping[str, Any]]) -> str:
    """The first of pydantic's validation errors as one line, ``where: what`` (a mismatch
    of the control-character patterns said in words, not as the regular expression)."""
    if not errors:
        return "invalid"
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    message = _CONTROL_WORDS.get(str((first.get("ctx") or {}).get("pattern")), "") or \
        str(first.get("msg", "invalid")).removeprefix("Value error, ")
    said = f"{where}: {message}" if where else message
    # a field missing beside one the body has instead ({"reward": 1} for "value"): both
    unknown = [".".join(str(p) for p in e.get("loc", ()) if p != "body") for e in errors[1:]
               if e.get("type") == "extra_forbidden"]
    if first.get("type") == "missing" and unknown:
        said += f" ({', '.join(unknown)}: not a field of this request)"
    return said


def _visible_schema(schema: dict[str, Any]) -> None:
    """A subject's schema with :func:`~banditbot._config.visible_id_pattern` (built when a
    schema is asked for, not at import)."""
    schema["pattern"] = visible_id_pattern()


class Body(BaseModel):
    """A request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


ScopeQuery = Annotated[str | None, Query(
    # the prefix, then any id of 1-128 characters (a subject may hold any text); one regex
    # syntax that Python's and pydantic's (Rust) engines read alike
    pattern=r"^(chat|subject):[\s\S]", max_length=136,
    description="One bandit of an experiment with scope chat or subject (chat:ID, "
                "subject:ID); default: all of them summed.")]

ByQuery = Annotated[str | None, Query(
    min_length=1, max_length=_LIMIT["key_length"],
    description="Split the report by this categorical (or true/false) context feature: each "
                "arm per value, on that value's decisions alone (see docs/inference.md, "
                "Segments).")]


class DecisionIn(Body):
    """Ask for a decision."""

    subject: str = Field(min_length=1, max_length=MAX_SUBJECT, pattern=_PRINTABLE,
                         description="Who it is for (no control characters; a visible "
                                     "character at least).",
                         # (the schema says the whole rule: a client generating subjects
                         # from it sent " ", which the validator below refuses)
                         json_schema_extra=_visible_schema)
    context: Annotated[dict[str, Any] | None, WithJsonSchema(_CONTEXT_SCHEMA)] = Field(
        default=None,
        description="Features of this moment (logged; used by contextual policies): at most "
                    "32 names of at most 64 characters, each mapped to text of at most 256 "
                    "characters, true/false, a whole number within ±2^53 or a finite number "
                    "within ±1e15; no nesting.")
    chat: str | None = Field(default=None, max_length=128, pattern=_PRINTABLE,
                             description="Chat or group id, for scope: chat.")
    sticky: StrictBool = Field(default=False, description="Keep this subject's arm for the "
                                                          "experiment's sticky_seconds "
                                                          "(true or false).")

    @field_validator("subject")
    @classmethod
    def _visible(cls, subject: str) -> str:
        # the service's rule (BanditService refuses a blank subject for every caller, with
        # a 400 here), checked here too so that it is a 422 as the field's other rules
        if blank_text(subject):
            raise ValueError(BLANK_SUBJECT)
        return subject

    @field_validator("context")
    @classmethod
    def _context(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        try:
            return check_context(value)
        except PayloadError as exc:
            raise ValueError(str(exc)) from None


class DecisionOut(BaseModel):
    """A decision: show ``content``, then report the reward for ``decision_id``."""

    decision_id: str
    experiment: str
    arm: str
    content: str
    propensity: float | None = Field(description="The probability this arm had; null when "
                                     "it is computed later (propensity_from: posterior).")
    probabilities: dict[str, float] | None = Field(
        description="Every active arm's probability; null when computed later.")
    propensity_from: Literal["decision", "posterior"] = Field(
        default="decision",
        description="decision: known when the decision was made; posterior: the experiment "
                    "has propensity: deferred — the decision logged the posterior it was "
                    "drawn from and its exact propensity is in the decision log (GET "
                    "…/decisions), computed when the log is read.")
    created_at: float
    kind: Literal["policy", "holdout", "sticky"] = Field(
        description="policy: drawn from the allocation; holdout: the control's fixed share "
                    "(outside the bandit); sticky: the subject's held arm.")
    warnings: list[str] = Field(
        default_factory=list,
        description="For an experiment with features: what in the context they could not "
                    "use (a missing feature, a value not listed, keys that are no feature); "
                    "absent when nothing was missed.")


class RewardIn(Body):
    """Report a reward.

    ``subject`` is required with a ``decide`` key: the reward counts only if it is the
    decision's subject, so a client cannot reward someone else's decision. Only an
    ``admin`` key may leave it out (it is trusted to reward on anyone's behalf).
    """

    # bool first: ``true`` must reach the reward check as a boolean (it is 1 for a binary
    # reward and refused elsewhere), not as the number 1 (the lowest rating)
    value: bool | float | int | Annotated[str, Field(max_length=64)] = Field(
        description="The reward (1/0 or true/false for a binary reward, a rating, a "
                    "number); finite, and within the experiment's reward range (±1e12 for an "
                    "unbounded continuous reward).")
    subject: str | None = Field(default=None, min_length=1, max_length=MAX_SUBJECT,
                                pattern=_PRINTABLE,
                                description="Who rewards; must be the decision's subject. "
                                            "Required unless the key is an admin key.")

    @field_validator("value", mode="before")
    @classmethod
    def _scalar(cls, value: Any) -> Any:
        # null, a list or an object: one plain message (not the first union member's
        # "value.bool: Input should be a valid boolean")
        if value is None or not isinstance(value, bool | int | float | str):
            raise ValueError("the reward is a number (1/0 or true/false for 👍/👎)")
        return value


class RewardOut(BaseModel):
    """The outcome of a reward call."""

    status: Literal["applied", "duplicate"]
    decision_id: str
    message: str
    arm: str | None = None
    value: float | None = None


class ExperimentOut(BaseModel):
    """An experiment as configured and as it runs now."""

    id: str
    command: str | None = Field(description="the Telegram command, without its slash; null "
                                            "for a reward without feedback buttons (the bot "
                                            "runs none: answered through this API)")
    description: str
    arms: list[str]
    active_arms: list[str]
    policy: str
    reward: dict[str, Any]
    reward_mode: str
    scope: str
    generation: int
    propensity: Literal["exact", "deferred"] = Field(
        description="how decisions log their propensity now: exact (when made) or "
                    "deferred (computed from the logged posterior when the log is read; "
                    "an admin's switch to another policy decides exactly)")


class CheatIn(Body):
    """Add rewards to an arm by hand."""

    arm: str = Field(max_length=64)
    # a boolean first, so that ``true`` reaches the reward check as one (1 for a binary
    # reward, refused for a rating or a number), not as the number 1; a strict one, unlike
    # RewardIn's (whose union also takes text, which "1" matches first): in a list of
    # numbers a quoted "1" would otherwise become true
    rewards: list[StrictBool | float] | str = Field(description="e.g. [1, 1, 0] or \"1101\"")
    scope: str | None = Field(default=None, max_length=136, pattern=_PRINTABLE,
                              description="Whose bandit, for an experiment with scope chat "
                                          "or subject: chat:ID or subject:ID.")


class PriorIn(Body):
    """An arm's prior (pseudo-successes, pseudo-failures)."""

    alpha: float = Field(ge=0, le=1e9)
    beta: float = Field(ge=0, le=1e9)


class ResetIn(Body):
    """Start over (a new generation)."""

    keep_priors: bool = True


class PolicyIn(Body):
    """Switch the policy."""

    name: str = Field(max_length=64)
    params: dict[Annotated[str, Field(max_length=64)], Scalar] = Field(default_factory=dict,
                                                                        max_length=16)


class ArmIn(Body):
    """Add (or bring back) an arm."""

    id: str = Field(max_length=32)
    content: str = Field(default="", max_length=4096, pattern=_TEXT,
                         description="The message the arm sends; required for a new arm, may "
                                     "be left out to bring back a retired one. Tabs and line "
                                     "breaks are text; other control characters are refused.")


class Done(BaseModel):
    """An admin action's result."""

    ok: bool
    detail: str


class AuditEntry(BaseModel):
    """One entry of the audit log: who did what to which experiment, when."""

    at: float = Field(description="When, in seconds since the epoch.")
    time: str = Field(description="When, ISO 8601 in UTC.")
    actor: str = Field(description="cli, api:KEY_NAME, tg:TELEGRAM_USER_ID or rule.")
    experiment: str
    action: str = Field(description="cheat, import, prior, reset, policy, arm-add, "
                                    "arm-retire, winner, export, rotate-pseudonyms.")
    details: str
