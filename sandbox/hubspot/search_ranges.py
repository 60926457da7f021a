"""Date and datetime search windows, applied as comparisons of canonical timestamps."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sandbox.hubspot.object_types import JSON
from sandbox.hubspot.values import MAX_MS, MIN_MS, instant_ms, ms_to_iso


@dataclass(frozen=True, slots=True)
class Range:
    """A date/datetime filter as the half-open interval ``[low, high)`` of epoch milliseconds.

    Applied as one list comprehension that compares HubSpot's canonical timestamps
    (``2026-06-01T12:00:00.000Z``: fixed width, so string order is time order) as strings, and
    parses only the values in any other shape (dates, epoch-ms strings, offsets). This keeps a
    window search over a million engagements at about a tenth of a second with no index, so
    nothing can go stale when tests edit ``world.hubspot.objects`` directly.
    """

    name: str
    low: int | None
    high: int | None

    def intersect(self, other: Range) -> Range:
        lows = [b for b in (self.low, other.low) if b is not None]
        highs = [b for b in (self.high, other.high) if b is not None]
        return Range(self.name, max(lows) if lows else None, min(highs) if highs else None)

    def bounds(self) -> tuple[str, str]:
        """``[floor, ceiling)`` as canonical timestamp strings.

        Canonical values have four-digit years, so bounds outside [MIN_MS, MAX_MS] become "" or
        "~" (which sorts after every digit); values in any other shape take the parsing path.
        """
        low, high = self.low, self.high
        floor = "" if low is None or low < MIN_MS else "~" if low > MAX_MS else ms_to_iso(low)
        ceiling = "~" if high is None or high > MAX_MS else "" if high < MIN_MS else ms_to_iso(high)
        return floor, ceiling

    def apply(self, objects: Iterable[JSON], *, live_only: bool = False) -> list[JSON]:
        name, low, high = self.name, self.low, self.high
        if low is not None and high is not None and low >= high:
            return []
        floor, ceiling = self.bounds()

        def parsed(value: Any) -> bool:
            ms = instant_ms(value if type(value) is str else str(value))
            return ms is not None and (low is None or ms >= low) and (high is None or ms < high)

        if live_only:
            return [
                obj
                for obj in objects
                if (v := obj["properties"].get(name))
                and not obj.get("archived")
                and (floor <= v < ceiling if v.__class__ is str and len(v) == 24 and v[23] == "Z" else parsed(v))
            ]
        return [
            obj
            for obj in objects
            if (v := obj["properties"].get(name))
            and (floor <= v < ceiling if v.__class__ is str and len(v) == 24 and v[23] == "Z" else parsed(v))
        ]
