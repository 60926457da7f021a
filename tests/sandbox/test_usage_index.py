"""The usage stand-in's sorted index follows the store: sorted once per store version.

A built world's rows are a ``UsageRows`` whose ``version`` moves on every write; a plain list
(what tests and older worlds use) has no version, so the index checks small lists for edits and
takes appends to big ones in place.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

import sandbox.usage.index
from sandbox.server import Service
from sandbox.usage import UsageIndex, UsageStyle, create_usage_app
from sandbox.world import World, build_world

pytestmark = pytest.mark.e2e

ANCHOR = datetime(2026, 6, 1, 12, tzinfo=UTC)


class Served:
    def __init__(self, tmp: Path, *, plain: bool, accounts: int = 2, style: UsageStyle | None = None) -> None:
        self.world: World = build_world(anchor=ANCHOR, accounts=accounts)
        if plain:
            self.world.usage.rows = [dict(row) for row in self.world.usage.rows]
        ca = trustme.CA()
        self.ca_file = tmp / "ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        app = create_usage_app(self.world, style=style or UsageStyle())
        self.index: UsageIndex = app.state.usage_index
        self.svc = Service("usage", app, host="127.0.0.1", port=0, cert=ca.issue_cert("127.0.0.1"), tmp=tmp)

    def client(self) -> httpx.Client:
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        headers = {"Authorization": f"Bearer {self.world.tokens['usage']}"}
        return httpx.Client(base_url=self.svc.url, verify=ctx, headers=headers)

    def read_all(self, **params: Any) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        cursor = None
        with self.client() as client:
            while True:
                query = {**params, "limit": 1000, **({"cursor": cursor} if cursor else {})}
                response = client.get("/v1/usage/daily", params=query)
                assert response.status_code == 200, response.text
                rows += response.json()["data"]
                cursor = response.json()["next_cursor"]
                if cursor is None:
                    return rows


@pytest.fixture(params=["UsageRows", "list"])
def served(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Served]:
    s = Served(tmp_path, plain=request.param == "list")
    s.svc.start()
    yield s
    s.svc.stop()


@pytest.fixture
def big(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    """A plain list treated as too big to check for in-place edits on every request."""
    monkeypatch.setattr(sandbox.usage.index, "_VERIFY_MAX_ROWS", 1)
    s = Served(tmp_path, plain=True)
    s.svc.start()
    yield s
    s.svc.stop()


def _key(row: dict[str, Any]) -> tuple[str, str, str]:
    return row["updated_at"], row["workspace_id"], row["date"]


def test_the_store_is_sorted_once_when_the_app_is_built_not_per_page(served: Served) -> None:
    assert served.index.builds == 1
    with served.client() as client:
        cursor = None
        for _ in range(10):
            body = client.get("/v1/usage/daily", params={"limit": 7, **({"cursor": cursor} if cursor else {})}).json()
            cursor = body["next_cursor"]
        client.get("/v1/usage/daily", params={"workspace_id": "ws-00001"})
        client.get("/v1/workspaces")
    assert served.index.builds == 1


def test_in_place_edits_and_replaced_rows_are_noticed(served: Served) -> None:
    rows = served.world.usage.rows
    with served.world.usage.lock:
        rows[3]["updated_at"] = "2026-06-01T11:59:50Z"
    assert served.read_all()[-1] == rows[3]
    with served.world.usage.lock:
        rows[5] = {**rows[5], "updated_at": "2026-06-01T11:59:55Z"}
    assert served.read_all()[-1] == rows[5]
    assert served.index.builds == 3
    assert served.read_all() == sorted(rows, key=_key)


def test_rows_appended_to_a_big_store_are_taken_in_without_sorting_again(big: Served) -> None:
    rows = big.world.usage.rows
    late = {**rows[0], "workspace_id": "ws-late", "updated_at": "2026-06-01T11:59:59Z"}
    early = {**rows[0], "workspace_id": "ws-early", "updated_at": "2026-05-01T00:00:00Z"}
    with big.world.usage.lock:
        rows.append(late)
    assert big.read_all()[-1] == late
    with big.world.usage.lock:
        rows.append(early)  # appended, but sorts among the old rows
    served = big.read_all()
    assert served == sorted(rows, key=_key)
    assert early in served
    assert big.index.builds == 1


def test_an_insert_elsewhere_in_a_big_store_sorts_again(big: Served) -> None:
    rows = big.world.usage.rows
    with big.world.usage.lock:
        rows.insert(0, {**rows[0], "workspace_id": "ws-00000"})
    assert big.read_all() == sorted(rows, key=_key)
    assert big.index.builds == 2


def test_a_big_store_needs_invalidate_or_a_version_for_in_place_edits(big: Served) -> None:
    rows = big.world.usage.rows
    with big.world.usage.lock:
        rows[0]["updated_at"] = "2026-06-01T11:59:58Z"
    assert big.read_all()[0]["workspace_id"] == rows[0]["workspace_id"]  # not noticed: still first
    big.index.invalidate()
    assert big.read_all()[-1] == rows[0]
    assert big.index.builds == 2


def test_rows_without_a_readable_updated_at_are_not_served(served: Served) -> None:
    rows = served.world.usage.rows
    with served.world.usage.lock:
        rows.append({**rows[0], "workspace_id": "ws-broken", "updated_at": "sometime"})
        rows.append({**rows[0], "workspace_id": "ws-missing", "updated_at": None})
    read = served.read_all()
    assert len(read) == len(rows) - 2
    assert {r["workspace_id"] for r in read}.isdisjoint({"ws-broken", "ws-missing"})


def test_a_usage_rows_store_is_sorted_again_only_when_its_version_moves(tmp_path: Path) -> None:
    s = Served(tmp_path, plain=False, accounts=3)
    s.svc.start()
    try:
        rows = s.world.usage.rows
        assert s.read_all() == sorted(rows, key=_key)
        assert s.read_all(workspace_id="ws-00002") == [
            r for r in sorted(rows, key=_key) if r["workspace_id"] == "ws-00002"
        ]
        assert s.index.builds == 1
        version = s.world.usage.version
        with s.world.usage.lock:
            rows[0]["updated_at"] = "2026-06-01T11:59:58Z"  # a handed-out row: the write moves the version
            rows.append({**rows[1], "workspace_id": "ws-late", "updated_at": "2026-06-01T11:59:59Z"})
        assert s.world.usage.version != version
        read = s.read_all()
        assert [r["workspace_id"] for r in read[-2:]] == [rows[0]["workspace_id"], "ws-late"]
        assert read == sorted(rows, key=_key)
        assert s.index.builds == 2
    finally:
        s.svc.stop()


def test_appends_to_a_big_list_mixing_unreadable_and_out_of_order_rows(big: Served) -> None:
    rows = big.world.usage.rows
    with big.world.usage.lock:
        rows.append({**rows[0], "workspace_id": "ws-broken", "updated_at": "later"})
        rows.append({**rows[0], "workspace_id": "ws-a", "updated_at": "2026-06-01T11:59:01Z"})
    assert big.read_all() == sorted((r for r in rows if r["workspace_id"] != "ws-broken"), key=_key)
    with big.world.usage.lock:
        rows.append({**rows[0], "workspace_id": "ws-b", "updated_at": "2026-05-10T00:00:00+02:00"})
        rows.append({**rows[0], "workspace_id": "ws-c", "updated_at": "2026-06-01T11:59:02Z"})
    read = big.read_all()
    assert [r["workspace_id"] for r in read[-2:]] == ["ws-a", "ws-c"]
    assert next(r for r in read if r["workspace_id"] == "ws-b")["updated_at"] == "2026-05-09T22:00:00Z"
    assert len(read) == len(rows) - 1
    assert [r["updated_at"] for r in read] == sorted(r["updated_at"] for r in read)
    assert big.read_all(workspace_id="ws-b", updated_since="2026-05-09T22:00:00Z") == [
        {**rows[-2], "updated_at": "2026-05-09T22:00:00Z"}
    ]
    assert big.index.builds == 1
