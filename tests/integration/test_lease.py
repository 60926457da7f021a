"""The writer lease on PostgreSQL: held, seen as lost when the server ends its session, and taken
over by another replica; write-back stops at the next batch once it is lost."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timezone
from typing import cast

import psycopg
import pytest

from connectors.base import TaskWriter
from core.records import LedgerState, TaskIntent, WriteResult
from rules.plan import Plan
from sync.store import Store
from sync.store.lease import advisory_key
from sync.writeback import LEASE_LOST, apply_plan

pytestmark = pytest.mark.integration
NOW = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)


def _end_the_lock_session(url: str) -> int:
    """What a failover or a network cut does: the server ends the session holding the lock."""
    key = advisory_key("writer")
    with psycopg.connect(url, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
            " AND classid = ((%s::bigint >> 32) & 4294967295)::oid AND objid = (%s::bigint & 4294967295)::oid",
            (key, key),
        ).fetchall()
    return len(rows)


def test_a_lease_whose_session_ended_is_seen_lost_and_another_replica_takes_it(postgres_url: str) -> None:
    first, second = Store.open(postgres_url), Store.open(postgres_url)
    with first.writer_lease() as lease:
        assert lease.held and lease.alive()
        with second.writer_lease() as other:
            assert not other.held  # one writer at a time
        assert _end_the_lock_session(postgres_url) == 1
        assert not lease.alive()
        with second.writer_lease() as other:
            assert other.held  # the replica takes over at its next try
    first.close()
    second.close()


class _Writer:
    """A CRM writer that records what reached it."""

    system = "hubspot"
    batch_size = 2

    def __init__(self) -> None:
        self.created: list[str] = []

    def create(self, tasks: Sequence[TaskIntent]) -> list[WriteResult]:
        self.created += [t.key for t in tasks]
        return [WriteResult(key=t.key, crm_id=f"id-{t.key}", state=LedgerState.confirmed) for t in tasks]


def _intent(n: int) -> TaskIntent:
    return TaskIntent(
        key=f"k{n}",
        system="hubspot",
        rule_id="r",
        account_id=f"a{n}",
        window="2026-W22",
        owner_id="o",
        subject="s",
        body="b",
        priority="normal",
        due_on=date(2026, 6, 4),
        playbook_url=None,
    )


def test_write_back_stops_at_the_next_batch_once_the_lease_is_lost(postgres_url: str) -> None:
    store = Store.open(postgres_url)
    writer = _Writer()
    checks = iter([True, False])  # held for the first batch, lost before the second
    plan = Plan(creates=tuple(_intent(n) for n in range(4)))
    report = apply_plan(
        store, cast(TaskWriter, writer), plan, {}, clock=lambda: NOW, leased=lambda: next(checks, False)
    )
    assert writer.created == ["k0", "k1"]
    assert report.stopped and LEASE_LOST in report.errors
    store.close()
