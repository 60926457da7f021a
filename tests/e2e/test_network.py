"""Behind an egress proxy, and when the network or TLS says no: each client goes through the proxy
the environment names, and a host it cannot reach is an error with a hint, never a bug (exit 70)."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from sandbox.proxy import ConnectProxy
from sandbox.server import Sandbox
from tests.conftest import sandbox_env, upsync_cmd, write_config

pytestmark = pytest.mark.e2e

CRMS = ["salesforce", "hubspot"]
PROXY_VARS = (
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
)


def run_once(tmp_path: Path, sb: Sandbox, crm: str, config: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in sandbox_env(sb).items() if k not in PROXY_VARS}
    state = tmp_path / f"state-{len(list(tmp_path.glob('state-*')))}.db"
    cmd = upsync_cmd(
        "sync",
        "--once",
        "--dry-run",
        "--as-of",
        sb.world.now().isoformat(),
        "--config",
        str(config),
        "--state",
        str(state),
    )
    return subprocess.run(cmd, env={**base, **env}, capture_output=True, text=True, timeout=300)


def crm_url(sb: Sandbox, crm: str) -> str:
    return sb.salesforce.url if crm == "salesforce" else sb.hubspot.url


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def assert_operator_error(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode not in (0, 70), done.stderr
    assert "upsync hit a bug" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert "error:" in done.stderr and "hint:" in done.stderr, done.stderr
    flat = " ".join(done.stderr.split())
    for word in words:
        assert word in flat, flat


@pytest.mark.parametrize("crm", CRMS)
def test_every_client_goes_through_the_proxy_unless_no_proxy_names_the_host(
    tmp_path: Path, sandbox: Sandbox, crm: str
) -> None:
    config = write_config(tmp_path, sandbox, crm)
    crm_port, usage_port = crm_url(sandbox, crm).rsplit(":", 1)[1], sandbox.usage.url.rsplit(":", 1)[1]
    with ConnectProxy() as proxy:
        done = run_once(tmp_path, sandbox, crm, config, HTTPS_PROXY=proxy.url)
        assert done.returncode == 0, done.stderr
        assert "records" in done.stdout
        assert proxy.tunnels[f"127.0.0.1:{crm_port}"] >= 1, proxy.tunnels
        assert proxy.tunnels[f"127.0.0.1:{usage_port}"] >= 1, proxy.tunnels

        before = sum(proxy.tunnels.values())
        direct = run_once(tmp_path, sandbox, crm, config, https_proxy=proxy.url, no_proxy="localhost,127.0.0.1")
        assert direct.returncode == 0, direct.stderr
        assert sum(proxy.tunnels.values()) == before, proxy.tunnels


@pytest.mark.parametrize("crm", CRMS)
def test_a_proxy_that_refuses_or_is_not_there_is_named_with_https_proxy(
    tmp_path: Path, sandbox: Sandbox, crm: str
) -> None:
    config = write_config(tmp_path, sandbox, crm)
    with ConnectProxy(refuse=True) as proxy:
        refused = run_once(tmp_path, sandbox, crm, config, HTTPS_PROXY=proxy.url)
    assert_operator_error(refused, f"{crm}.", "would not open a tunnel", "403 Forbidden", "HTTPS_PROXY")

    absent = run_once(tmp_path, sandbox, crm, config, HTTPS_PROXY=f"http://user:pw@127.0.0.1:{closed_port()}")
    assert_operator_error(absent, "refused the connection", "HTTPS_PROXY")
    assert "pw@" not in absent.stderr + absent.stdout  # a proxy's password is never shown


@pytest.mark.parametrize("crm", CRMS)
def test_a_certificate_the_client_does_not_trust_says_so_and_names_ca_file(
    tmp_path: Path, sandbox: Sandbox, crm: str
) -> None:
    config = write_config(tmp_path, sandbox, crm)
    url = crm_url(sandbox, crm)
    config.write_text(config.read_text().replace(f'"{url}"\nca_file = "{sandbox.ca_path}"', f'"{url}"'))
    done = run_once(tmp_path, sandbox, crm, config)
    assert_operator_error(done, "TLS certificate", "not trusted", f"{crm}.ca_file")


@pytest.mark.parametrize("crm", CRMS)
@pytest.mark.parametrize("where", ["unresolvable", "closed-port"])
def test_a_host_that_does_not_resolve_or_refuses_is_named_with_its_key(
    tmp_path: Path, sandbox: Sandbox, crm: str, where: str
) -> None:
    config = write_config(tmp_path, sandbox, crm)
    bad = "https://nonexistent.invalid" if where == "unresolvable" else f"https://127.0.0.1:{closed_port()}"
    config.write_text(config.read_text().replace(f'"{crm_url(sandbox, crm)}"', f'"{bad}"'))
    done = run_once(tmp_path, sandbox, crm, config)
    key = "instance_url" if crm == "salesforce" else "base_url"
    expected = "does not resolve" if where == "unresolvable" else "refused the connection"
    assert_operator_error(done, expected, f"{crm}.{key}")
    assert "usage.daily" in done.stdout  # the usage API is read all the same
