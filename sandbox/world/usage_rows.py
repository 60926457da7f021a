"""The usage API's daily rows: a list of dicts whose seeded rows are computed on read."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, MutableSequence
from typing import Any, Final, SupportsIndex, overload

from sandbox.world.usage_plan import UsagePlan

USAGE_FIELDS: Final = (
    "workspace_id",
    "date",
    "active_users",
    "weekly_active_users",
    "seats_used",
    "seats_limit",
    "storage_used_gb",
    "storage_limit_gb",
    "api_calls_used",
    "api_calls_limit",
    "integrations",
    "premium_feature_views",
    "trials_started",
    "pricing_page_views",
    "feature_events",
    "users_by_department",
    "updated_at",
)
"""The keys of every seeded usage row: the usage metrics upsync reads, plus the row key (workspace and date)."""


class _UsageRow(dict[str, Any]):
    """A usage row handed out by :class:`UsageRows`: a plain dict that remembers where it came from.

    Seeded rows are computed on every read, so a caller that edits the dict it got (a late
    correction in a test: ``row["updated_at"] = …``) would otherwise edit a throw-away copy. The
    first write *pins* this dict as the row, so later reads return it and the edit sticks, and
    every write moves ``UsageRows.version`` so indexes over the rows know to rebuild. (A second
    copy read before the first was written stays a copy: read, write, read again.) Writes
    are seen through ``row[k] = v``, ``del``, ``update``, ``pop``, ``popitem``, ``setdefault`` and
    ``clear`` (not ``|=``); nested dicts (``feature_events``, ``users_by_department``) are fresh per
    read: to change one, assign the key.
    """

    __slots__ = ("_owner", "_slot")

    def __init__(self, values: dict[str, Any], owner: UsageRows, slot: int) -> None:
        super().__init__(values)
        self._owner = owner
        self._slot = slot

    def _written(self) -> None:
        owner: UsageRows | None = getattr(self, "_owner", None)  # unset in a copy.copy() of the row
        if owner is not None:
            owner._pin(self._slot, self)

    def __setitem__(self, key: str, value: Any) -> None:
        self._written()
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self._written()
        super().__delitem__(key)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._written()
        super().update(*args, **kwargs)

    def pop(self, *args: Any) -> Any:
        self._written()
        return super().pop(*args)

    def popitem(self) -> tuple[str, Any]:
        self._written()
        return super().popitem()

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self._written()
        return super().setdefault(key, default)

    def clear(self) -> None:
        self._written()
        super().clear()


_Entry = int | dict[str, Any]


class UsageRows(MutableSequence[dict[str, Any]]):
    """The usage API's daily rows: a list of dicts whose seeded rows are computed on read.

    This is the interface the usage stand-in (and tests) rely on, kept stable on purpose:

    - it behaves as a ``list[dict]``: ``len``, iteration, ``rows[i]``, ``append``, ``insert``,
      ``del``, ``rows[i] = {...}``; every row has the keys of :data:`USAGE_FIELDS`;
    - seeded rows come in ascending ``(updated_at, workspace_id, date)`` order (the API's sort
      key; the world's nightly batch writes the rows of each day in workspace order), so a
      sort over them is linear; rows added later go where they are put;
    - ``version`` changes whenever an existing position changes: a write to a row dict it handed
      out, ``rows[i] = …``, an insert before the end, a delete. Appending (``append``, ``extend``,
      ``insert`` at the end) only grows ``len()``, so an index can take appended rows in without
      re-reading the others;
    - ``column(name)`` returns one field of every row, in order, without building the other
      fields: for ``updated_at``, ``workspace_id`` and ``date`` that is ~50× cheaper than
      iterating the rows (3M rows: ~0.3 s a column), which is what an index over millions of
      rows wants: key columns plus positions, then ``rows[i]`` for the rows of a page.

    Why computed: 3M stored rows with their nested dicts take ~3 GB; computed, they take the
    per-workspace story parameters (~0.5 KB per workspace). Reading a row costs a few
    microseconds; the same row read twice is equal but not the same object (unless written to).
    """

    def __init__(self, rows: Iterable[dict[str, Any]] = (), *, plan: UsagePlan | None = None) -> None:
        self._plan = plan
        self._seeded = plan.size if plan is not None else 0
        self._tail: list[dict[str, Any]] = list(rows)
        self._order: list[_Entry] | None = None  # None: seeded rows 0..n-1 in order, then _tail
        self._pinned: dict[int, dict[str, Any]] = {}
        self.version = 0

    # -- reading ---------------------------------------------------------------------------

    def _row(self, entry: _Entry) -> dict[str, Any]:
        if not isinstance(entry, int):
            return entry
        pinned = self._pinned.get(entry)
        if pinned is not None:
            return pinned
        assert self._plan is not None
        return _UsageRow(self._plan.row(entry), self, entry)

    def _entries(self) -> Iterator[_Entry]:
        if self._order is not None:
            return iter(list(self._order))
        return _chain_entries(self._seeded, self._tail)

    def __len__(self) -> int:
        return len(self._order) if self._order is not None else self._seeded + len(self._tail)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for entry in self._entries():
            yield self._row(entry)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self._row(self._entry(i)) for i in range(*index.indices(len(self)))]
        return self._row(self._entry(index))

    def _entry(self, index: SupportsIndex) -> _Entry:
        i = index.__index__()
        size = len(self)
        if i < 0:
            i += size
        if not 0 <= i < size:
            raise IndexError("usage row index out of range")
        if self._order is not None:
            return self._order[i]
        return i if i < self._seeded else self._tail[i - self._seeded]

    def column(self, name: str) -> list[Any]:
        """``[row.get(name) for row in self]``, computed without building whole rows where it can."""
        plan = self._plan
        if plan is None or name not in ("updated_at", "workspace_id", "date"):
            return [row.get(name) for row in self]
        seeded = plan.column(name) if self._seeded else []
        out: list[Any] = []
        for entry in self._entries():
            if isinstance(entry, int):
                pinned = self._pinned.get(entry)
                out.append(seeded[entry] if pinned is None else pinned.get(name))
            else:
                out.append(entry.get(name))
        return out

    # -- writing ---------------------------------------------------------------------------

    def _pin(self, slot: int, row: dict[str, Any]) -> None:
        self._pinned.setdefault(slot, row)
        self.version += 1

    def _explicit(self) -> list[_Entry]:
        """Switch to an explicit order (a structural change other than an append)."""
        if self._order is None:
            self._order = [*range(self._seeded), *self._tail]
            self._tail = []
        return self._order

    @overload
    def __setitem__(self, index: int, value: dict[str, Any]) -> None: ...

    @overload
    def __setitem__(self, index: slice, value: Iterable[dict[str, Any]]) -> None: ...

    def __setitem__(self, index: int | slice, value: Any) -> None:
        self.version += 1
        if isinstance(index, slice):
            self._explicit()[index] = list(value)
            return
        entry = self._entry(index)
        if isinstance(entry, int):
            self._pinned[entry] = value  # the seeded slot now holds the caller's dict
            return
        i = index if index >= 0 else index + len(self)
        if self._order is not None:
            self._order[i] = value
        else:
            self._tail[i - self._seeded] = value

    @overload
    def __delitem__(self, index: int) -> None: ...

    @overload
    def __delitem__(self, index: slice) -> None: ...

    def __delitem__(self, index: int | slice) -> None:
        self.version += 1
        if isinstance(index, int):
            self._entry(index)  # IndexError as a list would raise it
        del self._explicit()[index]

    def insert(self, index: int, value: dict[str, Any]) -> None:
        if self._order is None and index >= len(self):
            self._tail.append(value)  # an append: every existing position is intact, only len() grows
            return
        if index < len(self):
            self.version += 1
        self._explicit().insert(index, value)

    def __repr__(self) -> str:
        return f"UsageRows({len(self)} rows, version {self.version})"


def _chain_entries(seeded: int, tail: list[dict[str, Any]]) -> Iterator[_Entry]:
    yield from range(seeded)
    yield from list(tail)
