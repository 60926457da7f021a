"""Contract tests over every declared stream, and the value coercions they share."""

from __future__ import annotations

import tomllib
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from connectors.columns import boolean, day, domain_of, integer, number, parse_utc
from connectors.hubspot import streams as hs
from connectors.hubspot.settings import HubSpotSettings
from connectors.salesforce import streams as sf
from connectors.salesforce.settings import SalesforceSettings
from connectors.usage.settings import UsageFields
from connectors.usage.streams import METRICS, DailyUsage, get_path
from core.canonical import KINDS
from sync.settings import parse_settings

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
        "Type": "Existing Customer - Upgrade",
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


def test_every_usage_metric_has_a_configurable_path_and_a_canonical_column() -> None:
    keys = {"workspace_id", "day", "updated_at"}
    assert set(METRICS) | keys == set(UsageFields.model_fields)
    assert set(METRICS) | keys == set(KINDS["usage_daily"].columns)


def test_get_path() -> None:
    assert get_path({"a": {"b": [10, {"c": 3}]}}, "a.b.1.c") == 3
    assert get_path({"a": {}}, "a.b.c") is None


def test_salesforce_accounts_read_the_guard_fields_only_when_configured() -> None:
    plain = sf.Accounts()
    assert not {"Do_Not_Contact__c", "NPS__c", "CSAT__c"} & set(plain.fields)  # an org without them still queries
    decl = sf.Accounts(do_not_contact_field="Do_Not_Contact__c", nps_field="NPS__c", csat_field="CSAT__c")
    assert decl.fields[-5:] == ("Do_Not_Contact__c", "NPS__c", "CSAT__c", "SystemModstamp", "IsDeleted")
    rest = {"Id": "001A", "SystemModstamp": STAMP, "IsDeleted": False}
    rest |= {"Do_Not_Contact__c": True, "NPS__c": 4.5, "CSAT__c": None}
    csv_row = {"Id": "001A", "SystemModstamp": STAMP, "IsDeleted": "false"}  # Bulk API 2.0: strings, "" for null
    csv_row |= {"Do_Not_Contact__c": "true", "NPS__c": "4.5", "CSAT__c": ""}
    for raw in (rest, csv_row):
        values = decl.to_record(raw).values
        assert (values["do_not_contact"], values["nps"], values["csat"]) == (True, 4.5, None)
    values = decl.to_record(rest | {"Do_Not_Contact__c": False, "NPS__c": None, "CSAT__c": 87.5}).values
    assert (values["do_not_contact"], values["nps"], values["csat"]) == (False, None, 87.5)
    values = plain.to_record(rest).values
    assert (values["do_not_contact"], values["nps"], values["csat"]) == (None, None, None)


def test_hubspot_companies_read_the_guard_properties_only_when_configured() -> None:
    plain = hs.Companies()
    assert not {"do_not_contact", "nps_score", "csat_score"} & set(plain.properties)
    decl = hs.Companies(do_not_contact_property="do_not_contact", nps_property="nps_score", csat_property="csat_score")
    assert {"do_not_contact", "nps_score", "csat_score"} <= set(decl.properties)
    stamp = {"hs_lastmodifieddate": "2026-05-01T00:00:00.000Z"}

    def values(**props: str) -> tuple[Any, Any, Any]:
        raw = {"id": "9", "properties": stamp | props, "archived": False}
        got = decl.to_record(raw, {"parent_id": None}).values
        return got["do_not_contact"], got["nps"], got["csat"]

    assert values(do_not_contact="true", nps_score="4", csat_score="") == (True, 4.0, None)
    assert values(do_not_contact="false", nps_score="", csat_score="91.5") == (False, None, 91.5)
    assert values() == (None, None, None)  # never set: HubSpot leaves the property out
    raw = {"id": "9", "properties": stamp | {"do_not_contact": "true", "nps_score": "4"}, "archived": False}
    got = plain.to_record(raw, {"parent_id": None}).values
    assert (got["do_not_contact"], got["nps"], got["csat"]) == (None, None, None)


def test_the_guard_fields_are_optional_settings_that_default_to_unset() -> None:
    for name in ("do_not_contact_field", "nps_field", "csat_field"):
        assert SalesforceSettings.model_fields[name].default is None
    for name in ("do_not_contact_property", "nps_property", "csat_property"):
        assert HubSpotSettings.model_fields[name].default is None
    for column, type_ in (("do_not_contact", "bool"), ("nps", "float"), ("csat", "float")):
        assert KINDS["accounts"].columns[column] == type_


def test_the_bundled_config_names_the_guard_fields_and_the_connectors_hand_them_to_their_streams() -> None:
    from connectors.hubspot.connector import HubSpotConnector
    from connectors.salesforce.connector import SalesforceConnector

    raw = tomllib.loads((Path(__file__).resolve().parents[2] / "config.toml").read_text())
    for section in ("salesforce", "hubspot", "usage"):
        raw[section].pop("ca_file", None)  # the sandbox's CA file need not exist for this
    settings = parse_settings(raw, {"SALESFORCE_TOKEN": "s", "HUBSPOT_TOKEN": "h", "USAGE_TOKEN": "u"})
    assert settings.salesforce is not None and settings.hubspot is not None
    salesforce = SalesforceConnector(settings.salesforce, {"SALESFORCE_TOKEN": "s"}, settings.retry)
    hubspot = HubSpotConnector(settings.hubspot, {"HUBSPOT_TOKEN": "h"}, settings.retry)
    try:
        accounts = next(r.decl for r in salesforce.streams if isinstance(r.decl, sf.Accounts))
        assert (accounts.do_not_contact_field, accounts.nps_field, accounts.csat_field) == (
            "Do_Not_Contact__c",
            "NPS__c",
            "CSAT__c",
        )
        companies = next(r.decl for r in hubspot.streams if isinstance(r.decl, hs.Companies))
        assert (companies.do_not_contact_property, companies.nps_property, companies.csat_property) == (
            "do_not_contact",
            "nps_score",
            "csat_score",
        )
    finally:
        salesforce.close()
        hubspot.close()


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        ({"date": "2026-11-01"}, "no workspace id at 'workspace_id'"),
        ({"workspace_id": "w1"}, "no day at 'date'"),
        ({"workspace_id": "w1", "date": "2026-11-01"}, "updated_at at 'updated_at' is not a date-time: None"),
    ],
)
def test_a_usage_row_that_cannot_be_read_names_the_field_that_is_wrong(item: dict[str, Any], problem: str) -> None:
    with pytest.raises((KeyError, ValueError)) as caught:
        DailyUsage().to_record(item)
    assert problem in str(caught.value)
