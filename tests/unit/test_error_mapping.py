"""Every vendor exception a connector can meet comes out as an UpsyncError, with no secret in it."""

from __future__ import annotations

import inspect
import json
import ssl
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from types import ModuleType
from typing import Any

import httpx
import pytest
import requests
import simple_salesforce.exceptions as sf_exc
import urllib3

from connectors.hubspot import client as hs_client
from connectors.salesforce import client as sf_client
from connectors.usage import client as usage_client
from core.errors import (
    AuthError,
    ConnectorError,
    QuotaExhaustedError,
    RateLimitError,
    UnreachableError,
    UpstreamError,
    UpsyncError,
)

TOKEN = "pat-na1-SECRET-TOKEN"


def subclasses(module: ModuleType, base: type[BaseException]) -> list[type[BaseException]]:
    return [c for _, c in inspect.getmembers(module, inspect.isclass) if issubclass(c, base)]


def bare(cls: type[BaseException], **attrs: Any) -> BaseException:
    """An instance without running the vendor's constructor (its signature varies by class)."""
    exc = cls.__new__(cls)
    for name, value in attrs.items():
        setattr(exc, name, value)
    return exc


def raised_through(translated: Callable[..., AbstractContextManager[None]], exc: BaseException) -> UpsyncError:
    with pytest.raises(UpsyncError) as info, translated("stream", token=TOKEN):
        raise exc
    assert TOKEN not in str(info.value) and TOKEN not in (info.value.hint or "")
    return info.value


def salesforce_cases() -> Iterator[BaseException]:
    body = [{"message": f"bad token {TOKEN}", "errorCode": "X"}]
    for cls in subclasses(sf_exc, sf_exc.SalesforceError):
        for status in (300, 400, 401, 403, 404, 420, 429, 500, 503):
            yield bare(cls, url="https://x/services", status=status, resource_name="q", content=body)
    for cls in subclasses(requests.exceptions, requests.RequestException):
        yield bare(cls)
    yield ValueError("not json")


@pytest.mark.parametrize(
    "exc", list(salesforce_cases()), ids=lambda e: f"{type(e).__name__}-{getattr(e, 'status', '')}"
)
def test_every_salesforce_exception_is_mapped(exc: BaseException) -> None:
    raised_through(sf_client.translated, exc)


def test_salesforce_mapping_is_by_meaning() -> None:
    def sf(cls: type[BaseException], status: int, code: str = "X") -> UpsyncError:
        content = [{"message": "m", "errorCode": code}]
        return raised_through(
            sf_client.translated, bare(cls, url="u", status=status, resource_name="q", content=content)
        )

    assert isinstance(sf(sf_exc.SalesforceExpiredSession, 401, "INVALID_SESSION_ID"), AuthError)
    assert isinstance(sf(sf_exc.SalesforceRefusedRequest, 403, "REQUEST_LIMIT_EXCEEDED"), QuotaExhaustedError)
    assert isinstance(sf(sf_exc.SalesforceGeneralError, 503), UpstreamError)
    assert isinstance(sf(sf_exc.SalesforceGeneralError, 429), RateLimitError)
    malformed = sf(sf_exc.SalesforceMalformedRequest, 400, "INVALID_FIELD")
    assert type(malformed) is ConnectorError and "INVALID_FIELD" in str(malformed) and not malformed.retryable


def hubspot_cases() -> Iterator[BaseException]:
    body = json.dumps({"status": "error", "message": f"token {TOKEN} rejected", "category": "X"})
    for api_exc in hs_client.API_EXCEPTIONS:
        for status in (0, 400, 401, 403, 404, 409, 429, 500, 502):
            yield bare(api_exc, status=status, reason="r", body=body, headers={"Authorization": f"Bearer {TOKEN}"})
    for cls in subclasses(urllib3.exceptions, urllib3.exceptions.HTTPError):
        yield bare(cls)
    yield ValueError("cannot deserialize")


@pytest.mark.parametrize(
    "exc", list(hubspot_cases()), ids=lambda e: f"{type(e).__module__}.{type(e).__name__}-{getattr(e, 'status', '')}"
)
def test_every_hubspot_exception_is_mapped(exc: BaseException) -> None:
    raised_through(hs_client.translated, exc)


def test_hubspot_429_daily_stops_and_ten_secondly_retries_after() -> None:
    cls = hs_client.API_EXCEPTIONS[1]
    daily = bare(cls, status=429, reason="", body=json.dumps({"policyName": "DAILY"}), headers={})
    secondly = bare(
        cls,
        status=429,
        reason="",
        body=json.dumps({"policyName": "TEN_SECONDLY_ROLLING"}),
        headers={"Retry-After": "3"},
    )
    assert isinstance(raised_through(hs_client.translated, daily), QuotaExhaustedError)
    limited = raised_through(hs_client.translated, secondly)
    assert isinstance(limited, RateLimitError) and limited.retry_after == 3.0


def usage_cases() -> Iterator[BaseException]:
    request = httpx.Request("GET", "https://usage.example.com/v1/usage/daily")
    for status in (400, 401, 403, 404, 429, 500, 503):
        response = httpx.Response(status, json={"error": {"code": "c", "message": TOKEN}}, request=request)
        yield httpx.HTTPStatusError("x", request=request, response=response)
    for cls in subclasses(httpx, httpx.HTTPError):
        if cls is httpx.HTTPStatusError:
            continue
        yield bare(cls, _request=request)
    yield ValueError("not json")


@pytest.mark.parametrize("exc", list(usage_cases()), ids=lambda e: type(e).__name__)
def test_every_usage_api_exception_is_mapped(exc: BaseException) -> None:
    raised_through(usage_client.translated, exc)


def test_hubspot_sdk_failing_on_its_own_tls_error_is_still_a_tls_error() -> None:
    """hubspot-api-client wraps urllib3's SSLError in ApiException(status=0) without a body, then
    raises AttributeError decoding that body: the certificate problem must still come out."""
    cert = ssl.SSLCertVerificationError(1, "certificate verify failed")
    cert.verify_message = "unable to get local issuer certificate"
    sdk_error = bare(hs_client.API_EXCEPTIONS[3], status=0, reason="SSLError", body=None, headers=None)
    body: Any = None
    with pytest.raises(UnreachableError) as info, hs_client.translated("hubspot.owners"):
        try:
            try:
                raise urllib3.exceptions.SSLError(cert)
            except urllib3.exceptions.SSLError:
                raise sdk_error from None
        except type(sdk_error):
            body.decode()  # what the SDK's api_client does with that body
    assert "not trusted" in info.value.message and "hubspot.ca_file" in (info.value.hint or "")
    with pytest.raises(AttributeError), hs_client.translated("hubspot.owners"):
        body.decode()  # any other AttributeError is a bug, and stays one
