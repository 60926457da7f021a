"""upsync's own history: daily health scores, the signal log (when each rule last fired) and the
control groups (accounts kept without a task)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl
import sqlalchemy as sa

from core.tables import RUN_GRACE_DAYS
from sync.store.base import StoreBase
from sync.store.schema import CONTROL, HEALTH, SIGNALS

__all__ = ["HistoryStore"]


class HistoryStore(StoreBase):
    """Health scores per account and day; per account and rule, when it fired and why it was held."""

    def save_health(self, system: str, rows: pl.DataFrame) -> int:
        """Upsert the day's health scores (account_id, day, score, band, health_<component>…)."""
        components = [c for c in rows.columns if c.startswith("health_")]
        values = [
            {
                "system": system,
                "account_id": r["account_id"],
                "day": r["day"],
                "score": r["score"],
                "band": r["band"],
                "components": json.dumps({c.removeprefix("health_"): r[c] for c in components}),
            }
            for r in rows.iter_rows(named=True)
        ]
        with self.engine.begin() as conn:
            for start in range(0, len(values), 5000):
                self._upsert_rows(conn, HEALTH, values[start : start + 5000], ("system", "account_id", "day"))
        return len(values)

    def health_days(self, system: str, *, since: date, until: date) -> set[date]:
        """The days between ``since`` and ``until`` that have stored health scores."""
        h = HEALTH
        query = sa.select(h.c.day).where(h.c.system == system, h.c.day >= since, h.c.day <= until).distinct()
        with self.engine.connect() as conn:
            return {r.day for r in conn.execute(query)}

    def health_bands(self, system: str) -> tuple[date, dict[str, int]] | None:
        """(latest day with health scores, accounts per band that day)."""
        h = HEALTH
        with self.engine.connect() as conn:
            day = conn.execute(sa.select(sa.func.max(h.c.day)).where(h.c.system == system)).scalar()
            if day is None:
                return None
            query = sa.select(h.c.band, sa.func.count()).where(h.c.system == system, h.c.day == day).group_by(h.c.band)
            return day, {band: int(n) for band, n in conn.execute(query)}

    def health_band_counts(self, system: str, *, since: date, until: date) -> pl.DataFrame:
        """(day, band, accounts): accounts per health band on each scored day in ``since``..``until``,
        counted by the database (a year of daily scores for 100k accounts never leaves it row by row)."""
        h = HEALTH
        query = (
            sa.select(h.c.day, h.c.band, sa.func.count().label("accounts"))
            .where(h.c.system == system, h.c.day >= since, h.c.day <= until)
            .group_by(h.c.day, h.c.band)
            .order_by(h.c.day, h.c.band)
        )
        with self.engine.connect() as conn:
            rows = [tuple(r) for r in conn.execute(query)]
        schema = {"day": pl.Date(), "band": pl.String(), "accounts": pl.Int64()}
        return pl.DataFrame(rows, schema=schema, orient="row")

    def signal_summary(self, system: str) -> list[dict[str, Any]]:
        """Per rule, from the signal log: accounts last seen standing (fired) or held back, and when
        it last fired."""
        sg = SIGNALS
        latest = sa.select(sa.func.max(sg.c.last_seen_on)).where(sg.c.system == system).scalar_subquery()
        query = (
            sa.select(
                sg.c.rule_id,
                sa.func.sum(sa.case((sg.c.blocked_by.is_(None), 1), else_=0)).label("fired"),
                sa.func.sum(sa.case((sg.c.blocked_by.is_not(None), 1), else_=0)).label("held"),
                sa.func.max(sg.c.last_fired_on).label("last_fired_on"),
            )
            .where(sg.c.system == system, sg.c.last_seen_on == latest)
            .group_by(sg.c.rule_id)
            .order_by(sg.c.rule_id)
        )
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def health_history(self, system: str, account_id: str) -> list[dict[str, Any]]:
        h = HEALTH
        with self.engine.connect() as conn:
            query = sa.select(h).where(h.c.system == system, h.c.account_id == account_id).order_by(h.c.day)
            return [dict(r._mapping) for r in conn.execute(query)]

    def log_signals(self, system: str, signals: pl.DataFrame, *, day: date) -> int:
        """Fold one evaluation's signals (account, rule_id, blocked) into the signal log.

        A signal seen within ``RUN_GRACE_DAYS`` of its last sighting continues its run
        (``run_started_on`` stays); after a longer gap a new run starts today."""
        sg = SIGNALS
        continuing = sg.c.last_seen_on >= sa.literal(day - timedelta(days=RUN_GRACE_DAYS), sa.Date)
        rows = [
            {
                "system": system,
                "account_id": r["account"],
                "rule_id": r["rule_id"],
                "first_fired_on": day,
                "last_fired_on": None if r["blocked"] else day,
                "last_seen_on": day,
                "run_started_on": day,
                "blocked_by": ",".join(r["blocked"]) or None,
            }
            for r in signals.select("account", "rule_id", "blocked").iter_rows(named=True)
        ]
        if not rows:
            return 0
        stmt = self._insert(sg)
        excluded = stmt.excluded
        update = {
            "first_fired_on": sa.func.min(sg.c.first_fired_on, excluded.first_fired_on)
            if self.engine.dialect.name == "sqlite"
            else sa.func.least(sg.c.first_fired_on, excluded.first_fired_on),
            "last_fired_on": sa.func.coalesce(excluded.last_fired_on, sg.c.last_fired_on),
            "last_seen_on": excluded.last_seen_on,
            "run_started_on": sa.case(
                (continuing, sa.func.coalesce(sg.c.run_started_on, sg.c.first_fired_on)),
                else_=excluded.run_started_on,
            ),
            "blocked_by": excluded.blocked_by,
        }
        with self.engine.begin() as conn:
            for start in range(0, len(rows), 5000):
                conn.execute(
                    stmt.on_conflict_do_update(index_elements=["system", "account_id", "rule_id"], set_=update),
                    rows[start : start + 5000],
                )
        return len(rows)

    def signal_log(self, system: str) -> list[dict[str, Any]]:
        sg = SIGNALS
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(sg).where(sg.c.system == system))]

    def last_signals(self, system: str) -> dict[str, tuple[str, date]]:
        """Each account's most recent unblocked signal: (rule id, the day it last fired)."""
        sg = SIGNALS
        query = (
            sa.select(sg.c.account_id, sg.c.rule_id, sg.c.last_fired_on)
            .where(sg.c.system == system, sg.c.last_fired_on.is_not(None))
            .order_by(sg.c.account_id, sg.c.last_fired_on, sg.c.rule_id)
        )
        out: dict[str, tuple[str, date]] = {}
        with self.engine.connect() as conn:
            for r in conn.execute(query):
                out[r.account_id] = (r.rule_id, r.last_fired_on)
        return out

    def record_controls(self, controls: Sequence[Mapping[str, Any]], *, now: datetime) -> int:
        """Keep the accounts a rule's control group kept without a task (``rules.plan.ControlRecord``
        as a mapping: system, rule_id, account_id, period, day). The first record of a
        (system, rule, account, period) stays (its day is when the task would have been created);
        a later cycle, a retry or another replica recording it again changes nothing."""
        rows = [
            {
                **{k: c[k] for k in ("system", "rule_id", "account_id", "period", "day")},
                "recorded_at": now,
            }
            for c in controls
        ]
        if not rows:
            return 0
        stmt = self._insert(CONTROL).on_conflict_do_nothing(
            index_elements=["system", "rule_id", "account_id", "period"]
        )
        with self.engine.begin() as conn:
            for start in range(0, len(rows), 5000):
                conn.execute(stmt, rows[start : start + 5000])
        return len(rows)

    def control_arm(self, system: str) -> list[dict[str, Any]]:
        c = CONTROL
        with self.engine.connect() as conn:
            query = sa.select(c).where(c.c.system == system).order_by(c.c.rule_id, c.c.account_id, c.c.period)
            return [dict(r._mapping) for r in conn.execute(query)]
