"""Whole-minute time relative to the anchor, each timestamp string formatted once."""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Final

_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
DAY: Final = 1440  # minutes


class Clock:
    """Whole minutes and days (since 1970) relative to the anchor, each string formatted once.

    Timestamps on whole minutes repeat a lot in a big world; formatting each distinct value once
    and sharing the string object between records saves both time and memory. Ties on a modstamp
    are real (bulk edits, imports) and exercise the connectors' id tie-break.
    """

    def __init__(self, anchor: datetime) -> None:
        stamp = anchor.timestamp()
        self.top = math.ceil(stamp / 60) - 1  # the last whole minute strictly before the anchor
        self.today = math.floor(stamp / 86_400)
        self._days: dict[int, str] = {}
        self._sf: dict[int, str] = {}
        self._hs: dict[int, str] = {}
        self._usage: dict[int, str] = {}

    def past(self, minute: int) -> int:
        """``minute`` if it is before the anchor; else folded back into the three days before it.

        Folding (not clamping to the last minute) keeps the recent past looking like an ordinary
        org: clamping stacked thousands of records on one minute, a mass update nobody made.
        """
        if minute <= self.top:
            return minute
        return self.top - ((minute - self.top) * 7919) % (3 * DAY)

    def at(self, days_ago: int, minute_of_day: int) -> int:
        return self.past((self.today - days_ago) * DAY + minute_of_day)

    def day(self, day: int) -> str:
        text = self._days.get(day)
        if text is None:
            text = self._days[day] = date.fromordinal(day + _EPOCH_ORDINAL).isoformat()
        return text

    def sf(self, minute: int) -> str:
        text = self._sf.get(minute)
        if text is None:
            m = minute % DAY
            text = self._sf[minute] = f"{self.day(minute // DAY)}T{m // 60:02d}:{m % 60:02d}:00.000+0000"
        return text

    def hs(self, minute: int) -> str:
        text = self._hs.get(minute)
        if text is None:
            m = minute % DAY
            text = self._hs[minute] = f"{self.day(minute // DAY)}T{m // 60:02d}:{m % 60:02d}:00.000Z"
        return text

    def usage(self, minute: int) -> str:
        text = self._usage.get(minute)
        if text is None:
            m = minute % DAY
            text = self._usage[minute] = f"{self.day(minute // DAY)}T{m // 60:02d}:{m % 60:02d}:00Z"
        return text


def add_months(day: int, months: int) -> int:
    """Calendar months later (or earlier), the day of month capped at 28 so every month has it."""
    d = date.fromordinal(day + _EPOCH_ORDINAL)
    total = d.year * 12 + d.month - 1 + months
    return date(total // 12, total % 12 + 1, min(d.day, 28)).toordinal() - _EPOCH_ORDINAL
