"""The shared throttle and API budget on a fake clock; the proxy and what a failure to connect means."""

from __future__ import annotations

import socket
import ssl

import pytest

from connectors.http import ApiBudget, Route, SlidingWindow, proxy_for, shown_proxy
from core.errors import QuotaExhaustedError, RefusedError, UnreachableError


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_sliding_window_never_exceeds_its_limit_in_any_window_and_never_waits_longer() -> None:
    t = FakeTime()
    limiter = SlidingWindow(5, 1.0, clock=t.clock, sleep=t.sleep)
    sent = []
    for _ in range(23):
        limiter.acquire()
        sent.append(t.now)
        t.now += 1 / 64  # the call itself (a binary fraction: exact sums)
    for i, at in enumerate(sent):  # at most 5 in any rolling second
        assert sum(1 for other in sent[i:] if other - at < 1.0) <= 5
    assert sent[5] == pytest.approx(1.0) and sent[10] == pytest.approx(2.0)  # and not a moment later
    assert limiter.waited == pytest.approx(4 * (1.0 - 5 / 64))


def test_reads_stop_at_the_run_share_less_the_write_reserve_and_writes_may_go_on() -> None:
    budget = ApiBudget(system="salesforce", run_share=0.25, org_share=0.8, write_reserve=0.2, daily_total=1000)
    for _ in range(200):  # 0.25 × 1000 × (1 − 0.2)
        budget.charge(write=False)
    with pytest.raises(QuotaExhaustedError, match="this run has used 200"):
        budget.charge(write=False)
    for _ in range(50):
        budget.charge(write=True)
    with pytest.raises(QuotaExhaustedError):
        budget.charge(write=True)


def test_the_org_wide_share_stops_every_call() -> None:
    budget = ApiBudget(system="salesforce", org_share=0.8)
    budget.charge(write=False)  # no allocation known yet: go on
    budget.observe(used=801, total=1000)
    with pytest.raises(QuotaExhaustedError, match="org has used 801 of 1000"):
        budget.charge(write=True)


@pytest.mark.parametrize(
    ("url", "env", "proxy"),
    [
        ("https://acme.my.salesforce.com", {}, None),
        ("https://acme.my.salesforce.com", {"HTTPS_PROXY": "http://proxy:3128"}, "http://proxy:3128"),
        ("https://acme.my.salesforce.com", {"https_proxy": "proxy:3128"}, "http://proxy:3128"),
        ("https://api.hubapi.com", {"HTTPS_PROXY": "http://a:1", "https_proxy": "http://b:1"}, "http://b:1"),
        ("https://api.hubapi.com", {"ALL_PROXY": "http://all:1"}, "http://all:1"),
        ("http://usage.internal", {"HTTPS_PROXY": "http://p:1"}, None),
        ("https://api.hubapi.com", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "hubapi.com"}, None),
        ("https://api.hubapi.com", {"HTTPS_PROXY": "http://p:1", "no_proxy": ".hubapi.com"}, None),
        ("https://api.hubapi.com", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "*"}, None),
        ("https://nothubapi.com", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "hubapi.com"}, "http://p:1"),
        ("https://10.1.2.3:8443", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "10.0.0.0/8"}, None),
        ("https://127.0.0.1:8443", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "localhost, 127.0.0.1"}, None),
    ],
)
def test_the_proxy_is_the_one_curl_would_use(url: str, env: dict[str, str], proxy: str | None) -> None:
    assert proxy_for(url, env) == proxy


def test_a_proxy_password_is_never_shown() -> None:
    assert shown_proxy("http://me:s3cret@proxy:3128") == "http://***@proxy:3128"
    assert shown_proxy("http://proxy:3128") == "http://proxy:3128"


def test_failures_to_connect_say_what_failed_and_what_to_fix() -> None:
    route = Route("hubspot", "hubspot.base_url", "https://api.hubapi.com")

    def wrapped(inner: BaseException) -> BaseException:
        try:
            try:
                raise inner
            except BaseException as exc:
                raise RuntimeError("vendor wrapper") from exc
        except RuntimeError as outer:
            return outer

    cert = ssl.SSLCertVerificationError(1, "certificate verify failed")
    cert.verify_message = "self-signed certificate in certificate chain"
    untrusted = route.failure(wrapped(cert), "hubspot.owners")
    assert type(untrusted) is UnreachableError and "self-signed" in untrusted.message
    assert untrusted.hint and "hubspot.ca_file" in untrusted.hint and not untrusted.retryable

    dns = route.failure(wrapped(socket.gaierror(-2, "Name or service not known")), None)
    assert type(dns) is UnreachableError and "api.hubapi.com" in dns.message and "hubspot.base_url" in (dns.hint or "")

    refused = route.failure(wrapped(ConnectionRefusedError(111, "refused")), None)
    assert type(refused) is RefusedError and refused.retryable

    proxied = Route("hubspot", "hubspot.base_url", "https://api.hubapi.com", "http://u:pw@proxy:3128")
    tunnel = proxied.failure(wrapped(OSError("Tunnel connection failed: 403 Forbidden")), None, via_proxy=True)
    assert tunnel is not None and "403 Forbidden" in tunnel.message and "pw" not in tunnel.message
    assert "HTTPS_PROXY" in (tunnel.hint or "")
    down = proxied.failure(wrapped(ConnectionRefusedError(111, "refused")), None)
    assert type(down) is RefusedError and "proxy" in down.message

    assert route.failure(wrapped(TimeoutError("read timed out")), None) is None  # retried as usual
