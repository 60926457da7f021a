"""SOQL as the Salesforce client sends it: declared templates, values quoted by simple-salesforce."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from connectors.salesforce.client import format_query
from connectors.salesforce.streams import Contacts, Soql, Users
from core.records import Window


def test_a_window_reads_in_cursor_order_with_utc_millisecond_bounds() -> None:
    start = datetime(2026, 5, 1, 8, 30, 0, 123456, tzinfo=timezone.utc)
    end = datetime(2026, 6, 1, 14, 0, 0, 999999, tzinfo=timezone(timedelta(hours=2)))
    assert format_query(Contacts().soql(Window(start=start, end=end))) == (
        "SELECT Id, AccountId, FirstName, LastName, Email, Title, Department, CreatedDate, SystemModstamp, IsDeleted "
        "FROM Contact WHERE SystemModstamp >= 2026-05-01T08:30:00.123Z AND SystemModstamp < 2026-06-01T12:00:00.999Z "
        "ORDER BY SystemModstamp ASC, Id ASC"
    )
    assert (
        format_query(Users().soql(None)) == "SELECT Id, Name, Email, IsActive, SystemModstamp FROM User ORDER BY Id ASC"
    )


def test_values_are_quoted_and_names_are_literal() -> None:
    template = "SELECT Id FROM {sobject:literal} WHERE Key__c IN {keys} AND X = {x}"
    query = Soql(template, {"sobject": "Task", "keys": ["a'b", "c\\d\n"], "x": None})
    assert format_query(query) == "SELECT Id FROM Task WHERE Key__c IN ('a\\'b','c\\\\d\\n') AND X = null"
