"""Paginators named and behaving like dlt's (``dlt.sources.helpers.rest_client.paginators``).

Our own small objects over httpx rather than dlt itself: dlt brings its pipeline, state and a
large dependency tree for what is this one file, and upsync already owns the cursor, the retry
policy and the store. Each paginator is created fresh for one walk through one endpoint:
``init_request`` sets the first page's parameters, ``update_state`` reads the answer and
``update_request`` points the request at the next page while ``has_next_page``.

Stop conditions never loop forever nor stop early: every style stops on an empty page (an API
past its last page answers one); a token, link or page number seen twice, or the same page of
items twice in a row (an API that ignores the page parameter), is an error naming the resource.
A short page is not the last one: an API may cap the page size below the one asked for.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from connectors.usage.rest.settings import Paginator as PaginatorSettings
from connectors.usage.streams import get_path
from core.errors import ResponseShapeError

__all__ = [
    "BasePaginator",
    "HeaderLinkPaginator",
    "JSONLinkPaginator",
    "JSONResponseCursorPaginator",
    "OffsetPaginator",
    "PageNumberPaginator",
    "PageRequest",
    "SinglePagePaginator",
    "build_paginator",
    "paginate",
    "select",
]

SYSTEM = "usage"


@dataclass
class PageRequest:
    """The next GET: a path or URL, and its query (None: the URL carries every parameter)."""

    url: str
    params: dict[str, Any] | None


class BasePaginator:
    def __init__(self) -> None:
        self.has_next_page = True
        self.marker: str | None = None  # what identifies the next page, for loop detection

    def init_request(self, request: PageRequest) -> None:
        """Set the first page's parameters."""

    def update_state(self, response: httpx.Response, body: Any, data: list[Any]) -> None:
        raise NotImplementedError

    def update_request(self, request: PageRequest) -> None:
        """Point ``request`` at the next page."""


class SinglePagePaginator(BasePaginator):
    def update_state(self, response: httpx.Response, body: Any, data: list[Any]) -> None:
        self.has_next_page = False


class JSONResponseCursorPaginator(BasePaginator):
    """A token in the body (``cursor_path``) sent back as ``cursor_param``; none: last page."""

    def __init__(self, cursor_path: str, cursor_param: str = "cursor") -> None:
        super().__init__()
        self.cursor_path = cursor_path
        self.cursor_param = cursor_param
        self.cursor: str | None = None

    def update_state(self, response: httpx.Response, body: Any, data: list[Any]) -> None:
        token = get_path(body, self.cursor_path)
        self.cursor = str(token) if token not in (None, "") else None
        self.has_next_page = self.cursor is not None
        self.marker = self.cursor

    def update_request(self, request: PageRequest) -> None:
        if request.params is None:
            request.params = {}
        request.params[self.cursor_param] = self.cursor


class _LinkPaginator(BasePaginator):
    def __init__(self) -> None:
        super().__init__()
        self.next_url: str | None = None

    def follow(self, response: httpx.Response, link: Any) -> None:
        self.next_url = str(response.url.join(str(link))) if link else None
        self.has_next_page = self.next_url is not None
        self.marker = self.next_url

    def update_request(self, request: PageRequest) -> None:
        assert self.next_url is not None
        request.url, request.params = self.next_url, None  # the link carries every parameter


class JSONLinkPaginator(_LinkPaginator):
    """The next page's URL in the body (``next_url_path``); none: last page."""

    def __init__(self, next_url_path: str) -> None:
        super().__init__()
        self.next_url_path = next_url_path

    def update_state(self, response: httpx.Response, body: Any, data: list[Any]) -> None:
        self.follow(response, get_path(body, self.next_url_path))


class HeaderLinkPaginator(_LinkPaginator):
    """The RFC 8288 ``Link`` header's ``rel="next"`` (``links_next_key``); none: last page (a
    header with only ``rel="first"`` is a last page too)."""

    def __init__(self, links_next_key: str = "next") -> None:
        super().__init__()
        self.links_next_key = links_next_key

    def update_state(self, response: httpx.Response, body: Any, data: list[Any]) -> None:
        self.follow(response, response.links.get(self.links_next_key, {}).get("url"))


class PageNumberPaginator(BasePaginator):
    """``page_param`` from ``base_page``; stops at ``total_path`` pages when the body has it."""

    def __init__(self, base_page: int = 1, page_param: str = "page", total_path: str | None = None) -> None:
        super().__init__()
        self.page = base_page
        self.base_page = base_page
        self.page_param = page_param
        self.total_path = total_path

    def init_request(self, request: PageRequest) -> None:
        assert request.params is not None
        request.params[self.page_param] = self.page

    def update_state(self, response: httpx.Response, body: Any, data: list[Any]) -> None:
        total = _total(body, self.total_path, "pages")
        self.page += 1
        self.has_next_page = total is None or self.page - self.base_page < total
        self.marker = str(self.page)

    def update_request(self, request: PageRequest) -> None:
        assert request.params is not None
        request.params[self.page_param] = self.page


class OffsetPaginator(BasePaginator):
    """``offset_param`` moved by the items received (not by the size asked: an API may cap it);
    stops at ``total_path`` items when the body has it."""

    def __init__(self, offset: int = 0, offset_param: str = "offset", total_path: str | None = None) -> None:
        super().__init__()
        self.offset = offset
        self.offset_param = offset_param
        self.total_path = total_path

    def init_request(self, request: PageRequest) -> None:
        assert request.params is not None
        request.params[self.offset_param] = self.offset

    def update_state(self, response: httpx.Response, body: Any, data: list[Any]) -> None:
        total = _total(body, self.total_path, "items")
        self.offset += len(data)
        self.has_next_page = total is None or self.offset < total
        self.marker = str(self.offset)

    def update_request(self, request: PageRequest) -> None:
        assert request.params is not None
        request.params[self.offset_param] = self.offset


def _total(body: Any, path: str | None, what: str) -> int | None:
    if path is None:
        return None
    value = get_path(body, path)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise ValueError(f"total_path {path!r} is not a number of {what}: {value!r}")
    return int(value)


def build_paginator(settings: PaginatorSettings) -> BasePaginator:
    """A fresh paginator for one walk, from ``[usage.resources.<name>.paginator]``."""
    kind = settings.type
    if kind == "cursor":
        assert settings.cursor_path is not None
        return JSONResponseCursorPaginator(settings.cursor_path, settings.cursor_param)
    if kind == "json_link":
        assert settings.next_url_path is not None
        return JSONLinkPaginator(settings.next_url_path)
    if kind == "header_link":
        return HeaderLinkPaginator(settings.links_next_key)
    if kind == "page_number":
        return PageNumberPaginator(settings.base_page, settings.page_param, settings.total_path)
    if kind == "offset":
        return OffsetPaginator(0, settings.offset_param, settings.total_path)
    return SinglePagePaginator()


def select(body: Any, data_selector: str) -> Any:
    """The items of a page: at ``data_selector`` (a dotted path), or the body itself ("")."""
    return get_path(body, data_selector) if data_selector else body


def paginate(
    fetch: Callable[[PageRequest], httpx.Response],
    request: PageRequest,
    paginator: BasePaginator,
    *,
    data_selector: str,
    resource: str,
    stream: str,
) -> Iterator[tuple[Any, list[Any]]]:
    """(body, items) of every page of one endpoint; errors name the resource."""

    def shape_error(message: str) -> ResponseShapeError:
        return ResponseShapeError(
            f"resource {resource!r}: {message}",
            system=SYSTEM,
            stream=stream,
            hint=f"check usage.resources.{resource}.paginator and data_selector against the API's answers",
        )

    paginator.init_request(request)
    seen: set[str] = set()
    previous: str | None = None
    while True:
        response = fetch(request)
        body = response.json()
        items = select(body, data_selector)
        if not isinstance(items, list):
            where = f"at {data_selector!r}" if data_selector else "as the body (a bare JSON array)"
            raise shape_error(f"no list of items {where}")
        yield body, items
        if not items:
            return  # past the last page
        digest = hashlib.sha256(json.dumps(items, sort_keys=True, default=str).encode()).hexdigest()
        if digest == previous:
            raise shape_error("the same page of items twice in a row: does the API read the page parameter?")
        previous = digest
        try:
            paginator.update_state(response, body, items)
        except ValueError as exc:
            raise shape_error(str(exc)) from None
        if not paginator.has_next_page:
            return
        if paginator.marker is not None:
            if paginator.marker in seen:
                raise shape_error(f"pagination loop: the next page {paginator.marker!r} was already read")
            seen.add(paginator.marker)
        paginator.update_request(request)
