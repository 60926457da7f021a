"""The ports every connector implements: streams that read pages, writers that write tasks."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from core.records import (
    CursorSpec,
    Deletion,
    EditSource,
    FieldWrite,
    Record,
    SchemaReport,
    TaskIntent,
    TaskUpdate,
    Window,
    WriteResult,
)

__all__ = ["CrmConnector", "Page", "Stream", "TaskWriter", "Unchanged", "to_page"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Page:
    """One page of canonical records; ``problems`` names each raw record that could not be read.

    ``checkpoint`` says everything before this page's highest (timestamp, id) has been read, so
    the cursor may move there. Readers that page out of cursor order (HubSpot search sorted by
    id within a time window, Bulk API results) mark only the last page of a window.
    """

    records: Sequence[Record]
    problems: Sequence[str] = field(default_factory=tuple)
    checkpoint: bool = True


Unchanged = Callable[[str, str, Sequence[tuple[str, datetime]]], set[str]]
"""(kind, object type, [(id, modified)]) → the ids of that type already stored with exactly that
modification time."""


class Stream(Protocol):
    """One object of one system, read page by page."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str:
        """The canonical kind it writes (``core.canonical.KINDS``)."""

    @property
    def spec(self) -> CursorSpec | None:
        """How to read incrementally; None for small objects read whole on every run."""

    def read(self, window: Window | None, *, unchanged: Unchanged | None = None) -> Iterator[Page]:
        """Pages of the window (or everything, for ``spec`` None). ``unchanged`` may drop
        records the store already holds at the same modstamp, where reading them costs calls."""

    def deletions(self, start: datetime, end: datetime) -> Iterator[Sequence[Deletion]] | None:
        """Records deleted in ``[start, end)`` that a read cannot see (hard deletes, archives);
        None when the source reports deletes in the records themselves."""


class TaskWriter(Protocol):
    """Writes native tasks and upsync's own account fields; every task carries its idempotency
    key on the CRM record. Each write method makes exactly one CRM call for at most
    ``batch_size`` items and returns one result per item, in order; an item the CRM refused is
    ``failed`` (the rest of the batch stands); a call that may or may not have landed raises
    :class:`core.errors.ConnectorError`."""

    @property
    def system(self) -> str: ...

    @property
    def batch_size(self) -> int: ...

    def find(self, keys: Mapping[str, str | None] | Sequence[str]) -> dict[str, str]:
        """Tasks already in the CRM for these keys (or key → the account it belongs to, when known):
        key → CRM id. Reads in chunks that fit the CRM's request limits, and never answers "not
        there" for a task that was written but is not searchable yet."""

    def create(self, tasks: Sequence[TaskIntent]) -> list[WriteResult]:
        """Create ``tasks`` (one batch call); one result per task, in order."""

    def update(self, updates: Sequence[TaskUpdate]) -> list[WriteResult]:
        """Reassign, re-prioritise or close upsync's own tasks (one batch call); results keyed
        by ``TaskUpdate.key``."""

    def write_fields(self, writes: Sequence[FieldWrite]) -> list[WriteResult]:
        """Set upsync's own account fields (one batch call); results keyed by ``FieldWrite.key``."""

    def edit_sources(
        self, kind: Literal["tasks", "accounts"], ids: Mapping[str, Sequence[str]]
    ) -> dict[str, EditSource]:
        """For each CRM id, who last changed the named canonical fields (task: subject, body,
        due_on, priority, owner_id, status; account: :data:`core.records.FIELD_NAMES`). Only
        asked for the few records whose values differ from what upsync last wrote."""

    def check_schema(self) -> SchemaReport:
        """Whether the CRM has every field/property upsync writes (describe / properties API)."""

    def setup_schema(self) -> SchemaReport:
        """Create what is missing where the CRM's API allows it (HubSpot property group and
        properties); where it does not (Salesforce custom fields), report what an admin must do."""

    def list_tasks(self) -> list[dict[str, Any]]:
        """Every task upsync created, read back from the CRM (for the demo and checks)."""


class CrmConnector(Protocol):
    @property
    def system(self) -> str: ...

    @property
    def streams(self) -> Sequence[Stream]: ...

    @property
    def writer(self) -> TaskWriter: ...

    def extra_types(self) -> Mapping[str, str]:
        """The admin's extra account fields as features (``crm.<name>``) and their types (number,
        bool, text, date, datetime), read from the CRM's schema once; empty when none are declared."""

    def extra_labels(self) -> Mapping[str, str]:
        """The same fields' labels as the CRM shows them (``crm.<name>`` → label), for task bodies."""

    def schema_notes(self) -> Mapping[str, str]:
        """What the reads learned of the CRM's schema (a describe's answer) that later runs may
        reuse instead of asking again: the store keeps it between runs."""

    def remember_schema(self, notes: Mapping[str, str]) -> None:
        """Take back the notes an earlier run kept (:meth:`schema_notes`), before the first read."""

    def close(self) -> None: ...


def _ref(raw: Mapping[str, Any]) -> str:
    """How a problem names the raw record: its CRM id, or workspace/day for usage rows."""
    if not isinstance(raw, Mapping):
        return "?"
    ident = raw.get("Id") or raw.get("id")
    return str(ident) if ident else f"{raw.get('workspace_id', '?')}/{raw.get('date', '?')}"


def to_page(
    rows: Iterable[Mapping[str, Any]],
    to_record: Callable[[Mapping[str, Any]], Record],
    stream: str,
    *,
    checkpoint: bool = True,
) -> Page:
    """Convert raw rows; a row that cannot be read is named in ``problems``, the rest kept."""
    records: list[Record] = []
    problems: list[str] = []
    for raw in rows:
        try:
            records.append(to_record(raw))
        except (KeyError, ValueError, TypeError, AttributeError, ArithmeticError) as exc:
            problems.append(f"{stream} record {_ref(raw)}: {type(exc).__name__}: {exc}")
    return Page(records=records, problems=problems, checkpoint=checkpoint)
