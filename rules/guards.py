"""Guards G1–G10: when NOT to propose, even though a signal fired. Pure, vectorised.

Each guard is a frozen dataclass of its parameters (``[guards.G2]`` in config.toml sets the
global defaults; a rule's ``guard_params`` overrides them for that rule) with ``kinds``, the rule
kinds it applies to unless a rule lists its guards itself. :func:`block_expr` turns one guard into
a polars expression over the features frame that is true where the guard blocks; :func:`reason`
says why, in words, for one account (``upsync explain``, the signal log).

G2 (frequency cap) and G3 (cooldown after a decline) need per-rule history, which
:func:`history_columns` derives from the ledger (tasks upsync created), upsync's own tasks read
back from the CRM (a decline is a configured task status) and lost deals (:mod:`rules.deal_kinds`).
G9 (churned) and G10 (stale usage) read the features: ``churned_on``, ``usage_day``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from rules.deal_kinds import OFFER_KINDS, kind_words, lost_deal_kind, normalised, normalised_column, standard_deal_types

__all__ = [
    "GUARDS",
    "GUARD_IDS",
    "Churned",
    "DeclineCooldown",
    "DoNotContact",
    "FrequencyCap",
    "Guard",
    "GuardInfo",
    "LoyaltyFirst",
    "NotTooEarly",
    "OpenEscalation",
    "Relevance",
    "SayWhy",
    "StaleUsage",
    "block_expr",
    "history_columns",
    "reason",
    "relevant_products",
]

_PROPOSALS = ("upsell", "cross-sell")
KINDS = ("upsell", "cross-sell", "save", "review")


def _check_kinds(kinds: Sequence[str]) -> None:
    for k in kinds:
        if k not in KINDS:
            raise ValueError(f"unknown kind {k!r} in kinds; kinds are {', '.join(KINDS)}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Guard:
    enabled: bool = True
    kinds: tuple[str, ...] = _PROPOSALS

    def __post_init__(self) -> None:
        _check_kinds(self.kinds)


@dataclass(frozen=True, slots=True, kw_only=True)
class LoyaltyFirst(Guard):
    """G1: no expansion offer without trust: health not in ``bands``, NPS >= ``min_nps`` where known."""

    min_nps: float = 7.0
    bands: tuple[str, ...] = ("red",)


@dataclass(frozen=True, slots=True, kw_only=True)
class FrequencyCap(Guard):
    """G2: at most ``max_offers`` proposals to one account per ``per_days``."""

    max_offers: int = 2
    per_days: int = 30

    def __post_init__(self) -> None:
        Guard.__post_init__(self)
        if self.max_offers < 1 or self.per_days < 1:
            raise ValueError("max_offers and per_days must be at least 1")


@dataclass(frozen=True, slots=True, kw_only=True)
class DeclineCooldown(Guard):
    """G3: after a no, do not chase: the same offer waits ``cooldown_days``.

    A no is upsync's own task closed with one of ``decline_statuses`` (that rule), or a lost deal
    (the offers of the kind it says no to; ``*`` every offer): its kind field's value mapped by
    ``deal_kinds`` where it holds one, else its type mapped by ``deal_types`` (:mod:`rules.deal_kinds`).
    """

    cooldown_days: int = 90
    decline_statuses: tuple[str, ...] = ("Declined", "DEFERRED")
    deal_types: Mapping[str, str] = field(default_factory=standard_deal_types)
    deal_kinds: Mapping[str, str] = field(default_factory=kind_words)

    def __post_init__(self) -> None:
        Guard.__post_init__(self)
        if self.cooldown_days < 1:
            raise ValueError("cooldown_days must be at least 1")
        for key, mapping in (("deal_types", self.deal_types), ("deal_kinds", self.deal_kinds)):
            for value, kind in mapping.items():
                if kind != "*" and kind not in OFFER_KINDS:
                    raise ValueError(
                        f"{key}: {value!r} maps to unknown kind {kind!r}; kinds are {', '.join(OFFER_KINDS)} or *"
                    )


@dataclass(frozen=True, slots=True, kw_only=True)
class NotTooEarly(Guard):
    """G4: no upsell before onboarding completes: ``min_days_since_start`` days as a customer."""

    min_days_since_start: int = 30


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenEscalation(Guard):
    """G5: an open escalation (or a ticket at an escalation priority) blocks expansion offers."""


def _all_kinds() -> tuple[str, ...]:
    return KINDS


@dataclass(frozen=True, slots=True, kw_only=True)
class DoNotContact(Guard):
    """G6: the CRM's do-not-contact flag, or an account type / lifecycle stage in ``hold_values``."""

    kinds: tuple[str, ...] = field(default_factory=_all_kinds)
    hold_values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Relevance(Guard):
    """G7: cross-sell only what relates to what the account (or its group) owns.

    Related means: listed in ``related`` (product → related products, both ways), co-purchase
    evidence from the account's products, or owned elsewhere in its group.
    """

    kinds: tuple[str, ...] = ("cross-sell",)
    related: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class SayWhy(Guard):
    """G8: if you cannot say why, it is not time yet: every value the rule's reason names must be known."""

    kinds: tuple[str, ...] = field(default_factory=_all_kinds)


@dataclass(frozen=True, slots=True, kw_only=True)
class Churned(Guard):
    """G9: no offer to a former customer: it had a contract, asset or won deal and has none now
    (``churned_on``), or its account type / lifecycle stage is one of ``churned_values``."""

    # neither CRM has a standard "former customer" value (Salesforce Account Type: Prospect,
    # Customer - Direct, …, Other; HubSpot lifecyclestage: subscriber … customer, evangelist,
    # other): these are the ones orgs commonly add, matched whatever their case and punctuation
    churned_values: tuple[str, ...] = ("Former Customer", "Churned", "Ex-Customer")


@dataclass(frozen=True, slots=True, kw_only=True)
class StaleUsage(Guard):
    """G10: no offer from old usage: a rule reading usage waits while the account's workspace has
    sent no usage row for ``stale_usage_days`` (a closed workspace, a feed that stopped)."""

    stale_usage_days: int = 3

    def __post_init__(self) -> None:
        Guard.__post_init__(self)
        if self.stale_usage_days < 1:
            raise ValueError("stale_usage_days must be at least 1")


@dataclass(frozen=True, slots=True)
class GuardInfo:
    id: str
    name: str
    type: type[Guard]


GUARDS: dict[str, GuardInfo] = {
    g.id: g
    for g in (
        GuardInfo("G1", "loyalty first", LoyaltyFirst),
        GuardInfo("G2", "frequency cap", FrequencyCap),
        GuardInfo("G3", "cooldown after a decline", DeclineCooldown),
        GuardInfo("G4", "not too early", NotTooEarly),
        GuardInfo("G5", "open escalation", OpenEscalation),
        GuardInfo("G6", "do not contact", DoNotContact),
        GuardInfo("G7", "relevance", Relevance),
        GuardInfo("G8", "say why", SayWhy),
        GuardInfo("G9", "churned", Churned),
        GuardInfo("G10", "stale usage", StaleUsage),
    )
}
GUARD_IDS = tuple(GUARDS)


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleContext:
    """What a guard needs to know of the rule it guards."""

    rule_id: str
    kind: str
    offer: pl.Expr | None  # text: the product a cross-sell offers
    reason_fields: tuple[str, ...]  # feature columns the rule's reason names
    reads_usage: bool = False  # its condition or value reads a usage feature (G10)


COLUMNS: dict[str, tuple[str, ...]] = {
    "G1": ("health_band", "nps"),
    "G2": (),
    "G3": (),
    "G4": ("days_since_start",),
    "G5": ("open_escalations",),
    "G6": ("do_not_contact", "account_type", "lifecycle_stage"),
    "G7": ("products_owned", "_relevant"),
    "G8": (),
    "G9": ("churned_on", "account_type", "lifecycle_stage"),
    "G10": ("workspace_id", "usage_day", "_today"),
}
"""Feature columns each guard reads (besides its rule's own: offers, declines, offer, reason fields)."""


def columns(guard_id: str, rule: RuleContext) -> tuple[str, ...]:
    """Every frame column ``block_expr(guard_id, …, rule)`` reads."""
    own = {"G2": (offers_column(rule.rule_id),), "G3": (declined_column(rule.rule_id),), "G8": rule.reason_fields}
    return COLUMNS[guard_id] + own.get(guard_id, ())


def offers_column(rule_id: str) -> str:
    return f"_offers:{rule_id}"


def declined_column(rule_id: str) -> str:
    return f"_declined:{rule_id}"


def block_expr(guard_id: str, params: Guard, rule: RuleContext) -> pl.Expr:
    """True where ``guard_id`` blocks ``rule`` (never null)."""
    if guard_id == "G1":
        assert isinstance(params, LoyaltyFirst)
        red = pl.col("health_band").is_in(list(params.bands))
        detractor = pl.col("nps") < params.min_nps
        return (red.fill_null(False) | detractor.fill_null(False)).alias("G1")
    if guard_id == "G2":
        assert isinstance(params, FrequencyCap)
        return (pl.col(offers_column(rule.rule_id)).fill_null(0) >= params.max_offers).alias("G2")
    if guard_id == "G3":
        return pl.col(declined_column(rule.rule_id)).is_not_null().alias("G3")
    if guard_id == "G4":
        assert isinstance(params, NotTooEarly)
        return (pl.col("days_since_start") < params.min_days_since_start).fill_null(False).alias("G4")
    if guard_id == "G5":
        return (pl.col("open_escalations") > 0).fill_null(False).alias("G5")
    if guard_id == "G6":
        assert isinstance(params, DoNotContact)
        hold = list(params.hold_values)
        flagged = pl.col("do_not_contact").fill_null(False)
        held = pl.col("account_type").is_in(hold).fill_null(False) | pl.col("lifecycle_stage").is_in(hold).fill_null(
            False
        )
        return (flagged | held).alias("G6")
    if guard_id == "G7":
        if rule.offer is None:
            return pl.lit(True).alias("G7")
        owned = pl.col("products_owned").list.contains(rule.offer).fill_null(False)
        relevant = pl.col("_relevant").list.contains(rule.offer).fill_null(False)
        return (rule.offer.is_null() | owned | ~relevant).alias("G7")
    if guard_id == "G8":
        if not rule.reason_fields:
            return pl.lit(False).alias("G8")
        return pl.any_horizontal([pl.col(f).is_null() for f in rule.reason_fields]).alias("G8")
    if guard_id == "G9":
        assert isinstance(params, Churned)
        return (pl.col("churned_on").is_not_null() | _says_churned(params)).alias("G9")
    if guard_id == "G10":
        assert isinstance(params, StaleUsage)
        if not rule.reads_usage:
            return pl.lit(False).alias("G10")
        age = (pl.col("_today") - pl.col("usage_day")).dt.total_days()
        stale = pl.col("usage_day").is_null() | (age >= params.stale_usage_days)
        # no workspace at all is no usage to be stale: the rule's usage values are unknown anyway
        return (pl.col("workspace_id").is_not_null() & stale).fill_null(False).alias("G10")
    raise KeyError(guard_id)


def _says_churned(params: Churned) -> pl.Expr:
    values = [normalised(v) for v in params.churned_values]

    def said(column: str) -> pl.Expr:
        return normalised_column(column).is_in(values).fill_null(False)

    return said("account_type") | said("lifecycle_stage")


def relevant_products(features: pl.DataFrame, params: Relevance, copurchase_related: pl.DataFrame) -> pl.DataFrame:
    """(account, _relevant): products a cross-sell to the account may offer under G7.

    ``copurchase_related`` is (account, product): products linked by co-purchase evidence.
    """
    pairs = [(a, b) for a, related in params.related.items() for b in related]
    relation = pl.DataFrame(
        {
            "owned": [a for a, b in pairs] + [b for a, b in pairs],
            "product": [b for a, b in pairs] + [a for a, b in pairs],
        },
        schema={"owned": pl.String, "product": pl.String},
    )
    owned = features.select("account", pl.col("products_owned").alias("owned")).explode("owned")
    by_catalogue = owned.join(relation, on="owned").select("account", "product")
    group = features.select("account", pl.col("group_products").alias("product")).explode("product")
    both = pl.concat([by_catalogue, copurchase_related.select("account", "product"), group]).drop_nulls()
    return both.group_by("account").agg(pl.col("product").unique().sort().alias("_relevant"))


def history_columns(
    accounts: pl.DataFrame,
    *,
    ledger: pl.DataFrame,
    activities: pl.DataFrame,
    opportunities: pl.DataFrame,
    rules: Sequence[tuple[str, str, pl.Expr, FrequencyCap | None, DeclineCooldown | None]],
    kinds_by_rule: Mapping[str, str],
    as_of: datetime,
) -> pl.DataFrame:
    """(account, ``_offers:<rule>``, ``_declined:<rule>``) for G2 and G3.

    ``rules`` holds (rule id, offer kind, its current period as an expression over ``accounts`` (a
    literal, or a date column for a date-anchored window or a sequence), its G2 params or None,
    its G3 params or None). Offers are the distinct (rule, period) of ledger rows (tasks upsync
    created or is creating) of proposal kinds in the cap's window: a sequence's stages are one
    offer. The rule's own task of the current period is aside (that one is the same task, not
    another offer). A decline counts for the rule whose task it was, and a lost deal for the rules
    whose offer kind it says no to (``CompiledRule.offer_kind``).
    """
    out = accounts.select("account")
    today = as_of.date()
    led = (
        ledger.filter(pl.col("created_at") <= as_of)
        .join(accounts.rename({"account": "account_id"}), on="account_id", how="left")
        .with_columns(
            pl.col("rule_id").replace_strict(dict(kinds_by_rule), default="?", return_dtype=pl.String).alias("_kind"),
            pl.concat_str([pl.col("rule_id"), pl.col("window")], separator="|", ignore_nulls=True).alias("_unit"),
        )
    )
    offer_aggs: list[pl.Expr] = []
    decline_rules = []
    for rule_id, _kind, period, cap, cooldown in rules:
        if cap is not None:
            counted = (
                (pl.col("_kind").is_in(list(cap.kinds)) | (pl.col("_kind") == "?"))
                & (pl.col("state") != "failed")
                & (pl.col("created_at") > as_of - timedelta(days=cap.per_days))
                & ~((pl.col("rule_id") == rule_id) & (pl.col("window") == period).fill_null(False))
            )
            offer_aggs.append(pl.col("_unit").filter(counted).n_unique().cast(pl.Int64).alias(offers_column(rule_id)))
        if cooldown is not None:
            decline_rules.append((rule_id, _kind, cooldown))
    if offer_aggs:
        offers = led.group_by("account_id").agg(offer_aggs).rename({"account_id": "account"})
        out = out.join(offers, on="account", how="left").with_columns(
            [pl.col(offers_column(r[0])).fill_null(0) for r in rules if r[3] is not None]
        )
    if decline_rules:
        events = _declines(ledger, activities, opportunities, decline_rules, today)
        aggs = []
        for rule_id, kind, cooldown in decline_rules:
            applies = ((pl.col("rule_id") == rule_id) | (pl.col("kind") == kind) | (pl.col("kind") == "*")) & (
                pl.col("at") > today - timedelta(days=cooldown.cooldown_days)
            )
            aggs.append(pl.col("at").filter(applies).max().alias(declined_column(rule_id)))
        declined = events.group_by("account").agg(aggs)
        out = out.join(declined, on="account", how="left")
    return out


def _declines(
    ledger: pl.DataFrame,
    activities: pl.DataFrame,
    opportunities: pl.DataFrame,
    rules: Sequence[tuple[str, str, DeclineCooldown]],
    today: Any,
) -> pl.DataFrame:
    """Every no known as of ``today``: (account, rule_id | null, kind | null, at)."""
    statuses = sorted({s for _, _, c in rules for s in c.decline_statuses})
    deal_types: dict[str, str] = {}
    kinds: dict[str, str] = {}
    for _, _, c in rules:
        deal_types.update(c.deal_types)
        kinds.update(c.deal_kinds)
    tasks = (
        activities.filter(pl.col("sync_key").is_not_null() & pl.col("status").is_in(statuses))
        .join(ledger.select(pl.col("key").alias("sync_key"), "rule_id", "account_id"), on="sync_key")
        .select(
            pl.col("account_id").alias("account"),
            "rule_id",
            pl.lit(None, dtype=pl.String).alias("kind"),
            pl.col("modified_at").dt.date().alias("at"),
        )
    )
    lost = (
        opportunities.filter(
            pl.col("is_closed").fill_null(False) & ~pl.col("is_won").fill_null(False) & (pl.col("close_date") <= today)
        )
        .select(
            pl.col("account_id").alias("account"),
            pl.lit(None, dtype=pl.String).alias("rule_id"),
            lost_deal_kind(deal_types, kinds).alias("kind"),
            pl.col("close_date").alias("at"),
        )
        .filter(pl.col("kind").is_not_null())
    )
    return pl.concat([tasks, lost]).filter(pl.col("at") <= today)


def reason(guard_id: str, params: Guard, row: Mapping[str, Any], rule: RuleContext, *, offer: str | None) -> str:
    """Why ``guard_id`` blocks ``rule`` on this row, for a person: the values that decided it.
    ``offer`` is the product the rule offers on this row (G7)."""
    if guard_id == "G1":
        assert isinstance(params, LoyaltyFirst)
        if row.get("health_band") in params.bands:
            return f"health is {row.get('health_band')} ({row.get('health')})"
        return f"NPS {_num(row.get('nps'))} is below {_num(params.min_nps)}"
    if guard_id == "G2":
        assert isinstance(params, FrequencyCap)
        offers = row.get(offers_column(rule.rule_id))
        return f"{offers} offers in the last {params.per_days} days (cap {params.max_offers})"
    if guard_id == "G3":
        assert isinstance(params, DeclineCooldown)
        return f"declined on {row.get(declined_column(rule.rule_id))}; cooling down for {params.cooldown_days} days"
    if guard_id == "G4":
        assert isinstance(params, NotTooEarly)
        return f"customer for {_num(row.get('days_since_start'))} days, under {params.min_days_since_start}"
    if guard_id == "G5":
        return f"{_num(row.get('open_escalations'))} open escalation(s)"
    if guard_id == "G6":
        if row.get("do_not_contact"):
            return "flagged do-not-contact in the CRM"
        return f"on hold ({row.get('account_type') or row.get('lifecycle_stage')})"
    if guard_id == "G7":
        if offer is None:
            return "nothing to offer: the offered product is unknown for this account"
        if offer in (row.get("products_owned") or []):
            return f"already owns {offer}"
        return f"{offer} relates to nothing the account or its group owns"
    if guard_id == "G8":
        missing = [f for f in rule.reason_fields if row.get(f) is None]
        return f"the reason needs {', '.join(missing)}, which is unknown"
    if guard_id == "G9":
        if row.get("churned_on") is not None:
            return f"churned on {row['churned_on']}: no active contract"
        return f"churned: {row.get('account_type') or row.get('lifecycle_stage')} in the CRM"
    if guard_id == "G10":
        last = row.get("usage_day")
        if last is None:
            return f"no usage data for workspace {row.get('workspace_id')}"
        return f"no usage data since {last} ({(row['_today'] - last).days} days)"
    raise KeyError(guard_id)


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
