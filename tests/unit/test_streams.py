"""Contract tests over every declared stream, and the value coercions they share."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

import pytest

from connectors.base import boolean, day, domain_of, integer, number, parse_utc
from connectors.hubspot import streams as hs
from connectors.salesforce import streams as sf
from connectors.usage.streams import DailyUsage, get_path
from sync.canonical import KINDS
from sync.settings import HubSpotSettings, SalesforceSettings, UsageFields

STAMP = "2026-05-24T22:41:09.000+0000"


@pytest.mark.parametrize("name", sorted(sf.STREAM_TYPES))
def test_every_salesforce_stream_selects_its_cursor_and_fills_only_canonical_columns(name: str) -> None:
    decl = sf.STREAM_TYPES[name]()
    assert decl.spec.field in decl.fields and "Id" in decl.fields
    raw = {f: None for f in decl.fields} | {"Id": "001A", "SystemModstamp": STAMP, "IsDeleted": False}
    record = decl.to_record(raw)
    assert record.kind == decl.kind and record.key == "001A"
    assert set(record.values) <= set(KINDS[decl.kind].columns)
    assert record.cursor_value == datetime(2026, 5, 24, 22, 41, 9, tzinfo=timezone.utc)


@pytest.mark.parametrize("name", sorted(hs.STREAM_TYPES))
def test_every_hubspot_stream_reads_its_cursor_property_and_fills_only_canonical_columns(name: str) -> None:
    decl = hs.STREAM_TYPES[name]()
    if name == "owners":
        raw: dict[str, Any] = {"id": "7", "updated_at": "2026-05-01T00:00:00Z", "first_name": "Aiko", "archived": True}
        record = decl.to_record(raw)
        assert record.values["active"] is False and record.values["name"] == "Aiko"
        return
    assert decl.modified_property in decl.properties and "hs_object_id" in decl.properties
    raw = {"id": "9", "properties": {decl.modified_property: "2026-05-01T00:00:00.000Z"}, "archived": False}
    record = decl.to_record(raw, {a.column: "42" for a in decl.associations})
    assert record.kind == decl.kind and set(record.values) <= set(KINDS[decl.kind].columns)
    for assoc in decl.associations:
        assert record.values[assoc.column] == "42"


def test_the_config_object_lists_match_the_declared_streams() -> None:
    assert set(SalesforceSettings.model_fields["objects"].default) == set(sf.STREAM_TYPES)
    assert set(HubSpotSettings.model_fields["objects"].default) == set(hs.STREAM_TYPES)


def test_rest_json_and_bulk_csv_rows_give_the_same_record() -> None:
    decl = sf.Opportunities()
    rest = {
        "Id": "006A",
        "AccountId": "001A",
        "Name": "Upgrade",
        "Type": "Existing Business - Upgrade",
        "StageName": "Closed Won",
        "IsClosed": True,
        "IsWon": True,
        "CloseDate": "2026-04-30",
        "Amount": 12000.0,
        "OwnerId": "005A",
        "CreatedDate": STAMP,
        "SystemModstamp": STAMP,
        "IsDeleted": False,
    }
    csv_row = {k: ("true" if v is True else "false" if v is False else str(v)) for k, v in rest.items()}
    assert decl.to_record(rest) == decl.to_record(csv_row)
    assert decl.to_record(csv_row).values["amount"] == 12000.0


def test_a_hubspot_deal_takes_its_primary_company() -> None:
    targets = [("111", [341]), ("222", [5, 341])]
    assert hs.pick(targets, (5, 341)) == "222"
    assert hs.pick([("111", [341])], (5, 341)) == "111"
    assert hs.pick([], (5,)) is None


def test_coercions() -> None:
    assert (boolean("true"), boolean(False), boolean("")) == (True, False, None)
    assert (number("12.5"), integer("3.0"), integer(None)) == (12.5, 3, None)
    assert day("2026-05-01T23:30:00.000+0000") == date(2026, 5, 1)  # no time-zone shifting of dates
    assert day("1777593600000") == date(2026, 5, 1)
    assert parse_utc("2026-05-01T00:00:00.123Z").microsecond == 123000
    assert domain_of("https://www.Acme.example.com/about") == "acme.example.com"
    with pytest.raises(ValueError):
        boolean("maybe")


def test_usage_mapping_reads_a_nested_vendor_shape() -> None:
    fields = UsageFields(
        workspace_id="workspace.id",
        day="day",
        updated_at="updated",
        seats_used="metrics.seats.used",
        seats_limit="metrics.seats.limit",
        feature_events="metrics.features",
        active_users=None,
    )
    item = {
        "workspace": {"id": "ws-1"},
        "day": "2026-05-01",
        "updated": "2026-05-02T01:00:00Z",
        "metrics": {"seats": {"used": 41, "limit": 50}, "features": {"reports": 7}},
    }
    record = DailyUsage(fields=fields).to_record(item)
    assert record.key == "ws-1|2026-05-01"
    assert record.values["seats_used"] == 41 and record.values["seats_limit"] == 50
    assert record.values["feature_events"] == {"reports": 7}
    assert record.values["active_users"] is None and record.values["storage_used_gb"] is None


def test_a_usage_item_with_a_negative_count_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="seats_used must not be negative"):
        DailyUsage().to_record(
            {"workspace_id": "w", "date": "2026-05-01", "updated_at": "2026-05-02T00:00:00Z", "seats_used": -1}
        )


def test_get_path() -> None:
    assert get_path({"a": {"b": [10, {"c": 3}]}}, "a.b.1.c") == 3
    assert get_path({"a": {}}, "a.b.c") is None
