"""Token expiry and refresh, and HubSpot's 429s, through the real hubspot-api-client over HTTPS.

Faults are injected the way the stand-in documents: ``world.auth["hubspot"].expire()`` or
``app.state.token_expires_in`` for expiry, ``app.state.limits = HubSpotLimits(...)`` for 429s
(``retry_after`` decides the header), ``app.state.rate.consume_daily(n)`` for the DAILY policy.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from hubspot import HubSpot
from hubspot.crm.companies import ApiException as CompaniesApiException
from hubspot.crm.companies import PublicObjectSearchRequest
from hubspot.oauth import ApiException as OAuthApiException
from urllib3.util.retry import Retry

from sandbox.hubspot import HubSpotLimits
from sandbox.world import build_world
from tests.sandbox.test_hubspot_standin import ANCHOR, Served

pytestmark = pytest.mark.e2e


class Clients:
    """The served world and every API object a test opened (each holds a connection pool)."""

    def __init__(self, tmp: Path) -> None:
        self.served = Served(build_world(anchor=ANCHOR, accounts=3), tmp)
        self.served.svc.start()
        self.opened: list[Any] = []

    def companies(self, token: str | None = None, **kwargs: Any) -> Any:
        if kwargs:
            client = HubSpot(
                access_token=token or self.served.world.tokens["hubspot"],
                host=self.served.svc.url,
                ssl_ca_cert=str(self.served.ca_file),
                **kwargs,
            )
        else:
            client = self.served.client(token)
        return self.keep(client.crm.companies)

    def keep(self, group: Any) -> Any:
        for name in ("basic_api", "search_api"):
            self.opened.append(getattr(group, name))
        return group

    def tokens_api(self) -> Any:
        api = HubSpot(host=self.served.svc.url, ssl_ca_cert=str(self.served.ca_file)).oauth.tokens_api
        self.opened.append(api)
        return api


@pytest.fixture
def hs(tmp_path: Path) -> Iterator[Clients]:
    clients = Clients(tmp_path)
    yield clients
    clients.served.stop(*clients.opened)


def _refresh(hs: Clients, **overrides: str) -> Any:
    auth = hs.served.world.auth["hubspot"]
    form = {
        "grant_type": "refresh_token",
        "client_id": auth.client_id,
        "client_secret": auth.client_secret,
        "refresh_token": next(iter(auth.refresh_tokens)),
    }
    return hs.tokens_api().create(**(form | overrides))


# -- auth ------------------------------------------------------------------------------------


def test_an_expired_token_gets_401_and_a_refreshed_one_works(hs: Clients) -> None:
    companies = hs.companies()
    assert companies.basic_api.get_page(limit=1).results
    hs.served.world.auth["hubspot"].expire()

    with pytest.raises(CompaniesApiException) as expired:
        companies.basic_api.get_page(limit=1)
    body = json.loads(expired.value.body)
    assert expired.value.status == 401
    assert body["category"] == "EXPIRED_AUTHENTICATION"
    assert body["message"].startswith("The OAuth token used to make this call expired ")
    assert body["message"].endswith(" ago.")
    assert list(body["context"]) == ["expire time"]

    tokens = _refresh(hs)
    assert (tokens.token_type, tokens.expires_in) == ("bearer", 1800)
    assert tokens.refresh_token == next(iter(hs.served.world.auth["hubspot"].refresh_tokens))
    assert hs.companies(tokens.access_token).basic_api.get_page(limit=1).results

    with pytest.raises(CompaniesApiException) as unknown:
        hs.companies("never-issued").basic_api.get_page(limit=1)
    assert json.loads(unknown.value.body)["category"] == "INVALID_AUTHENTICATION"


@pytest.mark.parametrize(
    ("override", "status"),
    [
        ({"refresh_token": "stale"}, "BAD_REFRESH_TOKEN"),
        ({"client_id": "someone-else"}, "BAD_CLIENT_ID"),
        ({"client_secret": "wrong"}, "BAD_CLIENT_SECRET"),
    ],
)
def test_a_bad_refresh_is_hubspots_400(hs: Clients, override: dict[str, str], status: str) -> None:
    with pytest.raises(OAuthApiException) as refused:
        _refresh(hs, **override)
    body = json.loads(refused.value.body)
    assert refused.value.status == 400
    assert body["status"] == status
    assert body["message"]


def test_tokens_from_the_token_endpoint_expire_after_expires_in(hs: Clients) -> None:
    hs.served.app.state.token_expires_in = 1
    tokens = _refresh(hs)
    assert tokens.expires_in == 1
    companies = hs.companies(tokens.access_token)
    assert companies.basic_api.get_page(limit=1).results
    time.sleep(1.2)
    with pytest.raises(CompaniesApiException) as expired:
        companies.basic_api.get_page(limit=1)
    assert json.loads(expired.value.body)["category"] == "EXPIRED_AUTHENTICATION"
    assert hs.companies(_refresh(hs).access_token).basic_api.get_page(limit=1).results


# -- rate limits -----------------------------------------------------------------------------


def test_429_comes_with_or_without_retry_after_as_configured(hs: Clients) -> None:
    # urllib3's default Retry quietly sleeps a 429's Retry-After and repeats a GET: switch it off to see the 429.
    companies = hs.companies(retry=Retry(total=0, raise_on_status=False))
    state = hs.served.app.state
    cases: list[tuple[int | Literal["window"] | None, str | None]] = [(None, None), (7, "7"), ("window", "window")]
    for retry_after, expected in cases:
        state.limits = HubSpotLimits(per_10s=2, retry_after=retry_after)
        state.rate.reset()
        companies.basic_api.get_page(limit=1)
        companies.basic_api.get_page(limit=1)
        with pytest.raises(CompaniesApiException) as limited:
            companies.basic_api.get_page(limit=1)
        assert limited.value.status == 429
        assert json.loads(limited.value.body)["policyName"] == "TEN_SECONDLY_ROLLING"
        header = limited.value.headers.get("Retry-After")
        if expected == "window":
            assert 1 <= int(header) <= 10  # whole seconds until the oldest request leaves the window
        else:
            assert header == expected
    state.limits = HubSpotLimits(per_10s=2, retry_after=5, retry_after_on=frozenset({"SECONDLY"}))
    state.rate.reset()
    companies.basic_api.get_page(limit=1)
    companies.basic_api.get_page(limit=1)
    with pytest.raises(CompaniesApiException) as only_some:
        companies.basic_api.get_page(limit=1)
    assert "Retry-After" not in only_some.value.headers


def test_a_client_that_honours_retry_after_gets_through_search_throttling(hs: Clients) -> None:
    state = hs.served.app.state
    state.limits = HubSpotLimits(search_per_s=1, retry_after="window")
    retry = Retry(
        total=3,
        status_forcelist=[429],
        allowed_methods=None,  # search is a POST
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    search = hs.companies(retry=retry).search_api
    started = time.monotonic()
    for _ in range(3):
        assert search.do_search(public_object_search_request=PublicObjectSearchRequest(limit=1)).total > 0
    elapsed = time.monotonic() - started
    assert 1.5 <= elapsed < 6  # two waits of about a second each, on real wall time


def test_the_daily_policy_is_refused_with_its_own_body(hs: Clients) -> None:
    # No urllib3 retries: the default Retry would sleep this Retry-After (hours, until midnight) on a GET.
    companies = hs.companies(retry=Retry(total=0, raise_on_status=False))
    state = hs.served.app.state
    state.limits = HubSpotLimits(per_10s=None, search_per_s=None, daily=1_000, retry_after="window")
    state.rate.consume_daily(999)
    page = companies.basic_api.get_page(limit=1)
    assert page.results
    for call in (
        lambda: companies.basic_api.get_page(limit=1),
        lambda: companies.search_api.do_search(public_object_search_request=PublicObjectSearchRequest(limit=1)),
    ):
        with pytest.raises(CompaniesApiException) as daily:
            call()
        body = json.loads(daily.value.body)
        assert daily.value.status == 429
        assert (body["policyName"], body["errorType"]) == ("DAILY", "RATE_LIMIT")
        assert body["message"] == "You have reached your daily limit."
        assert daily.value.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
        now = hs.served.world.now()
        to_midnight = 86_400 - (now.hour * 3600 + now.minute * 60 + now.second)
        assert abs(int(daily.value.headers["Retry-After"]) - to_midnight) <= 2  # the sandbox's next day


def test_rate_limit_headers_count_down_so_a_client_can_pace_itself(hs: Clients) -> None:
    companies = hs.companies()
    hs.served.app.state.limits = HubSpotLimits(per_10s=20, search_per_s=4, daily=500)
    hs.served.app.state.rate.reset()
    remaining = []
    for _ in range(3):
        _, status, headers = companies.basic_api.get_page_with_http_info(limit=1)
        assert status == 200
        remaining.append((headers["X-HubSpot-RateLimit-Remaining"], headers["X-HubSpot-RateLimit-Daily-Remaining"]))
    assert remaining == [("19", "499"), ("18", "498"), ("17", "497")]
    assert headers["X-HubSpot-RateLimit-Max"] == "20"
    request = PublicObjectSearchRequest(limit=1)
    _, _, searched = companies.search_api.do_search_with_http_info(public_object_search_request=request)
    assert searched["X-HubSpot-RateLimit-Secondly"] == "4"
    assert searched["X-HubSpot-RateLimit-Secondly-Remaining"] == "3"  # search has its own bucket
    assert searched["X-HubSpot-RateLimit-Remaining"] == "17"
    assert searched["X-HubSpot-RateLimit-Daily-Remaining"] == "496"  # but shares the daily quota
