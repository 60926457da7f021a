"""The SOQL subset the Salesforce stand-in serves, evaluated over plain dict rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox.salesforce.soql import (
    MAX_OFFSET,
    SoqlError,
    canonical_datetime,
    canonical_or_none,
    parse,
    parse_datetime,
    prepare,
)

SCHEMA = {
    "Account": {
        "Id": "id",
        "Name": "string",
        "Industry": "picklist",
        "NumberOfEmployees": "int",
        "Seats__c": "double",
        "SystemModstamp": "datetime",
        "StartDate": "date",
        "IsDeleted": "boolean",
        "OwnerId": "reference",
    },
    "Task": {"Id": "id", "Subject": "string"},
}

ROWS: list[dict[str, Any]] = [
    {
        "Id": "001A00000000001AAA",
        "Name": "Acme Corp",
        "Industry": "Technology",
        "NumberOfEmployees": 150,
        "Seats__c": 25.0,
        "SystemModstamp": "2026-05-01T09:00:00.000+0000",
        "StartDate": "2025-06-01",
        "IsDeleted": False,
        "OwnerId": "005A00000000001AAA",
    },
    {
        "Id": "001A00000000002AAA",
        "Name": "acme labs",
        "Industry": None,
        "NumberOfEmployees": 20,
        "Seats__c": 10,
        "SystemModstamp": "2026-05-01T09:00:00.000+0000",
        "StartDate": "2026-01-15",
        "IsDeleted": False,
        "OwnerId": "005A00000000002AAA",
    },
    {
        "Id": "001A00000000003AAA",
        "Name": "Globex 100%",
        "Industry": "Retail",
        "NumberOfEmployees": None,
        "SystemModstamp": "2026-04-30T23:59:59.999+0000",
        "IsDeleted": True,
        "OwnerId": "005A00000000001AAA",
    },
    {  # a seeded-style row lacking most fields: missing counts as null
        "Id": "001A00000000004AAA",
        "Name": "Initech_KK",
        "SystemModstamp": "2026-05-02T00:00:00.000+0000",
    },
]


def ids(query: str, rows: list[dict[str, Any]] = ROWS) -> list[str]:
    return [str(row["Id"])[-4:-3] for row in prepare(query, SCHEMA).select(rows)]


def error(query: str) -> SoqlError:
    with pytest.raises(SoqlError) as info:
        prepare(query, SCHEMA)
    return info.value


def test_field_names_are_case_insensitive_and_come_back_canonical() -> None:
    compiled = prepare("select id, NAME, systemmodstamp from ACCOUNT", SCHEMA)
    assert compiled.sobject == "Account"
    assert compiled.fields == ("Id", "Name", "SystemModstamp")
    assert compiled.count is False


def test_object_name_and_alias_prefixes_are_accepted() -> None:
    compiled = prepare("SELECT Account.Name, a.Id FROM Account a WHERE a.Name = 'Acme Corp'", SCHEMA)
    assert compiled.fields == ("Name", "Id")
    assert [r["Id"] for r in compiled.select(ROWS)] == ["001A00000000001AAA"]


def test_count_query_counts_matching_rows() -> None:
    compiled = prepare("SELECT COUNT() FROM Account WHERE IsDeleted = false", SCHEMA)
    assert compiled.count is True
    assert compiled.fields == ()
    assert len(compiled.select(ROWS)) == 2


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("NumberOfEmployees = 150", ["1"]),
        ("NumberOfEmployees != 150", ["2", "3", "4"]),  # two-valued logic: nulls differ from 150
        ("NumberOfEmployees <> 150", ["2", "3", "4"]),
        ("NumberOfEmployees < 150", ["2"]),  # nulls never compare as smaller
        ("NumberOfEmployees <= 150", ["1", "2"]),
        ("NumberOfEmployees > 20", ["1"]),
        ("NumberOfEmployees >= 20", ["1", "2"]),
        ("Seats__c = 10", ["2"]),
        ("Seats__c > 10.5", ["1"]),
        ("Industry = null", ["2", "4"]),
        ("Industry != null", ["1", "3"]),
        ("IsDeleted = true", ["3"]),
        ("IsDeleted = false", ["1", "2"]),  # a missing boolean is null, not false
        ("Name = 'ACME CORP'", ["1"]),  # text comparisons ignore case
        ("Name > 'b'", ["3", "4"]),
        ("OwnerId = '005A00000000001'", ["1", "3"]),  # a 15-character Id names the same record
    ],
)
def test_comparison_operators(where: str, expected: list[str]) -> None:
    assert ids(f"SELECT Id FROM Account WHERE {where}") == expected


def test_and_or_not_with_parentheses() -> None:
    assert ids(
        "SELECT Id FROM Account WHERE (Industry = 'Retail' OR NumberOfEmployees = 20) AND IsDeleted = false"
    ) == ["2"]
    assert ids("SELECT Id FROM Account WHERE NOT (Industry = 'Retail' OR Industry = 'Technology')") == ["2", "4"]
    assert ids("SELECT Id FROM Account WHERE NOT Name LIKE 'acme%' AND NOT IsDeleted = true") == ["4"]
    assert ids("SELECT Id FROM Account WHERE ((Name = 'Acme Corp'))") == ["1"]


def test_mixing_and_with_or_needs_parentheses() -> None:
    err = error("SELECT Id FROM Account WHERE Name = 'a' AND Name = 'b' OR Name = 'c'")
    assert err.error_code == "MALFORMED_QUERY"
    assert err.message.endswith("unexpected token: 'OR'")


def test_in_and_not_in() -> None:
    assert ids("SELECT Id FROM Account WHERE Industry IN ('retail', 'Technology')") == ["1", "3"]
    assert ids("SELECT Id FROM Account WHERE Industry NOT IN ('Retail')") == ["1", "2", "4"]
    assert ids("SELECT Id FROM Account WHERE Industry IN (null, 'Retail')") == ["2", "3", "4"]
    assert ids("SELECT Id FROM Account WHERE NumberOfEmployees IN (20, 150)") == ["1", "2"]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("acme%", ["1", "2"]),
        ("%LABS", ["2"]),
        ("%100\\%", ["3"]),  # \% is a literal percent sign
        ("Initech\\_KK", ["4"]),  # \_ is a literal underscore
        ("Initech_KK", ["4"]),
        ("Acme Cor_", ["1"]),
        ("Acme", []),  # LIKE matches the whole value
    ],
)
def test_like_wildcards(pattern: str, expected: list[str]) -> None:
    assert ids(f"SELECT Id FROM Account WHERE Name LIKE '{pattern}'") == expected


def test_string_literal_escapes() -> None:
    rows = [{"Id": "00T000000000001AAA", "Subject": "It's \\ done\nnow\t\u00e9"}]
    compiled = prepare("SELECT Id FROM Task WHERE Subject = 'It\\'s \\\\ done\\nnow\\t\\u00e9'", SCHEMA)
    assert len(compiled.select(rows)) == 1


def test_an_unknown_escape_is_malformed() -> None:
    err = error("SELECT Id FROM Account WHERE Name = 'a\\qb'")
    assert err.error_code == "MALFORMED_QUERY"
    assert "Illegal character sequence '\\q'" in err.message


@pytest.mark.parametrize(
    "literal",
    ["2026-05-01T09:00:00Z", "2026-05-01T09:00:00.000Z", "2026-05-01T18:00:00+09:00", "2026-05-01T04:00:00.000-05:00"],
)
def test_datetime_literals_compare_as_instants(literal: str) -> None:
    assert ids(f"SELECT Id FROM Account WHERE SystemModstamp = {literal}") == ["1", "2"]
    assert ids(f"SELECT Id FROM Account WHERE SystemModstamp > {literal}") == ["4"]
    assert ids(f"SELECT Id FROM Account WHERE SystemModstamp < {literal}") == ["3"]


def test_date_literals_on_date_fields() -> None:
    assert ids("SELECT Id FROM Account WHERE StartDate >= 2026-01-01") == ["2"]
    assert ids("SELECT Id FROM Account WHERE StartDate < 2026-01-01") == ["1"]


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        ("SystemModstamp > '2026-01-01T00:00:00Z'", "must be of type dateTime and should not be enclosed in quotes"),
        ("SystemModstamp > 2026-01-01", "must be of type dateTime and should not be enclosed in quotes"),
        ("StartDate > 2026-01-01T00:00:00Z", "must be of type date and should not be enclosed in quotes"),
        ("NumberOfEmployees = '5'", "must be of type integer and should not be enclosed in quotes"),
        ("IsDeleted = 'false'", "must be of type boolean and should not be enclosed in quotes"),
        ("Name = 5", "must be of type string and should be enclosed in quotes"),
        ("NumberOfEmployees LIKE '5%'", "invalid operator on integer field: NumberOfEmployees"),
    ],
)
def test_a_literal_of_the_wrong_type_is_refused(where: str, reason: str) -> None:
    err = error(f"SELECT Id FROM Account WHERE {where}")
    assert err.error_code == "INVALID_QUERY_FILTER_OPERATOR"
    assert err.message.endswith(reason)


def test_an_unencoded_plus_in_a_datetime_is_malformed() -> None:
    # A '+' left unencoded in a URL arrives as a space (egen/spark-salesforce#3).
    err = error("SELECT Id FROM Account WHERE SystemModstamp > 2026-01-01T00:00:00.000 09:00")
    assert err.error_code == "MALFORMED_QUERY"
    assert err.message.endswith("unexpected token: '2026-01-01T00:00:00.000'")


def test_order_by_several_keys_with_directions_and_nulls() -> None:
    assert ids("SELECT Id FROM Account ORDER BY SystemModstamp ASC, Id DESC") == ["3", "2", "1", "4"]
    assert ids("SELECT Id FROM Account ORDER BY SystemModstamp DESC, Id ASC") == ["4", "1", "2", "3"]
    assert ids("SELECT Id FROM Account ORDER BY Industry") == ["2", "4", "3", "1"]  # ASC: nulls first
    assert ids("SELECT Id FROM Account ORDER BY Industry DESC") == ["1", "3", "2", "4"]  # DESC: nulls last
    assert ids("SELECT Id FROM Account ORDER BY Industry ASC NULLS LAST, Id DESC") == ["3", "1", "4", "2"]
    assert ids("SELECT Id FROM Account ORDER BY Industry DESC NULLS FIRST") == ["2", "4", "1", "3"]
    assert ids("SELECT Id FROM Account ORDER BY Name") == ["1", "2", "3", "4"]  # text order ignores case


def test_limit_and_offset() -> None:
    assert ids("SELECT Id FROM Account ORDER BY Id LIMIT 2") == ["1", "2"]
    assert ids("SELECT Id FROM Account ORDER BY Id LIMIT 2 OFFSET 1") == ["2", "3"]
    assert ids("SELECT Id FROM Account ORDER BY Id OFFSET 3") == ["4"]
    assert ids("SELECT Id FROM Account LIMIT 0") == []
    assert len(prepare("SELECT COUNT() FROM Account LIMIT 3", SCHEMA).select(ROWS)) == 3


def test_offset_above_2000_is_refused() -> None:
    err = error(f"SELECT Id FROM Account OFFSET {MAX_OFFSET + 1}")
    assert err.error_code == "NUMBER_OUTSIDE_VALID_RANGE"


@pytest.mark.parametrize(
    ("query", "token"),
    [
        ("SELECT Id FROM Account WHERE", "<EOF>"),
        ("SELECT Id FORM Account", "'FORM'"),
        ("SELECT FROM Account", "'FROM'"),
        ("SELECT Id, FROM Account", "'FROM'"),
        ("SELECT Id FROM Account WHERE Name = 'x' LIMIT", "<EOF>"),
        ("SELECT Id FROM Account WHERE (Name = 'x'", "<EOF>"),
        ("SELECT Id FROM Account WHERE Name = 'x')", "')'"),
        ("SELECT Id FROM Account ORDER Id", "'Id'"),
        ("SELECT Id FROM Account WHERE Name 'x'", "'x'"),
        ("SELECT Id FROM Account WHERE Name = Other", "'Other'"),
        ("SELECT Id FROM Account LIMIT -1", "'-1'"),
        ("SELECT Id FROM Account LIMIT 10 junk", "'junk'"),
    ],
)
def test_syntax_errors_name_the_unexpected_token(query: str, token: str) -> None:
    err = error(query)
    assert err.error_code == "MALFORMED_QUERY"
    assert err.message.endswith(f"unexpected token: {token}")


def test_error_messages_carry_the_row_and_column() -> None:
    err = error("SELECT Id,\n  Bogus__c FROM Account")
    assert err.error_code == "INVALID_FIELD"
    assert err.message == (
        "\n  Bogus__c FROM Account\n  ^\nERROR at Row:2:Column:3\n"
        "No such column 'Bogus__c' on entity 'Account'. If you are attempting to use a custom field, be sure to "
        "append the '__c' after the custom field name. Please reference your WSDL or the describe call for the "
        "appropriate names."
    )


@pytest.mark.parametrize(
    "query",
    [
        "SELECT Foo FROM Account",
        "SELECT Id FROM Account WHERE Foo = 1",
        "SELECT Id FROM Account ORDER BY Foo",
    ],
)
def test_unknown_fields_are_invalid_field_everywhere(query: str) -> None:
    err = error(query)
    assert err.error_code == "INVALID_FIELD"
    assert "No such column 'Foo' on entity 'Account'." in err.message


def test_relationship_paths_are_refused() -> None:
    err = error("SELECT Owner.Name FROM Account")
    assert err.error_code == "INVALID_FIELD"
    assert "Didn't understand relationship 'Owner' in field path." in err.message


def test_unknown_sobject_is_invalid_type() -> None:
    err = error("SELECT Id FROM Opportunity")
    assert err.error_code == "INVALID_TYPE"
    assert "sObject type 'Opportunity' is not supported." in err.message
    assert "ERROR at Row:1:Column:16" in err.message


def test_duplicate_selected_field_is_refused() -> None:
    assert "duplicate field selected: Id" in error("SELECT Id, ID FROM Account").message


@pytest.mark.parametrize(
    "query",
    [
        "SELECT COUNT(Id) FROM Account",
        "SELECT Id FROM Account WHERE SystemModstamp = TODAY",
        "SELECT Id FROM Account WHERE Id IN (SELECT OwnerId FROM Account)",
        "SELECT Id FROM Account GROUP BY Id",
    ],
)
def test_unsupported_soql_says_so(query: str) -> None:
    err = error(query)
    assert err.error_code == "MALFORMED_QUERY"
    assert "the upsync sandbox does not support" in err.message


def test_parse_keeps_the_syntax_tree() -> None:
    query = parse("SELECT Id FROM Account WHERE Name = 'x' ORDER BY Id DESC NULLS FIRST LIMIT 5 OFFSET 2")
    assert (query.sobject, query.limit, query.offset) == ("Account", 5, 2)
    assert query.order_by[0].descending and query.order_by[0].nulls_first


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-23T09:15:00.000+0000", "2026-11-23T09:15:00.000+0000"),
        ("2026-11-23T09:15:00Z", "2026-11-23T09:15:00.000+0000"),
        ("2026-11-23T18:15:00.5+09:00", "2026-11-23T09:15:00.500+0000"),
        ("2026-11-23T09:15:00", "2026-11-23T09:15:00.000+0000"),  # no zone: UTC
    ],
)
def test_canonical_datetime(text: str, expected: str) -> None:
    assert canonical_datetime(text) == expected


@given(st.lists(st.one_of(st.none(), st.integers(-1000, 1000)), max_size=40), st.booleans(), st.booleans())
def test_order_by_matches_a_reference_sort(values: list[int | None], descending: bool, nulls_first: bool) -> None:
    rows: list[dict[str, Any]] = [{"Id": f"001A{i:011d}AAA", "NumberOfEmployees": v} for i, v in enumerate(values)]
    direction = "DESC" if descending else "ASC"
    nulls = "FIRST" if nulls_first else "LAST"
    compiled = prepare(f"SELECT Id FROM Account ORDER BY NumberOfEmployees {direction} NULLS {nulls}, Id", SCHEMA)
    got = [(r["NumberOfEmployees"], r["Id"]) for r in compiled.select(rows)]
    pairs = [(v, r["Id"]) for r in rows if (v := r["NumberOfEmployees"]) is not None]
    # Ids break ties ascending whatever the direction of the first key.
    present = sorted(pairs, key=lambda pair: (-pair[0] if descending else pair[0], pair[1]))
    missing = [(None, r["Id"]) for r in sorted(rows, key=lambda r: r["Id"]) if r["NumberOfEmployees"] is None]
    assert got == (missing + present if nulls_first else present + missing)


# --- evaluation over large tables: one pass, one sort per key, snapshots ---------------------


@given(
    st.lists(st.one_of(st.none(), st.integers(-50, 50)), max_size=40),
    st.integers(-60, 60),
    st.integers(-60, 60),
    st.booleans(),
    st.booleans(),
)
def test_a_window_matches_its_two_comparisons(
    values: list[int | None], low: int, high: int, low_inclusive: bool, high_inclusive: bool
) -> None:
    rows: list[dict[str, Any]] = [{"Id": f"001A{i:011d}AAA", "NumberOfEmployees": v} for i, v in enumerate(values)]
    lower, upper = (">=" if low_inclusive else ">"), ("<=" if high_inclusive else "<")
    window = f"SELECT Id FROM Account WHERE NumberOfEmployees {lower} {low} AND NumberOfEmployees {upper} {high}"
    reversed_window = (
        f"SELECT Id FROM Account WHERE NumberOfEmployees {upper} {high} AND NumberOfEmployees {lower} {low}"
    )

    def inside(v: int | None) -> bool:
        if v is None:
            return False
        above = v >= low if low_inclusive else v > low
        below = v <= high if high_inclusive else v < high
        return above and below

    expected = [r["Id"] for r in rows if inside(r["NumberOfEmployees"])]
    assert [r["Id"] for r in prepare(window, SCHEMA).select(rows)] == expected
    assert [r["Id"] for r in prepare(reversed_window, SCHEMA).select(rows)] == expected


@given(
    st.lists(st.tuples(st.one_of(st.none(), st.integers(0, 3)), st.one_of(st.none(), st.integers(0, 3))), max_size=40),
    st.booleans(),
    st.booleans(),
)
def test_mixed_directions_and_null_placements_match_a_reference_sort(
    pairs: list[tuple[int | None, int | None]], first_desc: bool, nulls_first: bool
) -> None:
    rows: list[dict[str, Any]] = [
        {"Id": f"001A{i:011d}AAA", "NumberOfEmployees": a, "Seats__c": b} for i, (a, b) in enumerate(pairs)
    ]
    direction = "DESC" if first_desc else "ASC"
    nulls = "FIRST" if nulls_first else "LAST"
    query = f"SELECT Id FROM Account ORDER BY NumberOfEmployees {direction} NULLS {nulls}, Seats__c DESC, Id"
    got = [r["Id"] for r in prepare(query, SCHEMA).select(rows)]

    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        a, b = row["NumberOfEmployees"], row["Seats__c"]
        first = (0 if nulls_first else 2, 0) if a is None else (1, -a if first_desc else a)
        second = (1, 0) if b is None else (0, -b)  # DESC: nulls last
        return first, second, row["Id"]

    assert got == [r["Id"] for r in sorted(rows, key=key)]


def test_snapshot_builds_tuples_and_hides_deleted_rows_in_the_same_pass() -> None:
    compiled = prepare("SELECT Name, NumberOfEmployees FROM Account ORDER BY Name DESC", SCHEMA)
    assert compiled.snapshot(ROWS, ("Id", *compiled.fields), include_deleted=False) == [
        ("001A00000000004AAA", "Initech_KK", None),  # a missing field is null
        ("001A00000000002AAA", "acme labs", 20),
        ("001A00000000001AAA", "Acme Corp", 150),
    ]
    assert len(compiled.snapshot(ROWS, ("Id",))) == 4
    assert compiled.snapshot(ROWS, ()) == [(), (), (), ()]
    limited = prepare("SELECT Id FROM Account ORDER BY Id DESC LIMIT 2 OFFSET 1", SCHEMA)
    assert limited.snapshot(ROWS, ("Id",)) == [("001A00000000003AAA",), ("001A00000000002AAA",)]
    assert [r["Id"] for r in prepare("SELECT Id FROM Account", SCHEMA).select(ROWS, include_deleted=False)] == [
        "001A00000000001AAA",
        "001A00000000002AAA",
        "001A00000000004AAA",
    ]


def test_stored_datetimes_in_other_iso_forms_still_compare_as_instants() -> None:
    rows: list[dict[str, Any]] = [
        {"Id": "001A00000000001AAA", "SystemModstamp": "2026-05-01T09:00:00Z"},
        {"Id": "001A00000000002AAA", "SystemModstamp": "2026-05-01T18:30:00+09:00"},
        {"Id": "001A00000000003AAA", "SystemModstamp": "not a date"},
        {"Id": "001A00000000004AAA", "SystemModstamp": "2026-05-01T09:00:00.000+0000"},
    ]
    query = "SELECT Id FROM Account WHERE SystemModstamp >= 2026-05-01T09:00:00Z ORDER BY SystemModstamp, Id"
    assert [r["Id"][-4] for r in prepare(query, SCHEMA).select(rows)] == ["1", "4", "2"]
    assert canonical_or_none("garbage") is None and canonical_or_none(None) is None
    assert parse_datetime("2026-05-01T18:30:00+09:00") == datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
