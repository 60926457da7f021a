from datetime import date, datetime, timezone

from rules.signals import RuleSpec, evaluate, seats_near_limit
from sync.records import AccountSnapshot

NOW = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
RULE = RuleSpec(
    id="seats-near-limit",
    signal="S5",
    kind="upsell",
    threshold=0.8,
    priority="high",
    due_in_days=3,
    window="month",
    subject="Seats at {utilisation:.0%}",
    playbook_title="Seat expansion",
    playbook_url="https://playbooks.example.com/seats",
)


def snap(
    crm_id: str,
    *,
    used: int | None,
    limit: int | None = None,
    purchased: int | None = None,
    day: date | None = date(2026, 5, 31),
) -> AccountSnapshot:
    return AccountSnapshot(
        system="hubspot",
        crm_id=crm_id,
        name=f"Account {crm_id}",
        owner_id="o1",
        owner_active=True,
        workspace_id=f"ws-{crm_id}",
        seats_purchased=purchased,
        usage_day=day,
        seats_used=used,
        seats_limit=limit,
    )


def test_s5_fires_at_and_above_the_threshold_only() -> None:
    accounts = [
        snap("at", used=8, limit=10),
        snap("above", used=10, limit=10),
        snap("below", used=7, limit=10),
        snap("no-usage", used=None, limit=10, day=None),
        snap("no-limit", used=5),
    ]
    fired = {s.account_id for s in seats_near_limit(RULE, accounts, now=NOW)}
    assert fired == {"at", "above"}


def test_s5_prefers_the_crm_purchased_seats_over_the_usage_plan_limit() -> None:
    # 45 used: 90% of the usage API's 50 but only 45% of the 100 seats the contract says were bought
    [signal] = seats_near_limit(RULE, [snap("a", used=45, limit=100, purchased=50)], now=NOW)
    assert signal.evidence["seats_limit"] == 50
    assert seats_near_limit(RULE, [snap("b", used=45, limit=50, purchased=100)], now=NOW) == []


def test_s5_evidence_carries_the_values_that_decided_it() -> None:
    [signal] = seats_near_limit(RULE, [snap("a", used=41, limit=50)], now=NOW)
    assert signal.evidence == {
        "seats_used": 41,
        "seats_limit": 50,
        "utilisation": 0.82,
        "threshold": 0.8,
        "usage_day": "2026-05-31",
    }


def test_usage_from_after_now_is_ignored_in_a_replay() -> None:
    future = snap("a", used=10, limit=10, day=date(2026, 6, 2))
    assert evaluate([RULE], [future], now=NOW) == []
