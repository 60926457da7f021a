"""The configured connectors: the CRM's and the usage source's, built from the settings, and how
often each CRM's streams re-read everything (full refresh) and look for deletes."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import timedelta

from connectors.base import CrmConnector
from connectors.oauth import TokenCache
from connectors.usage.client import UsageConnector
from connectors.usage.sql import SqlUsageConnector
from sync.settings import Settings

__all__ = ["cadences", "connect_crm", "connect_usage"]


def connect_crm(
    settings: Settings,
    env: Mapping[str, str],
    *,
    sleep: Callable[[float], None] = time.sleep,
    token_cache: TokenCache | None = None,
) -> CrmConnector:
    """The configured CRM's connector (imported lazily: each vendor SDK is slow to import);
    ``token_cache`` keeps a token obtained through OAuth for the next runs."""
    if settings.upsync.crm == "salesforce":
        from connectors.salesforce.connector import SalesforceConnector

        assert settings.salesforce is not None
        return SalesforceConnector(settings.salesforce, env, settings.retry, sleep=sleep, token_cache=token_cache)
    from connectors.hubspot.connector import HubSpotConnector

    assert settings.hubspot is not None
    return HubSpotConnector(settings.hubspot, env, settings.retry, sleep=sleep, token_cache=token_cache)


def connect_usage(
    settings: Settings, env: Mapping[str, str], *, sleep: Callable[[float], None] = time.sleep
) -> UsageConnector | SqlUsageConnector | None:
    """The usage API's connector (or the warehouse's, for ``source = "sql"``); None for a CRM-only
    setup (no ``[usage]``): rules see no usage."""
    if settings.usage is None:
        return None
    if settings.usage.source == "sql":
        return SqlUsageConnector(settings.usage, env, settings.retry, sleep=sleep)
    return UsageConnector(settings.usage, env, settings.retry, sleep=sleep)


def cadences(settings: Settings, system: str) -> tuple[timedelta | None, timedelta | None]:
    """(full refresh period, deletes period) of a system's streams; the usage API has neither."""
    section = getattr(settings, system, None)
    if system not in ("salesforce", "hubspot") or section is None:
        return None, None
    return timedelta(days=section.full_refresh_days), timedelta(hours=section.deletes_every_hours)
