"""Canonical records and stream cursors: pages committed with their cursor, deletes, full passes.

A page and the cursor it reaches commit in one transaction: a crash loses the whole page and
leaves the cursor where it was, so the next run reads the page again and nothing is skipped.
Records upsert on their key, so the overlap a lookback causes is harmless.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.canonical import KINDS
from core.canonical import Table as Spec
from core.errors import StateError
from core.records import CURSOR_STATE_VERSION, CursorState, Deletion, Record
from sync.store.base import StoreBase
from sync.store.schema import ACCOUNTS, CURSORS, EVENTS, LEDGER, TABLES

__all__ = ["TRACKED_ACCOUNT_FIELDS", "RecordStore"]


class RecordStore(StoreBase):
    """Cursors and the canonical tables."""

    def cursor(self, stream: str) -> CursorState | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(CURSORS).where(CURSORS.c.stream == stream)).first()
        return None if row is None else _cursor_state(row)

    def cursors(self) -> dict[str, CursorState]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(CURSORS)).all()
        return {r.stream: _cursor_state(r) for r in rows}

    def save_cursor(self, stream: str, cursor: CursorState | None, *, now: datetime) -> None:
        """Set (or, with None, remove) one cursor row outside of a page commit."""
        with self.engine.begin() as conn:
            if cursor is None:
                conn.execute(sa.delete(CURSORS).where(CURSORS.c.stream == stream))
            else:
                self._upsert_rows(conn, CURSORS, [_cursor_values(stream, cursor, now)], ("stream",))

    def commit_page(
        self,
        stream: str,
        records: Sequence[Record],
        cursor: CursorState | None,
        *,
        now: datetime,
        pass_id: str | None = None,
        cursor_name: str | None = None,
    ) -> None:
        """Upsert one page and move the stream's cursor in the same transaction.

        A crash before the commit loses the whole page and leaves the cursor where it was; the
        next run reads the page again. Records upsert on their key (the last of duplicates in a
        page wins), so the overlap the lookback causes is harmless. ``pass_id`` marks the
        records as seen by that full pass. With ``cursor`` None only the records are stored;
        ``cursor_name`` (default: the stream) is the cursor row it moves.
        """
        by_kind: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {}
        for record in records:
            k = KINDS.get(record.kind)
            if k is None:
                raise StateError(f"{stream}: unknown record kind {record.kind!r}", hint="this is a bug in the stream")
            row = _row(k, record, now, pass_id, stream)
            by_kind.setdefault(k.name, {})[tuple(row[c] for c in k.key)] = row
        try:
            with self.engine.begin() as conn:
                if "accounts" in by_kind:
                    self._log_account_changes(conn, list(by_kind["accounts"].values()))
                for name, rows in by_kind.items():
                    self._upsert_rows(conn, TABLES[name], list(rows.values()), KINDS[name].key)
                if cursor is not None:
                    self._upsert_rows(conn, CURSORS, [_cursor_values(cursor_name or stream, cursor, now)], ("stream",))
        except sa.exc.StatementError as exc:
            raise StateError(
                f"could not store a page of {stream}: {exc.orig or exc}", hint="the cursor was not moved; this is a bug"
            ) from exc

    def _log_account_changes(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Record tracked fields that these incoming rows change (compared with what is stored)."""
        by_system: dict[str, dict[str, Mapping[str, Any]]] = {}
        for row in rows:
            by_system.setdefault(row["system"], {})[row["crm_id"]] = row
        events = []
        a = ACCOUNTS
        for system, incoming in by_system.items():
            ids = list(incoming)
            for start in range(0, len(ids), 500):
                query = sa.select(a.c.crm_id, *(a.c[f] for f in TRACKED_ACCOUNT_FIELDS)).where(
                    a.c.system == system, a.c.crm_id.in_(ids[start : start + 500])
                )
                for old in conn.execute(query):
                    new = incoming[old.crm_id]
                    for f in TRACKED_ACCOUNT_FIELDS:
                        before, after = getattr(old, f), new.get(f)
                        if f in new and before != after:
                            events.append(
                                {
                                    "system": system,
                                    "account_id": old.crm_id,
                                    "field": f,
                                    "old_value": None if before is None else str(before),
                                    "new_value": None if after is None else str(after),
                                    "changed_at": new["modified_at"],
                                }
                            )
        if events:
            conn.execute(sa.insert(EVENTS), events)

    def mark_deleted(self, deletions: Sequence[Deletion], *, now: datetime) -> int:
        """Flag records the source reports gone (of their object type only, where the kind is keyed
        by it); unknown ids are ignored. Returns rows changed."""
        changed = 0
        with self.engine.begin() as conn:
            for (kind_name, system, object_type), group in _group_deletions(deletions).items():
                table = TABLES[kind_name]
                typed = _of_type(table, object_type, f"a deletion of {kind_name} {group[0]!r}")
                for start in range(0, len(group), 500):
                    ids = group[start : start + 500]
                    result = conn.execute(
                        sa.update(table)
                        .where(table.c.system == system, *typed, table.c.crm_id.in_(ids), table.c.deleted.is_(False))
                        .values(deleted=True, synced_at=now)
                    )
                    changed += result.rowcount or 0
        return changed

    def reconcile_full_pass(self, kind_name: str, source: str, *, pass_id: str, before: datetime, now: datetime) -> int:
        """After a complete full pass of stream ``source``: its records the pass did not see (and
        that were not modified after it began) are gone from the source. Returns how many."""
        table = TABLES[kind_name]
        if "seen_pass" not in table.c:
            return 0
        with self.engine.begin() as conn:
            result = conn.execute(
                sa.update(table)
                .where(
                    table.c.source == source,
                    table.c.deleted.is_(False),
                    sa.or_(table.c.seen_pass.is_(None), table.c.seen_pass != pass_id),
                    table.c.modified_at < before,
                )
                .values(deleted=True, synced_at=now)
            )
        return result.rowcount or 0

    def unchanged(
        self, kind_name: str, object_type: str, pairs: Sequence[tuple[str, datetime]], *, system: str
    ) -> set[str]:
        """Of ``(crm_id, modified_at)`` pairs of one object type, the ids stored live with exactly
        that modification time."""
        table = TABLES[kind_name]
        typed = _of_type(table, object_type, f"{kind_name} records")
        stored: dict[str, datetime] = {}
        ids = [p[0] for p in pairs]
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                query = sa.select(table.c.crm_id, table.c.modified_at).where(
                    table.c.system == system,
                    *typed,
                    table.c.crm_id.in_(ids[start : start + 500]),
                    table.c.deleted.is_(False),
                )
                stored.update({r.crm_id: r.modified_at for r in conn.execute(query)})
        return {crm_id for crm_id, at in pairs if stored.get(crm_id) == at}

    def rows(self, kind_name: str, *, system: str | None = None, include_deleted: bool = True) -> list[dict[str, Any]]:
        """Every stored row of a kind (tests, status and small reads; rules read in bulk elsewhere)."""
        table = TABLES[kind_name]
        query = sa.select(table)
        if system is not None:
            query = query.where(table.c.system == system)
        if not include_deleted and "deleted" in table.c:
            query = query.where(table.c.deleted.is_(False))
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def live_count(self, kind_name: str, *, system: str) -> int:
        """Live (not deleted) rows of one kind from one system: the breaker's account count."""
        table = TABLES[kind_name]
        query = sa.select(sa.func.count()).select_from(table).where(table.c.system == system)
        with self.engine.connect() as conn:
            return int(conn.execute(query.where(table.c.deleted.is_(False))).scalar_one())

    def counts(self, *, include_deleted: bool = False) -> dict[str, int]:
        """Rows per canonical kind (live ones unless ``include_deleted``), plus the ledger."""
        out = {}
        with self.engine.connect() as conn:
            for name in KINDS:
                table = TABLES[name]
                query = sa.select(sa.func.count()).select_from(table)
                if not include_deleted and "deleted" in table.c:
                    query = query.where(table.c.deleted.is_(False))
                out[name] = int(conn.execute(query).scalar_one())
            out["ledger"] = int(conn.execute(sa.select(sa.func.count()).select_from(LEDGER)).scalar_one())
        return out


_MANAGED = frozenset(("seen_pass", "synced_at", "deleted", "modified_at", "source"))
TRACKED_ACCOUNT_FIELDS = ("employees", "parent_id", "owner_id", "account_type", "lifecycle_stage")
"""Account fields whose changes are kept in ``account_events`` (life events: S14)."""


def _row(k: Spec, record: Record, now: datetime, pass_id: str | None, stream: str) -> dict[str, Any]:
    row = {c: record.values.get(c) for c in k.columns if c not in _MANAGED}
    if "system" in k.columns:
        row["system"] = record.system
        row["crm_id"] = record.key
        if "object_type" in k.columns:
            row["object_type"] = record.object_type
        row["deleted"] = record.deleted
        row["modified_at"] = record.cursor_value
        row["synced_at"] = now
        row["source"] = stream
        if pass_id is not None:
            row["seen_pass"] = pass_id
    for key in k.key:
        if row.get(key) is None:
            raise StateError(f"{k.name} record {record.key!r} has no {key}", hint="this is a bug in the stream")
    return row


def _cursor_state(row: Any) -> CursorState:
    if row.version != CURSOR_STATE_VERSION:
        raise StateError(
            f"cursor {row.stream!r} has version {row.version}; this upsync reads version {CURSOR_STATE_VERSION}",
            hint="upgrade upsync, or point --state at another database",
        )
    return CursorState(
        version=row.version,
        last_value=row.last_value,
        last_key=row.last_key,
        pass_id=row.pass_id,
        window_end=row.window_end,
        full_at=row.full_at,
    )


def _cursor_values(stream: str, cursor: CursorState, now: datetime) -> dict[str, Any]:
    return {
        "stream": stream,
        "version": cursor.version,
        "last_value": cursor.last_value,
        "last_key": cursor.last_key,
        "updated_at": now,
        "pass_id": cursor.pass_id,
        "window_end": cursor.window_end,
        "full_at": cursor.full_at,
    }


def _group_deletions(deletions: Sequence[Deletion]) -> dict[tuple[str, str, str | None], list[str]]:
    groups: dict[tuple[str, str, str | None], list[str]] = {}
    for d in deletions:
        groups.setdefault((d.kind, d.system, d.object_type), []).append(d.crm_id)
    return groups


def _of_type(table: sa.Table, object_type: str | None, what: str) -> list[sa.ColumnElement[bool]]:
    """The condition that picks one object type's rows, where the table is keyed by type: ids of
    different types may be equal, so an id alone could flag or skip another type's record."""
    if "object_type" not in table.c:
        return []
    if object_type is None:
        raise StateError(f"{what}: no object type given", hint="this is a bug in the stream")
    return [table.c.object_type == object_type]
