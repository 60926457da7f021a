"""Salesforce as upsync sees it: one reader per configured object, the task writer, one client."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta

from connectors.base import Page, Unchanged, to_page
from connectors.columns import parse_utc
from connectors.extra_fields import SALESFORCE_TYPES, CrmType, DeclaredFields
from connectors.oauth import TokenCache
from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.settings import SalesforceSettings
from connectors.salesforce.streams import STREAM_TYPES, Accounts, Opportunities, SObjectStream, Tasks
from connectors.salesforce.writes import SalesforceTaskWriter
from connectors.settings import RetrySettings
from core.config import secret
from core.cursor import EPOCH
from core.errors import ConnectorError, QueryTimeoutError
from core.records import CursorSpec, Deletion, Window

__all__ = ["CURRENCY_NOTE", "SObjectReader", "SalesforceConnector"]

log = logging.getLogger("upsync.salesforce")
CURRENCY_NOTE = "Opportunity.currency_field"
"""The schema note naming Opportunity's currency field (``CurrencyIsoCode``, or ``""`` when the org has none)."""
MAX_HALVINGS = 4
"""On QUERY_TIMEOUT the same query would time out again, so the window is read in halves, at most
four times deep (a sixteenth of it); past that the timeout stands, and the next run resumes from
the cursor."""
DELETED_MAX_DAYS = 14
"""getDeleted answers only for the recycle bin's 15 days (REST API › Get Deleted Records); older
gaps (upsync stopped for weeks) are closed by the next full pass, which marks what it misses."""


class SObjectReader:
    """Reads one sObject: REST pages in cursor order, or Bulk API 2.0 for a large window."""

    def __init__(
        self,
        client: SalesforceClient,
        decl: SObjectStream,
        settings: SalesforceSettings,
        extra: DeclaredFields | None = None,
        notes: dict[str, str] | None = None,
    ) -> None:
        self.client = client
        self.decl = decl
        self.settings = settings
        self.extra = extra  # Account's extra fields: typed from describe before the first read
        self.notes = notes if notes is not None else {}  # the connector's schema notes, shared

    def _typed(self, window: Window | None) -> None:
        if self.extra is not None and isinstance(self.decl, Accounts) and not self.decl.extra:
            self.decl = dataclasses.replace(self.decl, extra=self.extra.typed())
        if isinstance(self.decl, Opportunities):
            # CurrencyIsoCode exists only in a multi-currency org (Object Reference, Opportunity):
            # naming it elsewhere fails the query, so describe says whether to read it. Its answer
            # is kept (the store keeps it between runs), so an incremental read asks nothing; a full
            # pass, which rereads every deal anyway, asks again: an org may turn multi-currency on
            known = self.notes.get(CURRENCY_NOTE)
            if known is None or (window is not None and window.start <= EPOCH):
                fields = {str(f.get("name", "")) for f in self.client.describe("Opportunity")["fields"]}
                known = self.notes[CURRENCY_NOTE] = "CurrencyIsoCode" if "CurrencyIsoCode" in fields else ""
            self.decl = dataclasses.replace(self.decl, currency_field=known or None)

    @property
    def name(self) -> str:
        return self.decl.name

    @property
    def kind(self) -> str:
        return self.decl.kind

    @property
    def spec(self) -> CursorSpec | None:
        return None if self.decl.config_name == "users" else self.decl.spec

    def read(self, window: Window | None, *, unchanged: Unchanged | None = None) -> Iterator[Page]:
        self._typed(window)
        try:
            if window is None:  # small objects: read whole every run
                pages = self.client.query_pages(self.decl.soql(None), stream=self.name, include_deleted=False)
                for rows, _total in pages:
                    yield to_page(rows, self.decl.to_record, self.name)
                return
            yield from self._window(window, halvings=0)
        except ConnectorError as exc:
            named = self._named(exc)
            if named is exc:
                raise
            raise named from exc

    def _named(self, exc: ConnectorError) -> ConnectorError:
        """An INVALID_FIELD on a field the config names says which key names it and what to do."""
        text = str(exc)
        named = {"accounts": self.settings.read_fields, "opportunities": self.settings.opportunity_fields}
        if "INVALID_FIELD" not in text or self.decl.config_name not in named:
            return exc
        fields = named[self.decl.config_name]()
        keys = [f"{api!r} ({key})" for key, api in fields.items() if f"'{api}'" in text]
        if not keys:
            return exc
        return ConnectorError(
            f"the org has no {self.decl.sobject} field {', '.join(keys)}, or the integration user cannot read it",
            system="salesforce",
            stream=self.name,
            hint="set the key to the Account field that holds that value, or switch an optional one off with "
            "= false; `upsync crm check` lists them all",
        )

    def _window(self, window: Window, *, halvings: int) -> Iterator[Page]:
        """One window; on QUERY_TIMEOUT before any of it was read, its two halves (≤ 4 times)."""
        pages = self.client.query_pages(self.decl.soql(window), stream=self.name)
        try:
            first = next(pages, None)
        except QueryTimeoutError:
            if halvings >= MAX_HALVINGS:
                raise
            middle = window.start + (window.end - window.start) / 2
            log.warning("%s: query timed out, reading the window in halves", self.name)
            yield from self._window(Window(start=window.start, end=middle), halvings=halvings + 1)
            yield from self._window(Window(start=middle, end=window.end), halvings=halvings + 1)
            return
        if first is None:
            return
        rows, total = first
        if total > self.settings.bulk_threshold:
            pages.close()  # the first REST page was the count: switch without wasting more calls
            log.info("%s: %d rows in the window, reading through Bulk API 2.0", self.name, total)
            yield from self._bulk(window)
            return
        yield to_page(rows, self.decl.to_record, self.name)
        for rows, _total in pages:
            yield to_page(rows, self.decl.to_record, self.name)

    def _bulk(self, window: Window) -> Iterator[Page]:
        """Bulk results come in no promised order: only the job's end is a checkpoint."""
        for rows in self.client.bulk_query_pages(self.decl.sobject, self.decl.soql(window), stream=self.name):
            yield to_page(rows, self.decl.to_record, self.name, checkpoint=False)
        yield Page(records=(), checkpoint=True)

    def deletions(self, start: datetime, end: datetime) -> Iterator[Sequence[Deletion]] | None:
        if self.spec is None:
            return None
        return self._deleted(start, end)

    def _deleted(self, start: datetime, end: datetime) -> Iterator[Sequence[Deletion]]:
        """Hard deletes (and emptied recycle bins) that ``queryAll`` can no longer show."""
        floor = end - timedelta(days=DELETED_MAX_DAYS)
        if start < floor:
            log.warning(
                "%s: deletes older than %d days cannot be listed; the next full pass finds them",
                self.name,
                DELETED_MAX_DAYS,
            )
            start = floor
        if end - start < timedelta(minutes=1):
            return  # the API needs a window of over a minute; the next run covers it
        rows, _latest = self.client.deleted(self.decl.sobject, start, end, stream=self.name)
        yield [
            Deletion(
                kind=self.kind,
                system="salesforce",
                crm_id=str(r["id"]),
                deleted_at=parse_utc(r["deletedDate"]),
                object_type=self.decl.sobject,
            )
            for r in rows
        ]


def oauth_form(settings: SalesforceSettings, env: Mapping[str, str]) -> dict[str, str] | None:
    if settings.oauth is None:
        return None
    return settings.oauth.form(env, f"{settings.instance_url}/services/oauth2/token")


class SalesforceConnector:
    """Salesforce as upsync sees it: its readers and its task writer over one client."""

    system = "salesforce"

    def __init__(
        self,
        settings: SalesforceSettings,
        env: Mapping[str, str],
        retry: RetrySettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        token_cache: TokenCache | None = None,
    ) -> None:
        self.client = SalesforceClient(
            settings,
            secret(env, settings.token_env),
            retry,
            oauth=oauth_form(settings, env),
            sleep=sleep,
            env=env,
            cache=token_cache,
        )
        lookback = timedelta(seconds=settings.lookback_seconds)
        self.notes: dict[str, str] = {}  # describe answers the readers reuse (schema_notes)
        self.extra = DeclaredFields(
            settings.extra_names(),
            path="salesforce.extra_fields.Account",
            owner="Account",
            types=SALESFORCE_TYPES,
            schema=lambda: self.client.describe("Account")["fields"],
        )
        readers = []
        for name in settings.objects:
            cls = STREAM_TYPES[name]
            decl: SObjectStream
            if cls is Accounts:
                decl = Accounts(
                    lookback=lookback,
                    workspace_field=settings.workspace_field,
                    seats_field=settings.seats_field,
                    health_field=settings.health_field,
                    do_not_contact_field=settings.do_not_contact_field,
                    nps_field=settings.nps_field,
                    csat_field=settings.csat_field,
                    owned_fields=tuple(settings.account_fields.items()),
                )
            elif cls is Tasks:
                decl = Tasks(lookback=lookback, sync_key_field=settings.sync_key_field)
            elif cls is Opportunities:
                decl = Opportunities(lookback=lookback, deal_kind_field=settings.deal_kind_field)
            else:
                decl = cls(lookback=lookback)
            extra = self.extra if cls is Accounts else None
            readers.append(SObjectReader(self.client, decl, settings, extra, self.notes))
        self.streams: tuple[SObjectReader, ...] = tuple(readers)
        self.writer = SalesforceTaskWriter(self.client, settings)

    def extra_types(self) -> dict[str, CrmType]:
        """The extra Account fields' features and their types, from describe (once per connector)."""
        return self.extra.feature_types()

    def extra_labels(self) -> dict[str, str]:
        """The extra Account fields' labels, from the same describe."""
        return self.extra.feature_labels()

    def schema_notes(self) -> dict[str, str]:
        """Opportunity's currency field as describe last said it (``""``: a single-currency org)."""
        return dict(self.notes)

    def remember_schema(self, notes: Mapping[str, str]) -> None:
        """An earlier run's describe answers: an incremental read then asks none."""
        self.notes.update({k: v for k, v in notes.items() if k == CURRENCY_NOTE})

    def close(self) -> None:
        self.client.close()
