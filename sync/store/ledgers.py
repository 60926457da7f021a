"""The write-back ledgers and the CRM as the last pull read it back.

The task ledger holds every task upsync meant to write, recorded ``pending`` before the CRM
call and settled by its answer; the field ledger what upsync last wrote to each of its own
fields (or the value a person put there, once held). Beside them, upsync's own tasks and fields
as the pull read them: what the planner diffs against without another call.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from core.records import (
    AccountState,
    CrmTask,
    FieldMemo,
    FieldWrite,
    LedgerEntry,
    LedgerState,
    Provenance,
    TaskUpdate,
    WriteResult,
    normalise,
)
from sync.store.base import StoreBase
from sync.store.schema import ACCOUNTS, FIELD_LEDGER, LEDGER, TABLES

__all__ = ["LedgerStore"]


class LedgerStore(StoreBase):
    """The task ledger, the field ledger, and upsync's tasks and fields as the CRM holds them."""

    def ledger(self, system: str) -> dict[str, LedgerEntry]:
        t = LEDGER
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t).where(t.c.system == system)).all()
        return {r.key: _ledger_entry(r) for r in rows}

    def mark_pending(self, entries: Iterable[LedgerEntry], *, now: datetime) -> None:
        """Record intended writes before the CRM call (committed): a crash after the call is
        then visible as ``pending`` and reconciled by key instead of written twice."""
        rows = [
            {
                "key": e.key,
                "system": e.system,
                "rule_id": e.rule_id,
                "account_id": e.account_id,
                "window": e.window,
                "state": LedgerState.pending.value,
                "crm_id": e.crm_id,
                "attempts": e.attempts + 1,
                "last_error": e.last_error,
                "created_at": now,
                "updated_at": now,
                "owner_id": e.owner_id,
                "priority": e.priority,
                "due_on": e.due_on,
                "step": e.step,
                "body": e.body,
                "provenance": _provenance_json(e.provenance),
            }
            for e in entries
        ]
        if not rows:
            return
        t = LEDGER
        stmt = self._insert(t)
        keep = {"key", "created_at"}
        with self.engine.begin() as conn:
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["key"],
                    set_={c.name: stmt.excluded[c.name] for c in t.columns if c.name not in keep and c.name in rows[0]},
                ),
                rows,
            )

    def release_pending(self, keys: Sequence[str], *, error: str, now: datetime) -> None:
        """Writes the CRM refused at the door (upsync's credentials): nothing was applied, so they are
        not looked up, and the attempt is not counted against the task (it was never the task's fault)."""
        t = LEDGER
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(t)
                .where(t.c.key.in_(list(keys)), t.c.state == LedgerState.pending.value)
                .values(state=LedgerState.failed.value, attempts=t.c.attempts - 1, last_error=error, updated_at=now)
            )

    def record_results(self, results: Iterable[WriteResult], *, now: datetime) -> None:
        t = LEDGER
        with self.engine.begin() as conn:
            for r in results:
                conn.execute(
                    sa.update(t)
                    .where(t.c.key == r.key)
                    .values(state=r.state.value, crm_id=r.crm_id, last_error=r.error, updated_at=now)
                )

    def record_updates(self, updates: Sequence[TaskUpdate], results: Sequence[WriteResult], *, now: datetime) -> None:
        """What became of upsync's changes to its own tasks: the new owner/priority, or closed."""
        t = LEDGER
        ok = {r.key for r in results if r.state is LedgerState.confirmed}
        errors = {r.key: r.error for r in results if r.state is not LedgerState.confirmed}
        with self.engine.begin() as conn:
            for u in updates:
                if u.key not in ok:
                    conn.execute(sa.update(t).where(t.c.key == u.key).values(last_error=errors.get(u.key)))
                    continue
                values: dict[str, Any] = {"updated_at": now, "last_error": None}
                if u.owner_id is not None:
                    values["owner_id"] = u.owner_id
                if u.priority is not None:
                    values["priority"] = u.priority
                if u.due_on is not None:
                    values["due_on"] = u.due_on
                if u.body is not None:
                    values["body"] = u.body
                if u.close:
                    values["closed_at"] = now
                conn.execute(sa.update(t).where(t.c.key == u.key).values(**values))

    def hold_tasks(self, holds: Iterable[tuple[str, str]], *, now: datetime) -> None:
        """(key, why): a person edited these tasks; upsync never writes them again."""
        t = LEDGER
        with self.engine.begin() as conn:
            for key, why in holds:
                conn.execute(sa.update(t).where(t.c.key == key).values(held=why, updated_at=now))

    def field_memos(self, system: str) -> dict[tuple[str, str], FieldMemo]:
        t = FIELD_LEDGER
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t).where(t.c.system == system)).all()
        return {
            (r.account_id, r.field): FieldMemo(
                value=r.value, state=LedgerState(r.state), written_at=r.written_at, held=r.held
            )
            for r in rows
        }

    def mark_fields_pending(self, writes: Sequence[FieldWrite], *, now: datetime) -> None:
        """Record the values about to be written (committed before the call): after a crash the
        CRM may hold them, and the next plan must not take them for a person's edit."""
        rows = [
            {
                "system": w.system,
                "account_id": w.account_id,
                "field": name,
                "value": normalise(name, value),
                "state": LedgerState.pending.value,
                "write_key": w.key,
                "written_at": now,
                "held": None,
                "last_error": None,
                "provenance": _provenance_json(w.provenance),
            }
            for w in writes
            for name, value in w.values.items()
        ]
        self._upsert_fields(rows)

    def record_field_results(
        self, writes: Sequence[FieldWrite], results: Sequence[WriteResult], *, now: datetime
    ) -> None:
        t = FIELD_LEDGER
        by_key = {r.key: r for r in results}
        with self.engine.begin() as conn:
            for w in writes:
                r = by_key.get(w.key)
                if r is None:
                    continue
                conn.execute(
                    sa.update(t)
                    .where(t.c.system == w.system, t.c.account_id == w.account_id, t.c.write_key == w.key)
                    .values(state=r.state.value, last_error=r.error, written_at=now)
                )

    def hold_fields(self, system: str, holds: Sequence[tuple[str, str, str | None, str]], *, now: datetime) -> None:
        """(account, field, the person's value, why): upsync leaves these fields alone while the
        person's value stays (clearing it hands the field back)."""
        rows = [
            {
                "system": system,
                "account_id": account,
                "field": name,
                "value": value,
                "state": LedgerState.confirmed.value,
                "write_key": None,
                "written_at": now,
                "held": why,
                "last_error": None,
                "provenance": None,
            }
            for account, name, value, why in holds
        ]
        self._upsert_fields(rows)

    def confirm_fields(self, system: str, pairs: Sequence[tuple[str, str]]) -> None:
        t = FIELD_LEDGER
        with self.engine.begin() as conn:
            for account, name in pairs:
                conn.execute(
                    sa.update(t)
                    .where(t.c.system == system, t.c.account_id == account, t.c.field == name)
                    .values(state=LedgerState.confirmed.value)
                )

    def _upsert_fields(self, rows: Sequence[Mapping[str, Any]]) -> None:
        with self.engine.begin() as conn:
            self._upsert_rows(conn, FIELD_LEDGER, rows, ("system", "account_id", "field"))

    def own_tasks(self, system: str) -> dict[str, CrmTask]:
        """upsync's tasks as read back from the CRM (activities carrying a sync key)."""
        a = TABLES["activities"]
        query = sa.select(
            a.c.sync_key,
            a.c.crm_id,
            a.c.account_id,
            a.c.status,
            a.c.is_closed,
            a.c.owner_id,
            a.c.created_by,
            a.c.last_modified_by,
            a.c.modified_at,
            a.c.deleted,
        ).where(a.c.system == system, a.c.sync_key.is_not(None))
        out = {}
        with self.engine.connect() as conn:
            for r in conn.execute(query):
                out[r.sync_key] = CrmTask(
                    key=r.sync_key,
                    crm_id=r.crm_id,
                    account_id=r.account_id,
                    status=r.status,
                    is_closed=bool(r.is_closed) or bool(r.deleted),
                    owner_id=r.owner_id,
                    created_by=r.created_by,
                    last_modified_by=r.last_modified_by,
                    modified_at=r.modified_at,
                )
        return out

    def account_states(self, system: str) -> dict[str, AccountState]:
        """upsync's own fields on every live account as the pull last read them."""
        a = ACCOUNTS
        cols = [a.c.crm_id, a.c.synced_at]
        has_fields = "upsync_fields" in a.c
        has_modifier = "last_modified_by" in a.c
        if has_fields:
            cols.append(a.c.upsync_fields)
        if has_modifier:
            cols.append(a.c.last_modified_by)
        query = sa.select(*cols).where(a.c.system == system, a.c.deleted.is_(False))
        out = {}
        with self.engine.connect() as conn:
            for r in conn.execute(query):
                current = r.upsync_fields if has_fields else None
                if isinstance(current, str):
                    current = json.loads(current)
                out[r.crm_id] = AccountState(
                    account_id=r.crm_id,
                    current=current or {},
                    last_modified_by=r.last_modified_by if has_modifier else None,
                    synced_at=r.synced_at,
                )
        return out


def _provenance_json(p: Provenance | None) -> str | None:
    if p is None:
        return None
    return json.dumps(
        {"rule_id": p.rule_id, "rule_hash": p.rule_hash, "as_of": p.as_of.isoformat(), "inputs": dict(p.inputs)},
        default=str,
    )


def _provenance(raw: str | None) -> Provenance | None:
    if not raw:
        return None
    data = json.loads(raw)
    return Provenance(
        rule_id=data["rule_id"],
        rule_hash=data["rule_hash"],
        as_of=datetime.fromisoformat(data["as_of"]),
        inputs=data.get("inputs") or {},
    )


def _ledger_entry(r: Any) -> LedgerEntry:
    return LedgerEntry(
        key=r.key,
        system=r.system,
        rule_id=r.rule_id,
        account_id=r.account_id,
        window=r.window,
        state=LedgerState(r.state),
        crm_id=r.crm_id,
        attempts=r.attempts,
        last_error=r.last_error,
        owner_id=r.owner_id,
        priority=r.priority,
        due_on=r.due_on,
        step=r.step,
        body=r.body,
        created_at=r.created_at,
        updated_at=r.updated_at,
        closed_at=r.closed_at,
        held=r.held,
        provenance=_provenance(r.provenance),
    )
