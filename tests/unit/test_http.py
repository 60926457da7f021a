"""The shared throttle and API budget, on a fake clock."""

from __future__ import annotations

import pytest

from connectors.http import ApiBudget, SlidingWindow
from core.errors import QuotaExhaustedError


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_sliding_window_never_exceeds_its_limit_in_any_window_and_never_waits_longer() -> None:
    t = FakeTime()
    limiter = SlidingWindow(5, 1.0, clock=t.clock, sleep=t.sleep)
    sent = []
    for _ in range(23):
        limiter.acquire()
        sent.append(t.now)
        t.now += 1 / 64  # the call itself (a binary fraction: exact sums)
    for i, at in enumerate(sent):  # at most 5 in any rolling second
        assert sum(1 for other in sent[i:] if other - at < 1.0) <= 5
    assert sent[5] == pytest.approx(1.0) and sent[10] == pytest.approx(2.0)  # and not a moment later
    assert limiter.waited == pytest.approx(4 * (1.0 - 5 / 64))


def test_reads_stop_at_the_run_share_less_the_write_reserve_and_writes_may_go_on() -> None:
    budget = ApiBudget(system="salesforce", run_share=0.25, org_share=0.8, write_reserve=0.2, daily_total=1000)
    for _ in range(200):  # 0.25 × 1000 × (1 − 0.2)
        budget.charge(write=False)
    with pytest.raises(QuotaExhaustedError, match="this run has used 200"):
        budget.charge(write=False)
    for _ in range(50):
        budget.charge(write=True)
    with pytest.raises(QuotaExhaustedError):
        budget.charge(write=True)


def test_the_org_wide_share_stops_every_call() -> None:
    budget = ApiBudget(system="salesforce", org_share=0.8)
    budget.charge(write=False)  # no allocation known yet: go on
    budget.observe(used=801, total=1000)
    with pytest.raises(QuotaExhaustedError, match="org has used 801 of 1000"):
        budget.charge(write=True)
