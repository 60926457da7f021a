"""The declared resources as upsync streams: ``usage.workspaces`` and ``usage.daily``.

A child resource (``/accounts/{id}/metrics``) is fanned out over its parent's items: one walk
per parent item, its path parameters resolved from that item (dlt's ``resolve``). The parent's
items are read once per run: the ``workspaces`` stream keeps what it read for the ``daily``
stream that follows it (one list walk, not two), else the child reads its parent itself.

Cursor semantics. Pages of a fan-out are not in cursor order (entity by entity), so only the
last page of a read is a checkpoint: a run killed mid-way keeps the cursor where it was and the
next run reads the whole window again (rows upsert on workspace|day: nothing twice, nothing
skipped). Read by day windows, a row's cursor value is the end of its day, so the cursor
reaches midnight after the last complete day read and the next window starts ``lookback_days``
before it: exactly the lookback days are read again, then the new ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from connectors.base import Page, Unchanged
from connectors.usage.rest.paginators import PageRequest, build_paginator, paginate
from connectors.usage.rest.settings import DAILY, WORKSPACES, Resource
from connectors.usage.rest.transforms import attach, usage_item, workspace_item
from connectors.usage.streams import DailyUsage, Workspaces, get_path
from core.cursor import EPOCH
from core.records import CursorSpec, Deletion, Record, Window

__all__ = ["RestDaily", "RestSource", "RestWorkspaces", "day_window"]


class Getter(Protocol):
    def get(self, url: str, params: Mapping[str, Any] | None, *, stream: str) -> httpx.Response: ...


def _iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond:06d}Z"


def day_window(window: Window) -> tuple[date, date]:
    """(first day, last day) of a day-window read: from the window's start day to the last
    complete day, the one before ``as_of``'s day (empty when first > last)."""
    return window.start.astimezone(timezone.utc).date(), window.end.astimezone(timezone.utc).date() - timedelta(days=1)


class RestSource:
    """Walks the declared resources through the usage client (its retries, auth and call count)."""

    def __init__(self, client: Getter, resources: Mapping[str, Resource]) -> None:
        self.client = client
        self.resources = resources
        self.kept: dict[str, list[Any]] = {}  # a parent's items, read by its own stream this run

    def walk(
        self, name: str, *, stream: str, params: Mapping[str, Any] | None = None, path: str | None = None
    ) -> Iterator[tuple[Any, list[Any]]]:
        resource = self.resources[name]
        query: dict[str, Any] = {k: v for k, v in resource.params.items() if k not in resource.resolved}
        size = resource.effective_page_size
        if resource.page_size_param and size:
            query[resource.page_size_param] = size
        query.update(params or {})
        return paginate(
            lambda request: self.client.get(request.url, request.params, stream=stream),
            PageRequest(url=path or resource.path, params=query),
            build_paginator(resource.paginator),
            data_selector=resource.data_selector,
            resource=name,
            stream=stream,
        )

    def items(self, name: str, *, stream: str) -> list[Any]:
        """Every item of a parent resource: the ones its stream kept this run, else read now."""
        kept = self.kept.pop(name, None)
        if kept is not None:
            return kept
        return [item for _, items in self.walk(name, stream=stream) for item in items]

    def fan_out(
        self, name: str, *, stream: str, params: Mapping[str, Any]
    ) -> Iterator[tuple[Any, list[Any], list[str]]]:
        """(body, items with what they include, problems) of every page of ``name``: over each
        parent item when it has a parent, else of the one endpoint."""
        resource = self.resources[name]
        parent = resource.parent
        if parent is None:
            for body, items in self.walk(name, stream=stream, params=params):
                yield body, [self._include(resource, None, None, body, item) for item in items], []
            return
        for owner in self.items(parent, stream=stream):
            values: dict[str, str] = {}
            for placeholder, rule in resource.resolved.items():
                value = get_path(owner, rule.field)
                if value is None or value == "":
                    break
                values[placeholder] = quote(str(value), safe="")
            else:
                path = resource.path.format(**values)
                for body, items in self.walk(name, stream=stream, params=params, path=path):
                    yield body, [self._include(resource, parent, owner, body, item) for item in items], []
                continue
            problem = f"{stream}: a {parent} item without {rule.field!r} (for {{{placeholder}}}): {owner!r}"[:300]
            yield None, [], [problem]

    @staticmethod
    def _include(resource: Resource, parent: str | None, owner: Any, body: Any, item: Any) -> Any:
        return attach(
            item,
            parent_name=parent,
            parent=owner,
            fields=resource.include_from_parent,
            envelope=body,
            paths=resource.include_from_response,
        )


def _convert(
    items: Sequence[Any], build: Callable[[Any], tuple[str, Callable[[], Record]]], stream: str
) -> tuple[list[Record], list[str]]:
    """Records of the items; an item that cannot be read is named (workspace/day) in the problems."""
    records: list[Record] = []
    problems: list[str] = []
    for item in items:
        where = "?"
        try:
            where, make = build(item)
            records.append(make())
        except (KeyError, ValueError, TypeError, AttributeError, ArithmeticError) as exc:
            problems.append(f"{stream} record {where}: {type(exc).__name__}: {exc}")
    return records, problems


class RestWorkspaces:
    """``usage.workspaces`` from ``[usage.resources.workspaces]``: identity mapped by its fields."""

    name = Workspaces.name
    kind = Workspaces.kind
    spec = None

    def __init__(self, source: RestSource, *, keep: bool) -> None:
        self.source = source
        self.resource = source.resources[WORKSPACES]
        self.keep = keep  # the daily resource fans out over these items: keep them for it
        self.decl = Workspaces()

    def read(self, window: Window | None, *, unchanged: Unchanged | None = None) -> Iterator[Page]:
        fields = self.resource.fields
        kept: list[Any] = []
        self.source.kept.pop(WORKSPACES, None)

        def build(item: Any) -> tuple[str, Callable[[], Record]]:
            flat = workspace_item(item, fields)
            return str(flat.get("id") or "?"), lambda: self.decl.to_record(flat)

        for _, items, problems in self.source.fan_out(WORKSPACES, stream=self.name, params={}):
            kept.extend(items)
            records, bad = _convert(items, build, self.name)
            yield Page(records=records, problems=[*problems, *bad])
        if self.keep:
            self.source.kept[WORKSPACES] = kept

    def deletions(self, start: datetime, end: datetime) -> Iterator[Sequence[Deletion]] | None:
        return None


class RestDaily:
    """``usage.daily`` from ``[usage.resources.daily]``, by modification time or by day windows."""

    name = DailyUsage.name
    kind = DailyUsage.kind

    def __init__(self, source: RestSource, *, lookback: timedelta) -> None:
        self.source = source
        self.lookback = lookback  # by modification time (usage.lookback_seconds)
        self.resource = source.resources[DAILY]
        assert self.resource.incremental is not None
        self.incremental = self.resource.incremental
        self.by_day = self.incremental.mode == "days"
        self.decl = DailyUsage()

    @property
    def spec(self) -> CursorSpec:
        inc = self.incremental
        start = EPOCH
        if inc.initial_value is not None:
            start = datetime.combine(inc.initial_value, time(0), tzinfo=timezone.utc)
        lookback = timedelta(days=inc.lookback_days) if self.by_day else self.lookback
        return CursorSpec(field="updated_at", tie_breaker="workspace_id", lookback=lookback, initial_value=start)

    def _params(self, window: Window) -> tuple[dict[str, Any], Callable[[Record], bool]] | None:
        """The window's query parameters and which records it keeps; None: nothing to read."""
        inc = self.incremental
        if not self.by_day:
            params = {inc.start_param: _iso(window.start)}
            if inc.end_param:
                params[inc.end_param] = _iso(window.end)
            # without an end parameter the API cannot bound the window: drop what is past the signpost
            return params, lambda r: r.cursor_value < window.end
        first, last = day_window(window)
        if first > last:
            return None
        params = {inc.start_param: first.strftime(inc.date_format)}
        if inc.end_param:
            end = last if inc.end_inclusive else last + timedelta(days=1)
            params[inc.end_param] = end.strftime(inc.date_format)
        return params, lambda r: r.values["day"] <= last  # only complete days

    def read(self, window: Window | None, *, unchanged: Unchanged | None = None) -> Iterator[Page]:
        if window is None:
            raise ValueError("usage.daily is incremental: it needs a window")
        asked = self._params(window)
        if asked is None:
            self.source.kept.clear()
            return
        params, keep = asked
        fields = self.resource.fields
        ordered = self.resource.parent is None and not self.by_day  # one endpoint sorted on its update time

        def build(item: Any) -> tuple[str, Callable[[], Record]]:
            flat = usage_item(item, fields, by_day=self.by_day)
            return f"{flat.get('workspace_id') or '?'}/{flat.get('date') or '?'}", lambda: self.decl.to_record(flat)

        for _, items, problems in self.source.fan_out(DAILY, stream=self.name, params=params):
            records, bad = _convert(items, build, self.name)
            yield Page(records=[r for r in records if keep(r)], problems=[*problems, *bad], checkpoint=ordered)
        if not ordered:
            yield Page(records=[], checkpoint=True)  # every page read: the cursor may move past them all

    def deletions(self, start: datetime, end: datetime) -> Iterator[Sequence[Deletion]] | None:
        return None
