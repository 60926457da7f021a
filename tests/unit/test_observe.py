"""What an operator watches, as values: the redactor and the JSON lines, the readiness rule, the
metrics a cycle moves, the call meter, the alert payloads and their delivery, and their settings."""

from __future__ import annotations

import io
import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from pytest_httpx import HTTPXMock

from connectors.http import CallMeter, call_with_retry
from connectors.settings import RetrySettings
from core import logfields
from core.errors import RateLimitError, StateError, UpstreamError
from sync.observe.alerts import AlertSender, alerts_for, failure_alert
from sync.observe.logs import JsonFormatter, Redactor, log_format, secrets_of, url_password
from sync.observe.metrics import Metrics
from sync.observe.server import Readiness
from sync.pull import PullReport
from sync.runner import RunReport
from sync.settings import parse_settings
from sync.writeback import ApplyReport
from tests.unit.accounts import bundled_raw

AS_OF = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
TOKEN = "pat-na1-0f3c9e1a-secret-token"
ENV = {"HUBSPOT_TOKEN": f"{TOKEN}\n", "USAGE_TOKEN": "usage-secret-42", "SALESFORCE_TOKEN": "00Dsf!session"}
NO_WAIT = RetrySettings(attempts=3, initial_seconds=0, max_seconds=0, give_up_after_seconds=5)


def line(redactor: Redactor, msg: str, *args: Any, exc: BaseException | None = None, **extra: Any) -> dict[str, Any]:
    """The JSON line a record logged as ``msg % args`` with ``extra`` becomes."""
    record = logging.LogRecord("upsync.test", logging.WARNING, __file__, 1, msg, args, None)
    if exc is not None:
        record.exc_info = (type(exc), exc, exc.__traceback__)
    record.__dict__.update(extra)
    assert redactor.filter(record)
    parsed: dict[str, Any] = json.loads(JsonFormatter(redactor).format(record))
    return parsed


# -- logs -------------------------------------------------------------------------------------


def test_every_secret_the_settings_name_is_collected_as_set_and_as_read() -> None:
    raw = bundled_raw()
    raw["upsync"]["state"] = "postgresql+psycopg://upsync:p%40ss-word@db.internal/upsync"
    raw["alerts"] = {"webhook_url_env": "UPSYNC_ALERT_URL"}
    env = {**ENV, "UPSYNC_ALERT_URL": "https://hooks.example.com/services/T000/B000/XXXX"}
    found = set(secrets_of(parse_settings(raw, env), env))
    assert {TOKEN, f"{TOKEN}\n", "usage-secret-42", "00Dsf!session"} <= found
    assert {"p%40ss-word", "p@ss-word", env["UPSYNC_ALERT_URL"]} <= found


def test_secrets_and_url_passwords_never_reach_a_json_line() -> None:
    redactor = Redactor()
    redactor.protect([TOKEN, "usage-secret-42", *url_password("postgresql://u:hunter2@db/x")])
    try:
        raise UpstreamError(f"refused {TOKEN}", system="hubspot")
    except UpstreamError as exc:
        entry = line(
            redactor,
            "calling %s with %s",
            "postgresql+psycopg://upsync:hunter2@db/x",
            TOKEN,
            exc=exc,
            detail={"header": f"Bearer {TOKEN}", "list": ["usage-secret-42"]},
            stream="hubspot.companies",
        )
    text = json.dumps(entry)
    assert TOKEN not in text and "usage-secret-42" not in text and "hunter2" not in text
    assert entry["message"] == "calling postgresql+psycopg://upsync:***@db/x with ***"
    assert entry["detail"] == {"header": "Bearer ***", "list": ["***"]}
    assert "refused ***" in entry["exc"]
    assert entry["stream"] == "hubspot.companies" and entry["level"] == "warning" and entry["logger"] == "upsync.test"


def test_a_url_password_upsync_never_saw_is_masked_too() -> None:
    entry = line(Redactor(), "connecting to %s", "postgresql://admin:S3cr3t@10.0.0.5:5432/crm")
    assert entry["message"] == "connecting to postgresql://admin:***@10.0.0.5:5432/crm"


def test_a_malformed_log_call_is_logged_as_written_and_still_redacted() -> None:
    redactor = Redactor()
    redactor.protect([TOKEN])
    entry = line(redactor, "token %s and %s", TOKEN)  # one argument for two placeholders
    assert entry["message"] == "token %s and %s ('***',)"


def test_a_json_line_carries_the_fields_bound_for_the_command_and_the_run() -> None:
    with logfields.scoped(command="run"):
        logfields.bind(run_id=42)
        entry = line(Redactor(), "cycle done")
    assert entry["command"] == "run" and entry["run_id"] == 42
    assert "run_id" not in line(Redactor(), "after the cycle")  # the run's fields end with its scope
    assert datetime.fromisoformat(entry["time"]).tzinfo is not None


def test_json_off_a_terminal_and_the_environment_can_force_either() -> None:
    pipe = io.StringIO()
    assert log_format({}, pipe) == "json"
    assert log_format({"UPSYNC_LOG_FORMAT": "text"}, pipe) == "text"
    assert log_format({"UPSYNC_LOG_FORMAT": " JSON "}, sys.stderr) == "json"


# -- readiness --------------------------------------------------------------------------------


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_ready_during_the_first_cycle_and_after_an_ok_one_until_it_is_stale() -> None:
    t = Ticks()
    ready = Readiness(every_seconds=900, grace_seconds=300, clock=t)
    assert ready.check() == (True, {"ready": True, "reason": "the first cycle is running"})
    t.now += 120
    ready.finished("ok")
    assert ready.check()[0]
    t.now += 2 * 900 + 300  # exactly at the limit: still ready
    assert ready.check()[0]
    t.now += 1
    ok, body = ready.check()
    assert not ok and "2101 s ago" in body["reason"] and body["status"] == "ok"


def test_not_ready_after_a_cycle_with_errors_or_held_and_ready_again_after_a_good_one() -> None:
    t = Ticks()
    ready = Readiness(every_seconds=60, grace_seconds=0, clock=t)
    ready.finished("errors", "the last cycle ended with errors: hubspot.companies: 401")
    assert ready.check() == (
        False,
        {
            "ready": False,
            "status": "errors",
            "last_cycle_age_seconds": 0.0,
            "reason": "the last cycle ended with errors: hubspot.companies: 401",
        },
    )
    ready.finished("held", "volume deviation: 900 closes against a median of 3")
    assert ready.check()[1]["reason"] == "volume deviation: 900 closes against a median of 3"
    ready.finished("skipped", "another replica holds the lease")
    assert ready.check()[0]


def test_a_first_cycle_that_never_ends_makes_the_daemon_unready() -> None:
    t = Ticks()
    ready = Readiness(every_seconds=60, grace_seconds=30, clock=t)
    t.now += 151
    ok, body = ready.check()
    assert not ok and body["reason"] == "no cycle has finished in the 151 s since the start"


# -- metrics and the call meter ---------------------------------------------------------------


def scrape(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    samples = {}
    for family in text_string_to_metric_families(generate_latest(metrics.registry).decode()):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def test_every_attempt_is_metered_with_its_retries_429s_and_waits() -> None:
    meter = CallMeter()
    answers: list[Exception | None] = [
        RateLimitError("429", system="hubspot", retry_after=0),
        UpstreamError("503", system="hubspot"),
        None,
    ]

    def call() -> str:
        answer = answers.pop(0)
        if answer is not None:
            raise answer
        return "ok"

    waits: list[float] = []
    assert call_with_retry(
        call, policy=NO_WAIT, sleep=waits.append, system="hubspot", stream="write tasks", meter=meter
    )
    count = meter.snapshot()[("hubspot", "write tasks")]
    assert (count.attempts, count.retried, count.errors, count.rate_limited) == (3, 2, 2, 1)
    assert len(waits) == 2 and meter.total("hubspot").attempts == 3 and meter.total("salesforce").attempts == 0


def test_a_cycle_moves_the_metrics_an_operator_graphs() -> None:
    meter = CallMeter()
    meter.attempted("hubspot", "hubspot.companies", seconds=0.25, retry=False, error=None)
    meter.attempted("hubspot", "hubspot.companies", seconds=0.5, retry=True, error=RateLimitError("429", system="h"))
    metrics = Metrics(meter=meter, clock=lambda: AS_OF)
    report = RunReport(
        as_of=AS_OF,
        pulls=[PullReport(stream="hubspot.companies", records=120), PullReport(stream="usage.daily", error="401")],
        cycle=None,
        applied=ApplyReport(created=7, closed=2, fields=120, failed=1),
    )
    metrics.cycle_ended(report.status, seconds=12.5, report=report)
    got = scrape(metrics)
    assert got[("upsync_records_pulled_total", (("stream", "hubspot.companies"),))] == 120
    assert got[("upsync_stream_errors_total", (("stream", "usage.daily"),))] == 1
    assert got[("upsync_cycles_total", (("status", "errors"),))] == 1
    assert got[("upsync_cycles_total", (("status", "ok"),))] == 0
    assert got[("upsync_tasks_total", (("outcome", "created"),))] == 7
    assert got[("upsync_tasks_total", (("outcome", "closed"),))] == 2
    assert got[("upsync_field_writes_total", ())] == 120
    assert got[("upsync_cycle_duration_seconds_count", ())] == 1
    assert got[("upsync_last_cycle_timestamp_seconds", ())] == AS_OF.timestamp()
    assert got[("upsync_last_success_timestamp_seconds", ())] == 0  # that cycle was no success
    labels = (("stream", "hubspot.companies"), ("system", "hubspot"))
    assert got[("upsync_api_calls_total", labels)] == 2
    assert got[("upsync_api_retries_total", labels)] == 1
    assert got[("upsync_api_rate_limited_total", labels)] == 1
    assert got[("upsync_api_call_seconds_total", labels)] == 0.75


def test_two_metrics_objects_never_share_a_series() -> None:
    first, second = Metrics(meter=CallMeter()), Metrics(meter=CallMeter())
    first.cycle_ended("ok", seconds=1.0)
    assert scrape(second)[("upsync_cycles_total", (("status", "ok"),))] == 0


# -- alerts -----------------------------------------------------------------------------------


def test_a_run_with_errors_alerts_failed_with_its_errors_and_a_chat_ready_text() -> None:
    report = RunReport(
        as_of=AS_OF,
        pulls=[PullReport(stream="hubspot.companies", error="hubspot hubspot.companies: 401 UNAUTHORIZED")],
        cycle=None,
        applied=None,
        run_id=17,
    )
    [alert] = alerts_for(report, command="run", system="hubspot")
    assert alert.payload() == {
        "event": "failed",
        "text": "upsync failed: hubspot cycle ended with errors: hubspot.companies: hubspot hubspot.companies: "
        "401 UNAUTHORIZED",
        "summary": "hubspot cycle ended with errors: hubspot.companies: hubspot hubspot.companies: 401 UNAUTHORIZED",
        "run_id": 17,
        "command": "run",
        "system": "hubspot",
        "status": "errors",
        "as_of": "2026-06-01T12:00:00+00:00",
        "errors": ["hubspot.companies: hubspot hubspot.companies: 401 UNAUTHORIZED"],
    }


def test_a_held_run_alerts_held_with_the_reason_and_deviations_alert_when_a_report_has_them() -> None:
    report = RunReport(as_of=AS_OF, pulls=[], cycle=None, applied=None, held="volume deviation: 900 closes")
    assert [(a.event, a.status, a.errors) for a in alerts_for(report, command="sync --once", system="salesforce")] == [
        ("held", "held", ("volume deviation: 900 closes",))
    ]
    ok = RunReport(as_of=AS_OF, pulls=[], cycle=None, applied=None)
    assert alerts_for(ok, command="run", system="hubspot") == []
    vars(ok)["deviations"] = ["field writes 40x the median"]  # what a later RunReport may carry
    assert [a.event for a in alerts_for(ok, command="run", system="hubspot")] == ["deviation"]


def test_a_cycle_an_error_stopped_alerts_failed_with_the_hint() -> None:
    alert = failure_alert(StateError("state.db is newer", hint="upgrade upsync"), command="run", system="hubspot")
    assert (alert.event, alert.status, alert.errors) == (
        "failed",
        "failed",
        ("state.db is newer", "hint: upgrade upsync"),
    )


HOOK = "https://hooks.example.com/services/T000/B000/XXXX"


def test_an_alert_is_retried_on_a_5xx_from_the_receiver_and_then_delivered(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=HOOK, method="POST", status_code=503)
    httpx_mock.add_response(url=HOOK, method="POST", status_code=200)
    sender = AlertSender(HOOK, events=["failed"], attempts=3, sleep=lambda _: None)
    assert sender.send([failure_alert(StateError("locked"), command="run", system="hubspot")]) == 1
    requests = httpx_mock.get_requests()
    assert len(requests) == 2
    assert json.loads(requests[1].content)["event"] == "failed"


def test_an_alert_the_receiver_keeps_refusing_is_logged_never_raised_and_never_names_the_url(
    httpx_mock: HTTPXMock, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(3):
        httpx_mock.add_response(url=HOOK, method="POST", status_code=502)
    sender = AlertSender(HOOK, events=["failed"], attempts=3, sleep=lambda _: None)
    with caplog.at_level(logging.WARNING, logger="upsync.alerts"):
        assert sender.send([failure_alert(StateError("locked"), command="run", system="hubspot")]) == 0
    assert "alert failed not delivered to hooks.example.com: alerts: webhook answered 502" in caplog.text
    assert "XXXX" not in caplog.text


def test_a_receiver_that_cannot_be_reached_does_not_stop_the_next_alert(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_exception(httpx.ConnectError("refused"), url=HOOK)
    httpx_mock.add_response(url=HOOK, method="POST", status_code=204)
    sender = AlertSender(HOOK, events=["failed", "held"], attempts=1, sleep=lambda _: None)
    held = RunReport(as_of=AS_OF, pulls=[], cycle=None, applied=None, held="deviation")
    alerts = [
        failure_alert(StateError("locked"), command="run", system="hubspot"),
        *alerts_for(held, command="run", system="hubspot"),
    ]
    assert sender.send(alerts) == 1


def test_only_the_configured_events_are_sent(httpx_mock: HTTPXMock) -> None:
    sender = AlertSender(HOOK, events=["held"], sleep=lambda _: None)
    assert sender.send([failure_alert(StateError("locked"), command="run", system="hubspot")]) == 0
    assert httpx_mock.get_requests() == []


# -- settings ---------------------------------------------------------------------------------


def settings_problems(section: str, values: dict[str, Any], env: dict[str, str] = ENV) -> list[str]:
    from sync.settings import check_settings

    raw = bundled_raw()
    raw[section] = values
    return [str(p) for p in check_settings(raw, env)[1]]


def test_observe_listen_must_be_host_and_port() -> None:
    assert settings_problems("observe", {"listen": "127.0.0.1:9464"}) == []
    [problem] = settings_problems("observe", {"listen": "9464"})
    assert problem.startswith("observe.listen: must be host:port")


def test_alerts_name_one_url_and_its_variable_must_be_set() -> None:
    assert settings_problems("alerts", {"webhook_url": HOOK}) == []
    assert settings_problems("alerts", {"webhook_url": HOOK, "webhook_url_env": "HOOK"}) == [
        "alerts: set webhook_url_env or webhook_url, not both"
    ]
    [unset] = settings_problems("alerts", {"webhook_url_env": "UPSYNC_ALERT_URL"})
    assert unset.startswith("alerts.webhook_url_env: environment variable UPSYNC_ALERT_URL is not set")
    [event] = settings_problems("alerts", {"webhook_url": HOOK, "events": ["fail"]})
    assert "unknown event 'fail'" in event


def test_the_endpoint_serves_the_three_paths_and_says_what_else_there_is() -> None:
    import urllib.error
    import urllib.request

    from sync.observe.server import ObserveServer

    metrics = Metrics(meter=CallMeter())
    readiness = Readiness(every_seconds=60, grace_seconds=0)
    readiness.finished("held", "volume deviation")
    metrics.cycle_ended("held", seconds=2.0)
    server = ObserveServer("127.0.0.1", 0, registry=metrics.registry, readiness=readiness).start()
    base = f"http://127.0.0.1:{server.address[1]}"

    def get(path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(base + path, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    try:
        assert get("/healthz") == (200, '{"alive": true}')
        status, body = get("/readyz")
        assert status == 503 and json.loads(body)["reason"] == "volume deviation"
        status, text = get("/metrics")
        assert status == 200 and 'upsync_cycles_total{status="held"} 1.0' in text
        assert get("/")[0] == 404
    finally:
        server.stop()


def test_a_port_already_taken_is_a_configuration_error() -> None:
    from core.errors import ConfigError
    from sync.observe.server import ObserveServer

    first = ObserveServer("127.0.0.1", 0, registry=Metrics(meter=CallMeter()).registry, readiness=Readiness(60, 0))
    try:
        with pytest.raises(ConfigError, match=r"observe.listen: cannot listen on 127.0.0.1:\d+"):
            ObserveServer(
                "127.0.0.1", first.address[1], registry=Metrics(meter=CallMeter()).registry, readiness=Readiness(60, 0)
            )
    finally:
        first.stop()
