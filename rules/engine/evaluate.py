"""Evaluate every rule over every account at once: features, guards and the next best action as columns.

:func:`prepare` computes the features as of a moment and adds the health score, co-purchase
evidence and lifecycle stage; :func:`evaluate_features` evaluates every rule's condition and every
guard as columns of one frame, chunk by chunk, and ranks what stands into one next best action
per account. Rules that read ``signals_14d`` (S12: several signals coinciding) run in a second
stage, after the others have fired.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import polars as pl

from core.errors import RuleError
from core.tables import RUN_GRACE_DAYS, Tables
from rules import copurchase, features, guards, health, nba
from rules.engine.ruleset import STAGE_TWO, CompiledRule, RuleSet
from rules.guards import GUARD_IDS
from rules.health import COMPONENTS
from rules.plan import CALENDAR, EPISODE, episode_column, period_of


@dataclass(frozen=True, slots=True, kw_only=True)
class Evaluation:
    """What the rules say as of one moment.

    - ``features``: one row per account, every feature (health, co-purchase, lifecycle included);
    - ``signals``: one row per rule that fired on an account: account, rule_id, kind, stage,
      value, blocked (the guard ids that hold it back, empty when it stands);
    - ``actions``: the next best action of every account with an unblocked signal: account,
      rule_id, kind, value, score, coinciding, supporting, lifecycle, role, owner, owner_name, owner_note;
    - ``pairs``: the co-purchase pairs mined as of ``as_of``.
    """

    as_of: datetime
    features: pl.DataFrame
    signals: pl.DataFrame
    actions: pl.DataFrame
    pairs: pl.DataFrame
    owners: pl.DataFrame | None = None  # the CRM's users: routes every ripe rule's own task (tasks_per = "window")

    def health_rows(self) -> pl.DataFrame:
        """(account_id, day, score, band, components…) for the daily health history."""
        return self.features.filter(pl.col("health").is_not_null()).select(
            pl.col("account").alias("account_id"),
            pl.lit(self.as_of.date()).alias("day"),
            pl.col("health").alias("score"),
            pl.col("health_band").alias("band"),
            *[pl.col(f"health_{c}") for c in COMPONENTS],
        )


_RANKED_SCHEMA: dict[str, pl.DataType] = {
    "account": pl.String(),
    "lifecycle": pl.String(),
    "owner_id": pl.String(),
    "owner_active": pl.Boolean(),
    "rule_id": pl.String(),
    "kind": pl.String(),
    "value": pl.Float64(),
    "score": pl.Float64(),
    "coinciding": pl.Float64(),
}
_SIGNAL_SCHEMA: dict[str, pl.DataType] = {
    "account": pl.String(),
    "rule_id": pl.String(),
    "kind": pl.String(),
    "stage": pl.Int64(),
    "value": pl.Float64(),
    "blocked": pl.List(pl.String()),
}


def prepare(ruleset: RuleSet, tables: Tables, *, as_of: datetime) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The features frame every rule reads (base features, health, co-purchase, lifecycle, guard
    history) and the co-purchase pairs."""
    if ruleset.deferred:  # never decide with a rule left out for want of a type
        raise RuleError(
            f"rule(s) {', '.join(ruleset.deferred)} name CRM fields whose type the CRM has not reported yet",
            hint="a sync reads the types (describe / properties API) before it decides; run `upsync sync --once`",
        )
    p = ruleset.params
    today = as_of.date()
    f = features.compute(
        tables,
        as_of=as_of,
        params=p.features,
        uses=ruleset.uses,
        products=ruleset.products,
        daily=ruleset.daily,
        crm=p.crm,
    )
    f = health.score(f, p.health, activation_ratio=p.features.activation_ratio)
    history = tables.checked().health.filter(pl.col("day") < today)
    f = f.join(health.health_series(f, history, today=today, weeks=p.features.series_weeks), on="account", how="left")
    bought = features.purchases(tables, as_of=as_of)
    pairs = copurchase.mine_pairs(bought, now=today, params=p.mining)
    owned = features.owned_products(tables, as_of=as_of)
    recs = copurchase.recommend(pairs, owned, params=p.mining).select(
        "account",
        pl.col("product").alias("copurchase_product"),
        pl.col("antecedent").alias("copurchase_from"),
        pl.col("confidence").alias("copurchase_confidence"),
        pl.col("lift").alias("copurchase_lift"),
        pl.col("support").alias("copurchase_support"),
        pl.col("median_lag_days").alias("copurchase_lag_days"),
        pl.col("evidence").alias("copurchase_evidence"),
    )
    f = f.join(recs, on="account", how="left").with_columns(
        pl.col("group_products").list.first().alias("group_product"),
        nba.lifecycle_expr(p.routing).alias("lifecycle"),
    )
    relevance = p.guards.get("G7")
    related = copurchase.related(pairs, owned, params=p.mining)
    rel = guards.relevant_products(
        f, relevance if isinstance(relevance, guards.Relevance) else guards.Relevance(), related
    )
    f = f.join(rel, on="account", how="left").with_columns(
        pl.col("_relevant").fill_null(pl.lit([], dtype=pl.List(pl.String)))
    )
    runs = [r.id for r in ruleset.rules if r.source.window == EPISODE]
    if runs:
        f = f.join(_episodes(tables.checked().signals, runs, today), on="account", how="left").with_columns(
            [pl.col(episode_column(rule_id)).fill_null(today) for rule_id in runs]
        )
    windows = [r for r in ruleset.rules if r.window is not None and r.source.window not in f.columns]
    if windows:  # a window given as an expression: a column named by its text, like a date feature
        f = f.with_columns([r.window.expr.alias(r.source.window) for r in windows if r.window is not None])
    t = tables.checked()
    guard_rules = []
    dates: set[str] = set()
    for rule in ruleset.rules:
        gp = dict(rule.guards)
        cap = gp.get("G2")
        cooldown = gp.get("G3")
        anchor = p.anchors.get(rule.source.playbook) or (
            None
            if rule.source.window in CALENDAR
            else episode_column(rule.id)
            if rule.source.window == EPISODE
            else rule.source.window
        )
        if anchor is not None:
            dates.add(anchor)
        guard_rules.append(
            (
                rule.id,
                rule.offer_kind,
                pl.col(anchor).dt.strftime("%Y-%m-%d") if anchor else pl.lit(period_of(rule.source.window, as_of)),
                cap if isinstance(cap, guards.FrequencyCap) else None,
                cooldown if isinstance(cooldown, guards.DeclineCooldown) else None,
            )
        )
    hist = guards.history_columns(
        f.select("account", *sorted(dates)),
        ledger=t.ledger,
        activities=t.activities,
        opportunities=t.opportunities,
        rules=guard_rules,
        kinds_by_rule={r.id: r.kind for r in ruleset.rules},
        as_of=as_of,
    )
    return f.join(hist, on="account", how="left"), pairs


def _episodes(log: pl.DataFrame, rule_ids: Sequence[str], today: date) -> pl.DataFrame:
    """Per account, for each ``window = "episode"`` rule: the day its current run began, as the
    signal log has it: the run's first day while the rule was seen within ``RUN_GRACE_DAYS``, else
    today (a new run, or none yet; accounts without a row get today from the caller)."""
    continuing = pl.col("last_seen_on") >= today - timedelta(days=RUN_GRACE_DAYS)
    began = pl.when(continuing).then(pl.coalesce("run_started_on", "first_fired_on")).otherwise(pl.lit(today))
    rows = log.filter(pl.col("rule_id").is_in(list(rule_ids))).select(
        pl.col("account_id").alias("account"), "rule_id", began.alias("began")
    )
    wide = rows.pivot(on="rule_id", index="account", values="began", aggregate_function="first")
    present = [r for r in rule_ids if r in wide.columns]
    out = wide.select("account", *present).rename({r: episode_column(r) for r in present})
    return out.with_columns(
        [pl.lit(None, dtype=pl.Date).alias(episode_column(r)) for r in rule_ids if r not in present]
    )


_BITS = {gid: 1 << i for i, gid in enumerate(GUARD_IDS)}
_MASKS = {m: [gid for gid, bit in _BITS.items() if m & bit] for m in range(1 << len(GUARD_IDS))}
"""Every set of guards as the bit mask a row carries, and the guard ids it stands for."""


def _wide(f: pl.DataFrame, rules: Sequence[CompiledRule], offset: int) -> pl.DataFrame:
    """Per account (rows aligned with ``f``), for rule ``offset + i``: ``_fire{k}``, ``_value{k}`` and
    ``_mask{k}`` (one bit per guard that blocks it). Wide and positional: one pass over the frame
    for every rule and guard, no joins, no strings or lists per account (building either costs
    ten to twenty times more than an integer)."""
    exprs: list[pl.Expr] = []
    for i, rule in enumerate(rules):
        k = offset + i
        ctx = rule.context()
        exprs.append(rule.when.expr.alias(f"_fire{k}"))
        exprs.append(rule.value.expr.cast(pl.Float64).fill_null(0.0).alias(f"_value{k}"))
        bits = [guards.block_expr(gid, gp, ctx).cast(pl.Int32) * _BITS[gid] for gid, gp in rule.guards]
        exprs.append((pl.sum_horizontal(bits) if bits else pl.lit(0, pl.Int32)).alias(f"_mask{k}"))
    # with a column alongside, a rule made of literals alone ("true") broadcasts to every row
    return f.select(pl.col("account"), *exprs).drop("account")


def _live(k: int) -> pl.Expr:
    return pl.col(f"_fire{k}") & (pl.col(f"_mask{k}") == 0)


def _long(wide: pl.DataFrame, rules: Sequence[CompiledRule]) -> pl.DataFrame:
    """The wide verdicts as one row per (account, rule) that fired."""
    parts = []
    for k, rule in enumerate(rules):
        parts.append(
            wide.select("account", f"_fire{k}", f"_value{k}", f"_mask{k}")
            .filter(pl.col(f"_fire{k}"))
            .select(
                "account",
                pl.lit(rule.id).alias("rule_id"),
                pl.lit(rule.kind).alias("kind"),
                pl.lit(rule.stage, dtype=pl.Int64).alias("stage"),
                pl.col(f"_value{k}").alias("value"),
                pl.col(f"_mask{k}").replace_strict(_MASKS, return_dtype=pl.List(pl.String())).alias("blocked"),
            )
        )
    return pl.concat(parts) if parts else pl.DataFrame(schema=_SIGNAL_SCHEMA)


def _recently_fired(
    wide: pl.DataFrame, recent: pl.DataFrame, rules: Sequence[CompiledRule], *, today: date, days: int
) -> pl.Series:
    """Per account (aligned with ``wide``): first-stage rules the signal log saw fire unblocked within
    the coincidence window that are not firing unblocked today (those are counted already)."""
    index = {r.id: k for k, r in enumerate(rules) if r.stage == 1}
    past = (
        recent.filter(
            (pl.col("last_fired_on") > today - timedelta(days=days))
            & (pl.col("last_fired_on") <= today)
            & pl.col("rule_id").is_in(list(index))
        )
        .select(pl.col("account_id").alias("account"), "rule_id")
        .unique()
    )
    positions = wide.select("account").with_row_index("_row")
    if past.is_empty():
        return pl.Series("_past", [0.0] * wide.height, dtype=pl.Float64)
    live_now = pl.lit(False)
    for rule_id, k in index.items():
        live_now = pl.when(pl.col("rule_id") == rule_id).then(_live(k)).otherwise(live_now)
    joined = past.join(wide.with_row_index("_row"), on="account").filter(~live_now)
    counts = joined.group_by("_row").agg(pl.len().cast(pl.Float64).alias("_past"))
    return positions.join(counts, on="_row", how="left").sort("_row").get_column("_past").fill_null(0.0)


def decision_columns(ruleset: RuleSet) -> list[str]:
    """The feature columns :func:`evaluate_features` reads: what the rules, their guards and routing need."""
    cols = {"account", "lifecycle", "owner_id", "owner_active"}
    for rule in ruleset.rules:
        cols |= set(rule.when.columns) | set(rule.value.columns)
        if rule.source.offer_feature:
            cols.add(rule.source.offer_feature)
        for gid, _ in rule.guards:
            cols |= set(guards.columns(gid, rule.context()))
    return sorted(cols - STAGE_TWO)


def evaluate(ruleset: RuleSet, tables: Tables, *, as_of: datetime) -> Evaluation:
    """Every rule over every account as of ``as_of``; see :class:`Evaluation`."""
    f, pairs = prepare(ruleset, tables, as_of=as_of)
    t = tables.checked()
    return evaluate_features(ruleset, f, as_of=as_of, recent=t.signals, owners=t.owners, pairs=pairs)


CHUNK_ROWS = 200_000
"""Accounts decided at a time: the per-rule intermediates of a chunk, not of the whole org, are in
memory at once (every step is per account, so chunks change nothing but the peak)."""


def evaluate_features(
    ruleset: RuleSet,
    f: pl.DataFrame,
    *,
    as_of: datetime,
    recent: pl.DataFrame,
    owners: pl.DataFrame,
    pairs: pl.DataFrame | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> Evaluation:
    """The rules, guards and next best actions over a prepared features frame (:func:`prepare`).

    ``recent`` is the signal log (account_id, rule_id, last_fired_on), ``owners`` the CRM's users.
    Everything up to the ranking happens column-wise, one row per account: the next best action
    is the highest score among the rules standing on the row (ties: the rule listed first).
    """
    p = ruleset.params
    ordered = sorted(ruleset.rules, key=lambda r: r.stage)  # second-stage rules read the first's count
    counts: list[pl.Series] = []
    signals: list[pl.DataFrame] = []
    ranked: list[pl.DataFrame] = []
    for start in range(0, max(f.height, 1), chunk_rows):
        part = f.slice(start, chunk_rows)
        count, long, best = _decide_chunk(ruleset, ordered, part, as_of=as_of, recent=recent)
        counts.append(count)
        signals.append(long)
        ranked.append(best)
    f = f.with_columns(pl.concat(counts) if counts else pl.Series("signals_14d", [], dtype=pl.Float64))
    actions = nba.route(
        pl.concat(ranked) if ranked else pl.DataFrame(schema=_RANKED_SCHEMA),
        owners,
        routing=p.routing,
        rule_owner={r.id: r.source.owner for r in ruleset.rules},
    )
    return Evaluation(
        as_of=as_of,
        features=f,
        signals=pl.concat(signals) if signals else pl.DataFrame(schema=_SIGNAL_SCHEMA),
        actions=actions,
        pairs=pairs if pairs is not None else pl.DataFrame(schema=copurchase.PAIR_SCHEMA),
        owners=owners,
    )


def _decide_chunk(
    ruleset: RuleSet, ordered: Sequence[CompiledRule], f: pl.DataFrame, *, as_of: datetime, recent: pl.DataFrame
) -> tuple[pl.Series, pl.DataFrame, pl.DataFrame]:
    """(signals_14d per row, the long signals, the best action per account) of one chunk."""
    p = ruleset.params
    first = [r for r in ordered if r.stage == 1]
    second = [r for r in ordered if r.stage == 2]
    wide = pl.concat(
        [f.select("account", "lifecycle", "owner_id", "owner_active"), _wide(f, first, 0)], how="horizontal"
    )
    past = _recently_fired(wide, recent, ordered, today=as_of.date(), days=p.nba.coincide_days)
    now = pl.sum_horizontal([_live(k).cast(pl.Float64) for k in range(len(first))]) if first else pl.lit(0.0)
    count = wide.select((now + past).alias("signals_14d")).get_column("signals_14d")
    if second:
        wide = pl.concat([wide, _wide(f.with_columns(count), second, len(first))], how="horizontal")
    order = {r.id: k for k, r in enumerate(ruleset.rules)}
    n = len(ordered)
    if not n:
        return count, pl.DataFrame(schema=_SIGNAL_SCHEMA), pl.DataFrame(schema=_RANKED_SCHEMA)
    # step by step, each intermediate a column: polars evaluates a repeated sub-expression each
    # time it appears, and the ranking below refers to every score twice
    bonus = 1 + p.nba.coincide_bonus * (pl.max_horizontal(pl.col("signals_14d"), pl.lit(1.0)) - 1)
    scored = wide.with_columns(count).with_columns(
        [
            pl.when(_live(k)).then(pl.col(f"_value{k}") * (bonus if rule.stage == 1 else 1.0)).alias(f"_score{k}")
            for k, rule in enumerate(ordered)
        ]
    )
    scored = scored.with_columns(pl.max_horizontal([f"_score{k}" for k in range(n)]).alias("score"))
    # ties go to the rule listed first in config, whatever its stage
    tied = [pl.when(pl.col(f"_score{k}") == pl.col("score")).then(pl.lit(order[r.id])) for k, r in enumerate(ordered)]
    value = pl.lit(None, pl.Float64)
    for k, rule in enumerate(ordered):
        value = pl.when(pl.col("_k") == order[rule.id]).then(pl.col(f"_value{k}")).otherwise(value)
    ids = {k: r.id for k, r in enumerate(ruleset.rules)}
    kinds = {k: r.kind for k, r in enumerate(ruleset.rules)}
    best = (
        scored.with_columns(pl.min_horizontal(tied).alias("_k"))
        .filter(pl.col("_k").is_not_null())
        .select(
            "account",
            "lifecycle",
            "owner_id",
            "owner_active",
            pl.col("_k").replace_strict(ids, return_dtype=pl.String).alias("rule_id"),
            pl.col("_k").replace_strict(kinds, return_dtype=pl.String).alias("kind"),
            value.alias("value"),
            "score",
            pl.max_horizontal(pl.col("signals_14d"), pl.lit(1.0)).alias("coinciding"),
        )
    )
    return count, _long(wide, ordered), best


def health_points(ruleset: RuleSet, tables: Tables, *, as_of: datetime) -> pl.DataFrame:
    """Health rows (account_id, day, score, band, components) as of one past moment: how the
    history is filled in for trends when upsync starts on an org with stored usage."""
    p = ruleset.params
    f = features.compute(tables, as_of=as_of, params=p.features, crm=p.crm)
    f = health.score(f, p.health, activation_ratio=p.features.activation_ratio)
    return f.filter(pl.col("health").is_not_null()).select(
        pl.col("account").alias("account_id"),
        pl.lit(as_of.date()).alias("day"),
        pl.col("health").alias("score"),
        pl.col("health_band").alias("band"),
        *[pl.col(f"health_{c}") for c in COMPONENTS],
    )
