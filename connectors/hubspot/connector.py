"""HubSpot as upsync sees it: one reader per configured object, the task writer, one client.

Reading a window: search 200 a page, ascending on ``hs_object_id``, filtered ``GTE start`` /
``LT end`` in epoch ms. CRM search refuses to page past 10,000 results, so a window whose
``total`` reaches that is cut into slices sized from its total (so most slices fit at the first
try and no call is spent only to count); a 1-ms window still over the cap is paged by
``hs_object_id > last id``. Every slice's fetched count is checked against ``total``.
Associations are read for up to 1,000 records at a time (5 pages) before those pages commit.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from connectors.base import Page, Unchanged
from connectors.columns import parse_utc
from connectors.extra_fields import HUBSPOT_TYPES, CrmType, DeclaredFields
from connectors.hubspot.client import ASSOCIATIONS_BATCH, HubSpotClient
from connectors.hubspot.settings import HubSpotSettings
from connectors.hubspot.streams import (
    SEARCH_PAGE,
    STREAM_TYPES,
    Companies,
    Deals,
    HubSpotStream,
    Owners,
    Tasks,
    epoch_ms,
    pick,
)
from connectors.hubspot.writes import HubSpotTaskWriter
from connectors.oauth import TokenCache
from connectors.settings import RetrySettings
from core.config import secret
from core.errors import ConnectorError
from core.records import CursorSpec, Deletion, Record, Window

__all__ = ["SEARCH_CAP", "HubSpotConnector", "ObjectReader", "OwnerReader"]

log = logging.getLogger("upsync.hubspot")
SEARCH_CAP = 10_000
"""CRM search answers 400 for ``after`` past 10,000 results (search API reference, limits)."""
SLICE_TARGET = 9_800
"""Records per slice of a window over the cap: under 10,000 and exactly 49 pages of 200."""


class ObjectReader:
    """Reads one object type through CRM search, in time windows ascending.

    ``required`` (config key path → property) are properties the config names: CRM search leaves
    a property the portal lacks out of its answer without a word, so every record would read as
    if it had no value (no workspace: no usage, no signal). They are looked up once, before the
    first read, and a missing one stops the stream with the key to fix.
    """

    def __init__(
        self,
        client: HubSpotClient,
        decl: HubSpotStream,
        required: Mapping[str, str] | None = None,
        extra: DeclaredFields | None = None,
    ) -> None:
        self.client = client
        self.decl = decl
        self.extra = extra  # companies' extra properties: typed from the properties API before the first read
        self._unchanged: Unchanged | None = None
        self._required = dict(required or {})

    def _typed(self) -> None:
        if self.extra is not None and isinstance(self.decl, Companies) and not self.decl.extra:
            self.decl = dataclasses.replace(self.decl, extra=self.extra.typed())

    @property
    def name(self) -> str:
        return self.decl.name

    @property
    def kind(self) -> str:
        return self.decl.kind

    @property
    def spec(self) -> CursorSpec:
        return self.decl.spec

    def read(self, window: Window | None, *, unchanged: Unchanged | None = None) -> Iterator[Page]:
        if window is None:
            raise ValueError(f"{self.name} is incremental: it needs a window")
        self._typed()
        start_ms, end_ms = self.decl.window_ms(window)
        if start_ms >= end_ms:
            return
        self._check_required()
        self._unchanged = unchanged
        try:
            yield from self._window(start_ms, end_ms)
        finally:
            self._unchanged = None

    def _check_required(self) -> None:
        """Stop before reading if the portal lacks a property the config names (checked until it has them)."""
        if not self._required:
            return
        present = {str(p.get("name")) for p in self.client.properties(self.decl.object_type)}
        missing = {key: name for key, name in self._required.items() if name not in present}
        if missing:
            named = ", ".join(f"{name!r} ({key})" for key, name in missing.items())
            raise ConnectorError(
                f"the portal has no {self.decl.object_type} property {named}",
                system="hubspot",
                stream=self.name,
                hint="set each key to the property that holds that value (Settings → Properties), or switch an "
                "optional one off with = false; `upsync crm check` lists them all",
            )
        self._required = {}

    def _window(self, start_ms: int, end_ms: int, over_cap: int | None = None) -> Generator[Page, None, int]:
        """Read ``[start_ms, end_ms)``; returns how many records it held.

        ``over_cap`` is a known total of at least 10,000: the first page would be wasted, so the
        window goes straight to slicing.
        """
        if over_cap is None:
            body = self.decl.search_body(start_ms, end_ms)
            results, after, total = self.client.search(self.decl.object_type, body, stream=self.name)
            if total < SEARCH_CAP:
                yield from self._paged(start_ms, end_ms, results, after, total)
                return total
        else:
            total = over_cap
        if end_ms - start_ms <= 1:
            return (yield from self._by_id(start_ms, end_ms))
        cut = self._quantile(start_ms, end_ms)
        if cut is None:  # fewer records than the total said (they changed meanwhile): read it plainly
            return (yield from self._window(start_ms, end_ms))
        if cut <= start_ms:  # 9,800+ records share the window's first millisecond (a mass update)
            head = yield from self._by_id(start_ms, start_ms + 1)
            cut = start_ms + 1
        else:
            head = yield from self._window(start_ms, cut)
        rest = total - head
        tail = yield from self._window(cut, end_ms, rest if rest >= SEARCH_CAP else None)
        return head + tail

    def _quantile(self, start_ms: int, end_ms: int) -> int | None:
        """The modified time (ms) of the window's SLICE_TARGET-th record, oldest first: the slice
        before it holds under 9,800 records, 49 full pages."""
        body = self.decl.search_body(start_ms, end_ms, after=str(SLICE_TARGET - 1), limit=1)
        body["sorts"] = [{"propertyName": self.decl.modified_property, "direction": "ASCENDING"}]
        results, _after, _total = self.client.search(self.decl.object_type, body, stream=self.name)
        if not results:
            return None
        return epoch_ms(parse_utc((results[0].get("properties") or {})[self.decl.modified_property]))

    def _paged(
        self, start_ms: int, end_ms: int, results: list[dict[str, Any]], after: str | None, total: int
    ) -> Iterator[Page]:
        """The rest of a window under the cap, from its first page; checks fetched == total."""
        raw_pages = [results]
        fetched = len(results)
        while after:  # follow paging.next even after a short page (peers stopped early: lost rows)
            body = self.decl.search_body(start_ms, end_ms, after=after)
            results, after, _ = self.client.search(self.decl.object_type, body, stream=self.name)
            raw_pages.append(results)
            fetched += len(results)
            if sum(len(p) for p in raw_pages) >= ASSOCIATIONS_BATCH:
                yield from self._pages(raw_pages, last=False)
                raw_pages = []
        problems = []
        if fetched != total:
            problems.append(
                f"{self.name}: window {start_ms}..{end_ms} ms fetched {fetched} of total {total} "
                "(records changed while paging; they are read again next run)"
            )
        yield from self._pages(raw_pages, last=True, problems=problems)

    def _by_id(self, start_ms: int, end_ms: int) -> Generator[Page, None, int]:
        """A window of one millisecond holding more than 10,000 records (a mass update)."""
        last_id: str | None = None
        raw_pages: list[list[dict[str, Any]]] = []
        count = 0
        while True:
            body = self.decl.search_body(start_ms, end_ms, after_id=last_id or "0")
            results, _after, _total = self.client.search(self.decl.object_type, body, stream=self.name)
            if not results:
                break
            raw_pages.append(results)
            count += len(results)
            last_id = str(results[-1]["id"])
            if sum(len(p) for p in raw_pages) >= ASSOCIATIONS_BATCH:
                yield from self._pages(raw_pages, last=False)
                raw_pages = []
            if len(results) < SEARCH_PAGE:
                break
        yield from self._pages(raw_pages, last=True)
        return count

    def _pages(
        self, raw_pages: Sequence[Sequence[Mapping[str, Any]]], *, last: bool, problems: Sequence[str] = ()
    ) -> Iterator[Page]:
        """Convert buffered raw pages, reading their associations in one batch call per type.

        Records the lookback re-reads unchanged are dropped first: they are stored already, and
        fetching their associations again would cost calls for nothing.
        """
        if self._unchanged is not None:
            pairs = [(str(r["id"]), m) for page in raw_pages for r in page if (m := self._modified(r)) is not None]
            same = self._unchanged(self.kind, self.decl.object_type, pairs)
            if same:
                raw_pages = [[r for r in page if str(r["id"]) not in same] for page in raw_pages]
        ids = [str(r["id"]) for page in raw_pages for r in page]
        linked: dict[str, dict[str, str | None]] = {i: {} for i in ids}
        for assoc in self.decl.associations:
            found = self.client.associations(self.decl.object_type, assoc.to_type, ids, stream=self.name) if ids else {}
            for record_id in ids:
                linked[record_id][assoc.column] = pick(found.get(record_id, []), assoc.type_ids)
        for index, page in enumerate(raw_pages):
            records: list[Record] = []
            page_problems: list[str] = []
            for raw in page:
                try:
                    records.append(self.decl.to_record(raw, linked[str(raw["id"])]))
                except (KeyError, ValueError, TypeError, AttributeError) as exc:
                    page_problems.append(f"{self.name} record {raw.get('id', '?')}: {type(exc).__name__}: {exc}")
            final = last and index == len(raw_pages) - 1
            yield Page(records=records, problems=[*page_problems, *(problems if final else ())], checkpoint=final)
        if last and not raw_pages:
            yield Page(records=(), problems=list(problems), checkpoint=True)

    def _modified(self, raw: Mapping[str, Any]) -> datetime | None:
        value = (raw.get("properties") or {}).get(self.decl.modified_property)
        try:
            return parse_utc(value) if value else None
        except ValueError:
            return None

    def deletions(self, start: datetime, end: datetime) -> Iterator[Sequence[Deletion]] | None:
        return self._archived(start)

    def _archived(self, start: datetime) -> Iterator[Sequence[Deletion]]:
        """Archiving does not move hs_lastmodifieddate and search hides archived records: list them."""
        since = start - timedelta(days=1)
        for page in self.client.archived(self.decl.object_type, stream=self.name):
            out = []
            for raw in page:
                when = raw.get("archived_at") or raw.get("updated_at")
                at = parse_utc(when) if when else since
                if at >= since:
                    out.append(
                        Deletion(
                            kind=self.kind,
                            system="hubspot",
                            crm_id=str(raw["id"]),
                            deleted_at=at,
                            object_type=self.decl.object_type,
                        )
                    )
            yield out


class OwnerReader:
    """Owners, read whole each run; archived (inactive) ones only on the deletes schedule."""

    def __init__(self, client: HubSpotClient) -> None:
        self.client = client
        self.decl = Owners()

    name = "hubspot.owners"
    kind = "owners"
    spec = None

    def read(self, window: Window | None, *, unchanged: Unchanged | None = None) -> Iterator[Page]:
        for archived in (False, True):
            for rows in self.client.owners(archived=archived):
                records, problems = [], []
                for raw in rows:
                    try:
                        records.append(self.decl.to_record({**raw, "archived": archived}))
                    except (KeyError, ValueError, TypeError) as exc:
                        problems.append(f"{self.name} record {raw.get('id', '?')}: {type(exc).__name__}: {exc}")
                yield Page(records=records, problems=problems)

    def deletions(self, start: datetime, end: datetime) -> Iterator[Sequence[Deletion]] | None:
        return None


def oauth_form(settings: HubSpotSettings, env: Mapping[str, str]) -> dict[str, str] | None:
    if settings.oauth is None:
        return None
    return settings.oauth.form(env, f"{settings.base_url}/oauth/v1/token")


class HubSpotConnector:
    """HubSpot as upsync sees it: its readers and its task writer over one client."""

    system = "hubspot"

    def __init__(
        self,
        settings: HubSpotSettings,
        env: Mapping[str, str],
        retry: RetrySettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        token_cache: TokenCache | None = None,
    ) -> None:
        token = secret(env, settings.token_env)
        self.client = HubSpotClient(
            settings, token, retry, oauth=oauth_form(settings, env), sleep=sleep, env=env, cache=token_cache
        )
        lookback = timedelta(seconds=settings.lookback_seconds)
        self.extra = DeclaredFields(
            settings.extra_names(),
            path="hubspot.extra_properties.companies",
            owner="companies",
            types=HUBSPOT_TYPES,
            schema=lambda: self.client.properties("companies"),
        )
        readers: list[ObjectReader | OwnerReader] = []
        for name in settings.objects:
            cls = STREAM_TYPES[name]
            if cls is Owners:
                readers.append(OwnerReader(self.client))
                continue
            decl: HubSpotStream
            if cls is Companies:
                decl = Companies(
                    lookback=lookback,
                    workspace_property=settings.workspace_property,
                    seats_property=settings.seats_property,
                    contract_end_property=settings.contract_end_property,
                    health_property=settings.health_property,
                    do_not_contact_property=settings.do_not_contact_property,
                    nps_property=settings.nps_property,
                    csat_property=settings.csat_property,
                    owned_properties=tuple(settings.company_properties.items()),
                )
            elif cls is Tasks:
                decl = Tasks(lookback=lookback, sync_key_property=settings.sync_key_property)
            elif cls is Deals:
                decl = Deals(lookback=lookback, deal_kind_property=settings.deal_kind_property)
            else:
                decl = cls(lookback=lookback)
            required = {Companies: settings.read_properties, Deals: settings.deal_properties}.get(cls, dict)()
            readers.append(ObjectReader(self.client, decl, required, self.extra if cls is Companies else None))
        self.streams: tuple[ObjectReader | OwnerReader, ...] = tuple(readers)
        self.writer = HubSpotTaskWriter(self.client, settings)

    def extra_types(self) -> dict[str, CrmType]:
        """The extra company properties' features and their types, from the properties API (once)."""
        return self.extra.feature_types()

    def extra_labels(self) -> dict[str, str]:
        """The extra company properties' labels, from the same properties call."""
        return self.extra.feature_labels()

    def schema_notes(self) -> dict[str, str]:
        """None: every property a HubSpot read names exists in every portal (unset ones read empty)."""
        return {}

    def remember_schema(self, notes: Mapping[str, str]) -> None:
        """Nothing to take back (:meth:`schema_notes`)."""

    def close(self) -> None:
        self.client.close()
