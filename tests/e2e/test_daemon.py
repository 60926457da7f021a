"""`upsync run`: a cycle at start, then a clean stop on SIGTERM after the current step."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from sandbox.server import Fault, Sandbox, start_sandbox
from sandbox.world import build_world
from tests.conftest import sandbox_env, upsync_cmd, write_config
from tests.e2e.expect import seat_heavy, upsync_tasks

pytestmark = pytest.mark.e2e


def finished_runs(state: Path) -> int:
    if not state.exists():
        return 0
    try:
        with sqlite3.connect(state) as conn:
            return int(conn.execute("SELECT count(*) FROM runs WHERE finished_at IS NOT NULL").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


@pytest.fixture
def live_sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A world whose "today" is the real one: the daemon runs on the real clock."""
    world = build_world(seed=11, accounts=120, anchor=datetime.now(timezone.utc))
    with start_sandbox(world, ca_path=tmp_path / "ca" / "ca.pem") as sb:
        yield sb


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_the_daemon_runs_a_cycle_and_stops_cleanly_on_a_signal(tmp_path: Path, live_sandbox: Sandbox, sig: int) -> None:
    sandbox = live_sandbox
    config = write_config(tmp_path, sandbox, "hubspot", every_minutes=60)
    state = tmp_path / "state.db"
    log_path = tmp_path / "daemon.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            upsync_cmd("run", "--config", str(config), "--state", str(state)),
            env=sandbox_env(sandbox),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        while finished_runs(state) < 1:
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "no cycle finished"
            time.sleep(0.2)
        proc.send_signal(sig)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert "stopped" in log_path.read_text()
    # the daemon's cycle ran against the real "now", the world's today: its tasks are those of the current usage
    assert len(upsync_tasks(sandbox, "hubspot")) == len(seat_heavy(sandbox, "hubspot"))


def test_a_signal_stops_the_daemon_within_seconds_even_while_a_call_waits_to_be_retried(
    tmp_path: Path, live_sandbox: Sandbox
) -> None:
    sandbox = live_sandbox
    config = write_config(tmp_path, sandbox, "hubspot", every_minutes=60)
    slow = "attempts = 6\ninitial_seconds = 120\nmax_seconds = 120\ngive_up_after_seconds = 600"
    text = config.read_text()
    start = text.index("attempts = 3")
    end = text.index("give_up_after_seconds = 5") + len("give_up_after_seconds = 5")
    config.write_text(text[:start] + slow + text[end:])  # a retry waits two minutes
    sandbox.hubspot.faults.add(Fault(path=r"/search$", status=503, body={"status": "error"}, times=1000))
    log_path = tmp_path / "daemon.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            upsync_cmd("run", "--config", str(config), "--state", str(tmp_path / "state.db")),
            env=sandbox_env(sandbox),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        while sandbox.hubspot.calls("POST", r"/search$") < 1:  # the first search failed: a retry now waits
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "the daemon never searched"
            time.sleep(0.1)
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)  # the backoff alone is 120 s: only an interrupted one ends in time
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, log_path.read_text()
