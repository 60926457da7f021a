"""The Salesforce stand-in as an org: every contract object, auth, deletes, limits, through the real simple-salesforce.

Each test builds its own small world (the stable store classes, not the seeded generator) and
inserts the records it needs, so it does not depend on what the sample world contains.
Tests that change org-wide state (an expired session, a spent allocation) get their own
server; the rest share one per module.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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
)

from sandbox.salesforce import SOBJECTS, SalesforceApi, api_usage, create_salesforce_app, hard_delete, soft_delete
from sandbox.server import Service
from sandbox.world import HubSpotStore, SalesforceStore, UsageStore, World, sf_time

pytestmark = pytest.mark.e2e

ANCHOR = datetime(2026, 6, 1, 12, tzinfo=UTC)
VERSION = "60.0"
TOKEN = "sandbox-salesforce-token"  # AuthState's initial access token (world.SANDBOX_TOKENS)
OBJECTS_MD = Path(__file__).resolve().parents[2] / "connectors" / "OBJECTS.md"


# --- fixtures ------------------------------------------------------------------------------


def new_world() -> World:
    """An empty org: two users (the integration user and a rep) and nothing else."""
    world = World(seed=0, anchor=ANCHOR, salesforce=SalesforceStore(), hubspot=HubSpotStore(), usage=UsageStore())
    store = world.salesforce
    users = store.table("User")
    for first, last in (("Upsync", "Integration"), ("Aiko", "Tanaka")):
        uid = store.new_id("005")
        users[uid] = {
            "Id": uid,
            "Name": f"{first} {last}",
            "FirstName": first,
            "LastName": last,
            "Email": f"{first.lower()}@example.com",
            "IsActive": True,
            "SystemModstamp": sf_time(ANCHOR - timedelta(days=300)),
        }
        store.integration_user_id = store.integration_user_id or uid
    return world


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path]:
    authority = trustme.CA()
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    authority.cert_pem.write_to_path(str(path))
    return authority, path


@pytest.fixture(scope="module")
def http(ca: tuple[trustme.CA, Path]) -> Iterator[requests.Session]:
    session = requests.Session()
    session.verify = str(ca[1])
    session.trust_env = False  # the machine's REQUESTS_CA_BUNDLE would override verify
    yield session
    session.close()


@dataclass
class Org:
    """A running stand-in: its world, its HTTPS service and its live ``SalesforceApi`` (settings)."""

    world: World
    service: Service
    api: SalesforceApi


@pytest.fixture(scope="module")
def serve(ca: tuple[trustme.CA, Path], tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Any]:
    """``with serve(world, **app_settings) as org:`` runs a stand-in for one test."""

    @contextmanager
    def run(world: World, **settings: Any) -> Iterator[Org]:
        app = create_salesforce_app(world, **settings)
        service = Service(
            "salesforce",
            app,
            host="127.0.0.1",
            port=0,
            cert=ca[0].issue_cert("127.0.0.1"),
            tmp=tmp_path_factory.mktemp("sf"),
        )
        service.start()
        try:
            yield Org(world, service, app.state.salesforce)
        finally:
            service.stop()

    return run


@pytest.fixture(scope="module")
def org(serve: Callable[..., Any]) -> Iterator[Org]:
    """A shared org for tests that only add their own records."""
    with serve(new_world()) as running:
        yield running


@pytest.fixture(scope="module")
def world(org: Org) -> World:
    return org.world


@pytest.fixture(scope="module")
def service(org: Org) -> Service:
    return org.service


def connect(service: Service, http: requests.Session, token: str = TOKEN) -> Salesforce:
    return Salesforce(instance_url=service.url, session_id=token, session=http, version=VERSION)


@pytest.fixture(scope="module")
def sf(service: Service, http: requests.Session) -> Salesforce:
    return connect(service, http)


def sobject(sf: Salesforce, name: str) -> SFType:
    handler = getattr(sf, name)
    assert isinstance(handler, SFType)
    return handler


def tag() -> str:
    return uuid.uuid4().hex[:10]


def put(world: World, sobject_name: str, **values: Any) -> str:
    """Insert a row straight into the store, as the world generator does (no API, no validation)."""
    store = world.salesforce
    record_id = store.new_id(SOBJECTS[sobject_name].key_prefix)
    stamp = sf_time(world.now() - timedelta(hours=1))
    row = {"Id": record_id, "CreatedDate": stamp, "SystemModstamp": stamp, "IsDeleted": False, **values}
    store.table(sobject_name)[record_id] = row
    return record_id


def rest_error(exc: pytest.ExceptionInfo[Any]) -> dict[str, Any]:
    content: Any = exc.value.content
    assert isinstance(content, list) and len(content) == 1
    error: dict[str, Any] = content[0]
    return error


def auth_header(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- describe: every object of connectors/OBJECTS.md ---------------------------------------


def contract() -> tuple[dict[str, list[str]], dict[str, str]]:
    """The Salesforce table and key prefixes of OBJECTS.md, the authoritative contract."""
    section = OBJECTS_MD.read_text().split("## Salesforce", 1)[1].split("\n## ", 1)[0]
    fields: dict[str, list[str]] = {}
    for line in section.splitlines():
        match = re.match(r"^\| (\w+) \| (.+) \|$", line)
        if match and match.group(1) != "sObject":
            body = re.sub(r"\([^)]*\)", "", match.group(2))  # drop notes such as "(configurable)"
            fields[match.group(1)] = [f.strip().strip("`").strip() for f in body.split(",") if f.strip()]
    prefixes = {name: prefix for prefix, name in re.findall(r"\b(\w{3}) (\w+)", section.split("Id key prefixes:")[1])}
    return fields, prefixes


@pytest.mark.parametrize("name", sorted(contract()[0]))
def test_every_contract_object_is_described_with_its_fields(sf: Salesforce, name: str) -> None:
    fields, prefixes = contract()
    described = sobject(sf, name).describe()
    assert (described["name"], described["keyPrefix"]) == (name, prefixes[name])
    by_name = {f["name"]: f for f in described["fields"]}
    assert [f for f in fields[name] if f not in by_name] == []
    for field in by_name.values():
        if field["type"] in ("id", "reference"):
            assert field["length"] == 18 and field["byteLength"] == 18
        if field["type"] == "picklist":
            assert field["picklistValues"], field["name"]
    global_names = {s["name"]: s["keyPrefix"] for s in (sf.describe() or {})["sobjects"]}
    assert global_names[name] == prefixes[name]


def test_describe_reports_types_picklists_and_write_flags(sf: Salesforce) -> None:
    def fields(name: str) -> dict[str, dict[str, Any]]:
        return {f["name"]: f for f in sobject(sf, name).describe()["fields"]}

    account = fields("Account")
    rollup = account["Health_Rollup__c"]
    assert (rollup["type"], rollup["calculated"], rollup["createable"], rollup["updateable"]) == (
        "double",
        True,
        False,
        False,
    )
    assert rollup["calculatedFormula"] and rollup["custom"] is True
    assert account["ParentId"]["referenceTo"] == ["Account"] and account["ParentId"]["relationshipName"] == "Parent"
    assert account["Seats_Purchased__c"]["calculated"] is False

    opportunity = fields("Opportunity")
    stage = opportunity["StageName"]
    assert stage["restrictedPicklist"] is True and stage["nillable"] is False
    assert {"Closed Won", "Closed Lost", "Prospecting"} <= {p["value"] for p in stage["picklistValues"]}
    assert [p["value"] for p in opportunity["Type"]["picklistValues"]] == [  # Salesforce's standard set
        "New Customer",
        "Existing Customer - Upgrade",
        "Existing Customer - Replacement",
        "Existing Customer - Downgrade",
    ]
    for derived in ("IsClosed", "IsWon"):
        assert (opportunity[derived]["createable"], opportunity[derived]["updateable"]) == (False, False)
    assert opportunity["Amount"]["type"] == "currency" and opportunity["CloseDate"]["type"] == "date"
    assert opportunity["Name"]["length"] == 120

    task = fields("Task")
    assert (task["AccountId"]["type"], task["AccountId"]["createable"], task["AccountId"]["updateable"]) == (
        "reference",
        False,
        False,
    )
    assert task["WhatId"]["polymorphicForeignKey"] is True
    subtype = task["TaskSubtype"]
    assert subtype["createable"] is True and subtype["updateable"] is False
    assert {"Task", "Email", "Call"} <= {p["value"] for p in subtype["picklistValues"]}

    event = fields("Event")
    assert event["AccountId"]["createable"] is False
    assert (event["ActivityDateTime"]["type"], event["DurationInMinutes"]["type"]) == ("datetime", "int")

    case = fields("Case")
    assert [p["value"] for p in case["Status"]["picklistValues"]] == ["New", "Working", "Escalated", "Closed"]
    assert [p["value"] for p in case["Priority"]["picklistValues"]] == ["High", "Medium", "Low"]
    assert case["IsClosed"]["createable"] is False and case["IsEscalated"]["updateable"] is True
    assert case["ClosedDate"]["type"] == "datetime" and case["ClosedDate"]["updateable"] is False

    line = fields("OpportunityLineItem")
    assert line["OpportunityId"]["createable"] is True and line["OpportunityId"]["updateable"] is False
    assert line["UnitPrice"]["type"] == "currency" and line["Quantity"]["type"] == "double"

    asset = fields("Asset")
    assert {"Purchased", "Installed", "Obsolete"} <= {p["value"] for p in asset["Status"]["picklistValues"]}
    assert fields("Contract")["StatusCode"]["createable"] is False
    assert fields("Product2")["IsActive"]["type"] == "boolean"
    assert fields("Contact")["LastName"]["nillable"] is False


def test_the_guard_fields_are_a_checkbox_a_number_and_a_percent(sf: Salesforce) -> None:
    account = {f["name"]: f for f in sobject(sf, "Account").describe()["fields"]}
    checkbox = account["Do_Not_Contact__c"]
    assert (checkbox["type"], checkbox["soapType"], checkbox["nillable"], checkbox["custom"]) == (
        "boolean",
        "xsd:boolean",
        False,
        True,
    )
    assert checkbox["defaultValue"] is False and checkbox["defaultedOnCreate"] is True
    assert (account["NPS__c"]["type"], account["CSAT__c"]["type"]) == ("double", "percent")
    assert account["CSAT__c"]["soapType"] == "xsd:double" and account["NPS__c"]["updateable"] is True

    accounts = sobject(sf, "Account")
    created = accounts.create({"Name": f"Survey {tag()}", "NPS__c": 4.5, "CSAT__c": 88})["id"]
    soql = f"SELECT Do_Not_Contact__c, NPS__c, CSAT__c FROM Account WHERE Id = '{created}'"

    def read() -> tuple[Any, Any, Any]:
        row = sf.query(soql)["records"][0]
        return row["Do_Not_Contact__c"], row["NPS__c"], row["CSAT__c"]

    assert read() == (False, 4.5, 88.0)  # an unticked checkbox is false, never null
    accounts.update(created, {"Do_Not_Contact__c": True, "NPS__c": None})
    assert read() == (True, None, 88.0)
    with pytest.raises(SalesforceMalformedRequest) as exc:
        accounts.update(created, {"Do_Not_Contact__c": "maybe"})
    assert rest_error(exc)["errorCode"] == "JSON_PARSER_ERROR"


# --- derived fields ------------------------------------------------------------------------


def test_activity_account_id_follows_what_id_on_every_write(sf: Salesforce, world: World) -> None:
    account = sobject(sf, "Account").create({"Name": f"Derived {tag()}"})["id"]
    other = sobject(sf, "Account").create({"Name": f"Other {tag()}"})["id"]
    opportunity = sobject(sf, "Opportunity").create(
        {"Name": "Renewal", "AccountId": other, "StageName": "Prospecting", "CloseDate": "2026-09-30"}
    )["id"]
    contract = sobject(sf, "Contract").create({"AccountId": account, "StartDate": "2026-01-01", "ContractTerm": 12})[
        "id"
    ]
    task = sobject(sf, "Task").create({"Subject": "Call", "WhatId": account, "TaskSubtype": "Call"})["id"]
    tasks = world.salesforce.objects["Task"]
    assert tasks[task]["AccountId"] == account
    sobject(sf, "Task").update(task, {"WhatId": opportunity})
    assert tasks[task]["AccountId"] == other  # an Opportunity gives its account
    sobject(sf, "Task").update(task, {"WhatId": contract})
    assert tasks[task]["AccountId"] is None  # anything else gives null
    sobject(sf, "Task").update(task, {"WhatId": None})
    assert tasks[task]["AccountId"] is None

    event = sobject(sf, "Event").create(
        {"Subject": "QBR", "WhatId": opportunity, "ActivityDateTime": "2026-06-03T09:30:00Z", "DurationInMinutes": 60}
    )["id"]
    row = world.salesforce.objects["Event"][event]
    assert (row["AccountId"], row["ActivityDate"], row["ActivityDateTime"]) == (
        other,
        "2026-06-03",
        "2026-06-03T09:30:00.000+0000",
    )
    [record] = sf.query(f"SELECT AccountId FROM Event WHERE Id = '{event}'")["records"]
    assert record["AccountId"] == other

    with pytest.raises(SalesforceMalformedRequest) as exc:
        sobject(sf, "Task").update(task, {"AccountId": account})
    assert rest_error(exc)["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sobject(sf, "Task").update(task, {"TaskSubtype": "Email"})  # set on create only
    assert rest_error(exc)["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


def test_closed_flags_follow_stage_and_status(sf: Salesforce, world: World) -> None:
    opportunities = sobject(sf, "Opportunity")
    opp = opportunities.create({"Name": "Upgrade", "StageName": "Prospecting", "CloseDate": "2026-07-01"})["id"]
    stored = world.salesforce.objects["Opportunity"]
    assert (stored[opp]["IsClosed"], stored[opp]["IsWon"]) == (False, False)
    opportunities.update(opp, {"StageName": "Closed Won"})
    assert (stored[opp]["IsClosed"], stored[opp]["IsWon"]) == (True, True)
    opportunities.update(opp, {"StageName": "Closed Lost"})
    assert (stored[opp]["IsClosed"], stored[opp]["IsWon"]) == (True, False)
    with pytest.raises(SalesforceMalformedRequest) as exc:
        opportunities.update(opp, {"StageName": "Won-ish"})
    assert rest_error(exc)["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        opportunities.update(opp, {"IsWon": False})
    assert rest_error(exc)["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"

    cases = sobject(sf, "Case")
    case = cases.create({"Subject": "Login fails", "Origin": "Email"})["id"]
    row = world.salesforce.objects["Case"]
    assert (row[case]["Status"], row[case]["Priority"], row[case]["IsClosed"], row[case]["ClosedDate"]) == (
        "New",
        "Medium",
        False,
        None,
    )
    cases.update(case, {"Status": "Closed"})
    closed_at = row[case]["ClosedDate"]
    assert row[case]["IsClosed"] is True and closed_at is not None
    cases.update(case, {"Priority": "High"})
    assert row[case]["ClosedDate"] == closed_at  # staying closed keeps the date
    cases.update(case, {"Status": "Working"})
    assert (row[case]["IsClosed"], row[case]["ClosedDate"]) == (False, None)

    task = sobject(sf, "Task").create({"Subject": "Follow up", "Status": "Completed"})["id"]
    assert world.salesforce.objects["Task"][task]["IsClosed"] is True

    product = sobject(sf, "Product2").create({"Name": "Seats", "ProductCode": "SEAT", "Family": "Platform"})["id"]
    line = sobject(sf, "OpportunityLineItem").create(
        {"OpportunityId": opp, "Product2Id": product, "Quantity": 3, "UnitPrice": 120.5}
    )["id"]
    assert world.salesforce.objects["OpportunityLineItem"][line]["TotalPrice"] == 361.5


def test_a_formula_change_moves_no_modstamp_and_cannot_be_written(sf: Salesforce, world: World) -> None:
    stamp = sf_time(world.now() - timedelta(days=2))
    account = put(world, "Account", Name=f"Formula {tag()}", Health_Rollup__c=40.0, SystemModstamp=stamp)
    soql = f"SELECT Id, Health_Rollup__c, SystemModstamp FROM Account WHERE Id = '{account}'"
    assert sf.query(soql)["records"][0]["Health_Rollup__c"] == 40.0

    # A formula input changed: the stored value moves, SystemModstamp does not.
    world.salesforce.objects["Account"][account]["Health_Rollup__c"] = 75.5
    [record] = sf.query(soql)["records"]
    assert (record["Health_Rollup__c"], record["SystemModstamp"]) == (75.5, stamp)
    since = sf.query_all(
        f"SELECT Id FROM Account WHERE Id = '{account}' AND SystemModstamp > {stamp.replace('+0000', 'Z')}"
    )
    assert since["records"] == []  # an incremental read on the cursor misses it: only a full pass sees it

    with pytest.raises(SalesforceMalformedRequest) as exc:
        sobject(sf, "Account").update(account, {"Health_Rollup__c": 10})
    assert rest_error(exc)["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert rest_error(exc)["fields"] == ["Health_Rollup__c"]


def test_direct_store_edits_are_served_on_the_next_query(serve: Callable[..., Any], http: requests.Session) -> None:
    world = new_world()
    same = sf_time(ANCHOR - timedelta(hours=3))
    ids = sorted(put(world, "Task", Subject=f"Burst {i}", SystemModstamp=same) for i in range(3_000))
    with serve(world, max_batch_size=200) as running:
        sf = connect(running.service, http)
        soql = "SELECT Id, SystemModstamp FROM Task ORDER BY SystemModstamp, Id"
        first = sf.query(soql)
        assert (first["totalSize"], len(first["records"]), first["done"]) == (3_000, 200, False)
        records = sf.query_all(soql)["records"]
        assert [r["Id"] for r in records] == ids  # 15 pages of one timestamp, id order, no gaps
        assert {r["SystemModstamp"] for r in records} == {same}

        table = world.salesforce.objects["Task"]
        table[ids[0]]["Subject"] = "Edited in place"
        later = sf_time(ANCHOR + timedelta(minutes=5))
        table[ids[1]]["SystemModstamp"] = later
        added = put(world, "Task", Subject="Added directly", SystemModstamp=later)
        del table[ids[2]]
        fresh = sf.query_all("SELECT Id, Subject, SystemModstamp FROM Task ORDER BY SystemModstamp, Id")["records"]
        assert len(fresh) == 3_000
        assert fresh[0]["Subject"] == "Edited in place"
        assert [r["Id"] for r in fresh[-2:]] == sorted([ids[1], added])
        assert ids[2] not in {r["Id"] for r in fresh}


# --- OAuth 2.0 token endpoint and sessions --------------------------------------------------


def token_request(http: requests.Session, service: Service, **form: str) -> requests.Response:
    return http.post(f"{service.url}/services/oauth2/token", data=form)


def test_refresh_token_grant_issues_a_working_session(service: Service, http: requests.Session, world: World) -> None:
    auth = world.auth["salesforce"]
    used = api_usage(world).used
    response = token_request(
        http,
        service,
        grant_type="refresh_token",
        refresh_token=next(iter(auth.refresh_tokens)),
        client_id=auth.client_id,
        client_secret=auth.client_secret,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "instance_url", "id", "token_type", "issued_at", "signature", "scope"}
    assert (body["instance_url"], body["token_type"]) == (service.url, "Bearer")
    assert body["id"].startswith(f"{service.url}/id/00D") and body["id"].endswith(world.salesforce.integration_user_id)
    assert body["issued_at"].isdigit() and "refresh_token" in body["scope"]
    assert "Sforce-Limit-Info" not in response.headers and api_usage(world).used == used  # not an API call
    assert auth.valid(body["access_token"])
    fresh = connect(service, http, body["access_token"])
    assert fresh.query("SELECT Id FROM User")["totalSize"] == 2


def test_client_credentials_grant_needs_the_secret(service: Service, http: requests.Session, world: World) -> None:
    auth = world.auth["salesforce"]
    response = token_request(
        http, service, grant_type="client_credentials", client_id=auth.client_id, client_secret=auth.client_secret
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == "api" and body["token_type"] == "Bearer"
    assert connect(service, http, body["access_token"]).query("SELECT COUNT() FROM User")["totalSize"] == 2
    missing = token_request(http, service, grant_type="client_credentials", client_id=auth.client_id)
    assert (missing.status_code, missing.json()) == (
        400,
        {"error": "invalid_client", "error_description": "invalid client credentials"},
    )


@pytest.mark.parametrize(
    ("form", "error", "description"),
    [
        (
            {"grant_type": "refresh_token", "refresh_token": "revoked"},
            "invalid_grant",
            "expired access/refresh token",
        ),
        (
            {"grant_type": "refresh_token", "client_id": "someone-else"},
            "invalid_client_id",
            "client identifier invalid",
        ),
        (
            {"grant_type": "refresh_token", "client_secret": "wrong"},
            "invalid_client",
            "invalid client credentials",
        ),
        (
            {"grant_type": "client_credentials", "client_secret": "wrong"},
            "invalid_client",
            "invalid client credentials",
        ),
        ({"grant_type": "password"}, "unsupported_grant_type", "grant type not supported"),
    ],
)
def test_bad_credentials_get_the_oauth_error_body(
    service: Service, http: requests.Session, world: World, form: dict[str, str], error: str, description: str
) -> None:
    auth = world.auth["salesforce"]
    full = {"client_id": auth.client_id, "refresh_token": next(iter(auth.refresh_tokens)), **form}
    response = token_request(http, service, **full)
    assert response.status_code == 400
    assert response.json() == {"error": error, "error_description": description}


def test_an_expired_session_is_401_until_refreshed(serve: Callable[..., Any], http: requests.Session) -> None:
    world = new_world()
    with serve(world) as running:
        service = running.service
        sf = connect(service, http)
        assert sf.query("SELECT Id FROM User")["totalSize"] == 2
        auth = world.auth["salesforce"]
        auth.expire()
        with pytest.raises(SalesforceExpiredSession) as exc:
            sf.query("SELECT Id FROM User")
        assert exc.value.status == 401
        assert rest_error(exc) == {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
        refreshed = token_request(
            http,
            service,
            grant_type="refresh_token",
            refresh_token=next(iter(auth.refresh_tokens)),
            client_id=auth.client_id,
        ).json()["access_token"]
        assert connect(service, http, refreshed).query("SELECT Id FROM User")["totalSize"] == 2
        with pytest.raises(SalesforceExpiredSession):
            sf.query("SELECT Id FROM User")  # the old session stays dead
        auth.refresh_tokens.clear()  # revoked: refreshing fails too
        again = token_request(http, service, grant_type="refresh_token", refresh_token="x", client_id=auth.client_id)
        assert again.json()["error"] == "invalid_grant"


# --- deletes -------------------------------------------------------------------------------


def deleted(sf: Salesforce, name: str, start: datetime, end: datetime) -> dict[str, Any]:
    result = sobject(sf, name).deleted(start, end)
    assert isinstance(result, dict)
    return result


def test_soft_and_hard_deletes_through_query_all_and_deleted(sf: Salesforce, world: World) -> None:
    key = tag()
    soft, hard, binned, live = (put(world, "Contact", LastName=f"{key}-{i}") for i in range(4))
    an_hour_ago = world.now() - timedelta(hours=1)
    soft_delete(world, "Contact", soft, at=an_hour_ago)
    entry = hard_delete(world, "Contact", hard, at=an_hour_ago - timedelta(minutes=5))
    assert entry == {"sobject": "Contact", "id": hard, "deletedDate": sf_time(an_hour_ago - timedelta(minutes=5))}
    soft_delete(world, "Contact", binned, at=an_hour_ago - timedelta(minutes=10))
    emptied = hard_delete(world, "Contact", binned)  # emptying the bin keeps the original deletion time
    assert emptied["deletedDate"] == sf_time(an_hour_ago - timedelta(minutes=10))

    soql = f"SELECT Id, IsDeleted FROM Contact WHERE LastName LIKE '{key}-%' ORDER BY LastName"
    assert [r["Id"] for r in sf.query(soql)["records"]] == [live]
    seen = {r["Id"]: r["IsDeleted"] for r in sf.query_all(soql, include_deleted=True)["records"]}
    assert seen == {soft: True, live: False}  # hard deletes are gone even from queryAll

    end = world.now() + timedelta(minutes=2)
    report = deleted(sf, "Contact", end - timedelta(days=1), end)
    by_id = {d["id"]: d["deletedDate"] for d in report["deletedRecords"]}
    assert by_id == {
        soft: sf_time(an_hour_ago),
        hard: sf_time(an_hour_ago - timedelta(minutes=5)),
        binned: sf_time(an_hour_ago - timedelta(minutes=10)),
    }
    assert report["latestDateCovered"] <= sf_time(world.now())
    assert report["earliestDateAvailable"] <= sf_time(world.now() - timedelta(days=15))
    narrow = deleted(sf, "Contact", an_hour_ago - timedelta(minutes=7), an_hour_ago - timedelta(minutes=2))
    assert [d["id"] for d in narrow["deletedRecords"]] == [hard]
    assert deleted(sf, "Account", end - timedelta(days=1), end)["deletedRecords"] == []  # per object


def test_an_api_delete_is_soft_and_reported_once_covered(sf: Salesforce, world: World) -> None:
    case = sobject(sf, "Case").create({"Subject": "Duplicate"})["id"]
    assert sobject(sf, "Case").delete(case) == 204
    row = world.salesforce.objects["Case"][case]
    assert row["IsDeleted"] is True
    end = world.now() + timedelta(minutes=2)
    # Coverage ends at the last whole minute of the server clock: a delete made now is not in yet.
    assert case not in {d["id"] for d in deleted(sf, "Case", end - timedelta(days=1), end)["deletedRecords"]}
    row["SystemModstamp"] = sf_time(world.now() - timedelta(minutes=3))
    assert case in {d["id"] for d in deleted(sf, "Case", end - timedelta(days=1), end)["deletedRecords"]}


@pytest.mark.parametrize(
    ("start_days", "end_days", "message"),
    [
        (16, 0, "startDate cannot be more than 15 days ago"),
        (1, 1, "startDate must chronologically precede endDate by more than one minute"),
        (0, 1, "startDate must chronologically precede endDate by more than one minute"),
    ],
)
def test_deleted_refuses_bad_windows(
    service: Service, http: requests.Session, world: World, start_days: int, end_days: int, message: str
) -> None:
    now = world.now()
    params = {
        "start": (now - timedelta(days=start_days)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end": (now - timedelta(days=end_days)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    response = http.get(
        f"{service.url}/services/data/v{VERSION}/sobjects/Contact/deleted/", params=params, headers=auth_header()
    )
    assert response.status_code == 400
    assert response.json() == [{"message": message, "errorCode": "INVALID_REPLICATION_DATE"}]
    missing = http.get(f"{service.url}/services/data/v{VERSION}/sobjects/Contact/deleted/", headers=auth_header())
    assert missing.json()[0]["errorCode"] == "MISSING_ARGUMENT"


def test_updated_looks_back_30_days_not_15(service: Service, http: requests.Session, world: World) -> None:
    now = world.now()
    url = f"{service.url}/services/data/v{VERSION}/sobjects/Contact/updated/"
    end = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    twenty = http.get(url, params={"start": (now - timedelta(days=20)).isoformat(), "end": end}, headers=auth_header())
    assert twenty.status_code == 200 and "ids" in twenty.json()
    too_old = http.get(url, params={"start": (now - timedelta(days=31)).isoformat(), "end": end}, headers=auth_header())
    assert too_old.json() == [
        {"message": "startDate cannot be more than 30 days ago", "errorCode": "INVALID_REPLICATION_DATE"}
    ]


# --- limits and sizes ----------------------------------------------------------------------


def test_a_spent_daily_allocation_is_403_until_a_new_day(serve: Callable[..., Any], http: requests.Session) -> None:
    world = new_world()
    with serve(world, daily_api_requests=5) as running:
        sf = connect(running.service, http)
        usage = api_usage(world)
        assert usage.daily_max == 5
        for _ in range(5):
            sf.query("SELECT Id FROM User LIMIT 1")
        assert sf.api_usage["api-usage"].used == 5 and sf.api_usage["api-usage"].total == 5
        with pytest.raises(SalesforceRefusedRequest) as exc:
            sf.query("SELECT Id FROM User LIMIT 1")
        assert exc.value.status == 403
        assert rest_error(exc) == {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
        assert usage.used == 5  # refused calls are not counted
        usage.used = 3  # a test can also put the org just below its limit
        assert sf.query("SELECT COUNT() FROM User")["totalSize"] == 2
        usage.reset()
        assert (usage.used, usage.bulk_jobs_used) == (0, 0)


def test_max_batch_size_forces_many_pages(serve: Callable[..., Any], http: requests.Session) -> None:
    world = new_world()
    for i in range(300):
        put(world, "Account", Name=f"Paged {i:03d}")
    with serve(world, max_batch_size=50) as running:
        service = running.service
        sf = connect(service, http)
        first = sf.query("SELECT Id, Name FROM Account ORDER BY Name")
        assert (len(first["records"]), first["done"], first["totalSize"]) == (50, False, 300)
        before = service.calls("GET", r"/query")
        assert len(sf.query_all("SELECT Id FROM Account")["records"]) == 300
        assert service.calls("GET", r"/query") - before == 6  # six pages of 50
        asked = sf.query("SELECT Id FROM Account", headers={"Sforce-Query-Options": "batchSize=1000"})
        assert len(asked["records"]) == 50  # the setting is also the ceiling
        running.api.settings.max_batch_size = 120  # settings are read per request
        assert len(sf.query("SELECT Id FROM Account")["records"]) == 120
