"""What an operator watches, through the real CLI and daemon: /metrics, /healthz and /readyz, the JSON
log with no secret in it, alerts at a webhook, and a write summary that counts retried calls."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sandbox.server import Fault, Sandbox, start_sandbox
from sandbox.world import build_world
from tests.conftest import ANCHOR, sandbox_env, upsync_cmd, write_config
from tests.e2e.test_daemon import finished_runs

pytestmark = pytest.mark.e2e


@pytest.fixture
def live_sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A world whose "today" is the real one: the daemon runs on the real clock."""
    world = build_world(seed=11, accounts=120, anchor=datetime.now(timezone.utc))
    with start_sandbox(world, ca_path=tmp_path / "ca" / "ca.pem") as sb:
        yield sb


class Receiver:
    """A webhook receiver on 127.0.0.1: keeps every JSON body posted to it."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append({"path": self.path, **json.loads(body)})
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.received = received
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T0/B0/s3cr3t-hook-token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(scraped: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, ls), v in scraped.items() if n == name and wanted <= ls)


class Daemon:
    """``upsync run`` in a subprocess, its log in a file; stopped with SIGTERM."""

    def __init__(self, tmp_path: Path, config: Path, env: dict[str, str]) -> None:
        self.state = tmp_path / "state.db"
        self.log = tmp_path / "daemon.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                upsync_cmd("run", "--config", str(config), "--state", str(self.state)),
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def wait_for(self, ready: Any, what: str) -> None:
        deadline = time.monotonic() + 120
        while not ready():
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, f"{what}: {self.log.read_text()[-3000:]}"
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def observed_config(tmp_path: Path, sandbox: Sandbox, port: int, alerts: str = "") -> Path:
    return write_config(
        tmp_path, sandbox, "hubspot", every_minutes=60, extra=f'\n[observe]\nlisten = "127.0.0.1:{port}"\n{alerts}'
    )


def test_the_daemon_serves_metrics_that_move_with_a_cycle_and_is_ready_after_a_good_one(
    tmp_path: Path, live_sandbox: Sandbox
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    daemon = Daemon(tmp_path, observed_config(tmp_path, live_sandbox, port), sandbox_env(live_sandbox))
    try:
        daemon.wait_for(lambda: "serving /metrics" in daemon.log.read_text(), "the endpoint never came up")
        assert get(f"{base}/healthz") == (200, '{"alive": true}')
        assert get(f"{base}/readyz")[0] == 200  # the first cycle is running, or has just ended ok
        daemon.wait_for(lambda: finished_runs(daemon.state) >= 1, "no cycle finished")
        daemon.wait_for(lambda: 'upsync_cycles_total{status="ok"} 1.0' in get(f"{base}/metrics")[1], "not counted")
        status, text = get(f"{base}/metrics")
        ready, body = get(f"{base}/readyz")
    finally:
        daemon.stop()
    assert status == 200
    scraped = samples(text)
    assert total(scraped, "upsync_records_pulled_total", stream="hubspot.companies") == 120
    assert total(scraped, "upsync_records_pulled_total", stream="usage.daily") > 0
    assert (
        total(scraped, "upsync_api_calls_total", system="hubspot")
        >= total(scraped, "upsync_api_calls_total", system="hubspot", stream="hubspot.companies")
        > 0
    )
    assert total(scraped, "upsync_api_calls_total", system="usage") > 0
    assert total(scraped, "upsync_cycles_total", status="errors") == 0
    assert total(scraped, "upsync_cycle_duration_seconds_count") == 1
    assert total(scraped, "upsync_tasks_total", outcome="created") > 0
    assert total(scraped, "upsync_last_success_timestamp_seconds") > ANCHOR.timestamp()
    assert ready == 200 and json.loads(body)["status"] == "ok"
    assert daemon.proc.returncode == 0


def test_readyz_says_why_after_the_crm_refused_the_token_and_the_daemon_alerts(
    tmp_path: Path, live_sandbox: Sandbox, receiver: Receiver
) -> None:
    port = free_port()
    env = {**sandbox_env(live_sandbox), "HUBSPOT_TOKEN": "pat-revoked-0000", "UPSYNC_ALERT_URL": receiver.url}
    config = observed_config(tmp_path, live_sandbox, port, alerts='[alerts]\nwebhook_url_env = "UPSYNC_ALERT_URL"')
    daemon = Daemon(tmp_path, config, env)
    try:
        daemon.wait_for(lambda: finished_runs(daemon.state) >= 1, "no cycle finished")
        daemon.wait_for(lambda: get(f"http://127.0.0.1:{port}/readyz")[0] == 503, "still ready")
        _, body = get(f"http://127.0.0.1:{port}/readyz")
        scraped = samples(get(f"http://127.0.0.1:{port}/metrics")[1])
        daemon.wait_for(lambda: receiver.received, "no alert arrived")
    finally:
        daemon.stop()
    why = json.loads(body)
    assert why["ready"] is False and why["status"] == "errors"
    assert why["reason"].startswith("the last cycle ended with errors: hubspot.") and "401" in why["reason"]
    assert total(scraped, "upsync_cycles_total", status="errors") == 1
    assert total(scraped, "upsync_stream_errors_total") >= 1
    assert total(scraped, "upsync_last_success_timestamp_seconds") == 0
    [alert] = receiver.received
    assert (alert["event"], alert["command"], alert["status"]) == ("failed", "run", "errors")
    assert "s3cr3t-hook-token" not in daemon.log.read_text()


def test_sync_once_alerts_failed_when_the_crm_refuses_the_token(
    tmp_path: Path, sandbox: Sandbox, receiver: Receiver
) -> None:
    config = write_config(tmp_path, sandbox, "hubspot", extra='\n[alerts]\nwebhook_url_env = "UPSYNC_ALERT_URL"')
    env = {**sandbox_env(sandbox), "HUBSPOT_TOKEN": "pat-revoked-0000", "UPSYNC_ALERT_URL": receiver.url}
    cmd = upsync_cmd(
        "sync", "--once", "--config", str(config), "--state", str(tmp_path / "s.db"), "--as-of", ANCHOR.isoformat()
    )
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    [alert] = receiver.received
    assert alert["path"] == "/hooks/T0/B0/s3cr3t-hook-token"
    assert (alert["event"], alert["command"], alert["status"], alert["system"]) == (
        "failed",
        "sync --once",
        "errors",
        "hubspot",
    )
    assert isinstance(alert["run_id"], int) and alert["as_of"] == ANCHOR.isoformat()
    assert alert["errors"] and all("401" in e for e in alert["errors"][:1])
    assert alert["text"].startswith("upsync failed: hubspot cycle ended with errors: hubspot.")
    assert "pat-revoked-0000" not in json.dumps(alert) + done.stderr + done.stdout


def test_a_good_sync_once_sends_no_alert(tmp_path: Path, sandbox: Sandbox, receiver: Receiver) -> None:
    config = write_config(tmp_path, sandbox, "hubspot", extra=f'\n[alerts]\nwebhook_url = "{receiver.url}"')
    cmd = upsync_cmd(
        "sync", "--once", "--config", str(config), "--state", str(tmp_path / "s.db"), "--as-of", ANCHOR.isoformat()
    )
    done = subprocess.run(cmd, env=sandbox_env(sandbox), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert receiver.received == []


def test_the_json_log_of_a_run_names_the_run_and_streams_and_holds_no_secret(
    tmp_path: Path, sandbox: Sandbox, postgres_url: str
) -> None:
    password = "pg-Pa55word-never-logged"
    state = postgres_url.replace("postgresql://postgres@", f"postgresql://postgres:{password}@")  # trust auth
    config = write_config(tmp_path, sandbox, "salesforce")
    sandbox.salesforce.faults.add(Fault(path=r"/query", status=503, body=[{"errorCode": "SERVER_UNAVAILABLE"}]))
    env = sandbox_env(sandbox)
    cmd = upsync_cmd("sync", "--once", "-v", "--config", str(config), "--state", state, "--as-of", ANCHOR.isoformat())
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(text) for text in done.stderr.splitlines() if text.strip()]  # every line is one JSON object
    assert lines and all({"time", "level", "logger", "message"} <= set(entry) for entry in lines)
    secrets = [password, *(env[k] for k in ("SALESFORCE_TOKEN", "HUBSPOT_TOKEN", "USAGE_TOKEN"))]
    for secret in secrets:
        assert secret not in done.stderr and secret not in done.stdout
    assert any(e["message"].startswith("state: postgresql://postgres:***@127.0.0.1") for e in lines)
    run_ids = {e["run_id"] for e in lines if "run_id" in e}
    assert len(run_ids) == 1 and all(e["command"] == "sync --once" for e in lines if "run_id" in e)
    retry = next(e for e in lines if e["message"].startswith("retrying after"))
    assert (retry["system"], retry["stream"], retry["level"]) == ("salesforce", "salesforce.users", "warning")
    [ended] = [e for e in lines if e["logger"] == "upsync.observe" and e["message"].startswith("cycle ")]
    assert ended["status"] == "ok" and ended["records"]["salesforce.accounts"] == 120 and ended["tasks_created"] > 0


def test_the_write_summary_counts_every_call_sent_retries_included(tmp_path: Path, sandbox: Sandbox) -> None:
    config = write_config(tmp_path, sandbox, "salesforce")
    sandbox.salesforce.faults.add(
        Fault(
            method="PATCH",
            path=r"/composite/sobjects/Task/Upsync_Sync_Key__c$",
            status=503,
            body=[{"errorCode": "SERVER_UNAVAILABLE", "message": "try again"}],
        )
    )
    cmd = upsync_cmd(
        "sync", "--once", "--config", str(config), "--state", str(tmp_path / "s.db"), "--as-of", ANCHOR.isoformat()
    )
    done = subprocess.run(cmd, env=sandbox_env(sandbox), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    table = re.sub(r"[│\s]+", " ", done.stdout)  # the row, unwrapped from the table's cells
    written = re.search(r"\((\d+) CRM calls?, (\d+) retried, ([\d.]+) s\)", table)
    assert written is not None, done.stdout
    # the first write-back sends only task upserts and field writes: the stand-in saw each attempt
    assert int(written.group(1)) == sandbox.salesforce.calls("PATCH", r"/composite/sobjects") >= 3
    assert int(written.group(2)) == 1
