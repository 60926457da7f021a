"""The Salesforce stand-in, driven over HTTPS by the real simple-salesforce client (v1.12)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme
from simple_salesforce.api import Salesforce, SFType
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from sandbox.salesforce import (
    DAILY_API_REQUESTS,
    MAX_COLLECTION_RECORDS,
    api_usage,
    create_salesforce_app,
    edit_as_user,
)
from sandbox.server import Service
from sandbox.world import World, build_world, sf_time

pytestmark = pytest.mark.e2e

ANCHOR = datetime(2026, 6, 1, 12, tzinfo=UTC)
VERSION = "60.0"


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(anchor=ANCHOR, accounts=50)


@pytest.fixture(scope="module")
def ca_pem(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[trustme.CA, Path]]:
    ca = trustme.CA()
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    yield ca, path


@pytest.fixture(scope="module")
def service(
    world: World, ca_pem: tuple[trustme.CA, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    ca, _ = ca_pem
    svc = Service(
        "salesforce",
        create_salesforce_app(world),
        host="127.0.0.1",
        port=0,
        cert=ca.issue_cert("127.0.0.1"),
        tmp=tmp_path_factory.mktemp("sf"),
    )
    svc.start()
    yield svc
    svc.stop()


@pytest.fixture(scope="module")
def http(ca_pem: tuple[trustme.CA, Path]) -> Iterator[requests.Session]:
    session = requests.Session()
    session.verify = str(ca_pem[1])
    session.trust_env = False  # the machine's REQUESTS_CA_BUNDLE would override verify
    yield session
    session.close()


def client(service: Service, http: requests.Session, token: str) -> Salesforce:
    return Salesforce(instance_url=service.url, session_id=token, session=http, version=VERSION)


@pytest.fixture(scope="module")
def sf(service: Service, http: requests.Session, world: World) -> Salesforce:
    return client(service, http, world.tokens["salesforce"])


def sobject(sf: Salesforce, name: str) -> SFType:
    handler = getattr(sf, name)
    assert isinstance(handler, SFType)
    return handler


def rest(sf: Salesforce, path: str, **kwargs: Any) -> Any:
    result = sf.restful(path, **kwargs)
    assert result is not None
    return result


def account_ids(world: World) -> list[str]:
    return sorted(world.salesforce.objects["Account"])


def task(key: str | None = None, **fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"attributes": {"type": "Task"}, "Subject": f"Call {key}"}
    if key is not None:
        record["Upsync_Sync_Key__c"] = key
    record.update(fields)
    return record


def create(sf: Salesforce, records: list[dict[str, Any]], *, all_or_none: bool = False) -> list[dict[str, Any]]:
    result = rest(sf, "composite/sobjects", method="POST", json={"allOrNone": all_or_none, "records": records})
    assert isinstance(result, list)
    return result


def upsert(sf: Salesforce, records: list[dict[str, Any]], *, all_or_none: bool = False) -> list[dict[str, Any]]:
    body = {"allOrNone": all_or_none, "records": records}
    result = rest(sf, "composite/sobjects/Task/Upsync_Sync_Key__c", method="PATCH", json=body)
    assert isinstance(result, list)
    return result


def tag() -> str:
    return uuid.uuid4().hex[:10]


def error_of(exc: pytest.ExceptionInfo[Any]) -> dict[str, Any]:
    content: Any = exc.value.content
    assert isinstance(content, list) and len(content) == 1
    error: dict[str, Any] = content[0]
    return error


# --- auth, usage, discovery ----------------------------------------------------------------


def test_a_wrong_token_gets_the_real_401_body(service: Service, http: requests.Session) -> None:
    stranger = client(service, http, "not-the-token")
    with pytest.raises(SalesforceExpiredSession) as exc:
        stranger.query("SELECT Id FROM Account")
    assert exc.value.status == 401
    assert error_of(exc) == {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}


def test_a_missing_authorization_header_gets_401(service: Service, http: requests.Session) -> None:
    response = http.get(f"{service.url}/services/data/v{VERSION}/limits")
    assert response.status_code == 401
    assert response.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    assert response.headers["Sforce-Limit-Info"].startswith("api-usage=")


def test_every_response_reports_api_usage(sf: Salesforce) -> None:
    sf.query("SELECT Id FROM User LIMIT 1")
    first = sf.api_usage["api-usage"]
    sf.query("SELECT Id FROM User LIMIT 1")
    second = sf.api_usage["api-usage"]
    assert first.total == second.total == DAILY_API_REQUESTS
    assert second.used == first.used + 1
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] == DAILY_API_REQUESTS
    assert limits["DailyApiRequests"]["Remaining"] == DAILY_API_REQUESTS - second.used - 1


def test_a_spent_daily_allocation_gets_403(sf: Salesforce, world: World) -> None:
    usage = api_usage(world)
    saved = usage.used
    usage.used = usage.daily_max
    try:
        with pytest.raises(SalesforceRefusedRequest) as exc:
            sf.query("SELECT Id FROM User")
    finally:
        usage.used = saved
    assert error_of(exc) == {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}


def test_versions_list_answers_with_and_without_trailing_slash(service: Service, http: requests.Session) -> None:
    for path in ("/services/data", "/services/data/"):
        response = http.get(service.url + path)
        assert response.status_code == 200
        versions = {v["version"]: v for v in response.json()}
        assert versions["60.0"] == {"label": "Spring '24", "url": "/services/data/v60.0", "version": "60.0"}
        assert versions["62.0"]["label"] == "Winter '25"


def test_any_api_version_and_trailing_slashes_are_served(
    service: Service, http: requests.Session, world: World
) -> None:
    headers = {"Authorization": f"Bearer {world.tokens['salesforce']}"}
    for path in ("/services/data/v58.0/query/", "/services/data/v61.0/query"):
        response = http.get(service.url + path, params={"q": "SELECT COUNT() FROM User"}, headers=headers)
        assert response.status_code == 200, response.text
        assert response.json() == {"totalSize": len(world.salesforce.objects["User"]), "done": True, "records": []}


def test_an_unknown_path_is_not_found(sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound) as exc:
        rest(sf, "nothing/here")
    assert error_of(exc) == {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}


# --- queries -------------------------------------------------------------------------------


def test_records_carry_attributes_and_canonical_field_names(sf: Salesforce, world: World) -> None:
    result = sf.query("select id, NAME, seats_purchased__c, ParentId from account order by id limit 1")
    first_id = account_ids(world)[0]
    record = result["records"][0]
    assert list(record) == ["attributes", "Id", "Name", "Seats_Purchased__c", "ParentId"]
    assert record["attributes"] == {"type": "Account", "url": f"/services/data/v{VERSION}/sobjects/Account/{first_id}"}
    assert isinstance(record["Seats_Purchased__c"], float)  # number fields come back as JSON doubles
    assert record["ParentId"] is None
    assert result["totalSize"] == 1 and result["done"] is True and "nextRecordsUrl" not in result


def test_accounts_serve_do_not_contact_nps_and_csat_as_the_world_has_them(sf: Salesforce, world: World) -> None:
    def ids(where: str) -> list[str]:
        return [r["Id"] for r in sf.query_all(f"SELECT Id FROM Account WHERE {where} ORDER BY Id")["records"]]

    stored = world.salesforce.objects["Account"]
    rows = sf.query_all("SELECT Id, Do_Not_Contact__c, NPS__c, CSAT__c FROM Account ORDER BY Id")["records"]
    assert len(rows) == len(stored)
    for row in rows:
        account = stored[row["Id"]]
        assert list(row)[1:] == ["Id", "Do_Not_Contact__c", "NPS__c", "CSAT__c"]
        assert isinstance(row["Do_Not_Contact__c"], bool)  # a checkbox is never null
        assert (row["NPS__c"], row["CSAT__c"]) == (account["NPS__c"], account["CSAT__c"])
    flagged = sorted(world.account_keys[n].salesforce_id for n in world.stories["do_not_contact"])
    assert flagged and ids("Do_Not_Contact__c = true") == flagged
    detractors = sorted(world.account_keys[n].salesforce_id for n in world.stories["detractor"])
    assert detractors and set(detractors) <= set(ids("NPS__c >= 3 AND NPS__c <= 5"))
    unknown = ids("NPS__c = null")
    assert unknown and unknown == sorted(i for i, a in stored.items() if a["NPS__c"] is None)


def test_query_pages_follow_next_records_url(sf: Salesforce, world: World) -> None:
    what = account_ids(world)[0]
    prefix = tag()
    keys = [f"{prefix}-{i:03d}" for i in range(300)]
    for start in (0, 200):
        results = create(sf, [task(k, WhatId=what) for k in keys[start : start + 200]])
        assert all(r["success"] for r in results)
    soql = f"SELECT Id, Upsync_Sync_Key__c FROM Task WHERE Upsync_Sync_Key__c LIKE '{prefix}-%' ORDER BY Id"
    first = sf.query(soql, headers={"Sforce-Query-Options": "batchSize=200"})
    assert (first["totalSize"], first["done"], len(first["records"])) == (300, False, 200)
    assert first["nextRecordsUrl"].startswith(f"/services/data/v{VERSION}/query/01g")
    assert first["nextRecordsUrl"].endswith("-200")
    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert (second["totalSize"], second["done"], len(second["records"])) == (300, True, 100)
    assert "nextRecordsUrl" not in second
    got = [r["Upsync_Sync_Key__c"] for r in first["records"] + second["records"]]
    assert sorted(got) == keys and len(set(got)) == 300
    # simple-salesforce's own loop over nextRecordsUrl, through queryAll locators
    assert len(sf.query_all(soql, include_deleted=True)["records"]) == 300


def test_batch_size_is_clamped_and_defaults_to_2000(sf: Salesforce) -> None:
    prefix = tag()
    create(sf, [task(f"{prefix}-{i:03d}") for i in range(200)])
    create(sf, [task(f"{prefix}-200")])
    soql = f"SELECT Id FROM Task WHERE Upsync_Sync_Key__c LIKE '{prefix}-%'"
    small = sf.query(soql, headers={"Sforce-Query-Options": "batchSize=10"})
    assert (small["done"], len(small["records"])) == (False, 200)  # 10 is raised to the 200 minimum
    default = sf.query(soql)
    assert (default["done"], len(default["records"])) == (True, 201)


def test_pages_are_a_snapshot_taken_when_the_query_ran(sf: Salesforce, world: World) -> None:
    prefix = tag()
    ids = [r["id"] for r in create(sf, [task(f"{prefix}-{i:03d}") for i in range(200)])]
    ids += [r["id"] for r in create(sf, [task(f"{prefix}-{i:03d}") for i in range(200, 250)])]
    soql = f"SELECT Id, Subject FROM Task WHERE Upsync_Sync_Key__c LIKE '{prefix}-%' ORDER BY Upsync_Sync_Key__c"
    first = sf.query(soql, headers={"Sforce-Query-Options": "batchSize=200"})
    sobject(sf, "Task").update(ids[-1], {"Subject": "changed after the query ran"})
    sobject(sf, "Task").delete(ids[-2])
    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert [r["Id"] for r in second["records"]] == ids[200:]
    assert second["records"][-1]["Subject"] == f"Call {prefix}-249"


def test_an_unknown_query_locator_is_refused(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query_more(f"/services/data/v{VERSION}/query/01gDn0000009999AAA-2000", identifier_is_url=True)
    assert error_of(exc) == {"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}


def test_query_hides_deleted_rows_and_query_all_shows_them(sf: Salesforce) -> None:
    key = tag()
    [created] = create(sf, [task(key)])
    sobject(sf, "Task").delete(created["id"])
    soql = f"SELECT Id, IsDeleted FROM Task WHERE Upsync_Sync_Key__c = '{key}'"
    assert sf.query(soql)["records"] == []
    [row] = sf.query_all(soql, include_deleted=True)["records"]
    assert (row["Id"], row["IsDeleted"]) == (created["id"], True)


def test_count_query(sf: Salesforce, world: World) -> None:
    result = sf.query("SELECT COUNT() FROM Account WHERE NumberOfEmployees >= 300")
    expected = sum(1 for a in world.salesforce.objects["Account"].values() if a["NumberOfEmployees"] >= 300)
    assert result == {"totalSize": expected, "done": True, "records": []}
    assert 0 < expected < 50


def test_order_by_breaks_timestamp_ties_on_id(sf: Salesforce) -> None:
    prefix = tag()
    ids = [r["id"] for r in create(sf, [task(f"{prefix}-{i}") for i in range(5)])]  # one call: one stamp
    base = f"SELECT Id, SystemModstamp FROM Task WHERE Upsync_Sync_Key__c LIKE '{prefix}-%' ORDER BY SystemModstamp"
    ascending = sf.query(f"{base} ASC, Id ASC")["records"]
    descending = sf.query(f"{base} ASC, Id DESC")["records"]
    assert len({r["SystemModstamp"] for r in ascending}) == 1
    assert [r["Id"] for r in ascending] == sorted(ids)
    assert [r["Id"] for r in descending] == sorted(ids, reverse=True)


@pytest.mark.parametrize(
    "literal",
    ["2026-05-10T00:00:00Z", "2026-05-10T00:00:00.000Z", "2026-05-10T09:00:00+09:00", "2026-05-09T20:00:00-04:00"],
)
def test_datetime_filters_compare_instants(sf: Salesforce, world: World, literal: str) -> None:
    cut = sf_time(datetime(2026, 5, 10, tzinfo=UTC))
    expected = sorted(i for i, a in world.salesforce.objects["Account"].items() if a["SystemModstamp"] >= cut)
    soql = f"SELECT Id FROM Account WHERE SystemModstamp >= {literal} ORDER BY Id"
    assert [r["Id"] for r in sf.query_all(soql)["records"]] == expected
    assert 0 < len(expected) < 50


@pytest.mark.parametrize(
    ("soql", "code", "says"),
    [
        ("SELECT Id FROM Account WHERE", "MALFORMED_QUERY", "unexpected token: <EOF>"),
        ("SELECT Id FROM Account WHERE Name = 'x' AND Name = 'y' OR Id = null", "MALFORMED_QUERY", "'OR'"),
        ("SELECT Id, Foo FROM Account", "INVALID_FIELD", "No such column 'Foo' on entity 'Account'."),
        ("SELECT Id FROM Foo", "INVALID_TYPE", "sObject type 'Foo' is not supported."),
        (
            "SELECT Id FROM Account WHERE SystemModstamp > '2026-01-01T00:00:00Z'",
            "INVALID_QUERY_FILTER_OPERATOR",
            "must be of type dateTime and should not be enclosed in quotes",
        ),
    ],
)
def test_soql_errors_are_400_with_the_real_codes(sf: Salesforce, soql: str, code: str, says: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query(soql)
    error = error_of(exc)
    assert error["errorCode"] == code
    assert says in error["message"]
    assert "ERROR at Row:1:Column:" in error["message"]


# --- describe ------------------------------------------------------------------------------


def test_describe_reports_field_metadata(sf: Salesforce) -> None:
    describe = sobject(sf, "Task").describe()
    assert (describe["name"], describe["custom"], describe["createable"], describe["keyPrefix"]) == (
        "Task",
        False,
        True,
        "00T",
    )
    fields = {f["name"]: f for f in describe["fields"]}
    key = fields["Upsync_Sync_Key__c"]
    assert (key["type"], key["length"], key["externalId"], key["unique"], key["custom"]) == (
        "string",
        80,
        True,
        True,
        True,
    )
    status = fields["Status"]
    assert status["type"] == "picklist" and status["nillable"] is False
    assert [p["value"] for p in status["picklistValues"]] == [
        "Not Started",
        "In Progress",
        "Completed",
        "Waiting on someone else",
        "Deferred",
    ]
    assert fields["Description"]["type"] == "textarea" and fields["Description"]["length"] == 32000
    assert fields["IsClosed"]["createable"] is False and fields["IsClosed"]["updateable"] is False
    assert fields["WhatId"]["referenceTo"] == ["Account", "Opportunity", "Contract", "Case", "Asset", "Product2"]
    account = {f["name"]: f for f in sobject(sf, "Account").describe()["fields"]}
    assert account["Upsync_Health_Band__c"]["length"] == 20
    assert account["Upsync_As_Of__c"]["type"] == "datetime"
    assert account["LastModifiedById"]["updateable"] is False


def test_describing_an_unknown_sobject_is_not_found(sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound) as exc:
        sobject(sf, "Lead").describe()
    assert error_of(exc)["errorCode"] == "NOT_FOUND"


def test_global_describe_lists_the_sobjects(sf: Salesforce) -> None:
    described = sf.describe()
    assert described is not None
    names = {s["name"] for s in described["sobjects"]}
    assert names == {
        *("Account", "Contract", "User", "Opportunity", "Product2", "OpportunityLineItem"),
        *("Asset", "Contact", "Task", "Event", "Case"),
    }


# --- sObject Collections -------------------------------------------------------------------


def test_collection_upsert_creates_then_updates_without_duplicating(sf: Salesforce, world: World) -> None:
    key = tag()
    what = account_ids(world)[1]
    [first] = upsert(sf, [task(key, WhatId=what, Priority="High")])
    assert first["success"] is True and first["created"] is True and first["errors"] == []
    [second] = upsert(sf, [task(key.upper(), Subject="Call again", Status="Completed")])  # keys ignore case
    assert second == {"id": first["id"], "success": True, "errors": [], "created": False}
    rows = [r for r in world.salesforce.objects["Task"].values() if r.get("Upsync_Sync_Key__c") == key]
    assert len(rows) == 1
    row = rows[0]
    assert (row["Subject"], row["Status"], row["IsClosed"], row["Priority"], row["WhatId"]) == (
        "Call again",
        "Completed",
        True,
        "High",
        what,
    )


def test_writes_fill_defaults_and_stamps(sf: Salesforce, world: World) -> None:
    before = sf_time(world.now())
    [result] = create(sf, [task(tag(), ActivityDate="2026-06-04")])
    row = world.salesforce.objects["Task"][result["id"]]
    me = world.salesforce.integration_user_id
    assert result["id"].startswith("00T") and len(result["id"]) == 18
    assert (row["Status"], row["Priority"], row["IsClosed"], row["IsDeleted"]) == (
        "Not Started",
        "Normal",
        False,
        False,
    )
    assert row["OwnerId"] == row["CreatedById"] == row["LastModifiedById"] == me
    assert row["CreatedDate"] == row["LastModifiedDate"] == row["SystemModstamp"] >= before
    assert row["ActivityDate"] == "2026-06-04"


def test_partial_failure_keeps_the_good_records(sf: Salesforce, world: World) -> None:
    key = tag()
    results = create(
        sf,
        [
            task(f"{key}-ok"),
            task(f"{key}-long", Subject="x" * 256),
            task(f"{key}-pick", Status="Done"),
        ],
    )
    assert results[0]["success"] is True and results[0]["id"].startswith("00T")
    assert results[1] == {
        "success": False,
        "errors": [
            {
                "statusCode": "STRING_TOO_LONG",
                "message": f"Subject: data value too large: {'x' * 256} (max length=255)",
                "fields": ["Subject"],
            }
        ],
    }
    assert results[2]["errors"] == [
        {
            "statusCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            "message": "Status: bad value for restricted picklist field: Done",
            "fields": ["Status"],
        }
    ]
    stored = {r.get("Upsync_Sync_Key__c") for r in world.salesforce.objects["Task"].values()}
    assert f"{key}-ok" in stored and f"{key}-long" not in stored and f"{key}-pick" not in stored


def test_all_or_none_rolls_everything_back(sf: Salesforce, world: World) -> None:
    key = tag()
    before = len(world.salesforce.objects["Task"])
    results = upsert(sf, [task(f"{key}-ok"), task(f"{key}-bad", Priority="Urgent")], all_or_none=True)
    assert results[0] == {
        "success": False,
        "errors": [
            {
                "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "message": "Record rolled back because not all records were valid and the request was using "
                "AllOrNone header",
                "fields": [],
            }
        ],
        "created": False,
    }
    assert results[1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert len(world.salesforce.objects["Task"]) == before


def test_more_than_200_records_are_refused(sf: Salesforce, world: World) -> None:
    before = len(world.salesforce.objects["Task"])
    with pytest.raises(SalesforceMalformedRequest) as exc:
        create(sf, [task(f"{tag()}-{i}") for i in range(MAX_COLLECTION_RECORDS + 1)])
    assert error_of(exc) == {
        "message": "record limit reached. cannot submit more than 200 records into this call",
        "errorCode": "EXCEEDED_ID_LIMIT",
    }
    assert len(world.salesforce.objects["Task"]) == before


def test_the_same_external_id_twice_in_one_call_fails_both(sf: Salesforce) -> None:
    key = tag()
    results = upsert(sf, [task(key), task(key, Subject="again"), task(f"{key}-other")])
    for result in results[:2]:
        assert result["success"] is False
        assert result["errors"][0]["statusCode"] == "DUPLICATE_VALUE"
        assert result["errors"][0]["message"] == f"Duplicate external id specified: {key}"
    assert results[2]["success"] is True


def inactive_user(world: World) -> str:
    return next(i for i, u in world.salesforce.objects["User"].items() if not u["IsActive"])


@pytest.mark.parametrize(
    ("fields", "code", "error_fields"),
    [
        ({"OwnerId": "inactive"}, "INACTIVE_OWNER_OR_USER", []),
        ({"WhatId": "001Dn0000099999AAA"}, "INVALID_CROSS_REFERENCE_KEY", ["WhatId"]),
        ({"WhatId": "005Dn0000000001AAA"}, "FIELD_INTEGRITY_EXCEPTION", ["WhatId"]),
        ({"WhatId": "nope"}, "MALFORMED_ID", ["WhatId"]),
        ({"WhoId": "003Dn0000099999AAA"}, "INVALID_CROSS_REFERENCE_KEY", ["WhoId"]),
        ({"IsClosed": True}, "INVALID_FIELD_FOR_INSERT_UPDATE", ["IsClosed"]),
        ({"Status": None}, "REQUIRED_FIELD_MISSING", ["Status"]),
        ({"Description": "d" * 32_001}, "STRING_TOO_LONG", ["Description"]),
    ],
)
def test_write_validation_errors(
    sf: Salesforce, world: World, fields: dict[str, Any], code: str, error_fields: list[str]
) -> None:
    if fields.get("OwnerId") == "inactive":
        fields = {"OwnerId": inactive_user(world)}
    [result] = create(sf, [task(tag(), **fields)])
    assert result["success"] is False
    assert result["errors"][0]["statusCode"] == code
    assert result["errors"][0]["fields"] == error_fields


def test_a_clashing_unique_value_is_a_duplicate(sf: Salesforce) -> None:
    key = tag()
    [first] = create(sf, [task(key)])
    [second] = create(sf, [task(key)])
    assert second["errors"] == [
        {
            "statusCode": "DUPLICATE_VALUE",
            "message": f"duplicate value found: Upsync_Sync_Key__c duplicates value on record with id: {first['id']}",
            "fields": [],
        }
    ]


@pytest.mark.parametrize(
    ("record", "code", "says"),
    [
        (task("k", Bogus__c=1), "INVALID_FIELD", "No such column 'Bogus__c' on sobject of type Task"),
        (task("k", ActivityDate="next week"), "JSON_PARSER_ERROR", "Cannot deserialize instance of date"),
        ({"Subject": "no attributes"}, "INVALID_TYPE", "Must send a concrete entity type."),
    ],
)
def test_an_undeserializable_body_fails_the_whole_request(
    sf: Salesforce, record: dict[str, Any], code: str, says: str
) -> None:
    with pytest.raises(SalesforceMalformedRequest) as exc:
        create(sf, [task(tag()), record])
    error = error_of(exc)
    assert error["errorCode"] == code and says in error["message"]


def test_collection_update_retrieve_and_delete(sf: Salesforce, world: World) -> None:
    key = tag()
    ids = [r["id"] for r in create(sf, [task(f"{key}-{i}") for i in range(3)])]
    updates = [{"attributes": {"type": "Task"}, "id": i, "Status": "In Progress"} for i in ids[:2]]
    updates.append({"attributes": {"type": "Task"}, "id": "00TDn0000099999AAA", "Status": "In Progress"})
    results = rest(sf, "composite/sobjects", method="PATCH", json={"allOrNone": False, "records": updates})
    assert [r["success"] for r in results] == [True, True, False]
    assert results[0] == {"id": ids[0], "success": True, "errors": []}
    assert results[2]["errors"][0]["statusCode"] == "INVALID_CROSS_REFERENCE_KEY"

    fetched = rest(
        sf, "composite/sobjects/Task", params={"ids": ",".join([*ids, "00TDn0000099999AAA"]), "fields": "Id,status"}
    )
    assert [r and r["Status"] for r in fetched] == ["In Progress", "In Progress", "Not Started", None]
    assert fetched[0]["attributes"]["type"] == "Task"

    deleted = rest(sf, "composite/sobjects", method="DELETE", params={"ids": ",".join(ids[:2])})
    assert deleted == [{"id": i, "success": True, "errors": []} for i in ids[:2]]
    again = rest(sf, "composite/sobjects", method="DELETE", params={"ids": ids[0]})
    assert again[0]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"
    assert world.salesforce.objects["Task"][ids[0]]["IsDeleted"] is True


# --- single records ------------------------------------------------------------------------


def test_single_record_create_get_update_delete(sf: Salesforce, world: World) -> None:
    created = sobject(sf, "Task").create({"Subject": "single", "WhatId": account_ids(world)[2]})
    assert created["success"] is True
    record = sobject(sf, "Task").get(created["id"])
    assert record["Subject"] == "single" and record["attributes"]["type"] == "Task"
    assert sobject(sf, "Task").update(created["id"], {"Status": "Completed"}) == 204
    assert world.salesforce.objects["Task"][created["id"]]["IsClosed"] is True
    assert sobject(sf, "Task").delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound) as exc:
        sobject(sf, "Task").get(created["id"])
    assert error_of(exc) == {"message": "entity is deleted", "errorCode": "ENTITY_IS_DELETED"}


def test_single_record_errors_are_400_with_fields(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sobject(sf, "Task").create({"Subject": "s" * 300})
    assert error_of(exc)["errorCode"] == "STRING_TOO_LONG"
    assert error_of(exc)["fields"] == ["Subject"]


def test_upsert_by_external_id_in_the_url(sf: Salesforce, world: World) -> None:
    key = tag()
    response = sobject(sf, "Task").upsert(f"Upsync_Sync_Key__c/{key}", {"Subject": "first"}, raw_response=True)
    assert response.status_code == 201
    body = response.json()
    assert body["created"] is True
    response = sobject(sf, "Task").upsert(f"Upsync_Sync_Key__c/{key}", {"Subject": "second"}, raw_response=True)
    assert response.status_code == 200
    assert response.json() == {"id": body["id"], "success": True, "errors": [], "created": False}
    assert sobject(sf, "Task").get_by_custom_id("Upsync_Sync_Key__c", key)["Subject"] == "second"
    response = sf.session.patch(
        sf.base_url.replace(f"v{VERSION}", "v45.0") + f"sobjects/Task/Upsync_Sync_Key__c/{key}",
        json={"Subject": "third"},
        headers={"Authorization": f"Bearer {world.tokens['salesforce']}"},
    )
    assert response.status_code == 204  # before v46.0 an update answered 204 without a body


def test_get_deleted_and_updated(sf: Salesforce, world: World) -> None:
    [created] = create(sf, [task(tag())])
    sobject(sf, "Task").delete(created["id"])
    account = account_ids(world)[3]
    edited = edit_as_user(world, "Account", account, {"Industry": "Retail"}, inactive_user(world))
    assert edited["LastModifiedById"] == inactive_user(world)
    end = world.now() + timedelta(minutes=2)
    start = end - timedelta(days=1)
    # Coverage ends at the last whole minute of the server clock: what changed since is not reported yet.
    assert created["id"] not in {d["id"] for d in sobject(sf, "Task").deleted(start, end)["deletedRecords"]}
    earlier = sf_time(world.now() - timedelta(minutes=5))
    world.salesforce.objects["Task"][created["id"]]["SystemModstamp"] = earlier
    world.salesforce.objects["Account"][account]["SystemModstamp"] = earlier
    deleted = sobject(sf, "Task").deleted(start, end)
    assert {"id": created["id"], "deletedDate": earlier} in deleted["deletedRecords"]
    assert deleted["latestDateCovered"] <= sf_time(world.now())
    assert "earliestDateAvailable" in deleted
    assert account in sobject(sf, "Account").updated(start, end)["ids"]
