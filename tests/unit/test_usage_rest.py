"""The declarative usage source's pure parts and paginators: every stop condition, every transform,
every error shape, and Retry-After as seconds or an HTTP date."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timezone
from typing import Any

import httpx
import pytest

from connectors.usage.client import translated
from connectors.usage.rest.errors import error_text, retry_after_seconds
from connectors.usage.rest.paginators import (
    BasePaginator,
    HeaderLinkPaginator,
    JSONLinkPaginator,
    JSONResponseCursorPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    PageRequest,
    paginate,
)
from connectors.usage.rest.resources import day_window
from connectors.usage.rest.settings import FieldRule
from connectors.usage.rest.transforms import counts, extract, length, to_unit, usage_item
from core.errors import ConnectorError, RateLimitError, ResponseShapeError
from core.records import Window
from sync.settings import check_settings

ROWS = [{"id": i} for i in range(10)]


def walk(
    handler: Callable[[httpx.Request], httpx.Response], paginator: BasePaginator, *, selector: str = "items"
) -> tuple[list[Any], list[httpx.Request]]:
    """Every item the paginator reads through an httpx client, and the requests it sent."""
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return handler(request)

    with httpx.Client(base_url="https://api.test", transport=httpx.MockTransport(record)) as client:

        def fetch(request: PageRequest) -> httpx.Response:
            return client.get(request.url, params=dict(request.params) if request.params is not None else None)

        pages = paginate(
            fetch,
            PageRequest("/things", {"size": 3}),
            paginator,
            data_selector=selector,
            resource="metrics",
            stream="usage.daily",
        )
        items = [item for _, page in pages for item in page]
    return items, sent


def param(request: httpx.Request, name: str, default: str = "") -> str:
    return str(request.url.params.get(name, default))


def test_a_body_token_with_its_own_names() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        start = int(param(request, "page_token", "0"))
        following = str(start + 3) if start + 3 < len(ROWS) else None
        return httpx.Response(200, json={"items": ROWS[start : start + 3], "meta": {"next": following}})

    items, sent = walk(handler, JSONResponseCursorPaginator("meta.next", "page_token"))
    assert items == ROWS and len(sent) == 4
    assert all(param(r, "size") == "3" for r in sent)  # the other parameters go with the token


def test_a_repeated_token_is_an_error_naming_the_resource() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"items": [{"id": param(request, "cursor", "x")}], "next": "same"})

    with pytest.raises(ResponseShapeError, match="resource 'metrics': pagination loop"):
        walk(handler, JSONResponseCursorPaginator("next"))


def test_an_api_that_ignores_the_page_parameter_is_an_error_not_an_endless_loop() -> None:
    with pytest.raises(ResponseShapeError, match="resource 'metrics': the same page of items twice"):
        walk(lambda r: httpx.Response(200, json={"items": ROWS[:3]}), PageNumberPaginator())


def test_a_next_link_in_the_body_and_a_bare_array_with_a_link_header() -> None:
    def body_link(request: httpx.Request) -> httpx.Response:
        start = int(param(request, "from", "0"))
        following = f"/things?from={start + 4}" if start + 4 < len(ROWS) else None
        return httpx.Response(200, json={"items": ROWS[start : start + 4], "links": {"next": following}})

    items, sent = walk(body_link, JSONLinkPaginator("links.next"))
    assert items == ROWS and len(sent) == 3

    def header_link(request: httpx.Request) -> httpx.Response:
        start = int(param(request, "from", "0"))
        links = ['<https://api.test/things>; rel="first"']
        if start + 4 < len(ROWS):
            links.insert(0, f'<https://api.test/things?from={start + 4}>; rel="next"')
        return httpx.Response(200, json=ROWS[start : start + 4], headers={"Link": ", ".join(links)})

    items, sent = walk(header_link, HeaderLinkPaginator(), selector="")
    assert items == ROWS and len(sent) == 3  # the last page has rel="first" only: stop there


@pytest.mark.parametrize("with_total", [True, False])
def test_page_numbers_with_or_without_a_total(with_total: bool) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        page = int(param(request, "p"))
        body: dict[str, Any] = {"items": ROWS[(page - 1) * 3 : page * 3]}
        if with_total:
            body["pages"] = 4
        return httpx.Response(200, json=body)

    items, sent = walk(handler, PageNumberPaginator(1, "p", "pages" if with_total else None))
    assert items == ROWS
    assert len(sent) == (4 if with_total else 5)  # without a total: until the first empty page


@pytest.mark.parametrize("with_total", [True, False])
def test_offsets_move_by_what_came_back_not_by_what_was_asked(with_total: bool) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        offset = int(param(request, "skip"))
        body: dict[str, Any] = {"items": ROWS[offset : offset + 2]}  # the API caps 3 to 2: short pages
        if with_total:
            body["total"] = len(ROWS)
        return httpx.Response(200, json=body)

    items, sent = walk(handler, OffsetPaginator(0, "skip", "total" if with_total else None))
    assert items == ROWS  # a short page is not the last one
    assert len(sent) == (5 if with_total else 6)


def test_no_list_at_the_data_selector_names_the_resource_and_the_path() -> None:
    with pytest.raises(ResponseShapeError, match="resource 'metrics': no list of items at 'items'"):
        walk(lambda r: httpx.Response(200, json={"data": []}), PageNumberPaginator())


def test_value_transforms() -> None:
    events = [{"feature": "export", "count": 3}, {"feature": "share", "count": 1}, {"feature": "export", "count": 2}]
    assert counts(events, key="feature", count="count", where="x") == {"export": 5, "share": 1}
    with pytest.raises(ValueError, match=r"feature_events \(events\).share: 'count' must be a number"):
        extract(
            {"events": [{"name": "share", "count": "n/a"}]},
            FieldRule(path="events", transform="counts"),
            name="feature_events",
        )
    assert length([{"trial": 1}, {"trial": 2}], where="x") == 2 and length(None, where="x") is None
    assert to_unit(83500, "MB", where="x") == 83.5  # exactly: a fraction, not × 0.001
    assert to_unit(1024, "MiB", where="x") == pytest.approx(1.073741824)
    on = extract({"at": "2026-05-31T23:30:00-05:00"}, FieldRule(path="at", transform="date"), name="day")
    assert on == date(2026, 5, 31)  # the date as the API wrote it, not shifted to UTC


def test_a_day_window_item_takes_the_end_of_its_day_as_its_update_time() -> None:
    flat = usage_item({"d": "2026-05-30", "acct": "ws-1"}, {"day": "d", "workspace_id": "acct"}, by_day=True)
    assert flat["workspace_id"] == "ws-1" and flat["updated_at"] == "2026-05-31T00:00:00+00:00"


def test_a_day_window_holds_complete_days_only() -> None:
    as_of = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
    start = datetime(2026, 5, 30, tzinfo=timezone.utc)
    assert day_window(Window(start=start, end=as_of)) == (date(2026, 5, 30), date(2026, 5, 31))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"error": {"code": "invalid_param", "detail": "from must be a date"}},
            ("invalid_param", "from must be a date"),
        ),
        ({"error": {"code": "bad", "message": "no such page"}}, ("bad", "no such page")),
        ({"error": "invalid_client", "error_description": "wrong secret"}, ("invalid_client", "wrong secret")),
        ({"error": "Something broke"}, ("", "Something broke")),
        ({"message": "Not allowed", "code": 42}, ("42", "Not allowed")),
        ({"detail": "Invalid page."}, ("", "Invalid page.")),
        ({"errors": ["limit too big", "page missing"]}, ("", "limit too big; page missing")),
        ({"errors": [{"message": "limit too big", "code": "E1"}]}, ("E1", "limit too big")),
        ({"errors": [{"detail": "bad date", "title": "Bad"}]}, ("", "bad date")),
        ("plain text answer", ("", "plain text answer")),
        ({"unexpected": True}, ("", "")),
    ],
)
def test_the_apis_own_error_text_whatever_its_shape(body: Any, expected: tuple[str, str]) -> None:
    assert error_text(body) == expected


def _raise(response: httpx.Response) -> None:
    response.request = httpx.Request("GET", "https://api.test/v2/accounts/ws-1/metrics")
    response.raise_for_status()


def test_a_422_names_the_detail_the_api_gave() -> None:
    body = {"error": {"code": "invalid_param", "detail": "to must not be before from"}}
    with (
        pytest.raises(ConnectorError, match="422 invalid_param: to must not be before from"),
        translated("usage.daily"),
    ):
        _raise(httpx.Response(422, json=body))


def test_retry_after_as_seconds_or_an_http_date() -> None:
    now = datetime(2026, 6, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert retry_after_seconds("7", now=now) == 7.0
    assert retry_after_seconds("Mon, 01 Jun 2026 12:00:05 GMT", now=now) == 5.0  # IMF-fixdate
    assert retry_after_seconds("Monday, 01-Jun-26 12:00:03 GMT", now=now) == 3.0  # RFC 850
    assert retry_after_seconds("Mon Jun  1 12:00:02 2026", now=now) == 2.0  # asctime
    assert retry_after_seconds("Mon, 01 Jun 2026 11:59:00 GMT", now=now) == 0.0  # already past
    assert retry_after_seconds("soon", now=now) is None and retry_after_seconds(None, now=now) is None


def test_a_429_with_an_http_date_is_measured_on_the_servers_clock() -> None:
    headers = {"Retry-After": "Mon, 01 Jun 2026 12:00:04 GMT", "Date": "Mon, 01 Jun 2026 12:00:00 GMT"}
    with pytest.raises(RateLimitError) as caught, translated("usage.daily"):
        _raise(httpx.Response(429, json={"errors": [{"message": "Too many requests."}]}, headers=headers))
    assert caught.value.retry_after == 4.0
    assert "Too many requests." in str(caught.value)


def _problems(resources: dict[str, Any]) -> list[str]:
    raw = {
        "upsync": {"crm": "hubspot"},
        "hubspot": {"base_url": "https://crm.test"},
        "usage": {"base_url": "https://usage.test", "resources": resources},
    }
    _, problems = check_settings(raw, {"HUBSPOT_TOKEN": "t", "USAGE_TOKEN": "t"})
    return [f"{p.path}: {p.message}" for p in problems]


def test_config_errors_name_the_key_path() -> None:
    daily = {"path": "/m", "incremental": {"start_param": "since"}}
    assert _problems({"daily": {**daily, "paginator": {"type": "cursor"}}}) == [
        "usage.resources.daily.paginator.cursor_path: required for type = 'cursor': the dotted path of the "
        "next page's token in the body, e.g. 'meta.next_cursor'"
    ]
    [unknown] = _problems({"daily": {**daily, "paginator": {"type": "cursor", "cursor_pth": "x", "cursor_path": "n"}}})
    assert unknown.startswith("usage.resources.daily.paginator.cursor_pth: unknown key")
    [missing] = _problems({"daily": {"path": "/m"}})
    assert "usage.resources.daily.incremental: required" in missing
    [orphan] = _problems({"daily": {**daily, "path": "/a/{id}/m"}})
    assert "{id}" in orphan and "params.id" in orphan
    [field] = _problems({"daily": {**daily, "fields": {"seats": "x"}}})
    assert "usage.resources.daily.fields.seats: not a canonical name" in field
    [unit] = _problems({"daily": {**daily, "fields": {"storage_used_gb": {"path": "s", "unit": "MBs"}}}})
    assert unit.startswith("usage.resources.daily.fields.storage_used_gb.unit: unknown unit 'MBs'")
