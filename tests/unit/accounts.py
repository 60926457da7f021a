"""Small tables of accounts for the rules tests: a steady customer by default, each test bends it."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import polars as pl

from core.tables import Tables
from rules import engine
from rules.engine import Evaluation, RuleSet, RuleSource
from sync.config import parse_config
from sync.settings import parse_settings

AS_OF = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
TODAY = AS_OF.date()
ROOT = Path(__file__).resolve().parents[2]
ENV = {"HUBSPOT_TOKEN": "t", "USAGE_TOKEN": "t", "SALESFORCE_TOKEN": "t"}


def days_ago(n: float) -> datetime:
    return AS_OF - timedelta(days=n)


def day(n: int) -> date:
    """The date ``n`` days before today (negative: in the future)."""
    return TODAY - timedelta(days=n)


def bundled_raw() -> dict[str, Any]:
    return tomllib.loads((ROOT / "config.toml").read_text())


def bundled_ruleset(only: Iterable[str] | None = None, **overrides: Any) -> RuleSet:
    """The shipped rules (optionally a subset by id), compiled with the shipped settings."""
    raw = bundled_raw()
    raw.update(overrides)
    if only is not None:
        keep = set(only)
        raw["rules"] = [r for r in raw["rules"] if r["id"] in keep]
    return parse_config(raw, ENV).ruleset


def ruleset(*rules: Mapping[str, Any], **sections: Any) -> RuleSet:
    """A rule set of the given rules (with a playbook ``p``) and the shipped settings otherwise."""
    raw = bundled_raw()
    raw["rules"] = [{"playbook": "p", **r} for r in rules]
    raw["playbooks"] = [{"id": "p", "title": "P", "url": "https://example.com/p"}]
    raw.update(sections)
    return parse_config(raw, ENV).ruleset


class World:
    """Rows of every input table; ``customer()`` adds a steady account with its usage."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {}

    def add(self, table: str, **row: Any) -> dict[str, Any]:
        self.rows.setdefault(table, []).append(row)
        return row

    def account(self, crm_id: str, **values: Any) -> dict[str, Any]:
        row = {
            "crm_id": crm_id,
            "name": f"Account {crm_id}",
            "owner_id": "o1",
            "workspace_id": f"ws-{crm_id}",
            "employees": 100,
            "seats_purchased": 100,
            "created_at": days_ago(800),
        }
        row.update(values)
        if not any(o["crm_id"] == row["owner_id"] for o in self.rows.get("owners", [])) and row["owner_id"]:
            self.add(
                "owners", crm_id=row["owner_id"], name="Owner", email=f"{row['owner_id']}@example.com", active=True
            )
        return self.add("accounts", **row)

    def contract(self, account: str, *, started: int = 400, ends_in: int = 200, status: str = "Activated") -> None:
        self.add("contracts", account_id=account, status=status, start_date=day(started), end_date=day(-ends_in))

    def usage(
        self,
        account: str,
        *,
        days: int = 56,
        updated_late: bool = False,
        stopped: int = 0,
        **metrics: Any,
    ) -> None:
        """Daily rows for the last ``days`` days, less the ``stopped`` newest (a workspace that went
        quiet); a metric is a constant or a function of the age in days (1 = yesterday)."""
        base: dict[str, Any] = {
            "active_users": 30,
            "weekly_active_users": 40,
            "seats_used": 50,
            "seats_limit": 100,
            "storage_used_gb": 10,
            "storage_limit_gb": 100,
            "api_calls_used": 1000,
            "api_calls_limit": 10000,
            "integrations": 2,
            "premium_feature_views": 0,
            "trials_started": 0,
            "pricing_page_views": 0,
            "feature_events": lambda age: {"documents": 300, "reports": 60},
            "users_by_department": lambda age: {"Sales": 20, "IT": 10},
        }
        base.update(metrics)
        for age in range(1 + stopped, days + 1):
            row: dict[str, Any] = {"workspace_id": f"ws-{account}", "day": day(age)}
            for name, value in base.items():
                v = value(age) if callable(value) else value
                row[name] = json.dumps(v) if isinstance(v, dict) else v
            row["updated_at"] = datetime.combine(day(age - 1), datetime.min.time(), timezone.utc) + timedelta(hours=1)
            if updated_late and age == 1:
                row["updated_at"] = AS_OF + timedelta(hours=1)
            self.add("usage", **row)

    def customer(self, crm_id: str, *, started: int = 400, ends_in: int = 200, **account: Any) -> None:
        """A steady customer: an active contract, a recent review, some activity and usage."""
        self.account(crm_id, **account)
        self.contract(crm_id, started=started, ends_in=ends_in)
        self.usage(crm_id)
        self.activity(crm_id, "meeting", "Quarterly business review", 30)
        self.activity(crm_id, "call", "Check-in call", 5)

    def activity(self, account: str, kind: str, subject: str, ago: float, **values: Any) -> None:
        n = len(self.rows.get("activities", []))
        self.add(
            "activities",
            crm_id=f"act-{n}",
            account_id=account,
            activity_type=kind,
            subject=subject,
            activity_at=days_ago(ago),
            modified_at=days_ago(ago),
            **values,
        )

    def ticket(self, account: str, ago: float, *, closed_after: float | None = 1, **values: Any) -> None:
        closed = days_ago(ago - closed_after) if closed_after is not None else None
        self.add(
            "tickets",
            account_id=account,
            created_at=days_ago(ago),
            closed_at=closed,
            is_closed=closed is not None,
            **values,
        )

    def tables(self) -> Tables:
        return Tables.from_rows(**self.rows)


def evaluate(world: World, rules: RuleSet) -> Evaluation:
    return engine.evaluate(rules, world.tables(), as_of=AS_OF)


def fired(evaluation: Evaluation, rule_id: str) -> set[str]:
    """Accounts the rule fired on, held back or not."""
    s = evaluation.signals.filter(pl.col("rule_id") == rule_id)
    return set(s.get_column("account").to_list())


def blocked(evaluation: Evaluation, rule_id: str, guard: str | None = None) -> set[str]:
    s = evaluation.signals.filter(pl.col("rule_id") == rule_id)
    return {
        a
        for a, b in zip(s.get_column("account").to_list(), s.get_column("blocked").to_list(), strict=True)
        if b and (guard is None or guard in b)
    }


def feature(evaluation: Evaluation, account: str, name: str) -> Any:
    return evaluation.features.filter(pl.col("account") == account).get_column(name).item()


def source(rule_id: str) -> RuleSource:
    return next(r for r in parse_settings(bundled_raw(), ENV).rules if r.id == rule_id)


__all__: Sequence[str] = (
    "AS_OF",
    "TODAY",
    "World",
    "blocked",
    "bundled_ruleset",
    "day",
    "days_ago",
    "evaluate",
    "feature",
    "fired",
    "ruleset",
    "source",
)
