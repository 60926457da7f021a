"""Every object type and association upsync reads from HubSpot (connectors/OBJECTS.md), and the
world changes HubSpot makes behind a sync's back (archive, mass update, calculated properties),
all through the real hubspot-api-client over HTTPS.

The objects are inserted here rather than taken from the world generator, with modstamps 100
days after the sandbox's "today": whatever the generator seeds lies before it, so a search
window around them holds exactly these objects.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm.associations.v4 import ApiException as AssociationsApiException
from hubspot.crm.associations.v4 import BatchInputPublicFetchAssociationsBatchRequest
from hubspot.crm.companies import ApiException as CompaniesApiException
from hubspot.crm.contacts import ApiException as ContactsApiException

from sandbox.hubspot import (
    ASSOCIATION_TYPES,
    archive,
    associate,
    edit_as_user,
    invalidate,
    mass_update,
    recalculate,
    restore,
)
from sandbox.world import World, build_world, hs_time
from tests.sandbox.test_hubspot_standin import ANCHOR, Served

pytestmark = pytest.mark.e2e

FUTURE = ANCHOR + timedelta(days=100)
ENGAGEMENTS = ("tasks", "calls", "meetings", "emails", "notes")

# What upsync reads per object type (connectors/OBJECTS.md), minus the always-returned dates and id.
READS: dict[str, list[str]] = {
    "companies": [
        "name",
        "domain",
        "industry",
        "numberofemployees",
        "lifecyclestage",
        "workspace_id",
        "upsync_seats_purchased",
        "contract_end_date",
        "health_rollup",
        "do_not_contact",
        "nps_score",
        "csat_score",
    ],
    "contacts": ["firstname", "lastname", "email", "jobtitle", "department"],
    "deals": [
        "dealname",
        "dealtype",
        "dealstage",
        "pipeline",
        "closedate",
        "amount",
        "hs_is_closed",
        "hs_is_closed_won",
    ],
    "products": ["name", "hs_sku", "product_family", "price"],
    "line_items": ["name", "hs_product_id", "quantity", "price", "amount"],
    "tickets": ["subject", "hs_pipeline_stage", "hs_ticket_priority", "closed_date"],
    "tasks": [
        "hs_task_subject",
        "hs_task_status",
        "hs_task_priority",
        "hs_task_type",
        "hs_timestamp",
        "upsync_sync_key",
    ],
    "calls": ["hs_call_title", "hs_call_status", "hs_call_direction", "hs_timestamp"],
    "meetings": ["hs_meeting_title", "hs_meeting_outcome", "hs_timestamp"],
    "emails": ["hs_email_subject", "hs_email_direction", "hs_timestamp"],
    "notes": ["hs_timestamp"],
}
APIS: dict[str, Callable[[HubSpot], Any]] = {
    "companies": lambda c: c.crm.companies,
    "contacts": lambda c: c.crm.contacts,
    "deals": lambda c: c.crm.deals,
    "products": lambda c: c.crm.products,
    "line_items": lambda c: c.crm.line_items,
    "tickets": lambda c: c.crm.tickets,
    "tasks": lambda c: c.crm.objects.tasks,
    "calls": lambda c: c.crm.objects.calls,
    "meetings": lambda c: c.crm.objects.meetings,
    "emails": lambda c: c.crm.objects.emails,
    "notes": lambda c: c.crm.objects.notes,
}

PARENT, CHILD_A, CHILD_B = "91000000001", "91000000002", "91000000003"
CONTACTS = ("92000000001", "92000000002")
DEALS = ("93000000001", "93000000002", "93000000003")
LINE_ITEMS = ("95000000001", "95000000002")
TICKET = "96000000001"
# Engagement → company / → contact type ids (connectors/OBJECTS.md).
ENGAGEMENT_TYPES = {
    "tasks": (192, 204),
    "calls": (182, 194),
    "meetings": (188, 200),
    "emails": (186, 198),
    "notes": (190, 202),
}


def _modified_field(object_type: str) -> str:
    return "lastmodifieddate" if object_type == "contacts" else "hs_lastmodifieddate"


def _created_field(object_type: str) -> str:
    return "hs_createdate" if object_type in ENGAGEMENTS else "createdate"


def _put(world: World, object_type: str, object_id: str, modified: datetime, **props: str) -> None:
    created = modified - timedelta(days=30)
    world.hubspot.table(object_type)[object_id] = {
        "id": object_id,
        "properties": {
            "hs_object_id": object_id,
            _created_field(object_type): hs_time(created),
            _modified_field(object_type): hs_time(modified),
            **props,
        },
        "createdAt": hs_time(created),
        "updatedAt": hs_time(modified),
        "archived": False,
        "archivedAt": None,
    }


def _seed(world: World) -> dict[str, list[str]]:
    """One small account of every object type; associations mostly stored from one side only."""
    hs = world.hubspot
    mine: dict[str, list[str]] = {}

    def put(object_type: str, object_id: str, minute: int, **props: str) -> None:
        _put(world, object_type, object_id, FUTURE + timedelta(minutes=minute), **props)
        mine.setdefault(object_type, []).append(object_id)

    for n, company_id in enumerate((PARENT, CHILD_A, CHILD_B)):
        put(
            "companies",
            company_id,
            n,
            name=f"Nakatomi {n}",
            domain=f"nakatomi-{n}.example.com",
            industry="RETAIL",
            numberofemployees="800",
            lifecyclestage="customer",
            workspace_id=f"ws-9000{n}",
            upsync_seats_purchased="50",
            contract_end_date="2027-03-31",
            health_rollup="0.8",
            do_not_contact="true" if n == 0 else "false",
            nps_score=("4.5", "9", "")[n],
            csat_score=("88.5", "", "91")[n],
        )
    hs.associations[("companies", CHILD_A, "companies")] = [(PARENT, 14)]  # the child side only
    associate(world, "companies", CHILD_B, "companies", PARENT, 14)  # both sides, through the helper
    for n, contact_id in enumerate(CONTACTS):
        put(
            "contacts",
            contact_id,
            n,
            firstname=f"Holly{n}",
            lastname="Gennaro",
            email=f"holly{n}@nakatomi.example.com",
            jobtitle="VP",
            department="Finance",
        )
        hs.associations[("contacts", contact_id, "companies")] = [(PARENT, 1)]
    for n, deal_id in enumerate(DEALS):
        put(
            "deals",
            deal_id,
            n,
            dealname=f"Renewal {n}",
            dealtype="existingbusiness" if n else "newbusiness",
            dealstage="closedwon",
            pipeline="default",
            closedate=hs_time(FUTURE),
            amount="12000",
            hs_is_closed="true",
            hs_is_closed_won="true",
        )
        hs.associations[("deals", deal_id, "companies")] = [(PARENT, 5)]
    put("products", "94000000001", 0, name="Seats", hs_sku="SEAT-1", product_family="Platform", price="40")
    for n, item_id in enumerate(LINE_ITEMS):
        put(
            "line_items",
            item_id,
            n,
            name="Seats",
            hs_product_id="94000000001",
            quantity="10",
            price="40",
            amount="400",
        )
        hs.associations[("line_items", item_id, "deals")] = [(DEALS[0], 20)]
    put(
        "tickets",
        TICKET,
        0,
        subject="SSO broken",
        hs_pipeline="0",
        hs_pipeline_stage="2",
        hs_ticket_priority="HIGH",
        closed_date=hs_time(FUTURE),
    )
    hs.associations[("tickets", TICKET, "companies")] = [(PARENT, 26)]
    engagement_props = {
        "tasks": {
            "hs_task_subject": "QBR",
            "hs_task_status": "NOT_STARTED",
            "hs_task_priority": "HIGH",
            "hs_task_type": "TODO",
            "upsync_sync_key": "k-1",
        },
        "calls": {"hs_call_title": "Intro", "hs_call_status": "COMPLETED", "hs_call_direction": "OUTBOUND"},
        "meetings": {"hs_meeting_title": "Kickoff", "hs_meeting_outcome": "COMPLETED"},
        "emails": {"hs_email_subject": "Hello", "hs_email_direction": "EMAIL"},
        "notes": {"hs_note_body": "Called back"},
    }
    for k, (object_type, props) in enumerate(engagement_props.items()):
        to_company, to_contact = ENGAGEMENT_TYPES[object_type]
        for n in range(2):
            object_id = f"97{k}0000000{n + 1}"
            put(object_type, object_id, n, hs_timestamp=hs_time(FUTURE), **props)
            hs.associations[(object_type, object_id, "companies")] = [(PARENT, to_company)]
            hs.associations[(object_type, object_id, "contacts")] = [(CONTACTS[0], to_contact)]
    return mine


class Account:
    """The served world, our seeded ids, and one cached API object per group (each opens a pool)."""

    def __init__(self, tmp: Path) -> None:
        self.world = build_world(anchor=ANCHOR, accounts=2)
        self.mine = _seed(self.world)
        self.served = Served(self.world, tmp)
        self.served.svc.start()
        self.client = self.served.client()
        self._apis: dict[str, Any] = {}

    def api(self, name: str) -> Any:
        """``api("deals.search_api")``, ``api("associations.v4.batch_api")``: built once, closed at teardown."""
        if name not in self._apis:
            target: Any = self.client.crm.objects if name.split(".")[0] in ENGAGEMENTS else self.client.crm
            for part in name.split("."):
                target = getattr(target, part)
            self._apis[name] = target
        return self._apis[name]

    def stop(self) -> None:
        self.served.stop(*self._apis.values())


@pytest.fixture(scope="module")
def account(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Account]:
    acc = Account(tmp_path_factory.mktemp("hubspot-objects"))
    yield acc
    acc.stop()


def _window(object_type: str, start: datetime, end: datetime) -> dict[str, Any]:
    modified = _modified_field(object_type)
    return {
        "filters": [
            {"propertyName": modified, "operator": "GTE", "value": str(int(start.timestamp() * 1000))},
            {"propertyName": modified, "operator": "LT", "value": str(int(end.timestamp() * 1000))},
        ]
    }


def ids_in(ids: list[str]) -> list[dict[str, str]]:
    return [{"id": i} for i in ids]


def _v4(account: Account, from_type: str, to_type: str, *ids: str) -> dict[str, list[tuple[str, list[int]]]]:
    request = BatchInputPublicFetchAssociationsBatchRequest(inputs=[{"id": i} for i in ids])
    page = account.api("associations.v4.batch_api").get_page(from_type, to_type, request)
    return {
        r._from.id: [(str(t.to_object_id), [a.type_id for a in t.association_types]) for t in r.to]
        for r in page.results
    }


# -- objects ---------------------------------------------------------------------------------


@pytest.mark.parametrize("object_type", list(READS))
def test_every_object_type_is_listed_and_searched_with_its_properties(account: Account, object_type: str) -> None:
    mine = account.mine[object_type]
    basic, search = account.api(f"{object_type}.basic_api"), account.api(f"{object_type}.search_api")
    listed: dict[str, Any] = {}
    after = None
    while True:
        page = basic.get_page(limit=100, after=after, properties=READS[object_type])
        listed.update({r.id: r for r in page.results})
        if page.paging is None:
            break
        after = page.paging.next.after
    assert set(mine) <= set(listed)
    found = listed[mine[0]]
    stored = account.world.hubspot.objects[object_type][mine[0]]["properties"]
    expected = {name: stored.get(name) for name in READS[object_type]}
    expected |= {name: stored[name] for name in (_created_field(object_type), _modified_field(object_type))}
    assert found.properties == {**expected, "hs_object_id": mine[0]}

    request = {
        "limit": 200,
        "properties": READS[object_type],
        "sorts": [{"propertyName": _modified_field(object_type), "direction": "ASCENDING"}],
        "filterGroups": [_window(object_type, FUTURE - timedelta(hours=1), FUTURE + timedelta(hours=1))],
    }
    result = search.do_search(public_object_search_request=request)
    assert result.total == len(mine)
    assert sorted(r.id for r in result.results) == sorted(mine)
    assert result.results[0].properties == found.properties


def test_property_schemas_carry_types_options_and_the_calculated_flag(account: Account) -> None:
    core = account.api("properties.core_api")
    companies = {p.name: p for p in core.get_all("companies").results}
    assert (companies["health_rollup"].type, companies["health_rollup"].calculated) == ("number", True)
    assert companies["health_rollup"].modification_metadata.read_only_value is True
    assert (companies["contract_end_date"].type, companies["contract_end_date"].field_type) == ("date", "date")
    flag = companies["do_not_contact"]
    assert (flag.type, flag.field_type, flag.calculated) == ("bool", "booleancheckbox", False)
    assert [(o.value, o.label) for o in flag.options] == [("true", "Yes"), ("false", "No")]
    for name in ("nps_score", "csat_score"):
        assert (companies[name].type, companies[name].field_type) == ("number", "number")
        assert companies[name].modification_metadata.read_only_value is False
    assert companies["hs_lastmodifieddate"].type == "datetime"
    contacts = {p.name for p in core.get_all("contacts").results}
    assert {"lastmodifieddate", "department", "jobtitle"} <= contacts
    assert "hs_lastmodifieddate" not in contacts
    deals = {p.name: p for p in core.get_all("deals").results}
    assert [o.value for o in deals["dealtype"].options] == ["newbusiness", "existingbusiness"]
    assert deals["hs_is_closed_won"].type == "bool"
    tickets = {p.name: p for p in core.get_all("tickets").results}
    assert [(o.value, o.label) for o in tickets["hs_pipeline_stage"].options] == [
        ("1", "New"),
        ("2", "Waiting on contact"),
        ("3", "Waiting on us"),
        ("4", "Closed"),
    ]
    assert [o.value for o in tickets["hs_ticket_priority"].options] == ["LOW", "MEDIUM", "HIGH", "URGENT"]
    for engagement in ENGAGEMENTS:
        names = {p.name for p in core.get_all(engagement).results}
        assert {"hs_createdate", "hs_lastmodifieddate", "hs_timestamp", "hubspot_owner_id"} <= names
        assert "createdate" not in names

    with pytest.raises(CompaniesApiException) as refused:
        account.api("companies.basic_api").update(CHILD_B, {"properties": {"health_rollup": "1"}})
    assert refused.value.status == 400
    assert json.loads(refused.value.body)["errors"][0]["code"] == "READ_ONLY_VALUE"


# -- associations ----------------------------------------------------------------------------


def test_list_with_associations_names_each_type_like_the_real_api(account: Account) -> None:
    page = account.api("deals.basic_api").get_page(limit=100, associations=["companies"], properties=["dealname"])
    deal = next(r for r in page.results if r.id == DEALS[0])
    rows = [(a.id, a.type) for a in deal.associations["companies"].results]
    assert rows == [(PARENT, "deal_to_company"), (PARENT, "deal_to_company_unlabeled")]

    # The world stored deal → company only; the company side is answered from it.
    companies = account.api("companies.basic_api").get_page(limit=100, associations=["deals", "companies"])
    parent = next(r for r in companies.results if r.id == PARENT)
    assert {a.id for a in parent.associations["deals"].results} == set(DEALS)
    assert {a.type for a in parent.associations["deals"].results} == {"company_to_deal", "company_to_deal_unlabeled"}
    assert sorted((a.id, a.type) for a in parent.associations["companies"].results) == [
        (CHILD_A, "company_to_company"),
        (CHILD_A, "parent_to_child_company"),
        (CHILD_B, "company_to_company"),
        (CHILD_B, "parent_to_child_company"),
    ]
    child = account.api("companies.basic_api").get_by_id(CHILD_A, associations=["companies"])
    assert [(a.id, a.type) for a in child.associations["companies"].results] == [
        (PARENT, "child_to_parent_company"),
        (PARENT, "company_to_company"),
    ]


def test_parent_and_child_companies_through_v4(account: Account) -> None:
    children = _v4(account, "companies", "companies", CHILD_A, CHILD_B)
    assert children == {CHILD_A: [(PARENT, [14, 450])], CHILD_B: [(PARENT, [14, 450])]}
    parent = _v4(account, "companies", "companies", PARENT)[PARENT]
    assert sorted(parent) == [(CHILD_A, [13, 450]), (CHILD_B, [13, 450])]


@pytest.mark.parametrize(
    ("from_type", "to_type", "from_ids", "to_id", "types"),
    [
        ("contacts", "companies", CONTACTS, PARENT, [1, 279]),
        ("deals", "companies", DEALS, PARENT, [5, 341]),
        ("tickets", "companies", (TICKET,), PARENT, [26, 339]),
        ("line_items", "deals", LINE_ITEMS, DEALS[0], [20]),
        *[
            (engagement, "companies", (f"97{k}00000001",), PARENT, [ENGAGEMENT_TYPES[engagement][0]])
            for k, engagement in enumerate(ENGAGEMENTS)
        ],
        *[
            (engagement, "contacts", (f"97{k}00000001",), CONTACTS[0], [ENGAGEMENT_TYPES[engagement][1]])
            for k, engagement in enumerate(ENGAGEMENTS)
        ],
    ],
)
def test_v4_batch_read_returns_the_hubspot_defined_type_ids_both_ways(
    account: Account, from_type: str, to_type: str, from_ids: tuple[str, ...], to_id: str, types: list[int]
) -> None:
    assert _v4(account, from_type, to_type, *from_ids) == {i: [(to_id, types)] for i in from_ids}
    inverse = {t.type_id: t.inverse for t in ASSOCIATION_TYPES}
    back = dict(_v4(account, to_type, from_type, to_id)[to_id])
    assert {i: back[i] for i in from_ids} == {i: [inverse[t] for t in types] for i in from_ids}


def test_v4_batch_read_takes_1000_inputs_and_refuses_1001(account: Account) -> None:
    batch = account.api("associations.v4.batch_api")
    ids = [DEALS[0], *(str(80_000_000_000 + n) for n in range(999))]
    result = batch.get_page("deals", "companies", BatchInputPublicFetchAssociationsBatchRequest(inputs=ids_in(ids)))
    assert [r._from.id for r in result.results] == [DEALS[0]]
    assert result.num_errors == 999  # ids without associations come back as errors of a 207
    assert result.errors[0].sub_category == "crm.associations.NO_ASSOCIATIONS_FOUND"
    with pytest.raises(AssociationsApiException) as refused:
        request = BatchInputPublicFetchAssociationsBatchRequest(inputs=ids_in([*ids, "1"]))
        batch.get_page("deals", "companies", request)
    assert refused.value.status == 400
    body = json.loads(refused.value.body)
    assert body["category"] == "VALIDATION_ERROR"
    assert "1000" in body["message"]


def test_v4_batch_read_pages_a_long_association_list(account: Account) -> None:
    company = "91000000099"
    _put(account.world, "companies", company, FUTURE + timedelta(days=5), name="Busy")
    tasks = account.world.hubspot.table("tasks")
    for n in range(1_234):
        task_id = str(98_000_000_000 + n)
        _put(account.world, "tasks", task_id, FUTURE + timedelta(days=5), hs_timestamp=hs_time(FUTURE))
        account.world.hubspot.associations[("tasks", task_id, "companies")] = [(company, 192)]
    assert len(tasks) >= 1_234
    batch = account.api("associations.v4.batch_api")
    seen: list[str] = []
    sizes: list[int] = []
    after: str | None = None
    while True:
        item = {"id": company} if after is None else {"id": company, "after": after}
        page = batch.get_page("companies", "tasks", BatchInputPublicFetchAssociationsBatchRequest(inputs=[item]))
        (result,) = page.results
        seen += [str(t.to_object_id) for t in result.to]
        sizes.append(len(result.to))
        assert all([a.type_id for a in t.association_types] == [191] for t in result.to)
        if result.paging is None:
            break
        after = result.paging.next.after
        assert result.paging.next.link.endswith(f"/crm/v4/objects/companies/{company}/associations/tasks?after={after}")
    assert sizes == [500, 500, 234]
    assert sorted(seen) == [str(98_000_000_000 + n) for n in range(1_234)]

    # The per-object endpoint pages with the same cursors.
    first = account.api("associations.v4.basic_api").get_page("companies", company, "tasks", limit=500)
    assert len(first.results) == 500
    rest = account.api("associations.v4.basic_api").get_page(
        "companies", company, "tasks", limit=500, after=first.paging.next.after
    )
    assert [str(r.to_object_id) for r in rest.results] == seen[500:1000]


def test_direct_changes_to_the_store_are_seen_by_list_and_associations(account: Account) -> None:
    basic = account.api("products.basic_api")
    before = {r.id for r in basic.get_page(limit=100).results}
    products = account.world.hubspot.table("products")
    seats = products["94000000001"]
    with account.world.hubspot.lock:
        _put(account.world, "products", "94000000007", FUTURE, name="Storage")
        _put(account.world, "products", "94000000005", FUTURE, name="Support")  # a lower id, inserted last
        del products["94000000001"]
    after = [r.id for r in basic.get_page(limit=100).results]
    assert set(after) == (before - {"94000000001"}) | {"94000000005", "94000000007"}
    assert after == sorted(after, key=int)
    products["94000000001"] = seats
    assert "94000000001" in [r.id for r in basic.get_page(limit=100).results]

    # An association key added straight to the store is read from the other side too.
    account.world.hubspot.associations[("notes", "97400000002", "deals")] = [(DEALS[1], 214)]
    assert _v4(account, "deals", "notes", DEALS[1]) == {DEALS[1]: [("97400000002", [213])]}


# -- changes HubSpot makes behind the sync's back ---------------------------------------------


def test_archive_hides_from_search_but_lists_with_archived_true(account: Account) -> None:
    deal_id = DEALS[2]
    stamp = account.world.hubspot.objects["deals"][deal_id]["properties"]["hs_lastmodifieddate"]
    search = account.api("deals.search_api")
    window = {
        "limit": 200,
        "filterGroups": [_window("deals", FUTURE - timedelta(hours=1), FUTURE + timedelta(hours=1))],
    }
    assert deal_id in [r.id for r in search.do_search(public_object_search_request=window).results]

    archive(account.world, "deals", deal_id)
    found = search.do_search(public_object_search_request=window)
    assert deal_id not in [r.id for r in found.results]
    assert found.total == len(DEALS) - 1
    archived = account.api("deals.basic_api").get_page(limit=100, archived=True, properties=["dealname"])
    (row,) = [r for r in archived.results if r.id == deal_id]
    assert row.archived is True
    assert row.archived_at is not None
    assert row.properties["hs_lastmodifieddate"] == stamp  # the delete is invisible to a modstamp cursor
    assert deal_id not in {i for i, _ in _v4(account, "companies", "deals", PARENT)[PARENT]}

    restore(account.world, "deals", deal_id)
    moved = account.world.hubspot.objects["deals"][deal_id]["properties"]["hs_lastmodifieddate"]
    assert moved != stamp  # a restore is a change: stamped with the server clock (world.now())
    assert abs(datetime.fromisoformat(moved) - account.world.now()) < timedelta(minutes=1)
    back = {"limit": 200, "filterGroups": [_window("deals", ANCHOR - timedelta(hours=1), FUTURE)]}
    assert deal_id in [r.id for r in search.do_search(public_object_search_request=back).results]


def test_calculated_property_changes_without_moving_the_modstamp(account: Account) -> None:
    before = dict(account.world.hubspot.objects["companies"][CHILD_B]["properties"])
    recalculate(account.world, "companies", CHILD_B, {"health_rollup": 0.42})
    company = account.api("companies.basic_api").get_by_id(
        CHILD_B, properties=["health_rollup"], properties_with_history=["health_rollup"]
    )
    assert company.properties["health_rollup"] == "0.42"
    assert company.properties["hs_lastmodifieddate"] == before["hs_lastmodifieddate"]
    assert company.updated_at == datetime.fromisoformat(before["hs_lastmodifieddate"])
    newest = company.properties_with_history["health_rollup"][0]
    assert (newest.value, newest.source_type) == ("0.42", "CALCULATED")
    # A modified-since search after the old modstamp does not see the change.
    since = datetime.fromisoformat(before["hs_lastmodifieddate"]) + timedelta(milliseconds=1)
    request = {"limit": 200, "filterGroups": [_window("companies", since, FUTURE + timedelta(days=1))]}
    found = account.api("companies.search_api").do_search(public_object_search_request=request)
    assert CHILD_B not in [r.id for r in found.results]
    with pytest.raises(ValueError, match="not calculated"):
        recalculate(account.world, "companies", CHILD_B, {"name": "x"})


# -- mass update and the 10,000 cap -----------------------------------------------------------


def test_a_mass_update_past_10000_pages_only_by_id_within_the_shared_millisecond(tmp_path: Path) -> None:
    world = build_world(anchor=ANCHOR, accounts=1)
    ids = [str(60_000_000_000 + n) for n in range(10_050)]
    for n, contact_id in enumerate(ids):
        _put(world, "contacts", contact_id, ANCHOR - timedelta(days=3, minutes=n), email=f"c{n}@example.com")
    stamp = mass_update(world, "contacts", ids, {"lifecyclestage": "customer"}, at=ANCHOR - timedelta(hours=2))
    assert {world.hubspot.objects["contacts"][i]["properties"]["lastmodifieddate"] for i in ids} == {stamp}

    served = Served(world, tmp_path)
    served.svc.start()
    search = served.client().crm.contacts.search_api
    try:
        same_ms = {"propertyName": "lastmodifieddate", "operator": "EQ", "value": stamp}
        fetched: list[str] = []
        after: str | None = None
        total = -1
        while True:
            request = {
                "limit": 200,
                "after": after,
                "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
                "filterGroups": [{"filters": [same_ms]}],
            }
            page = search.do_search(public_object_search_request=request)
            total = page.total
            fetched += [r.id for r in page.results]
            after = page.paging.next.after if page.paging else None
            if after is None or int(after) >= 10_000:
                break
        assert total == 10_050  # exact, so a client can tell it stopped short
        assert after == "10000"  # HubSpot still offers the page it refuses
        with pytest.raises(ContactsApiException) as capped:
            request = {"limit": 200, "after": after, "filterGroups": [{"filters": [same_ms]}]}
            search.do_search(public_object_search_request=request)
        assert capped.value.status == 400
        assert json.loads(capped.value.body)["category"] == "VALIDATION_ERROR"

        # The way out: the same millisecond, ordered by id, restarting after the last id seen.
        while len(fetched) < total:
            request = {
                "limit": 200,
                "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
                "filterGroups": [
                    {"filters": [same_ms, {"propertyName": "hs_object_id", "operator": "GT", "value": fetched[-1]}]}
                ],
            }
            page = search.do_search(public_object_search_request=request)
            assert page.results
            fetched += [r.id for r in page.results]
        assert len(fetched) == len(set(fetched)) == total
        assert fetched == ids  # ties on the timestamp come back in id order, across every page boundary

        contact = served.client().crm.contacts.basic_api.get_by_id(ids[0], properties_with_history=["lifecyclestage"])
        assert contact.properties_with_history["lifecyclestage"][0].source_type == "BATCH_UPDATE"
    finally:
        served.stop(search)


# -- big tables: the modified-date index ---------------------------------------------------------


def test_the_modified_date_index_of_big_tables_stays_current(tmp_path: Path) -> None:
    world = build_world(anchor=ANCHOR, accounts=1)
    start = FUTURE + timedelta(days=1)
    ids = [str(70_000_000_000 + n) for n in range(300)]
    for n, task_id in enumerate(ids):
        _put(world, "tasks", task_id, start + timedelta(minutes=n), hs_timestamp=hs_time(start), hs_task_subject="t")
    served = Served(world, tmp_path)
    served.app.state.search_index_min = 0  # index every table, however small
    served.svc.start()
    tasks = served.client().crm.objects.tasks
    search, basic = tasks.search_api, tasks.basic_api

    def window(low: datetime, high: datetime) -> list[str]:
        request = {"limit": 200, "filterGroups": [_window("tasks", low, high)]}
        return [r.id for r in search.do_search(public_object_search_request=request).results]

    def now_window() -> list[str]:
        now = world.now()
        return window(now - timedelta(minutes=5), now + timedelta(minutes=5))

    first_hour = (start, start + timedelta(minutes=60))
    try:
        assert window(*first_hour) == ids[:60]
        created = basic.create({"properties": {"hs_timestamp": hs_time(start), "hs_task_subject": "new"}}).id
        assert created in now_window()  # own writes keep the index current
        basic.update(ids[0], {"properties": {"hs_task_subject": "moved"}})
        edit_as_user(world, "tasks", ids[1], {"hs_task_subject": "by hand"}, user_id=9000001)
        assert window(*first_hour) == ids[2:60]
        assert set(now_window()) >= {created, ids[0], ids[1]}

        table = world.hubspot.objects["tasks"]
        with world.hubspot.lock:
            table[ids[2]]["properties"]["hs_lastmodifieddate"] = hs_time(FUTURE + timedelta(days=900))  # out
            _put(world, "tasks", "70000001000", start + timedelta(minutes=30))  # a new object: noticed
            del table[ids[3]]  # a removed one: noticed
        assert window(*first_hour) == [*ids[4:60], "70000001000"]  # in id order
        with world.hubspot.lock:  # an in-place move *into* the window needs invalidate() on a big table
            table[ids[200]]["properties"]["hs_lastmodifieddate"] = hs_time(start + timedelta(minutes=10, seconds=1))
        assert ids[200] not in window(*first_hour)
        invalidate(world)
        assert ids[200] in window(*first_hour)

        stamp = mass_update(world, "tasks", ids[100:150], {"hs_task_priority": "HIGH"})
        same = {"propertyName": "hs_lastmodifieddate", "operator": "EQ", "value": stamp}
        found = search.do_search(public_object_search_request={"limit": 200, "filterGroups": [{"filters": [same]}]})
        assert [r.id for r in found.results] == ids[100:150]
    finally:
        served.stop(search, basic)
