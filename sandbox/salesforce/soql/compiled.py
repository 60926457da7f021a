"""A compiled query: one pass to filter, a C-level sort per ORDER BY key, then the slice."""

from __future__ import annotations

import gc
import operator
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sandbox.salesforce.soql.predicates import Predicate, always_true
from sandbox.salesforce.soql.values import Column, norm_raw


@dataclass(frozen=True, slots=True)
class SortKey:
    column: Column
    descending: bool
    nulls_first: bool


@dataclass(frozen=True, slots=True)
class CompiledQuery:
    """A query checked against metadata: canonical names plus a row predicate and sort keys."""

    sobject: str
    fields: tuple[str, ...]
    count: bool
    matches: Predicate
    order: tuple[SortKey, ...]
    limit: int | None
    offset: int

    def select(self, rows: Iterable[Mapping[str, Any]], *, include_deleted: bool = True) -> list[Mapping[str, Any]]:
        """The matching rows, ordered, after OFFSET and LIMIT (rows are returned, not copied).

        ``include_deleted=False`` drops rows whose ``IsDeleted`` is true in the same pass, as
        ``query`` (unlike ``queryAll``) does.
        """
        with gc_paused():
            kept = self._filter(rows, include_deleted)
            if self.order:
                order = _order(kept, self.order)
                return [kept[i] for i in self._window(order)]
            return self._window(kept)

    def snapshot(
        self,
        rows: Iterable[Mapping[str, Any]],
        columns: Sequence[str],
        *,
        include_deleted: bool = True,
    ) -> list[tuple[Any, ...]]:
        """``select`` as value tuples of ``columns`` (a field missing from a row is null).

        This is what a query cursor or a Bulk job keeps: later writes to the store do not
        change it. Tuples are built in the table's own order (memory locality) and then
        permuted, which is markedly faster on large tables than building them in sort order.
        """
        with gc_paused():
            kept = self._filter(rows, include_deleted)
            if self.order:
                order = self._window(_order(kept, self.order))
                if len(order) < len(kept) // 4:  # a small window: build only the tuples it needs
                    return _tuples([kept[i] for i in order], columns)
                values = _tuples(kept, columns)
                return [values[i] for i in order]
            return _tuples(self._window(kept), columns)

    def _filter(self, rows: Iterable[Mapping[str, Any]], include_deleted: bool) -> list[Mapping[str, Any]]:
        matches = self.matches
        if include_deleted:
            return list(rows) if matches is always_true else [r for r in rows if matches(r)]
        if matches is always_true:
            return [r for r in rows if r.get("IsDeleted") is not True]
        return [r for r in rows if r.get("IsDeleted") is not True and matches(r)]

    def _window(self, items: list[_T]) -> list[_T]:
        end = None if self.limit is None else self.offset + self.limit
        return items[self.offset : end] if self.offset or end is not None else items


_T = TypeVar("_T")
_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Hold off the cyclic garbage collector while a query builds its lists and tuples.

    A store of a million rows is a million live dicts: every collection the allocations
    trigger walks all of them, which otherwise costs more than the query itself. Nothing
    built here is cyclic, so nothing is lost by collecting later. Nested and concurrent
    pauses share one counter; the collector's state is restored when the last one ends.
    """
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


def _tuples(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> list[tuple[Any, ...]]:
    """One tuple of ``columns`` per row (a field missing from a row is null).

    C-speed ``itemgetter`` over the whole list first; if some row lacks a field (seeded rows
    carry only the fields they were given) the rows are taken one by one, still through
    ``itemgetter`` and falling back to ``dict.get`` only for the rows that need it.
    """
    if not columns:
        return [() for _ in rows]
    if len(columns) == 1:
        name = columns[0]
        return [(row.get(name),) for row in rows]
    getter = operator.itemgetter(*columns)
    try:
        values: list[tuple[Any, ...]] = list(map(getter, rows))
    except KeyError:
        values = []
        append = values.append
        for row in rows:
            try:
                append(getter(row))
            except KeyError:
                append(tuple(map(row.get, columns)))
    return values


def _order(rows: Sequence[Mapping[str, Any]], keys: Sequence[SortKey]) -> list[int]:
    """Positions of ``rows`` in ORDER BY order: one C-level sort of positions per key.

    Each key's normalized column is computed once; nulls get a flag that puts them first or
    last. Python's sorts are stable (also with ``reverse=True``), so sorting by the least
    significant key first composes into the full ordering; on large tables two plain sorts
    beat one sort on tuple keys.
    """
    positions = list(range(len(rows)))
    for key in reversed(keys):
        name, norm = key.column.name, key.column.sort
        values = [row.get(name) for row in rows] if norm is norm_raw else [norm(row.get(name)) for row in rows]
        if None in values:
            none_flag = 0 if key.nulls_first != key.descending else 2
            values = [(none_flag,) if v is None else (1, v) for v in values]
        lookup: Callable[[int], Any] = values.__getitem__  # C-level key: no Python frame per row
        positions.sort(key=lookup, reverse=key.descending)
    return positions
