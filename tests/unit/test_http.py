"""The shared throttle and API budget, on a fake clock."""

from __future__ import annotations

import pytest

from connectors.http import ApiBudget, TokenBucket
from sync.errors import QuotaExhaustedError


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_bucket_allows_a_burst_then_paces_to_the_rate() -> None:
    t = FakeTime()
    bucket = TokenBucket(80, 10.0, clock=t.clock, sleep=t.sleep)
    for _ in range(80):
        bucket.acquire()
    assert t.now == 0.0  # the burst is free
    for _ in range(160):
        bucket.acquire()
    assert t.now == pytest.approx(20.0)  # then 8 per second
    assert bucket.waited == pytest.approx(20.0)


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
