"""The usage API stand-in, read over HTTPS with httpx as the usage connector will."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from sandbox.server import Service
from sandbox.usage import create_usage_app
from sandbox.world import World, build_world

pytestmark = pytest.mark.e2e

ANCHOR = datetime(2026, 6, 1, 12, tzinfo=UTC)


class Served:
    def __init__(self, world: World, tmp: Path) -> None:
        self.world = world
        ca = trustme.CA()
        self.ca_file = tmp / "ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        self.svc = Service(
            "usage", create_usage_app(world), host="127.0.0.1", port=0, cert=ca.issue_cert("127.0.0.1"), tmp=tmp
        )

    def client(self, token: str | None = None) -> httpx.Client:
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        headers = {"Authorization": f"Bearer {token or self.world.tokens['usage']}"}
        return httpx.Client(base_url=self.svc.url, verify=ctx, headers=headers)


@pytest.fixture(scope="module")
def usage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = Served(build_world(anchor=ANCHOR, accounts=50), tmp_path_factory.mktemp("usage"))
    served.svc.start()
    yield served
    served.svc.stop()


@pytest.fixture
def http(usage: Served) -> Iterator[httpx.Client]:
    with usage.client() as client:
        yield client


def _read_all(http: httpx.Client, **params: Any) -> tuple[list[dict[str, Any]], int]:
    rows: list[dict[str, Any]] = []
    pages = 0
    cursor = None
    while True:
        response = http.get("/v1/usage/daily", params={**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        rows += body["data"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return rows, pages


def _key(row: dict[str, Any]) -> tuple[str, str, str]:
    return row["updated_at"], row["workspace_id"], row["date"]


def test_pages_return_every_row_once_sorted_by_updated_at_workspace_and_date(usage: Served, http: httpx.Client) -> None:
    rows, pages = _read_all(http, limit=200)
    expected = sorted(usage.world.usage.rows, key=_key)
    assert len(expected) == 50 * 35
    assert pages == -(-len(expected) // 200)
    assert rows == expected
    # Every key a row has (the world's rows grew more metrics); these six were always there.
    assert {"workspace_id", "date", "active_users", "seats_used", "seats_limit", "updated_at"} <= set(rows[0])


def test_default_page_is_500_rows(http: httpx.Client) -> None:
    body = http.get("/v1/usage/daily").json()
    assert len(body["data"]) == 500
    assert body["next_cursor"]


def test_updated_since_is_inclusive_and_updated_before_is_exclusive(usage: Served, http: httpx.Client) -> None:
    ordered = sorted(usage.world.usage.rows, key=_key)
    since, before = ordered[100]["updated_at"], ordered[900]["updated_at"]
    rows, _ = _read_all(http, updated_since=since, updated_before=before, limit=1000)
    assert rows == [r for r in ordered if since <= r["updated_at"] < before]
    assert rows[0]["updated_at"] == since
    in_tokyo = datetime.fromisoformat(since).astimezone(timezone(timedelta(hours=9))).isoformat()
    same, _ = _read_all(http, updated_since=in_tokyo, updated_before=before)
    assert same == rows


def test_workspace_filter_returns_only_that_workspace(http: httpx.Client) -> None:
    rows, _ = _read_all(http, workspace_id="ws-00007", limit=10)
    assert len(rows) == 35
    assert {r["workspace_id"] for r in rows} == {"ws-00007"}
    assert [r["updated_at"] for r in rows] == sorted(r["updated_at"] for r in rows)


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "eyJ2IjoxLCJrIjpbMV19"}, "cursor"),  # valid base64 JSON, wrong shape
        ({"updated_since": "yesterday"}, "updated_since"),
        ({"updated_since": "2026-05-02T00:00:00Z", "updated_before": "2026-05-01T00:00:00Z"}, "updated_before"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(
    http: httpx.Client, params: dict[str, str], parameter: str
) -> None:
    response = http.get("/v1/usage/daily", params=params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_parameter"
    assert error["parameter"] == parameter
    assert error["message"]


def test_limit_1000_is_accepted(http: httpx.Client) -> None:
    assert len(http.get("/v1/usage/daily", params={"limit": 1000}).json()["data"]) == 1000


def test_a_wrong_or_missing_token_is_401(usage: Served) -> None:
    with usage.client(token="wrong") as client:
        response = client.get("/v1/usage/daily")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    ctx = ssl.create_default_context(cafile=str(usage.ca_file))
    with httpx.Client(base_url=usage.svc.url, verify=ctx) as anonymous:
        assert anonymous.get("/v1/usage/daily").status_code == 401


def test_rows_written_while_paging_are_not_skipped(tmp_path: Path) -> None:
    served = Served(build_world(anchor=ANCHOR, accounts=5), tmp_path)
    served.svc.start()
    try:
        with served.client() as http:
            ordered = sorted(served.world.usage.rows, key=_key)
            first = http.get("/v1/usage/daily", params={"limit": 50}).json()
            assert first["data"] == ordered[:50]
            with served.world.usage.lock:
                # A row sorting before the cursor (an offset would shift every later row by one)...
                served.world.usage.rows.insert(0, {**ordered[0], "workspace_id": "ws-00000"})
                # ...and a correction of a row not read yet, which moves it to the end.
                corrected = ordered[60]
                corrected_key = (corrected["workspace_id"], corrected["date"])
                corrected["updated_at"] = "2026-06-01T11:59:30Z"
            rest, _ = _read_all_from(http, first["next_cursor"])
    finally:
        served.svc.stop()
    keys = [_key(r) for r in rest]
    assert keys == sorted(keys)
    unread = {_key(r) for r in ordered[50:]}
    assert unread == set(keys)  # nothing after the cursor was skipped, the early insert waits for a lookback
    assert (rest[-1]["workspace_id"], rest[-1]["date"], rest[-1]["updated_at"]) == (
        *corrected_key,
        "2026-06-01T11:59:30Z",
    )


def _read_all_from(http: httpx.Client, cursor: str) -> tuple[list[dict[str, Any]], int]:
    rows: list[dict[str, Any]] = []
    pages = 0
    while cursor:
        body = http.get("/v1/usage/daily", params={"limit": 50, "cursor": cursor}).json()
        rows += body["data"]
        pages += 1
        cursor = body["next_cursor"]
    return rows, pages
