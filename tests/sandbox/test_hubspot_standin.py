"""The HubSpot stand-in, driven over HTTPS by the real hubspot-api-client (v12)."""

from __future__ import annotations

import gc
import json
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from hubspot import HubSpot
from hubspot.crm.associations.v4 import BatchInputPublicFetchAssociationsBatchRequest
from hubspot.crm.companies import ApiException as CompaniesApiException
from hubspot.crm.companies import (
    BatchInputSimplePublicObjectBatchInput,
    BatchReadInputSimplePublicObjectId,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectInput,
)
from hubspot.crm.deals import ApiException as DealsApiException
from hubspot.crm.deals import PublicObjectSearchRequest as DealSearch
from hubspot.crm.objects.tasks import ApiException as TasksApiException
from hubspot.crm.objects.tasks import (
    BatchInputSimplePublicObjectBatchInputForCreate,
    SimplePublicObjectBatchInputForCreate,
)
from hubspot.crm.owners import ApiException as OwnersApiException
from hubspot.crm.properties import ApiException as PropertiesApiException
from hubspot.crm.properties import PropertyCreate, PropertyGroupCreate

from sandbox.hubspot import HubSpotLimits, create_hubspot_app, edit_as_user
from sandbox.server import Service
from sandbox.world import World, build_world, hs_time

pytestmark = pytest.mark.e2e

ANCHOR = datetime(2026, 6, 1, 12, tzinfo=UTC)
DEALS = 450


def _ms(at: datetime) -> str:
    return str(int(at.timestamp() * 1000))


def _deal(object_id: str, modified: datetime, amount: int, stage: str) -> dict[str, Any]:
    return {
        "id": object_id,
        "properties": {
            "hs_object_id": object_id,
            "dealname": f"Deal {object_id}",
            "amount": str(amount),
            "dealstage": stage,
            "pipeline": "default",
            "createdate": hs_time(modified - timedelta(days=3)),
            "hs_lastmodifieddate": hs_time(modified),
        },
        "createdAt": hs_time(modified - timedelta(days=3)),
        "updatedAt": hs_time(modified),
        "archived": False,
        "archivedAt": None,
    }


def _seed_deals(world: World) -> None:
    """450 deals, three per minute (shared modstamps), plus two with short ids for numeric ordering.

    They replace whatever deals the world generator seeded, so counts and page sizes are exact.
    """
    deals = world.hubspot.table("deals")
    deals.clear()
    stages = ("appointmentscheduled", "contractsent", "closedwon")
    for n in range(DEALS):
        object_id = world.hubspot.new_id()
        deals[object_id] = _deal(object_id, ANCHOR - timedelta(minutes=n // 3), 1000 + n, stages[n % 3])
    for short in ("999", "1000"):
        deals[short] = _deal(short, ANCHOR - timedelta(days=400), 5, "closedlost")


class Served:
    def __init__(self, world: World, tmp: Path) -> None:
        self.world = world
        self.app = create_hubspot_app(world)
        ca = trustme.CA()
        self.ca_file = tmp / "ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        self.svc = Service("hubspot", self.app, host="127.0.0.1", port=0, cert=ca.issue_cert("127.0.0.1"), tmp=tmp)

    def client(self, token: str | None = None) -> HubSpot:
        return HubSpot(
            access_token=token or self.world.tokens["hubspot"], host=self.svc.url, ssl_ca_cert=str(self.ca_file)
        )

    def stop(self, *apis: Any) -> None:
        """Close the clients' pooled connections first: uvicorn waits for open TLS connections to end.

        ``gc.collect()`` frees API objects that caught exceptions kept alive, closing their sockets.
        """
        gc.collect()
        for api in apis:
            pools = api.api_client.rest_client.pool_manager.pools
            for key in list(pools.keys()):
                pools[key].close()  # urllib3 2.x PoolManager.clear() no longer closes them
        self.svc.stop()

    def http(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.world.tokens['hubspot']}"}
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        return httpx.Client(base_url=self.svc.url, verify=ctx, headers=headers)


@pytest.fixture(scope="module")
def hs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    world = build_world(anchor=ANCHOR, accounts=50)
    _seed_deals(world)
    served = Served(world, tmp_path_factory.mktemp("hubspot"))
    served.svc.start()
    yield served
    served.stop()


@pytest.fixture(scope="module")
def client(hs: Served) -> HubSpot:
    return hs.client()


def _task_input(subject: str, company_id: str | None, **extra: Any) -> SimplePublicObjectBatchInputForCreate:
    props = {
        "hs_timestamp": _ms(ANCHOR + timedelta(days=2)),
        "hs_task_subject": subject,
        "hs_task_status": "NOT_STARTED",
    }
    props.update(extra.pop("properties", {}))
    associations = []
    if company_id is not None:
        associations = [
            {"to": {"id": company_id}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 192}]}
        ]
    return SimplePublicObjectBatchInputForCreate(properties=props, associations=associations, **extra)


def _first_company(world: World) -> str:
    return next(iter(world.hubspot.objects["companies"]))


# -- search ----------------------------------------------------------------------------------


def test_search_pages_200_at_a_time_until_total_is_reached(hs: Served, client: HubSpot) -> None:
    seen: list[str] = []
    sizes: list[int] = []
    after: str | None = None
    total = -1
    while True:
        request = DealSearch(
            limit=200,
            after=after,
            properties=["amount"],
            sorts=[{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            filter_groups=[{"filters": [{"propertyName": "pipeline", "operator": "EQ", "value": "default"}]}],
        )
        page = client.crm.deals.search_api.do_search(public_object_search_request=request)
        total = page.total
        seen += [r.id for r in page.results]
        sizes.append(len(page.results))
        if page.paging is None:
            break
        after = page.paging.next.after
    assert total == DEALS + 2
    assert sizes == [200, 200, 52]
    assert len(set(seen)) == len(seen) == total
    assert seen[:2] == ["999", "1000"]  # ids sort numerically, not as strings
    assert set(page.results[0].properties) == {"amount", "createdate", "hs_lastmodifieddate", "hs_object_id"}


def test_search_filters_datetimes_given_as_epoch_ms_or_iso(hs: Served, client: HubSpot) -> None:
    start, end = ANCHOR - timedelta(minutes=30), ANCHOR - timedelta(minutes=10)
    expected = sorted(
        (d for d in hs.world.hubspot.objects["deals"].values()),
        key=lambda d: (d["properties"]["hs_lastmodifieddate"], int(d["id"])),
    )
    expected_ids = [
        d["id"] for d in expected if hs_time(start) <= d["properties"]["hs_lastmodifieddate"] < hs_time(end)
    ]
    for low, high in ((_ms(start), _ms(end)), (start.isoformat(), hs_time(end))):
        request = DealSearch(
            limit=200,
            filter_groups=[
                FilterGroup(
                    filters=[
                        Filter(property_name="hs_lastmodifieddate", operator="GTE", value=low),
                        Filter(property_name="hs_lastmodifieddate", operator="LT", value=high),
                    ]
                )
            ],
            sorts=[{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
        )
        page = client.crm.deals.search_api.do_search(public_object_search_request=request)
        assert page.total == len(expected_ids) == 60
        assert [r.id for r in page.results] == expected_ids  # ties broken by id


def test_search_compares_numbers_numerically_and_hs_object_id_as_a_number(client: HubSpot) -> None:
    def ids(*filters: Filter, sort: str = "hs_object_id", direction: str = "ASCENDING") -> list[str]:
        request = DealSearch(
            limit=200,
            filter_groups=[FilterGroup(filters=list(filters))],
            sorts=[{"propertyName": sort, "direction": direction}],
        )
        return [r.id for r in client.crm.deals.search_api.do_search(public_object_search_request=request).results]

    assert ids(Filter(property_name="hs_object_id", operator="GT", value="999"))[0] == "1000"
    assert ids(Filter(property_name="amount", operator="LT", value="10")) == ["999", "1000"]
    top = ids(Filter(property_name="amount", operator="GTE", value="1447"), sort="amount", direction="DESCENDING")
    assert len(top) == 3
    between = ids(Filter(property_name="amount", operator="BETWEEN", value="1000", high_value="1002"))
    assert len(between) == 3


def test_search_supports_in_has_property_and_contains_token(hs: Served, client: HubSpot) -> None:
    companies = [c for c in hs.world.hubspot.objects["companies"].values() if not c["archived"]]
    industries = sorted({c["properties"]["industry"] for c in companies})[:2]

    def total(*filters: Filter, groups: list[list[Filter]] | None = None) -> int:
        filter_groups = [FilterGroup(filters=g) for g in (groups or [list(filters)])]
        request = PublicObjectSearchRequest(limit=100, filter_groups=filter_groups)
        return int(client.crm.companies.search_api.do_search(public_object_search_request=request).total)

    in_count = sum(1 for c in companies if c["properties"]["industry"] in industries)
    assert total(Filter(property_name="industry", operator="IN", values=industries)) == in_count
    assert total(Filter(property_name="industry", operator="NOT_IN", values=industries)) == len(companies) - in_count
    assert total(Filter(property_name="upsync_health_score", operator="NOT_HAS_PROPERTY")) == len(companies)
    assert total(Filter(property_name="domain", operator="HAS_PROPERTY")) == len(companies)
    word = companies[0]["properties"]["name"].split()[0]
    with_word = sum(1 for c in companies if word.lower() in c["properties"]["name"].lower().split())
    assert total(Filter(property_name="name", operator="CONTAINS_TOKEN", value=word)) == with_word
    first, second = (c["properties"]["workspace_id"] for c in companies[:2])
    either = [[Filter(property_name="workspace_id", operator="EQ", value=ws)] for ws in (first, second)]
    assert total(groups=either) == 2  # filter groups are ORed


def test_search_refuses_pages_over_200_and_too_many_filters(client: HubSpot) -> None:
    with pytest.raises(CompaniesApiException) as too_big:
        client.crm.companies.search_api.do_search(public_object_search_request=PublicObjectSearchRequest(limit=201))
    assert too_big.value.status == 400
    assert json.loads(too_big.value.body)["category"] == "VALIDATION_ERROR"

    has_name = Filter(property_name="name", operator="HAS_PROPERTY")
    for groups in ([[has_name]] * 6, [[has_name] * 7], [[has_name] * 6] * 3 + [[has_name]]):
        request = PublicObjectSearchRequest(filter_groups=[FilterGroup(filters=g) for g in groups])
        with pytest.raises(CompaniesApiException) as too_many:
            client.crm.companies.search_api.do_search(public_object_search_request=request)
        assert too_many.value.status == 400


def test_search_cannot_page_past_10000_results(tmp_path: Path) -> None:
    world = build_world(anchor=ANCHOR, accounts=1)
    deals = world.hubspot.table("deals")
    deals.clear()  # only these deals: the total is exact
    for n in range(10_050):
        object_id = world.hubspot.new_id()
        deals[object_id] = _deal(object_id, ANCHOR - timedelta(hours=1), n, "closedwon")
    served = Served(world, tmp_path)
    served.svc.start()
    search = served.client().crm.deals.search_api
    try:
        last = search.do_search(public_object_search_request=DealSearch(limit=200, after="9800"))
        assert last.total == 10_050
        assert last.paging.next.after == "10000"  # HubSpot still offers the page it will refuse
        with pytest.raises(DealsApiException) as capped:
            search.do_search(public_object_search_request=DealSearch(limit=200, after="10000"))
        assert capped.value.status == 400
        body = json.loads(capped.value.body)
        assert body["category"] == "VALIDATION_ERROR"
        assert "10,000" in body["message"]
    finally:
        served.stop(search)


# -- archive ---------------------------------------------------------------------------------


def test_archived_objects_leave_search_but_are_listed_with_archived_true(hs: Served, client: HubSpot) -> None:
    company_id = list(hs.world.hubspot.objects["companies"])[-1]
    before = hs.world.hubspot.objects["companies"][company_id]["properties"]["hs_lastmodifieddate"]
    client.crm.companies.basic_api.archive(company_id)

    by_id = PublicObjectSearchRequest(
        filter_groups=[FilterGroup(filters=[Filter(property_name="hs_object_id", operator="EQ", value=company_id)])]
    )
    assert client.crm.companies.search_api.do_search(public_object_search_request=by_id).total == 0
    archived = client.crm.companies.basic_api.get_page(limit=100, archived=True)
    assert [c.id for c in archived.results] == [company_id]
    assert archived.results[0].archived is True
    assert archived.results[0].archived_at is not None
    assert archived.results[0].properties["hs_lastmodifieddate"] == before  # archiving is invisible to a modstamp
    live = client.crm.companies.basic_api.get_page(limit=100, archived=False)
    assert company_id not in [c.id for c in live.results]
    with pytest.raises(CompaniesApiException) as gone:
        client.crm.companies.basic_api.get_by_id(company_id)
    assert gone.value.status == 404
    assert json.loads(gone.value.body)["category"] == "OBJECT_NOT_FOUND"


# -- list / read -----------------------------------------------------------------------------


def test_list_pages_follow_after_until_there_is_no_next_page(hs: Served, client: HubSpot) -> None:
    ids: list[str] = []
    after = None
    sizes = []
    while True:
        page = client.crm.deals.basic_api.get_page(limit=100, after=after, properties=["dealname", "amount"])
        ids += [r.id for r in page.results]
        sizes.append(len(page.results))
        if page.paging is None:
            break
        after = page.paging.next.after
    assert sizes == [100, 100, 100, 100, 52]
    assert ids == sorted(hs.world.hubspot.objects["deals"], key=int)
    assert set(page.results[0].properties) == {
        "dealname",
        "amount",
        "createdate",
        "hs_lastmodifieddate",
        "hs_object_id",
    }


def test_list_accepts_comma_separated_properties_and_lowercase_booleans(hs: Served) -> None:
    with hs.http() as http:
        response = http.get("/crm/v3/objects/companies", params={"properties": "name,industry", "archived": "false"})
        repeated = http.get(
            "/crm/v3/objects/companies", params=[("properties", "name"), ("properties", "industry"), ("limit", "3")]
        )
    assert response.status_code == repeated.status_code == 200
    assert set(response.json()["results"][0]["properties"]) == {
        "name",
        "industry",
        "createdate",
        "hs_lastmodifieddate",
        "hs_object_id",
    }
    assert len(repeated.json()["results"]) == 3
    assert response.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    for header in ("Daily", "Daily-Remaining", "Max", "Remaining", "Secondly", "Secondly-Remaining"):
        assert f"X-HubSpot-RateLimit-{header}" in response.headers


def test_list_refuses_a_limit_over_100(client: HubSpot) -> None:
    with pytest.raises(CompaniesApiException) as refused:
        client.crm.companies.basic_api.get_page(limit=101)
    assert refused.value.status == 400


def test_batch_read_reports_missing_ids_in_a_207(hs: Served, client: HubSpot) -> None:
    known = list(hs.world.hubspot.objects["companies"])[:2]
    request = BatchReadInputSimplePublicObjectId(
        inputs=[{"id": known[0]}, {"id": known[1]}, {"id": "404404"}], properties=["name"], properties_with_history=[]
    )
    result = client.crm.companies.batch_api.read(batch_read_input_simple_public_object_id=request)
    assert sorted(r.id for r in result.results) == sorted(known)
    assert result.num_errors == 1
    assert result.errors[0].category == "OBJECT_NOT_FOUND"
    assert result.errors[0].context == {"ids": ["404404"]}


def test_companies_serve_do_not_contact_nps_and_csat_as_the_world_has_them(hs: Served, client: HubSpot) -> None:
    w = hs.world
    names = ["do_not_contact", "nps_score", "csat_score"]
    request = BatchReadInputSimplePublicObjectId(
        inputs=[{"id": key.hubspot_id} for key in w.account_keys], properties=names, properties_with_history=[]
    )
    read = {r.id: r.properties for r in client.crm.companies.batch_api.read(request).results}
    stored = w.hubspot.objects["companies"]
    live = {i for i, c in stored.items() if not c["archived"]}  # another test archives one
    assert set(read) == live
    for company_id, props in read.items():
        assert {name: props[name] for name in names} == {name: stored[company_id]["properties"][name] for name in names}
        assert props["do_not_contact"] in ("true", "false")
    flagged = {w.account_keys[n].hubspot_id for n in w.stories["do_not_contact"]} & live
    assert flagged and {i for i, p in read.items() if p["do_not_contact"] == "true"} == flagged
    detractors = [w.account_keys[n].hubspot_id for n in w.stories["detractor"] if w.account_keys[n].hubspot_id in live]
    assert detractors and all(3 <= float(read[i]["nps_score"]) <= 5 for i in detractors)
    assert any(p["nps_score"] == "" for p in read.values())  # never surveyed: HubSpot's empty value
    assert any(p["csat_score"] not in ("", None) for p in read.values())

    one = client.crm.companies.basic_api.get_by_id(detractors[0], properties=names)
    assert one.properties["nps_score"] == read[detractors[0]]["nps_score"]
    with pytest.raises(CompaniesApiException) as invalid:
        client.crm.companies.basic_api.update(
            detractors[0], SimplePublicObjectInput(properties={"do_not_contact": "maybe"})
        )
    assert invalid.value.status == 400
    assert json.loads(invalid.value.body)["errors"][0]["code"] == "INVALID_BOOLEAN"


def test_unknown_object_is_a_404_with_hubspots_body(client: HubSpot) -> None:
    with pytest.raises(CompaniesApiException) as missing:
        client.crm.companies.basic_api.get_by_id("123")
    body = json.loads(missing.value.body)
    assert missing.value.status == 404
    assert body["message"] == "Object not found.  objectId are usually numeric."
    assert body["category"] == "OBJECT_NOT_FOUND"
    assert body["correlationId"]


# -- writes ----------------------------------------------------------------------------------


def test_batch_create_tasks_associates_them_with_the_company_both_ways(hs: Served, client: HubSpot) -> None:
    company_id = _first_company(hs.world)
    batch = BatchInputSimplePublicObjectBatchInputForCreate(
        inputs=[_task_input("Expand seats", company_id), _task_input("Book QBR", company_id)]
    )
    created = client.crm.objects.tasks.batch_api.create(batch_input_simple_public_object_batch_input_for_create=batch)
    assert created.status == "COMPLETE"
    assert {r.properties["hs_task_subject"] for r in created.results} == {"Expand seats", "Book QBR"}
    task = hs.world.hubspot.objects["tasks"][created.results[0].id]
    now = hs.world.now()
    modified = datetime.fromisoformat(task["properties"]["hs_lastmodifieddate"])
    assert timedelta(0) <= now - modified < timedelta(seconds=30)
    assert task["properties"]["hs_object_id"] == task["id"]
    assert task["properties"]["hs_timestamp"] == hs_time(ANCHOR + timedelta(days=2))  # epoch ms stored as ISO

    request = BatchInputPublicFetchAssociationsBatchRequest(inputs=[{"id": company_id}])
    links = client.crm.associations.v4.batch_api.get_page("companies", "tasks", request)
    linked = {str(t.to_object_id): [a.type_id for a in t.association_types] for t in links.results[0].to}
    assert {r.id for r in created.results} <= set(linked)
    assert all(types == [191] for types in linked.values())
    back = client.crm.associations.v4.basic_api.get_page("tasks", created.results[0].id, "companies")
    assert [(str(r.to_object_id), r.association_types[0].type_id) for r in back.results] == [(company_id, 192)]


def test_batch_create_takes_100_inputs_and_refuses_101(hs: Served, client: HubSpot) -> None:
    company_id = _first_company(hs.world)
    hundred = [_task_input(f"Task {n}", company_id) for n in range(100)]
    created = client.crm.objects.tasks.batch_api.create(
        batch_input_simple_public_object_batch_input_for_create=BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=hundred
        )
    )
    assert len(created.results) == 100
    count = len(hs.world.hubspot.objects["tasks"])
    with pytest.raises(TasksApiException) as refused:
        client.crm.objects.tasks.batch_api.create(
            batch_input_simple_public_object_batch_input_for_create=BatchInputSimplePublicObjectBatchInputForCreate(
                inputs=[*hundred, _task_input("One too many", company_id)]
            )
        )
    assert refused.value.status == 400
    assert json.loads(refused.value.body)["category"] == "VALIDATION_ERROR"
    assert len(hs.world.hubspot.objects["tasks"]) == count


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        (_task_input("x", None, properties={"no_such_property": "1"}), "PROPERTY_DOESNT_EXIST"),
        (_task_input("x", None, properties={"hs_task_status": "SOMEDAY"}), "INVALID_OPTION"),
        (_task_input("x", None, properties={"hs_timestamp": ""}), "REQUIRED_PROPERTY"),
        (_task_input("x", "777777777"), "INVALID_OBJECT_IDS"),
    ],
)
def test_one_invalid_input_fails_the_whole_batch_create(
    hs: Served, client: HubSpot, bad: SimplePublicObjectBatchInputForCreate, code: str
) -> None:
    count = len(hs.world.hubspot.objects.get("tasks", {}))
    batch = BatchInputSimplePublicObjectBatchInputForCreate(inputs=[_task_input("fine", _first_company(hs.world)), bad])
    with pytest.raises(TasksApiException) as refused:
        client.crm.objects.tasks.batch_api.create(batch_input_simple_public_object_batch_input_for_create=batch)
    body = json.loads(refused.value.body)
    assert refused.value.status == 400
    assert body["category"] == "VALIDATION_ERROR"
    assert [e["code"] for e in body["errors"]] == [code]
    assert body["errors"][0]["context"]
    assert len(hs.world.hubspot.objects.get("tasks", {})) == count


def test_batch_create_with_trace_ids_creates_the_valid_inputs_and_reports_the_rest(hs: Served, client: HubSpot) -> None:
    company_id = _first_company(hs.world)
    batch = BatchInputSimplePublicObjectBatchInputForCreate(
        inputs=[
            _task_input("good", company_id, object_write_trace_id="ledger-1"),
            _task_input("bad", company_id, object_write_trace_id="ledger-2", properties={"hs_task_priority": "URGENT"}),
        ]
    )
    result = client.crm.objects.tasks.batch_api.create(batch_input_simple_public_object_batch_input_for_create=batch)
    assert [r.properties["hs_task_subject"] for r in result.results] == ["good"]
    assert result.num_errors == 1
    assert result.errors[0].context == {"objectWriteTraceId": ["ledger-2"]}
    assert result.errors[0].errors[0].code == "INVALID_OPTION"


def test_updates_stamp_the_modstamp_and_history_tells_integration_from_user(hs: Served, client: HubSpot) -> None:
    company_id = list(hs.world.hubspot.objects["companies"])[3]
    old = hs.world.hubspot.objects["companies"][company_id]["properties"]["hs_lastmodifieddate"]
    update = BatchInputSimplePublicObjectBatchInput(
        inputs=[{"id": company_id, "properties": {"upsync_health_score": "72", "upsync_health_band": "green"}}]
    )
    result = client.crm.companies.batch_api.update(batch_input_simple_public_object_batch_input=update)
    stamped = result.results[0].properties["hs_lastmodifieddate"]
    assert stamped > old
    assert result.results[0].updated_at == datetime.fromisoformat(stamped)

    edit_as_user(hs.world, "companies", company_id, {"upsync_health_band": "amber"}, user_id=9000001)
    obj = client.crm.companies.basic_api.get_by_id(
        company_id, properties=["upsync_health_band"], properties_with_history=["upsync_health_band", "name"]
    )
    history = obj.properties_with_history["upsync_health_band"]
    assert [(h.value, h.source_type) for h in history] == [("amber", "CRM_UI"), ("green", "INTEGRATION")]
    assert history[0].updated_by_user_id == 9000001
    seeded = obj.properties_with_history["name"]  # a value no write produced reads as imported
    assert [(h.value, h.source_type) for h in seeded] == [
        (hs.world.hubspot.objects["companies"][company_id]["properties"]["name"], "IMPORT")
    ]

    with pytest.raises(CompaniesApiException) as invalid:
        client.crm.companies.basic_api.update(
            company_id, SimplePublicObjectInput(properties={"upsync_health_score": "very high"})
        )
    assert invalid.value.status == 400
    assert json.loads(invalid.value.body)["errors"][0]["code"] == "INVALID_FLOAT"


def test_batch_update_of_unknown_ids_is_a_207(hs: Served, client: HubSpot) -> None:
    company_id = list(hs.world.hubspot.objects["companies"])[4]
    update = BatchInputSimplePublicObjectBatchInput(
        inputs=[
            {"id": company_id, "properties": {"upsync_expansion_score": "0.4"}},
            {"id": "123456", "properties": {"upsync_expansion_score": "0.1"}},
        ]
    )
    result = client.crm.companies.batch_api.update(batch_input_simple_public_object_batch_input=update)
    assert [r.id for r in result.results] == [company_id]
    assert result.errors[0].context == {"ids": ["123456"]}


# -- owners, properties ----------------------------------------------------------------------


def test_owners_hide_deactivated_users_unless_archived_is_asked(client: HubSpot) -> None:
    first = client.crm.owners.owners_api.get_page(limit=4)
    rest = client.crm.owners.owners_api.get_page(limit=4, after=first.paging.next.after)
    assert len(first.results) + len(rest.results) == 7
    assert rest.paging is None
    archived = client.crm.owners.owners_api.get_page(archived=True)
    assert [o.last_name for o in archived.results] == ["Sato"]
    owner = client.crm.owners.owners_api.get_by_id(int(first.results[0].id))
    assert owner.email == first.results[0].email
    with pytest.raises(OwnersApiException) as missing:
        client.crm.owners.owners_api.get_by_id(1)
    assert missing.value.status == 404
    with pytest.raises(OwnersApiException):
        client.crm.owners.owners_api.get_page(limit=501)


def test_property_schemas_are_served_and_created_once(client: HubSpot) -> None:
    companies = {p.name: p for p in client.crm.properties.core_api.get_all("companies").results}
    assert companies["upsync_health_score"].type == "number"
    assert companies["upsync_health_score"].group_name == "upsync"
    assert companies["hs_lastmodifieddate"].type == "datetime"
    tasks = {p.name: p for p in client.crm.properties.core_api.get_all("tasks").results}
    assert [o.value for o in tasks["hs_task_status"].options] == [
        "NOT_STARTED",
        "IN_PROGRESS",
        "WAITING",
        "COMPLETED",
        "DEFERRED",
    ]
    assert "upsync_sync_key" in tasks
    assert client.crm.properties.core_api.get_by_name("tasks", "hs_timestamp").type == "datetime"

    group = client.crm.properties.groups_api.create("deals", PropertyGroupCreate(name="upsync", label="Upsync"))
    assert group.name == "upsync"
    with pytest.raises(PropertiesApiException) as duplicate_group:
        client.crm.properties.groups_api.create("deals", PropertyGroupCreate(name="upsync", label="Upsync"))
    assert duplicate_group.value.status == 409
    assert "upsync" in [g.name for g in client.crm.properties.groups_api.get_all("deals").results]

    spec = PropertyCreate(name="upsync_risk", label="Risk", type="number", field_type="number", group_name="upsync")
    assert client.crm.properties.core_api.create("deals", spec).name == "upsync_risk"
    with pytest.raises(PropertiesApiException) as duplicate:
        client.crm.properties.core_api.create("deals", spec)
    assert duplicate.value.status == 409
    assert json.loads(duplicate.value.body)["category"] == "CONFLICT"
    client.crm.deals.basic_api.update("999", {"properties": {"upsync_risk": "3"}})
    assert client.crm.deals.basic_api.get_by_id("999", properties=["upsync_risk"]).properties["upsync_risk"] == "3"


# -- auth and rate limits --------------------------------------------------------------------


def test_a_wrong_token_gets_hubspots_401(hs: Served) -> None:
    with pytest.raises(CompaniesApiException) as denied:
        hs.client(token="not-the-token").crm.companies.basic_api.get_page(limit=1)
    body = json.loads(denied.value.body)
    assert denied.value.status == 401
    assert body["category"] == "INVALID_AUTHENTICATION"
    assert body["message"].startswith("Authentication credentials not found.")


def test_limits_when_enforced_answer_429_with_the_policy_that_was_hit(tmp_path: Path) -> None:
    served = Served(build_world(anchor=ANCHOR, accounts=3), tmp_path)
    served.svc.start()
    client = served.client()
    companies, search_api = client.crm.companies.basic_api, client.crm.companies.search_api
    try:
        for _ in range(5):
            companies.get_page(limit=1)  # not enforced by default
        served.app.state.limits = HubSpotLimits(per_10s=3, search_per_s=1, daily=None)
        served.app.state.rate.reset()
        for _ in range(3):
            companies.get_page(limit=1)
        with pytest.raises(CompaniesApiException) as burst:
            companies.get_page(limit=1)
        body = json.loads(burst.value.body)
        assert burst.value.status == 429
        assert body["policyName"] == "TEN_SECONDLY_ROLLING"
        assert body["errorType"] == "RATE_LIMIT"
        assert body["message"] == "You have reached your ten_secondly_rolling limit."
        assert burst.value.headers["X-HubSpot-RateLimit-Remaining"] == "0"

        search = PublicObjectSearchRequest(limit=1)
        search_api.do_search(public_object_search_request=search)
        with pytest.raises(CompaniesApiException) as secondly:
            search_api.do_search(public_object_search_request=search)
        assert json.loads(secondly.value.body)["policyName"] == "SECONDLY"

        served.app.state.limits = HubSpotLimits(per_10s=None, search_per_s=None, daily=2)
        served.app.state.rate.reset()
        companies.get_page(limit=1)
        search_api.do_search(public_object_search_request=search)
        with pytest.raises(CompaniesApiException) as daily:
            companies.get_page(limit=1)
        assert json.loads(daily.value.body)["policyName"] == "DAILY"
        assert daily.value.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
    finally:
        served.stop(companies, search_api)
