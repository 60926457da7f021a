"""The timing bench end to end: a 5-day simulation on 20 accounts, one upsync cycle a day."""

from __future__ import annotations

import pytest

from bench.timing.__main__ import run

pytestmark = pytest.mark.e2e


def test_five_days_on_twenty_accounts_run_and_score() -> None:
    figures = run("hubspot", 1, 5, 20)
    assert figures["windows"] > 0 and figures["tasks"] > 0
    assert figures["hits"] + figures["misses"] + figures["duplicate_windows"] == figures["windows"]
    assert "?" not in figures["per_kind"]  # every task's rule maps to a window kind
