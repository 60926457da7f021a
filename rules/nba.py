"""Next best action (A7, A8, S12): one ranked action per account, with its reasons and its owner. Pure.

Every unblocked signal on an account is a candidate action worth its rule's expected value.
Signals that coincide are stronger than any one (S12): the account's best candidate is boosted by
``coincide_bonus`` for every other rule that fired on it within ``coincide_days``, and the others
travel with it as supporting reasons. The winner is the account's primary action.

Who does it (A7) follows the account's lifecycle stage and the signal's kind through the
responsibility table: customer success owns onboarding and saves, sales or CIS take over once
usage passes the hand-over line, the account owner renews. A role is the account's CRM owner or a
pool of named owners (accounts spread over the pool by a stable hash of their id); an owner who
is inactive falls back to the role's fallback, then to the global fallback owner.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import polars as pl

__all__ = [
    "ACCOUNT_OWNER",
    "LIFECYCLES",
    "ROLE_WORDS",
    "NbaParams",
    "Responsibility",
    "Role",
    "Routing",
    "lifecycle_expr",
    "owner_line",
    "rank",
    "route",
]

ACCOUNT_OWNER = "account_owner"
LIFECYCLES = ("prospect", "at_risk", "onboarding", "renewal", "expansion", "adoption")


@dataclass(frozen=True, slots=True, kw_only=True)
class NbaParams:
    """``[nba]``: how coinciding signals combine."""

    coincide_days: int = 14
    coincide_bonus: float = 0.25

    def __post_init__(self) -> None:
        if self.coincide_days < 1 or self.coincide_bonus < 0:
            raise ValueError("coincide_days must be >= 1 and coincide_bonus >= 0")


@dataclass(frozen=True, slots=True, kw_only=True)
class Role:
    """``[roles.<name>]``: who plays a role. No owners: the account's own CRM owner."""

    owners: tuple[str, ...] = ()  # owner ids or emails
    fallback: str | None = None  # an owner id or email, when the chosen owner is inactive


@dataclass(frozen=True, slots=True, kw_only=True)
class Responsibility:
    """One row of the responsibility table: lifecycle stage × rule kind → role (``*`` matches any)."""

    lifecycle: str = "*"
    kind: str = "*"
    role: str

    def __post_init__(self) -> None:
        if self.lifecycle != "*" and self.lifecycle not in LIFECYCLES:
            raise ValueError(f"unknown lifecycle {self.lifecycle!r}; stages are {', '.join(LIFECYCLES)} or *")
        if self.kind not in ("*", "upsell", "cross-sell", "save", "review"):
            raise ValueError(f"unknown kind {self.kind!r}; kinds are upsell, cross-sell, save, review or *")


def _default_table() -> tuple[Responsibility, ...]:
    return (
        Responsibility(kind="save", role="cs"),
        Responsibility(lifecycle="onboarding", role="cs"),
        Responsibility(lifecycle="at_risk", role="cs"),
        Responsibility(kind="review", role="cs"),
        Responsibility(lifecycle="expansion", role="cis"),
        Responsibility(lifecycle="renewal", role=ACCOUNT_OWNER),
        Responsibility(lifecycle="adoption", role="cs"),
        Responsibility(role=ACCOUNT_OWNER),
    )


def _default_roles() -> dict[str, Role]:
    return {"cs": Role(), "cis": Role(), "sales": Role()}


@dataclass(frozen=True, slots=True, kw_only=True)
class Routing:
    """Lifecycle thresholds, roles and the responsibility table (first matching row wins)."""

    onboarding_days: int = 90
    renewal_days: int = 90
    handover_utilisation: float = 0.7
    roles: Mapping[str, Role] = field(default_factory=_default_roles)
    table: tuple[Responsibility, ...] = field(default_factory=_default_table)
    fallback_owner: str | None = None

    def role_names(self) -> set[str]:
        return {ACCOUNT_OWNER, *self.roles}


def lifecycle_expr(routing: Routing) -> pl.Expr:
    """The account's lifecycle stage (A7), first match: prospect, at_risk, onboarding, renewal,
    expansion (usage past the hand-over line), adoption."""
    return (
        pl.when(~pl.col("is_customer"))
        .then(pl.lit("prospect"))
        .when(pl.col("health_band") == "red")
        .then(pl.lit("at_risk"))
        .when(
            (pl.col("days_since_start") < routing.onboarding_days).fill_null(False)
            & ~pl.col("activated").fill_null(False)
        )
        .then(pl.lit("onboarding"))
        .when((pl.col("days_to_renewal") <= routing.renewal_days).fill_null(False) & (pl.col("days_to_renewal") >= 0))
        .then(pl.lit("renewal"))
        .when(
            (pl.col("max_utilisation") >= routing.handover_utilisation).fill_null(False)
            | (pl.col("wau_ratio") >= routing.handover_utilisation).fill_null(False)
        )
        .then(pl.lit("expansion"))
        .otherwise(pl.lit("adoption"))
    )


def rank(signals: pl.DataFrame, *, order: Sequence[str], params: NbaParams) -> pl.DataFrame:
    """One primary action per account from its unblocked signals.

    ``signals``: account, rule_id, kind, stage, value, coinciding (how many distinct rules fired
    on the account within the coincidence window, this one included). Score = value × (1 + bonus ×
    (coinciding − 1)) for first-stage rules; a second-stage rule (S12, which reads the coincidence
    itself) scores its value. Ties go to the rule listed first in config (``order``). Returns account,
    rule_id, kind, value, score, coinciding, supporting (the other rules firing now, by score).
    """
    position = {rule_id: i for i, rule_id in enumerate(order)}
    scored = signals.with_columns(
        pl.col("rule_id").replace_strict(position, default=len(position), return_dtype=pl.Int64).alias("_pos"),
        (
            pl.col("value").fill_null(0.0)
            * pl.when(pl.col("stage") == 1)
            .then(1 + params.coincide_bonus * (pl.col("coinciding") - 1).clip(0, None))
            .otherwise(1.0)
        ).alias("score"),
    ).sort("account", "score", "_pos", descending=[False, True, False])
    return scored.group_by("account", maintain_order=True).agg(
        pl.col("rule_id").first(),
        pl.col("kind").first(),
        pl.col("value").first(),
        pl.col("score").first(),
        pl.col("coinciding").first(),
        pl.col("rule_id").slice(1).alias("supporting"),
    )


def _stable_index(account: str, size: int) -> int:
    """A pool member for an account that does not move when other accounts come and go."""
    return zlib.crc32(account.encode()) % size


def route(
    actions: pl.DataFrame,
    owners: pl.DataFrame,
    *,
    routing: Routing,
    rule_owner: Mapping[str, str],
) -> pl.DataFrame:
    """``actions`` plus role, owner, owner_name (from ``owners``) and owner_note (why that owner, or why none).

    ``actions`` carries each account's lifecycle, owner_id and owner_active besides the rule;
    ``owners`` (crm_id, email, active) resolves pool members and fallbacks named by id or email.
    ``rule_owner`` is each rule's ``owner`` (a role, or ``auto`` for the responsibility table).
    Vectorised; a pool pick hashes the account id (crc32: stable across versions and runs).
    """
    by_key: dict[str, tuple[str, bool]] = {}
    for o in owners.select("crm_id", "email", "active").iter_rows():
        crm_id, email, active = str(o[0]), o[1], o[2] is not False
        by_key[crm_id] = (crm_id, active)
        if email:
            by_key[str(email).lower()] = (crm_id, active)

    def resolve(ref: str | None) -> tuple[str, bool] | None:
        if not ref:
            return None
        return by_key.get(ref) or by_key.get(ref.lower())

    auto = pl.lit(ACCOUNT_OWNER)
    for row in reversed(routing.table):
        cond = pl.lit(True)
        if row.lifecycle != "*":
            cond = cond & (pl.col("lifecycle") == row.lifecycle)
        if row.kind != "*":
            cond = cond & (pl.col("kind") == row.kind)
        auto = pl.when(cond).then(pl.lit(row.role)).otherwise(auto)
    explicit = pl.col("rule_id").replace_strict(dict(rule_owner), default="auto", return_dtype=pl.String)
    out = actions.rename({"owner_id": "_account_owner"}).with_columns(
        pl.when(explicit == "auto").then(auto).otherwise(explicit).alias("role")
    )

    # the candidate: the account's owner, or a pool member by a stable hash of the account id
    pools = {name: [m for m in (resolve(ref) for ref in role.owners) if m] for name, role in routing.roles.items()}
    pools = {name: members for name, members in pools.items() if members}
    picks: list[str | None] = [None] * out.height
    picks_active: list[bool | None] = [None] * out.height
    if pools:
        pooled = out.with_row_index("_row").filter(pl.col("role").is_in(list(pools)))
        for row, account, role in pooled.select("_row", "account", "role").iter_rows():
            picks[row], picks_active[row] = pools[role][_stable_index(str(account), len(pools[role]))]
    out = out.with_columns(
        pl.Series("_pick", picks, dtype=pl.String), pl.Series("_pick_active", picks_active, dtype=pl.Boolean)
    )
    in_pool = pl.col("_pick").is_not_null()
    candidate = pl.when(in_pool).then(pl.col("_pick")).otherwise(pl.col("_account_owner"))
    candidate_ok = (
        pl.when(in_pool)
        .then(pl.col("_pick_active"))
        .otherwise(pl.col("_account_owner").is_not_null() & (pl.col("owner_active") != False))  # noqa: E712
        .fill_null(False)
    )
    how = (
        pl.when(in_pool)
        .then(pl.format("{}: pool member {}", pl.col("role"), pl.col("_pick")))
        .when(pl.col("role") == ACCOUNT_OWNER)
        .then(pl.lit("the account owner"))
        .otherwise(pl.format("{}: the account owner", pl.col("role")))
    )
    why = (
        pl.when(in_pool)
        .then(pl.format("{} pool member {} is inactive", pl.col("role"), pl.col("_pick")))
        .when(pl.col("_account_owner").is_null())
        .then(pl.lit("the account has no owner"))
        .otherwise(pl.lit("the account owner is inactive"))
    )
    role_fallback = {
        name: found[0]
        for name, role in routing.roles.items()
        if role.fallback and (found := resolve(role.fallback)) is not None and found[1]
    }
    global_found = resolve(routing.fallback_owner)
    global_fallback = global_found[0] if global_found is not None and global_found[1] else None
    by_role = pl.col("role").replace_strict(role_fallback, default=None, return_dtype=pl.String)
    owner = (
        pl.when(candidate_ok)
        .then(candidate)
        .when(by_role.is_not_null())
        .then(by_role)
        .otherwise(pl.lit(global_fallback, dtype=pl.String))
    )
    note = (
        pl.when(candidate_ok)
        .then(how)
        .when(by_role.is_not_null())
        .then(pl.format("{}; {} fallback {}", why, pl.col("role"), by_role))
        .when(pl.lit(global_fallback is not None))
        .then(pl.format("{}; fallback owner {}", why, pl.lit(global_fallback, dtype=pl.String)))
        .otherwise(pl.format("{}; set [routing] fallback_owner", why))
    )
    names = (
        {str(i): str(n) for i, n in owners.select("crm_id", "name").iter_rows() if n}
        if "name" in owners.columns
        else {}
    )
    owner_name = owner.replace_strict(names, default=None, return_dtype=pl.String)
    return out.with_columns(owner.alias("owner"), note.alias("owner_note"), owner_name.alias("owner_name")).drop(
        "_pick", "_pick_active", "_account_owner", "owner_active"
    )


ROLE_WORDS: Mapping[str, str] = {
    ACCOUNT_OWNER: "account owner",
    "cs": "customer success",
    "cis": "customer inside sales",
    "sales": "sales",
}
"""How a task body names a role; an admin's own role reads as its name (``key_accounts`` → key accounts)."""


def owner_line(name: str | None, role: str) -> str:
    """Who a task is for, in words: ``Aiko Tanaka (customer success)``, or the role alone."""
    words = ROLE_WORDS.get(role) or role.replace("_", " ").replace("-", " ")
    if name and words:
        return f"{name} ({words})"
    return name or words
