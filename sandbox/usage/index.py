"""The sorted index over the usage rows, rebuilt or extended as the store changes."""

from __future__ import annotations

import operator
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from itertools import islice, repeat
from typing import Any, Final, TypeVar, cast

from sandbox.usage.params import normalise_instant
from sandbox.usage.shapes import Row
from sandbox.world import UsageStore

_VERIFY_MAX_ROWS: Final = 50_000  # stores up to this size are checked for in-place edits on every request
_INSERT_MAX_ROWS: Final = 10_000  # more rows appended out of key order than this: sort again

T = TypeVar("T")

# (normalised updated_at, workspace_id, date): fixed-width UTC strings sort chronologically.
_Key = tuple[str, str, str]


def _text(value: Any) -> str:
    return value if type(value) is str else "" if value is None else str(value)


def _texts(column: list[Any]) -> list[str]:
    """The column as strings (``None`` as ``""``), itself when it holds only strings, as it does."""
    return column if set(map(type, column)) <= {str} else list(map(_text, column))


def _columns(rows: Sequence[Row]) -> tuple[list[Any], list[Any], list[Any]]:
    """``updated_at``, ``workspace_id`` and ``date`` of every row, in order.

    A ``UsageRows`` computes them without building the rows (``column``); a list is read with
    C-level ``map``. Either way no row is copied.
    """
    column = getattr(rows, "column", None)
    if callable(column):
        return column("updated_at"), column("workspace_id"), column("date")
    plain = rows if isinstance(rows, list) else list(rows)
    return (
        list(map(dict.get, plain, repeat("updated_at"))),
        list(map(dict.get, plain, repeat("workspace_id"))),
        list(map(dict.get, plain, repeat("date"))),
    )


class _Sorted:
    """Rows in key order as three columns plus each row's position in the store.

    ``instants[i]`` (normalised ``updated_at``), ``workspace_ids[i]`` and ``dates[i]`` make up
    the ``i``-th key; ``positions[i]`` is where that row sits in ``store.rows``. Only the page is
    read from the store, so a computed ``UsageRows`` is never materialised. Rows without a
    readable ``updated_at`` are left out.
    """

    def __init__(self, raw: tuple[list[Any], list[Any], list[Any]], first: int = 0) -> None:
        instants: list[str | None] = list(map(normalise_instant, _texts(raw[0])))
        workspace_ids = list(_texts(raw[1]))
        dates = list(_texts(raw[2]))
        positions: Sequence[int] = range(first, first + len(instants))
        if None in instants:
            keep = [i for i, instant in enumerate(instants) if instant is not None]
            instants, workspace_ids, dates = _gather(keep, instants, workspace_ids, dates)
            positions = [first + i for i in keep]
        if not _ascending(instants, workspace_ids, dates):  # the seeded world is in order already
            keys = list(zip(instants, workspace_ids, dates, strict=True))
            order = sorted(range(len(keys)), key=keys.__getitem__)
            instants, workspace_ids, dates = _gather(order, instants, workspace_ids, dates)
            positions = list(map(positions.__getitem__, order))
        self.instants = cast(list[str], instants)
        self.workspace_ids = workspace_ids
        self.dates = dates
        self.positions = positions

    def __len__(self) -> int:
        return len(self.instants)

    def key(self, i: int) -> _Key:
        return self.instants[i], self.workspace_ids[i], self.dates[i]

    def add(self, more: _Sorted) -> bool:
        """Merge rows appended to the store; ``False`` when sorting again is cheaper."""
        if not len(more):
            return True
        if not len(self) or self.key(len(self) - 1) <= more.key(0):
            mine, theirs = self.positions, more.positions
            if isinstance(mine, range) and isinstance(theirs, range) and mine.stop == theirs.start:
                self.positions = range(mine.start, theirs.stop)
            else:
                self.positions = [*self.positions, *more.positions]
            self.instants += more.instants
            self.workspace_ids += more.workspace_ids
            self.dates += more.dates
            return True
        if len(more) > _INSERT_MAX_ROWS:
            return False
        positions = list(self.positions)
        for j in range(len(more)):  # a memmove per column and row: fine for a few late writes
            at = bisect_right(range(len(self)), more.key(j), key=self.key)
            self.instants.insert(at, more.instants[j])
            self.workspace_ids.insert(at, more.workspace_ids[j])
            self.dates.insert(at, more.dates[j])
            positions.insert(at, more.positions[j])
        self.positions = positions
        return True


def _ascending(*columns: list[Any]) -> bool:
    """Whether the rows' keys (one column per part) never go down; no list of keys is built."""
    following = zip(*(islice(column, 1, None) for column in columns), strict=True)
    return all(map(operator.le, zip(*columns, strict=True), following))


def through_members(f: Callable[[int], T], members: list[int]) -> Callable[[int], T]:
    """``f`` of the ``j``-th member: a sub-view's key through its indices into the whole."""
    return lambda j: f(members[j])


def _gather(order: Sequence[int], *columns: list[Any]) -> tuple[list[Any], ...]:
    return tuple(list(map(column.__getitem__, order)) for column in columns)


class _Snapshot:
    """One store version's sorted index, with per-workspace and workspace-list views built on demand."""

    def __init__(self, rows: Sequence[Row], signature: tuple[Any, ...]) -> None:
        self.source = rows
        self.signature = signature
        self.size = len(rows)
        self.last: Row | None = rows[-1] if isinstance(rows, list) and rows else None
        raw = _columns(rows)
        # Small plain lists keep enough to notice in-place edits (a UsageRows has a version for that).
        self.check: tuple[list[Row], tuple[list[Any], list[Any], list[Any]]] | None = None
        if isinstance(rows, list) and len(rows) <= _VERIFY_MAX_ROWS:
            self.check = (list(rows), raw)
        self.sorted = _Sorted(raw)
        self._by_workspace: dict[str, list[int]] | None = None
        self._workspaces: tuple[list[str], list[int]] | None = None

    def row(self, i: int) -> Row:
        return self.source[self.sorted.positions[i]]

    def still_matches(self, rows: list[Row]) -> bool:
        return self.check is not None and rows == self.check[0] and _columns(rows) == self.check[1]

    def appended(self, rows: Sequence[Row], signature: tuple[Any, ...]) -> bool:
        """Take in rows appended to a big plain list since this snapshot; ``False`` if it changed otherwise."""
        if (
            self.check is not None
            or not isinstance(rows, list)
            or signature[0] != self.signature[0]
            or signature[2] != self.signature[2]
            or len(rows) <= self.size
            or (self.size and rows[self.size - 1] is not self.last)  # an insert anywhere else shifts it
        ):
            return False
        if not self.sorted.add(_Sorted(_columns(rows[self.size :]), first=self.size)):
            return False
        self.signature, self.size, self.last = signature, len(rows), rows[-1]
        self._by_workspace = self._workspaces = None
        return True

    def workspace(self, workspace_id: str) -> list[int]:
        """Sorted-order indices of one workspace's rows."""
        if self._by_workspace is None:
            groups: dict[str, list[int]] = {}
            for i, ws in enumerate(self.sorted.workspace_ids):
                group = groups.get(ws)
                if group is None:
                    groups[ws] = [i]
                else:
                    group.append(i)
            self._by_workspace = groups
        return self._by_workspace.get(workspace_id, [])

    def workspaces(self) -> tuple[list[str], list[int]]:
        """Workspace ids in order, each with the sorted-order index of its latest row (greatest date)."""
        if self._workspaces is None:
            dates = self.sorted.dates
            # Stable: within a date rows stay in updated_at order, so the last one written to the dict wins.
            order = sorted(range(len(dates)), key=dates.__getitem__)
            latest = dict(zip(map(self.sorted.workspace_ids.__getitem__, order), order, strict=True))
            ids = sorted(latest)
            self._workspaces = (ids, [latest[ws] for ws in ids])
        return self._workspaces


class UsageIndex:
    """The sorted view of ``store.rows`` for the current store version (``app.state.usage_index``)."""

    def __init__(self, store: UsageStore) -> None:
        self.store = store
        self._snapshot: _Snapshot | None = None
        self.builds = 0

    def invalidate(self) -> None:
        """Forget the sorted view: the next request sorts again (after an in-place edit of a big list)."""
        with self.store.lock:
            self._snapshot = None

    def current(self) -> _Snapshot:
        """The up-to-date snapshot; call with ``store.lock`` held."""
        rows: Iterable[Row] = self.store.rows
        version = getattr(self.store, "version", None)
        if not isinstance(rows, Sequence):  # a bare iterable: read once per version
            signature: tuple[Any, ...] = (id(rows), None, version)
            if self._snapshot is not None and self._snapshot.signature == signature:
                return self._snapshot
            rows = list(rows)
        else:
            signature = (id(rows), len(rows), version)
        snapshot = self._snapshot
        if snapshot is not None and snapshot.signature == signature:
            if snapshot.check is None or (isinstance(rows, list) and snapshot.still_matches(rows)):
                return snapshot
        elif snapshot is not None and snapshot.appended(rows, signature):
            return snapshot
        snapshot = self._snapshot = None  # let the old one go before the new one is built
        self._snapshot = _Snapshot(rows, signature)
        self.builds += 1
        return self._snapshot
