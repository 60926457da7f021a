"""Open query cursors, snapshotted at the first page, the oldest dropped past the limit."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sandbox.salesforce.metadata import SObjectSpec
from sandbox.salesforce.settings import OrgSettings
from sandbox.world import sf_id


@dataclass(frozen=True, slots=True)
class Cursor:
    spec: SObjectSpec
    fields: tuple[str, ...]
    rows: list[tuple[Any, ...]]  # (Id, *fields) snapshotted when the query ran
    batch_size: int
    include_deleted: bool


class Cursors:
    """The open query locators, oldest dropped first beyond ``limit`` (as Salesforce does)."""

    def __init__(self, settings: OrgSettings) -> None:
        self.settings = settings
        self._open: OrderedDict[str, Cursor] = OrderedDict()
        self._lock = threading.Lock()
        self._count = 0

    def open(self, cursor: Cursor) -> str:
        with self._lock:
            self._count += 1
            locator = sf_id("01g", self._count)
            self._open[locator] = cursor
            while len(self._open) > max(1, self.settings.max_open_cursors):
                self._open.popitem(last=False)
            return locator

    def get(self, locator: str) -> Cursor | None:
        with self._lock:
            cursor = self._open.get(locator)
            if cursor is not None:
                self._open.move_to_end(locator)
            return cursor
