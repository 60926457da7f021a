"""Each workspace's usage story as curve parameters, and the daily rows computed from them."""

from __future__ import annotations

from typing import Any, Final, NamedTuple

from sandbox.world.clock import DAY, Clock

_M64: Final = (1 << 64) - 1


def mix(x: int) -> int:
    """SplitMix64's finaliser: 64 well-mixed bits from any integer, so row noise needs no stored state."""
    x &= _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


class Workspace(NamedTuple):
    """A workspace's usage story as curve parameters: the rows are functions of these and the day."""

    workspace_id: str
    seats: int
    used: tuple[float, float]  # seats_used / seats, first and last day
    last_used: int  # exact on the last day (which side of 80% it falls on is the S5 story)
    active: tuple[float, float]  # active_users / seats_used, first and last day
    storage_limit: int
    storage: tuple[float, float]
    last_storage: float
    api_limit: int
    api: tuple[float, float]
    last_api: int
    integrations: int
    integration_days: tuple[int, ...]  # day indexes from which one more integration counts
    premium: bool
    trial_day: int  # day index of trials_started = 1, or -1
    departments: tuple[str, ...]  # the first takes what the others leave of the day's active users
    others: tuple[tuple[str, float], ...]  # every other department and its share of active users
    new_department: str | None
    new_department_day: int
    features: tuple[str, ...]  # feature_events keys
    rates: tuple[float, ...]  # events per active user and day, per feature


_NOISE: Final = tuple(tuple(0.8 + 0.4 * ((j * 37 + k * 101) % 64) / 63 for k in range(8)) for j in range(256))
"""256 rows of per-feature noise factors in [0.8, 1.2]: a row picks one by 8 bits of its hash."""


class UsagePlan:
    """Every workspace's story parameters, and the rows computed from them (date-major order).

    Row ``slot`` is day ``slot // W`` of workspace ``slot % W``: the nightly batch writes the
    day's rows in workspace order between 00:05 and 03:00 UTC the next day, so this order is
    also ascending ``(updated_at, workspace_id, date)``.
    """

    def __init__(self, clock: Clock, days: int, salt: int) -> None:
        self.clock = clock
        self.days = days
        self.salt = salt
        self.workspaces: list[Workspace] = []
        self.first_day = clock.today - days
        self.dates = [clock.day(self.first_day + i) for i in range(days)]
        # updated_at of day i's rows, by batch position 0..174 (minutes after 00:05 the next day)
        self.stamps = [
            [clock.usage(clock.past((self.first_day + i + 1) * DAY + 5 + offset)) for offset in range(175)]
            for i in range(days)
        ]

    @property
    def size(self) -> int:
        return len(self.workspaces) * self.days

    def column(self, name: str) -> list[str]:
        count = len(self.workspaces)
        if name == "date":
            return [d for d in self.dates for _ in range(count)]
        if name == "workspace_id":
            ids = [ws.workspace_id for ws in self.workspaces]
            return ids * self.days
        offsets = [(w * 175) // count for w in range(count)]
        return [stamps[offset] for stamps in self.stamps for offset in offsets]

    def row(self, slot: int) -> dict[str, Any]:
        count = len(self.workspaces)
        i, w = divmod(slot, count)
        ws = self.workspaces[w]
        days = self.days
        last = i == days - 1
        p = i / (days - 1) if days > 1 else 1.0
        h = mix(self.salt ^ (slot * 0x9E3779B97F4A7C15))
        seats = ws.seats
        if last:
            used = ws.last_used
        else:
            r0, r1 = ws.used
            used = round(seats * (r0 + (r1 - r0) * p + ((h & 0xFFFF) / 65536.0 - 0.5) * 0.04))
            used = seats if used > seats else 1 if used < 1 else used
        a0, a1 = ws.active
        act = a0 + (a1 - a0) * p
        active = round(used * (act + (((h >> 16) & 0xFFFF) / 65536.0 - 0.5) * 0.06))
        active = used if active > used else 1 if active < 1 else active
        weekly = round(used * (act * 1.3 + 0.05))
        weekly = used if weekly > used else active if weekly < active else weekly
        if last:
            storage = ws.last_storage
            api = ws.last_api
        else:
            s0, s1 = ws.storage
            storage = round(
                ws.storage_limit * max(0.01, s0 + (s1 - s0) * p + (((h >> 32) & 0xFFFF) / 65536.0 - 0.5) * 0.01), 1
            )
            c0, c1 = ws.api
            api = round(ws.api_limit * (c0 + (c1 - c0) * p) * (0.9 + 0.2 * ((h >> 48) & 0xFFFF) / 65536.0))
            api = ws.api_limit if api > ws.api_limit else api  # the quota is a hard cap
        integrations = ws.integrations
        for start in ws.integration_days:
            if i >= start:
                integrations += 1
        premium_views = pricing = 0
        if ws.premium and i >= days - 7:
            premium_views = 1 + (h >> 8) % 3
            pricing = 1 + (h >> 12) % 2 if (h >> 10) & 1 or last else 0
        features = {
            name: round(active * rate * noise)
            for name, rate, noise in zip(ws.features, ws.rates, _NOISE[(h >> 24) & 255], strict=False)
        }
        by_department = {ws.departments[0]: 0}
        remaining = active
        if ws.new_department is not None and i >= ws.new_department_day and remaining > 1:
            share = round(active * 0.12)
            share = 1 if share < 1 else share
            by_department[ws.new_department] = share
            remaining -= share
        for name, weight in ws.others:
            if remaining <= 1:
                break
            share = round(active * weight)
            share = remaining - 1 if share >= remaining else 1 if share < 1 else share
            by_department[name] = share
            remaining -= share
        by_department[ws.departments[0]] = remaining
        return {
            "workspace_id": ws.workspace_id,
            "date": self.dates[i],
            "active_users": active,
            "weekly_active_users": weekly,
            "seats_used": used,
            "seats_limit": seats,
            "storage_used_gb": storage,
            "storage_limit_gb": ws.storage_limit,
            "api_calls_used": api,
            "api_calls_limit": ws.api_limit,
            "integrations": integrations,
            "premium_feature_views": premium_views,
            "trials_started": 1 if i == ws.trial_day else 0,
            "pricing_page_views": pricing,
            "feature_events": features,
            "users_by_department": by_department,
            "updated_at": self.stamps[i][(w * 175) // count],
        }
