"""Every style of the usage API stand-in, read over HTTPS with httpx as the usage connector will."""

from __future__ import annotations

import base64
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import httpx
import pytest
import trustme

from sandbox.server import Service
from sandbox.usage import NESTED_PATHS, Pagination, UsageStyle, create_usage_app
from sandbox.world import World, build_world

pytestmark = pytest.mark.e2e

ANCHOR = datetime(2026, 6, 1, 12, tzinfo=UTC)
PAGINATIONS: tuple[Pagination, ...] = get_args(Pagination)
POSITION_BASED = ("cursor", "next_link", "link_header")
DAILY = "/v1/usage/daily"
WORKSPACES = "/v1/workspaces"


@dataclass
class TLS:
    ca_file: Path
    cert: trustme.LeafCert


@dataclass
class Served:
    world: World
    style: UsageStyle
    svc: Service
    ca_file: Path

    def client(self, *, token: str | None = None, headers: dict[str, str] | None = None) -> httpx.Client:
        """A client authenticated the way ``style`` wants (``headers`` replaces that)."""
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        if headers is None:
            secret = token or self.world.tokens["usage"]
            if self.style.auth == "api_key":
                headers = {self.style.api_key_header: secret}
            else:
                headers = {"Authorization": f"Bearer {secret}"}
        return httpx.Client(base_url=self.svc.url, verify=ctx, headers=headers)


Serve = Callable[..., Served]


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLS:
    ca = trustme.CA()
    ca_file = tmp_path_factory.mktemp("usage-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return TLS(ca_file, ca.issue_cert("127.0.0.1"))


@pytest.fixture(scope="module")
def shared_world() -> World:
    """A world the read-only tests share: 20 workspaces x 35 days."""
    return build_world(anchor=ANCHOR, accounts=20)


@pytest.fixture
def serve(tls: TLS, tmp_path_factory: pytest.TempPathFactory, shared_world: World) -> Iterator[Serve]:
    started: list[Service] = []

    def start(style: UsageStyle | None = None, world: World | None = None) -> Served:
        style = style or UsageStyle()
        world = world or shared_world
        app = create_usage_app(world, style=style)
        svc = Service("usage", app, host="127.0.0.1", port=0, cert=tls.cert, tmp=tmp_path_factory.mktemp("usage"))
        svc.start()
        started.append(svc)
        return Served(world, style, svc, tls.ca_file)

    yield start
    for svc in started:
        svc.stop()


def fresh_world(accounts: int = 5) -> World:
    return build_world(anchor=ANCHOR, accounts=accounts)


# --- reading every page the way a client of each style must -------------------------------------


def _ok(response: httpx.Response) -> httpx.Response:
    assert response.status_code == 200, response.text
    return response


def _items(style: UsageStyle, response: httpx.Response) -> list[Any]:
    body = response.json()
    if style.items_key == "":
        assert isinstance(body, list)
        return body
    assert isinstance(body[style.items_key], list)
    return list(body[style.items_key])


def walk(
    client: httpx.Client, style: UsageStyle, path: str = DAILY, *, size: int = 37, **params: Any
) -> tuple[list[Any], int]:
    """Every item behind ``path`` in ``style``'s pagination, and how many pages that took."""
    items: list[Any] = []
    pages = 0
    if style.pagination == "page":
        number = 1
        while True:
            body = _ok(client.get(path, params={**params, "per_page": size, "page": number})).json()
            assert (body["page"], body["per_page"]) == (number, size)
            items += body[style.items_key]
            pages += 1
            if number >= body["total_pages"]:
                assert body["total"] == len(items)
                return items, pages
            number += 1
    if style.pagination == "offset":
        offset = 0
        while True:
            body = _ok(client.get(path, params={**params, "limit": size, "offset": offset})).json()
            assert (body["offset"], body["limit"]) == (offset, size)
            items += body[style.items_key]
            pages += 1
            offset += size
            if offset >= body["total"]:
                assert body["total"] == len(items)
                return items, pages
    if style.pagination == "cursor":
        cursor = None
        while True:
            query = {**params, "limit": size, **({"cursor": cursor} if cursor else {})}
            body = _ok(client.get(path, params=query)).json()
            items += body[style.items_key]
            pages += 1
            cursor = body["next_cursor"]
            if cursor is None:
                return items, pages
    url: str | None = None
    response = _ok(client.get(path, params={**params, "limit": size}))
    while True:
        items += _items(style, response)
        pages += 1
        if style.pagination == "next_link":
            url = response.json()["links"]["next"]
        else:
            url = response.links.get("next", {}).get("url")
        if url is None:
            return items, pages
        assert url.startswith(f"{client.base_url}".rstrip("/") + path), url  # absolute, same endpoint
        response = _ok(client.get(url))


def flat_key(style: UsageStyle, item: dict[str, Any]) -> tuple[str, str, str]:
    if style.shape == "nested":
        return item["updated"], item["workspace"]["id"], item["day"]
    return item["updated_at"], item["workspace_id"], item["date"]


def row_key(row: dict[str, Any]) -> tuple[str, str, str]:
    return row["updated_at"], row["workspace_id"], row["date"]


def resolve(item: dict[str, Any], dotted: str) -> Any:
    node: Any = item
    for part in dotted.split("."):
        node = node[part]
    return node


# --- pagination ----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["flat", "nested"])
@pytest.mark.parametrize("pagination", PAGINATIONS)
def test_every_pagination_returns_every_row_exactly_once_in_order(
    serve: Serve, shared_world: World, pagination: Pagination, shape: Any
) -> None:
    served = serve(UsageStyle(pagination=pagination, shape=shape))
    with served.client() as client:
        items, pages = walk(client, served.style, size=37)
    expected = sorted(shared_world.usage.rows, key=row_key)
    assert len(expected) > 10 * 37
    assert pages == -(-len(expected) // 37)
    assert [flat_key(served.style, item) for item in items] == [row_key(row) for row in expected]
    if shape == "flat":
        assert items == expected


@pytest.mark.parametrize("pagination", PAGINATIONS)
def test_filters_apply_in_every_pagination(serve: Serve, shared_world: World, pagination: Pagination) -> None:
    served = serve(UsageStyle(pagination=pagination))
    ordered = sorted(shared_world.usage.rows, key=row_key)
    since, before = ordered[50]["updated_at"], ordered[600]["updated_at"]
    with served.client() as client:
        window, _ = walk(client, served.style, size=100, updated_since=since, updated_before=before)
        one, _ = walk(client, served.style, size=10, workspace_id="ws-00003", updated_since=since)
        none, pages = walk(client, served.style, size=10, workspace_id="ws-99999")
    assert window == [row for row in ordered if since <= row["updated_at"] < before]
    assert one == [row for row in ordered if row["workspace_id"] == "ws-00003" and row["updated_at"] >= since]
    assert len(one) > 10
    assert (none, pages) == ([], 1)


def test_default_page_sizes_and_the_maximum_are_configurable(serve: Serve, shared_world: World) -> None:
    served = serve(UsageStyle(pagination="offset", page_size=20, max_page_size=50))
    total = len(shared_world.usage.rows)
    with served.client() as client:
        body = _ok(client.get(DAILY)).json()
        assert (len(body["data"]), body["limit"], body["offset"], body["total"]) == (20, 20, 0, total)
        assert len(_ok(client.get(DAILY, params={"limit": 50})).json()["data"]) == 50
        error = client.get(DAILY, params={"limit": 51})
    assert error.status_code == 400
    assert error.json()["error"]["parameter"] == "limit"


def test_next_link_is_an_absolute_url_keeping_the_filters_and_null_on_the_last_page(serve: Serve) -> None:
    served = serve(UsageStyle(pagination="next_link"))
    with served.client() as client:
        first = _ok(client.get(DAILY, params={"limit": 300, "workspace_id": "ws-00002"})).json()
        assert first["links"]["next"] is None  # 35 rows
        body = _ok(client.get(DAILY, params={"limit": 300})).json()
        following = httpx.URL(body["links"]["next"])
        assert (following.scheme, following.host, following.port) == ("https", "127.0.0.1", served.svc.port)
        assert following.params["limit"] == "300"
        assert following.params["cursor"]
        assert set(body) == {"data", "links"}


def test_link_header_has_next_until_the_last_page_and_first_after_the_first(serve: Serve, shared_world: World) -> None:
    served = serve(UsageStyle(pagination="link_header"))
    total = len(shared_world.usage.rows)
    with served.client() as client:
        single = _ok(client.get(DAILY, params={"workspace_id": "ws-00002"}))
        assert "link" not in single.headers  # one page: nothing to link to
        assert set(single.json()) == {"data"}
        first = _ok(client.get(DAILY, params={"limit": total - 10}))
        assert set(first.links) == {"next", "first"}
        assert first.headers["link"].startswith("<https://127.0.0.1:")
        last = _ok(client.get(first.links["next"]["url"]))
        assert set(last.links) == {"first"}  # stop on a missing rel="next", not on a missing header
        assert "cursor" not in httpx.URL(last.links["first"]["url"]).params
        assert (len(first.json()["data"]), len(last.json()["data"])) == (total - 10, 10)


def test_link_header_can_answer_a_bare_array_like_github(serve: Serve, shared_world: World) -> None:
    served = serve(UsageStyle(pagination="link_header", list_key=""))
    with served.client() as client:
        items, pages = walk(client, served.style, size=100)
    assert pages == -(-len(shared_world.usage.rows) // 100)
    assert items == sorted(shared_world.usage.rows, key=row_key)


def test_page_style_reports_totals_and_answers_empty_after_the_last_page(serve: Serve, shared_world: World) -> None:
    served = serve(UsageStyle(pagination="page"))
    total = len(shared_world.usage.rows)
    per_page = (total + 1) // 3 + 1  # three pages, the last one shorter
    with served.client() as client:
        body = _ok(client.get(DAILY, params={"per_page": per_page, "page": 3})).json()
        assert (len(body["data"]), body["page"], body["per_page"], body["total_pages"], body["total"]) == (
            total - 2 * per_page,
            3,
            per_page,
            3,
            total,
        )
        after = _ok(client.get(DAILY, params={"per_page": per_page, "page": 4})).json()
        assert (after["data"], after["total_pages"]) == ([], 3)
        empty = _ok(client.get(DAILY, params={"workspace_id": "nobody"})).json()
        assert (empty["data"], empty["total"], empty["total_pages"]) == ([], 0, 0)


@pytest.mark.parametrize(
    ("pagination", "params", "parameter"),
    [
        ("page", {"page": "0"}, "page"),
        ("page", {"page": "first"}, "page"),
        ("page", {"per_page": "0"}, "per_page"),
        ("page", {"per_page": "1001"}, "per_page"),
        ("offset", {"offset": "-1"}, "offset"),
        ("offset", {"offset": "x"}, "offset"),
        ("offset", {"limit": "0"}, "limit"),
        ("next_link", {"cursor": "tampered"}, "cursor"),
        ("link_header", {"cursor": "eyJ2IjoxLCJrIjpbMV19"}, "cursor"),
        ("link_header", {"updated_since": "soon"}, "updated_since"),
    ],
)
def test_bad_paging_parameters_are_400_naming_the_parameter(
    serve: Serve, pagination: Pagination, params: dict[str, str], parameter: str
) -> None:
    served = serve(UsageStyle(pagination=pagination))
    with served.client() as client:
        response = client.get(DAILY, params=params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_parameter"
    assert response.json()["error"]["parameter"] == parameter


@pytest.mark.parametrize("pagination", POSITION_BASED)
def test_position_based_pages_skip_nothing_when_rows_are_written_while_paging(
    serve: Serve, pagination: Pagination
) -> None:
    world = fresh_world()
    served = serve(UsageStyle(pagination=pagination), world)
    style = served.style
    ordered = sorted(world.usage.rows, key=row_key)
    with served.client() as client:
        first = _ok(client.get(DAILY, params={"limit": 50}))
        assert [flat_key(style, item) for item in _items(style, first)] == [row_key(r) for r in ordered[:50]]
        with world.usage.lock:
            world.usage.rows.insert(0, {**ordered[0], "workspace_id": "ws-00000"})  # sorts before the cursor
            corrected = ordered[60]
            corrected["updated_at"] = "2026-06-01T11:59:30Z"  # a row not read yet moves to the end
            world.usage.rows.append({**ordered[70], "workspace_id": "ws-late", "updated_at": "2026-06-01T11:59:40Z"})
        rest: list[dict[str, Any]] = []
        response = first
        while True:
            if pagination == "cursor":
                cursor = response.json()["next_cursor"]
                url = None if cursor is None else f"{DAILY}?limit=50&cursor={cursor}"
            elif pagination == "next_link":
                url = response.json()["links"]["next"]
            else:
                url = response.links.get("next", {}).get("url")
            if url is None:
                break
            response = _ok(client.get(url))
            rest += _items(style, response)
    keys = [row_key(r) for r in rest]
    assert keys == sorted(keys)
    assert {row_key(r) for r in ordered[50:]} | {("2026-06-01T11:59:40Z", "ws-late", ordered[70]["date"])} == set(keys)
    assert len(keys) == len(set(keys))
    assert rest[-2]["updated_at"] == "2026-06-01T11:59:30Z"


@pytest.mark.parametrize("pagination", ["page", "offset"])
def test_offset_based_pages_shift_when_a_row_is_written_before_the_position(
    serve: Serve, pagination: Pagination
) -> None:
    """The documented weakness of page/offset APIs, which is why the connector prefers cursors."""
    world = fresh_world()
    served = serve(UsageStyle(pagination=pagination), world)
    ordered = sorted(world.usage.rows, key=row_key)
    params = [{"per_page": 50, "page": n} for n in (1, 2)] if pagination == "page" else []
    params = params or [{"limit": 50, "offset": n} for n in (0, 50)]
    with served.client() as client:
        first = _ok(client.get(DAILY, params=params[0])).json()["data"]
        with world.usage.lock:
            world.usage.rows.insert(0, {**ordered[0], "workspace_id": "ws-00000"})
        second = _ok(client.get(DAILY, params=params[1])).json()["data"]
    assert first == ordered[:50]
    assert second[0] == ordered[49]  # the previous page's last row, again


# --- row shapes ----------------------------------------------------------------------------------

FULL_ROW: dict[str, Any] = {
    "workspace_id": "ws-00001",
    "date": "2026-05-31",
    "active_users": 41,
    "weekly_active_users": 52,
    "seats_used": 58,
    "seats_limit": 100,
    "storage_used_gb": 12.5,
    "storage_limit_gb": 50,
    "api_calls_used": 18000,
    "api_calls_limit": 100000,
    "integrations": 4,
    "premium_feature_views": 7,
    "trials_started": 0,
    "pricing_page_views": 2,
    "feature_events": {"reports": 120, "exports": 9},
    "users_by_department": {"Sales": 20, "Engineering": 21},
    "updated_at": "2026-06-01T11:00:00+00:00",
    "region": "eu",
}


def _world_with_full_row() -> World:
    world = fresh_world(2)
    world.usage.rows.append(dict(FULL_ROW))
    return world


def test_nested_shape_moves_every_metric_to_its_documented_path(serve: Serve) -> None:
    served = serve(UsageStyle(shape="nested"), _world_with_full_row())
    with served.client() as client:
        body = _ok(client.get(DAILY, params={"updated_since": "2026-06-01T11:00:00Z"})).json()
    assert set(body) == {"items", "next_cursor"}
    assert body["items"] == [
        {
            "workspace": {"id": "ws-00001"},
            "day": "2026-05-31",
            "updated": "2026-06-01T11:00:00Z",
            "metrics": {
                "users": {"active": 41, "weekly_active": 52},
                "seats": {"used": 58, "limit": 100},
                "storage": {"used_gb": 12.5, "limit_gb": 50},
                "api": {"calls": 18000, "limit": 100000},
                "integrations": {"count": 4},
                "engagement": {"premium_views": 7, "trials_started": 0, "pricing_page_views": 2},
                "features": {"reports": 120, "exports": 9},
                "departments": {"Sales": 20, "Engineering": 21},
            },
            "extra": {"region": "eu"},
        }
    ]
    item = body["items"][0]
    for name, dotted in NESTED_PATHS.items():
        expected = "2026-06-01T11:00:00Z" if name == "updated_at" else FULL_ROW[name]
        assert resolve(item, dotted) == expected, name


def test_nested_shape_omits_what_a_row_lacks(serve: Serve) -> None:
    world = fresh_world(1)
    row = {k: world.usage.rows[0][k] for k in ("workspace_id", "date", "active_users", "seats_used", "seats_limit")}
    row["updated_at"] = world.usage.rows[0]["updated_at"]
    world.usage.rows = [row]  # the rows of the API before the full metric set
    served = serve(UsageStyle(shape="nested", list_key="results", pagination="page"), world)
    with served.client() as client:
        body = _ok(client.get(DAILY, params={"per_page": 1})).json()
    assert set(body) == {"results", "page", "per_page", "total_pages", "total"}
    assert body["results"] == [
        {
            "workspace": {"id": row["workspace_id"]},
            "day": row["date"],
            "updated": row["updated_at"],
            "metrics": {
                "users": {"active": row["active_users"]},
                "seats": {"used": row["seats_used"], "limit": row["seats_limit"]},
            },
        }
    ]


def test_flat_shape_serves_whatever_keys_a_row_has(serve: Serve) -> None:
    served = serve(UsageStyle(list_key="usage"), _world_with_full_row())
    with served.client() as client:
        body = _ok(client.get(DAILY, params={"updated_since": "2026-06-01T11:00:00Z"})).json()
    assert set(body) == {"usage", "next_cursor"}
    assert body["usage"] == [{**FULL_ROW, "updated_at": "2026-06-01T11:00:00Z"}]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"auth": "basic"},
        {"pagination": "keyset"},
        {"shape": "xml"},
        {"list_key": ""},
        {"list_key": "", "pagination": "page"},
        {"page_size": 0},
        {"page_size": 200, "max_page_size": 100},
        {"rate_limit_per_second": 0},
        {"token_expires_in": 0},
        {"api_key_header": " "},
        {"token_path": "oauth/token"},
    ],
)
def test_impossible_styles_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        UsageStyle(**kwargs)


# --- workspaces ----------------------------------------------------------------------------------


@pytest.mark.parametrize("pagination", PAGINATIONS)
def test_workspaces_list_every_workspace_once_in_every_pagination(
    serve: Serve, shared_world: World, pagination: Pagination
) -> None:
    served = serve(UsageStyle(pagination=pagination, shape="nested"))
    with served.client() as client:
        items, pages = walk(client, served.style, WORKSPACES, size=7)
    latest: dict[str, dict[str, Any]] = {}
    for row in shared_world.usage.rows:
        if row["workspace_id"] not in latest or row["date"] > latest[row["workspace_id"]]["date"]:
            latest[row["workspace_id"]] = row
    assert pages == -(-len(latest) // 7)
    assert [item["id"] for item in items] == sorted(latest)
    for item in items:
        row = latest[item["id"]]
        assert item["seats_limit"] == row["seats_limit"]
        # Only what the rows carry: the seeded world's have no name, domain or plan, so neither do the items.
        assert set(item) == {"id", "seats_limit"} | {f for f in ("name", "domain", "plan") if f in row}


def test_workspaces_carry_domain_name_and_plan_when_the_rows_do(serve: Serve) -> None:
    world = fresh_world(3)
    for row in world.usage.rows:
        if row["workspace_id"] == "ws-00002":
            row.update(domain="hooli-2.example.com", workspace_name="Hooli", plan="business", seats_limit=99)
    served = serve(UsageStyle(), world)
    with served.client() as client:
        body = _ok(client.get(WORKSPACES)).json()
    assert body["next_cursor"] is None
    assert body["data"][1] == {
        "id": "ws-00002",
        "name": "Hooli",
        "domain": "hooli-2.example.com",
        "plan": "business",
        "seats_limit": 99,
    }
    assert set(body["data"][0]) == {"id", "seats_limit"}


def test_a_daily_cursor_is_not_a_workspaces_cursor(serve: Serve) -> None:
    served = serve()
    with served.client() as client:
        cursor = _ok(client.get(DAILY, params={"limit": 1})).json()["next_cursor"]
        response = client.get(WORKSPACES, params={"cursor": cursor})
    assert response.status_code == 400
    assert response.json()["error"]["parameter"] == "cursor"


# --- authentication ------------------------------------------------------------------------------


def _anonymous(served: Served, **headers: str) -> httpx.Client:
    return served.client(headers=headers)


def test_bearer_tokens_follow_the_worlds_auth_state(serve: Serve) -> None:
    world = fresh_world(2)
    served = serve(UsageStyle(), world)
    with served.client() as client:
        assert _ok(client.get(WORKSPACES))
        world.auth["usage"].expire()
        expired = client.get(DAILY)
    assert expired.status_code == 401
    assert expired.json() == {"error": {"code": "unauthorized", "message": "Missing or invalid bearer token."}}
    assert "www-authenticate" not in expired.headers  # the default API never sent one
    with served.client(token=world.auth["usage"].issue()) as renewed:
        assert _ok(renewed.get(DAILY))
    with _anonymous(served) as anonymous:
        assert anonymous.post("/oauth/token", data={"grant_type": "client_credentials"}).status_code == 404


def test_api_key_in_the_default_header(serve: Serve) -> None:
    served = serve(UsageStyle(auth="api_key"))
    with served.client() as client:
        assert _ok(client.get(DAILY, params={"limit": 1}))
        assert _ok(client.get(WORKSPACES))
    for headers in (
        {},
        {"X-API-Key": "wrong"},
        {"Authorization": f"Bearer {served.world.tokens['usage']}"},
    ):
        with _anonymous(served, **headers) as client:
            response = client.get(DAILY)
        assert response.status_code == 401, headers
        assert response.json()["error"] == {
            "code": "unauthorized",
            "message": "Missing or invalid API key (X-API-Key header).",
        }


def test_api_key_header_name_is_configurable(serve: Serve) -> None:
    served = serve(UsageStyle(auth="api_key", api_key_header="Api-Token"))
    token = served.world.tokens["usage"]
    with _anonymous(served, **{"Api-Token": token}) as client:
        assert _ok(client.get(DAILY, params={"limit": 1}))
    with _anonymous(served, **{"X-API-Key": token}) as client:
        assert client.get(DAILY).status_code == 401


def _token(client: httpx.Client, **kwargs: Any) -> httpx.Response:
    return client.post("/oauth/token", **kwargs)


CLIENT_FORM = {
    "grant_type": "client_credentials",
    "client_id": "sandbox-client-id",
    "client_secret": "sandbox-client-secret",
}


def _basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


@pytest.mark.parametrize("method", ["form", "basic"])
def test_oauth2_client_credentials_then_bearer(serve: Serve, method: str) -> None:
    world = fresh_world(2)
    served = serve(UsageStyle(auth="oauth2", token_expires_in=600), world)
    with _anonymous(served) as anonymous:
        if method == "form":
            response = _token(anonymous, data=CLIENT_FORM)
        else:
            response = _token(
                anonymous,
                data={"grant_type": "client_credentials"},
                headers=_basic("sandbox-client-id", "sandbox-client-secret"),
            )
        assert anonymous.get(DAILY).headers["www-authenticate"] == 'Bearer realm="usage"'
    body = _ok(response).json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 600)
    assert response.headers["cache-control"] == "no-store"
    assert world.auth["usage"].valid(body["access_token"])
    with served.client(token=body["access_token"]) as client:
        items, _ = walk(client, served.style, size=100)
        assert len(items) == len(world.usage.rows)
        world.auth["usage"].expire()
        expired = client.get(DAILY)
    assert expired.status_code == 401
    assert expired.json()["error"]["code"] == "unauthorized"
    assert expired.headers["www-authenticate"] == 'Bearer realm="usage", error="invalid_token"'
    with _anonymous(served) as anonymous:
        again = _ok(_token(anonymous, data=CLIENT_FORM)).json()["access_token"]
    assert again != body["access_token"]
    with served.client(token=again) as client:
        assert _ok(client.get(DAILY, params={"limit": 1}))


def test_oauth2_tokens_expire_after_expires_in(serve: Serve) -> None:
    served = serve(UsageStyle(auth="oauth2", token_expires_in=1), fresh_world(1))
    with _anonymous(served) as anonymous:
        token = _ok(_token(anonymous, data=CLIENT_FORM)).json()["access_token"]
    with served.client(token=token) as client:
        assert _ok(client.get(DAILY, params={"limit": 1}))
        time.sleep(1.2)
        late = client.get(DAILY, params={"limit": 1})
    assert late.status_code == 401
    assert 'error="invalid_token"' in late.headers["www-authenticate"]


def test_oauth2_token_path_is_configurable(serve: Serve) -> None:
    served = serve(UsageStyle(auth="oauth2", token_path="/auth/v2/token"), fresh_world(1))
    with _anonymous(served) as anonymous:
        assert anonymous.post("/oauth/token", data=CLIENT_FORM).status_code == 404
        token = _ok(anonymous.post("/auth/v2/token", data=CLIENT_FORM)).json()["access_token"]
    with served.client(token=token) as client:
        assert _ok(client.get(WORKSPACES))


@pytest.mark.parametrize(
    ("kwargs", "status", "error"),
    [
        ({"data": {**CLIENT_FORM, "client_secret": "wrong"}}, 401, "invalid_client"),
        ({"data": {**CLIENT_FORM, "client_id": "someone-else"}}, 401, "invalid_client"),
        ({"data": {"grant_type": "client_credentials"}}, 401, "invalid_client"),
        (
            {"data": {"grant_type": "client_credentials"}, "headers": _basic("sandbox-client-id", "wrong")},
            401,
            "invalid_client",
        ),
        (
            {"data": {"grant_type": "client_credentials"}, "headers": {"Authorization": "Basic !!!"}},
            401,
            "invalid_client",
        ),
        ({"data": {k: v for k, v in CLIENT_FORM.items() if k != "grant_type"}}, 400, "invalid_request"),
        ({"data": {**CLIENT_FORM, "grant_type": "password"}}, 400, "unsupported_grant_type"),
        ({"json": CLIENT_FORM}, 400, "invalid_request"),
        (
            {"content": "grant_type=client_credentials&grant_type=client_credentials&client_id=a&client_secret=b"},
            400,
            "invalid_request",
        ),
        (
            {"data": CLIENT_FORM, "headers": _basic("sandbox-client-id", "sandbox-client-secret")},
            400,
            "invalid_request",
        ),
    ],
)
def test_oauth2_token_errors_follow_rfc_6749(serve: Serve, kwargs: dict[str, Any], status: int, error: str) -> None:
    served = serve(UsageStyle(auth="oauth2"), fresh_world(1))
    if "content" in kwargs:
        kwargs = {**kwargs, "headers": {"Content-Type": "application/x-www-form-urlencoded"}}
    issued = served.world.auth["usage"].issued
    with _anonymous(served) as anonymous:
        response = _token(anonymous, **kwargs)
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == error
    assert response.headers["cache-control"] == "no-store"
    if error == "invalid_client":
        assert response.headers["www-authenticate"] == 'Basic realm="usage"'
    assert served.world.auth["usage"].issued == issued


def test_oauth2_token_endpoint_takes_only_post(serve: Serve) -> None:
    served = serve(UsageStyle(auth="oauth2"), fresh_world(1))
    with _anonymous(served) as anonymous:
        response = anonymous.get("/oauth/token")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


# --- rate limiting -------------------------------------------------------------------------------


def test_requests_over_the_rate_limit_get_429_with_retry_after(serve: Serve) -> None:
    served = serve(UsageStyle(rate_limit_per_second=0.5, pagination="page"), fresh_world(1))
    with served.client() as client:
        assert _ok(client.get(DAILY))
        limited = client.get(WORKSPACES)
        assert limited.status_code == 429
        retry_after = limited.headers["retry-after"]
        assert retry_after in ("1", "2")
        error = limited.json()["error"]
        assert error["code"] == "rate_limited"
        assert error["retry_after"] == int(retry_after)
        assert error["message"]
        time.sleep(int(retry_after) + 0.05)
        assert _ok(client.get(DAILY))


def test_the_rate_limit_allows_a_burst_of_one_seconds_worth(serve: Serve) -> None:
    served = serve(UsageStyle(rate_limit_per_second=3), fresh_world(1))
    with served.client() as client:
        statuses = [client.get(DAILY, params={"limit": 1}).status_code for _ in range(10)]
    assert statuses[:3] == [200, 200, 200]
    assert 429 in statuses[3:]


def test_unlimited_by_default(serve: Serve) -> None:
    served = serve(UsageStyle(), fresh_world(1))
    with served.client() as client:
        assert {client.get(DAILY, params={"limit": 1}).status_code for _ in range(30)} == {200}
