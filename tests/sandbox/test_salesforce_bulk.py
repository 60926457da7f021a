"""Bulk API 2.0 query jobs of the Salesforce stand-in, through simple-salesforce's ``bulk2`` and plain REST."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme
from simple_salesforce.api import Salesforce
from simple_salesforce.bulk2 import SFBulk2Handler, SFBulk2Type

from sandbox.salesforce import SalesforceApi, api_usage, create_salesforce_app, soft_delete
from sandbox.salesforce.bulk import decode_locator, encode_locator
from sandbox.server import Service
from sandbox.world import HubSpotStore, SalesforceStore, UsageStore, World, sf_time

pytestmark = pytest.mark.e2e

ANCHOR = datetime(2026, 6, 1, 12, tzinfo=UTC)
VERSION = "60.0"
TOKEN = "sandbox-salesforce-token"
STAMP = sf_time(ANCHOR - timedelta(days=3))


def new_world(accounts: int = 0) -> World:
    """An org with one user and ``accounts`` Accounts whose values exercise the CSV rules."""
    world = World(seed=0, anchor=ANCHOR, salesforce=SalesforceStore(), hubspot=HubSpotStore(), usage=UsageStore())
    store = world.salesforce
    user = store.new_id("005")
    store.table("User")[user] = {"Id": user, "Name": "Upsync Integration", "IsActive": True, "SystemModstamp": STAMP}
    store.integration_user_id = user
    table = store.table("Account")
    for i in range(accounts):
        record_id = store.new_id("001")
        table[record_id] = {
            "Id": record_id,
            "Name": f'Acme, "Labs" {i:05d}' if i % 7 == 0 else f"Globex {i:05d}",
            "Website": None if i % 2 else f"https://acme-{i}.example.com",
            "NumberOfEmployees": 40 + i,
            "Seats_Purchased__c": 25,
            "Health_Rollup__c": 61.5,
            "SystemModstamp": STAMP,
            "IsDeleted": False,
        }
    return world


@dataclass
class Org:
    world: World
    service: Service
    api: SalesforceApi


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


@pytest.fixture(scope="module")
def serve(ca: tuple[trustme.CA, Path], tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Any]:
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
    with serve(new_world(accounts=3_500)) as running:
        yield running


def connect(org: Org, http: requests.Session) -> Salesforce:
    return Salesforce(instance_url=org.service.url, session_id=TOKEN, session=http, version=VERSION)


def bulk2(sf: Salesforce, name: str) -> SFBulk2Type:
    """``sf.bulk2.<name>``, typed."""
    handler = sf.bulk2
    assert isinstance(handler, SFBulk2Handler)
    typed: SFBulk2Type = getattr(handler, name)
    return typed


def texts(chunks: Iterator[str | int]) -> list[str]:
    """The CSV chunks a ``bulk2`` query yields (typed ``str | int`` by the client)."""
    out: list[str] = []
    for chunk in chunks:
        assert isinstance(chunk, str)
        out.append(chunk)
    return out


def jobs_url(org: Org, version: str = VERSION) -> str:
    return f"{org.service.url}/services/data/v{version}/jobs/query"


def headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def rows_of(chunk: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(chunk)))


# --- through simple-salesforce ---------------------------------------------------------------


def test_bulk2_query_streams_thousands_of_rows_in_chunks(org: Org, http: requests.Session) -> None:
    sf = connect(org, http)
    service = org.service
    polls, results = service.calls("GET", r"/jobs/query/750\w+$"), service.calls("GET", r"/results$")
    soql = "SELECT Id, Name, Website, NumberOfEmployees, Seats_Purchased__c, IsDeleted, SystemModstamp FROM Account"
    chunks = texts(bulk2(sf, "Account").query(soql, max_records=1_000, wait=0))
    assert len(chunks) == 4  # 1,000 + 1,000 + 1,000 + 500
    assert service.calls("GET", r"/results$") - results == 4
    assert service.calls("GET", r"/jobs/query/750\w+$") - polls == 2  # InProgress once, then JobComplete

    parsed = [rows_of(chunk) for chunk in chunks]
    header = ["Id", "Name", "Website", "NumberOfEmployees", "Seats_Purchased__c", "IsDeleted", "SystemModstamp"]
    assert all(rows[0] == header for rows in parsed)
    assert [len(rows) - 1 for rows in parsed] == [1_000, 1_000, 1_000, 500]
    records = [dict(zip(header, row, strict=True)) for rows in parsed for row in rows[1:]]
    stored = org.world.salesforce.objects["Account"]
    assert sorted(r["Id"] for r in records) == sorted(stored)
    first = next(r for r in records if r["Id"] == min(stored))
    assert first == {
        "Id": min(stored),
        "Name": 'Acme, "Labs" 00000',  # quoting survives commas and quotes
        "Website": "https://acme-0.example.com",
        "NumberOfEmployees": "40",
        "Seats_Purchased__c": "25.0",  # a double, as the REST API shows it
        "IsDeleted": "false",
        "SystemModstamp": STAMP,  # the REST datetime form
    }
    assert any(r["Website"] == "" for r in records)  # null is the empty string

    raw = chunks[0].splitlines()
    assert raw[0] == '"Id","Name","Website","NumberOfEmployees","Seats_Purchased__c","IsDeleted","SystemModstamp"'
    assert f'"{min(stored)}","Acme, ""Labs"" 00000",' in raw[1]  # RFC 4180: every value quoted, quotes doubled
    assert raw[2].split(",")[2] == '""'


def test_bulk2_download_writes_each_chunk_to_a_file(org: Org, http: requests.Session, tmp_path: Path) -> None:
    sf = connect(org, http)
    results = bulk2(sf, "Account").download("SELECT Id FROM Account", path=str(tmp_path), max_records=2_000, wait=0)
    assert [r["number_of_records"] for r in results] == [2_000, 1_500]
    assert results[0]["locator"] == encode_locator(2_000) and results[1]["locator"] == ""
    ids = [row[0] for r in results for row in rows_of(Path(r["file"]).read_text())[1:]]
    assert len(ids) == len(set(ids)) == 3_500


def test_query_all_jobs_see_soft_deleted_rows(serve: Callable[..., Any], http: requests.Session) -> None:
    world = new_world(accounts=20)
    victim = min(world.salesforce.objects["Account"])
    soft_delete(world, "Account", victim)
    with serve(world, bulk_job_polls=0) as running:
        sf = connect(running, http)
        live = [
            row
            for chunk in texts(bulk2(sf, "Account").query("SELECT Id FROM Account", wait=0))
            for row in rows_of(chunk)
        ]
        every = [
            row
            for chunk in bulk2(sf, "Account").query_all("SELECT Id, IsDeleted FROM Account", wait=0)
            for row in rows_of(chunk)
        ]
    assert len(live) == 1 + 19 and [victim] not in live
    assert [victim, "true"] in every and len(every) == 1 + 20


# --- the job resource over plain REST ------------------------------------------------------


def test_job_lifecycle_states_results_list_abort_and_delete(serve: Callable[..., Any], http: requests.Session) -> None:
    with serve(new_world(accounts=250), bulk_job_polls=2) as running:
        created = http.post(
            jobs_url(running),
            json={"operation": "query", "query": "SELECT Id, Name FROM Account ORDER BY Name"},
            headers=headers(),
        )
        assert created.status_code == 200, created.text
        job = created.json()
        assert job["id"].startswith("750") and len(job["id"]) == 18
        assert {
            k: job[k] for k in ("operation", "object", "state", "contentType", "lineEnding", "columnDelimiter")
        } == {
            "operation": "query",
            "object": "Account",
            "state": "UploadComplete",
            "contentType": "CSV",
            "lineEnding": "LF",
            "columnDelimiter": "COMMA",
        }
        assert job["apiVersion"] == 60.0 and job["concurrencyMode"] == "Parallel"
        url = f"{jobs_url(running)}/{job['id']}"

        early = http.get(f"{url}/results", headers=headers())
        assert early.status_code == 400 and early.json()[0]["errorCode"] == "INVALIDJOBSTATE"
        states = [http.get(url, headers=headers()).json()["state"] for _ in range(4)]
        assert states == ["InProgress", "InProgress", "JobComplete", "JobComplete"]
        info = http.get(url, headers=headers()).json()
        assert info["numberRecordsProcessed"] == 250 and info["jobType"] == "V2Query"

        first = http.get(f"{url}/results", params={"maxRecords": 100}, headers=headers())
        assert first.headers["Content-Type"].startswith("text/csv")
        assert (first.headers["Sforce-NumberOfRecords"], first.headers["Sforce-Locator"]) == ("100", "MTAw")
        assert decode_locator(first.headers["Sforce-Locator"]) == 100
        assert first.headers["Sforce-Limit-Info"].startswith("api-usage=")
        locator = first.headers["Sforce-Locator"]
        again = [
            http.get(f"{url}/results", params={"maxRecords": "100", "locator": locator}, headers=headers())
            for _ in "ab"
        ]
        assert again[0].text == again[1].text  # a locator can be read any number of times
        last = http.get(f"{url}/results", params={"maxRecords": "200", "locator": locator}, headers=headers())
        assert (last.headers["Sforce-NumberOfRecords"], last.headers["Sforce-Locator"]) == ("150", "null")
        names = [row[1] for row in rows_of(first.text)[1:] + rows_of(last.text)[1:]]
        assert names == sorted(names) and len(names) == 250  # ORDER BY holds across chunks
        bad = http.get(f"{url}/results", params={"locator": "not-a-locator"}, headers=headers())
        assert bad.status_code == 400
        other_version = http.get(f"{jobs_url(running, '59.0')}/{job['id']}/results", headers=headers())
        assert other_version.status_code == 409  # results must be read with the creating version

        listed = http.get(jobs_url(running), headers=headers()).json()
        assert listed["done"] is True and listed["nextRecordsUrl"] is None
        assert [j["id"] for j in listed["records"]] == [job["id"]]

        too_late = http.patch(url, json={"state": "Aborted"}, headers=headers())
        assert too_late.status_code == 400 and too_late.json()[0]["errorCode"] == "INVALIDJOBSTATE"
        gone = http.delete(url, headers=headers())
        assert (gone.status_code, gone.content) == (204, b"")
        assert http.get(url, headers=headers()).status_code == 404

        second = http.post(
            jobs_url(running), json={"operation": "queryAll", "query": "SELECT Id FROM Account"}, headers=headers()
        ).json()
        aborted = http.patch(f"{jobs_url(running)}/{second['id']}", json={"state": "Aborted"}, headers=headers())
        assert aborted.status_code == 200 and aborted.json()["state"] == "Aborted"
        assert http.get(f"{jobs_url(running)}/{second['id']}", headers=headers()).json()["state"] == "Aborted"


def test_results_are_the_store_as_it_was_when_the_job_completed(
    serve: Callable[..., Any], http: requests.Session
) -> None:
    world = new_world(accounts=10)
    table = world.salesforce.objects["Account"]
    first_id = min(table)
    with serve(world, bulk_job_polls=1) as running:
        job = http.post(
            jobs_url(running), json={"operation": "query", "query": "SELECT Id, Name FROM Account"}, headers=headers()
        ).json()
        url = f"{jobs_url(running)}/{job['id']}"
        table[first_id]["Name"] = "Renamed before completion"
        assert http.get(url, headers=headers()).json()["state"] == "InProgress"
        assert http.get(url, headers=headers()).json()["state"] == "JobComplete"
        table[first_id]["Name"] = "Renamed after completion"
        rows = rows_of(http.get(f"{url}/results", headers=headers()).text)
    assert [first_id, "Renamed before completion"] in rows


def test_csv_options_versions_and_zulu_datetimes(serve: Callable[..., Any], http: requests.Session) -> None:
    world = new_world(accounts=3)
    with serve(world, bulk_job_polls=0, bulk_zulu_datetimes=True) as running:
        body = {
            "operation": "query",
            "query": "SELECT SystemModstamp, Name, Id FROM Account ORDER BY Id",
            "columnDelimiter": "PIPE",
            "lineEnding": "CRLF",
        }
        job = http.post(jobs_url(running), json=body, headers=headers()).json()
        url = f"{jobs_url(running)}/{job['id']}"
        assert http.get(url, headers=headers()).json()["state"] == "JobComplete"
        text = http.get(f"{url}/results", headers=headers()).text
        lines = text.split("\r\n")
        assert lines[0] == '"SystemModstamp"|"Name"|"Id"'  # v50.0+: the columns in the order asked
        assert lines[1].startswith(f'"{STAMP[:-5]}Z"|"Acme, ""Labs"" 00000"|')
        assert lines[-1] == "" and len(lines) == 5

        old = http.post(jobs_url(running, "49.0"), json=body, headers=headers()).json()
        old_url = f"{jobs_url(running, '49.0')}/{old['id']}"
        http.get(old_url, headers=headers())
        header = http.get(f"{old_url}/results", headers=headers()).text.split("\r\n")[0]
        assert header == '"Id"|"Name"|"SystemModstamp"'  # before v50.0: alphabetical


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"operation": "query", "query": "SELECT COUNT() FROM Account"}, "API_ERROR"),
        ({"operation": "query", "query": "SELECT Id FROM Account OFFSET 5"}, "API_ERROR"),
        ({"operation": "query", "query": "SELECT Nope FROM Account"}, "INVALID_FIELD"),
        ({"operation": "query", "query": "SELECT Id FROM Nothing"}, "INVALID_TYPE"),
        ({"operation": "upsert", "query": "SELECT Id FROM Account"}, "INVALIDJOB"),
        ({"operation": "query", "query": "SELECT Id FROM Account", "lineEnding": "CR"}, "INVALIDJOB"),
        ({"operation": "query"}, "INVALIDJOB"),
    ],
)
def test_jobs_salesforce_refuses(org: Org, http: requests.Session, body: dict[str, Any], code: str) -> None:
    used = api_usage(org.world).bulk_jobs_used
    response = http.post(jobs_url(org), json=body, headers=headers())
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == code
    assert api_usage(org.world).bulk_jobs_used == used  # a refused job spends no budget


def test_the_daily_job_budget(serve: Callable[..., Any], http: requests.Session) -> None:
    world = new_world(accounts=1)
    with serve(world, bulk_daily_jobs=2) as running:
        body = {"operation": "query", "query": "SELECT Id FROM Account"}
        assert [http.post(jobs_url(running), json=body, headers=headers()).status_code for _ in range(2)] == [200, 200]
        refused = http.post(jobs_url(running), json=body, headers=headers())
        assert refused.status_code == 400 and refused.json()[0]["errorCode"] == "LIMIT_EXCEEDED"
        limits = http.get(f"{running.service.url}/services/data/v{VERSION}/limits", headers=headers()).json()
        assert limits["DailyBulkV2QueryJobs"] == {"Max": 2, "Remaining": 0}
        usage = api_usage(world)
        assert (usage.bulk_jobs_used, usage.bulk_jobs_max) == (2, 2)
        usage.bulk_jobs_used = 0  # a new day
        assert http.post(jobs_url(running), json=body, headers=headers()).status_code == 200


def test_bulk_calls_need_a_session_and_count_as_api_requests(org: Org, http: requests.Session) -> None:
    denied = http.get(jobs_url(org), headers={"Authorization": "Bearer expired"})
    assert denied.status_code == 401 and denied.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    before = api_usage(org.world).used
    http.get(jobs_url(org), headers=headers())
    assert api_usage(org.world).used == before + 1


def test_old_results_are_dropped_past_the_retained_rows(serve: Callable[..., Any], http: requests.Session) -> None:
    with serve(new_world(accounts=30), bulk_job_polls=0) as running:
        running.api.settings.bulk.retained_rows = 50  # settings are live
        body = {"operation": "query", "query": "SELECT Id FROM Account"}
        first, second = (http.post(jobs_url(running), json=body, headers=headers()).json()["id"] for _ in "ab")
        assert http.get(f"{jobs_url(running)}/{first}", headers=headers()).json()["state"] == "JobComplete"
        assert http.get(f"{jobs_url(running)}/{second}", headers=headers()).json()["state"] == "JobComplete"
        assert http.get(f"{jobs_url(running)}/{first}/results", headers=headers()).status_code == 404
        kept = http.get(f"{jobs_url(running)}/{second}/results", headers=headers())
        assert kept.headers["Sforce-NumberOfRecords"] == "30"
