"""Runs (what each command did, and how it ended) and the store's own key/value notes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from sync.store.base import StoreBase
from sync.store.schema import META, RUNS

__all__ = ["PULL_PREFIX", "RunStore"]

PULL_PREFIX = "pull:"
"""The ``meta`` keys of each stream's last pull (``pull:<stream>``)."""


class RunStore(StoreBase):
    """One row per command run; ``meta`` for facts such as when write-back first ran."""

    def start_run(self, command: str, *, started_at: datetime, as_of: datetime) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(sa.insert(RUNS).values(command=command, started_at=started_at, as_of=as_of))
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def mark_killed(self, *, now: datetime) -> int:
        """Runs left ``running`` by a process that died (the caller holds the writer lease, so no
        live process is running one): marked ``killed``. Returns how many."""
        t = RUNS
        with self.engine.begin() as conn:
            result = conn.execute(sa.update(t).where(t.c.status == "running").values(status="killed", finished_at=now))
        return result.rowcount or 0

    def finish_run(self, run_id: int, *, finished_at: datetime, status: str, summary: Mapping[str, Any]) -> None:
        t = RUNS
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(t)
                .where(t.c.id == run_id)
                .values(finished_at=finished_at, status=status, summary=json.dumps(summary, default=str))
            )

    def last_runs(self, limit: int = 5) -> list[dict[str, Any]]:
        t = RUNS
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t).order_by(t.c.id.desc()).limit(limit)).all()
        return [dict(r._mapping) for r in rows]

    def meta(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(META.c.value).where(META.c.key == key)).first()
        return None if row is None else str(row[0])

    def delete_meta(self, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.delete(META).where(META.c.key == key))

    def note_stream_pull(self, stream: str, *, at: datetime, ok: bool, error: str | None, records: int) -> None:
        """Remember how ``stream``'s last pull ended (``upsync status`` shows each stream's freshness):
        when it was last tried, when it last ended without error, and the error if it did not."""
        key = f"{PULL_PREFIX}{stream}"
        before = json.loads(self.meta(key) or "{}")
        value = {
            "tried_at": at.isoformat(),
            "ok_at": at.isoformat() if ok else before.get("ok_at"),
            "error": None if ok else error,
            "records": records,
        }
        self.set_meta(key, json.dumps(value))

    def stream_pulls(self) -> dict[str, dict[str, Any]]:
        """Stream → how its last pull ended (:meth:`note_stream_pull`); streams never pulled are absent."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(META.c.key, META.c.value).where(META.c.key.startswith(PULL_PREFIX))).all()
        return {str(k)[len(PULL_PREFIX) :]: dict(json.loads(v)) for k, v in rows}

    def crm_types(self, system: str) -> dict[str, str] | None:
        """The admin's extra CRM fields' types as the last pull read them from the CRM's schema
        (feature → number, bool, text, date or datetime); None before any pull read them."""
        raw = self.meta(f"crm_types:{system}")
        return None if raw is None else dict(json.loads(raw))

    def set_crm_types(self, system: str, types: Mapping[str, str]) -> None:
        self.set_meta(f"crm_types:{system}", json.dumps(dict(types), sort_keys=True))

    def crm_schema(self, system: str) -> dict[str, str]:
        """The CRM connector's schema notes as the last pull left them (``CrmConnector.schema_notes``)."""
        raw = self.meta(f"crm_schema:{system}")
        return {} if raw is None else dict(json.loads(raw))

    def set_crm_schema(self, system: str, notes: Mapping[str, str]) -> None:
        self.set_meta(f"crm_schema:{system}", json.dumps(dict(notes), sort_keys=True))

    def crm_labels(self, system: str) -> dict[str, str]:
        """The extra CRM fields' labels as the CRM shows them (feature → label), for task bodies."""
        raw = self.meta(f"crm_labels:{system}")
        return {} if raw is None else dict(json.loads(raw))

    def set_crm_labels(self, system: str, labels: Mapping[str, str]) -> None:
        self.set_meta(f"crm_labels:{system}", json.dumps(dict(labels), sort_keys=True))

    def set_meta(self, key: str, value: str) -> None:
        stmt = self._insert(META)
        with self.engine.begin() as conn:
            conn.execute(
                stmt.on_conflict_do_update(index_elements=["key"], set_={"value": stmt.excluded.value}),
                [{"key": key, "value": value}],
            )
