"""The usage connector (httpx) against every auth scheme, pagination style and shape of the stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.server import Fault, Sandbox, start_sandbox
from sandbox.usage import NESTED_PATHS, UsageStyle
from sandbox.world import build_world
from sync.runner import pull_all
from tests.conftest import ANCHOR, make_context

pytestmark = pytest.mark.e2e


@pytest.fixture
def styled(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Sandbox]:
    world = build_world(seed=5, accounts=40, anchor=ANCHOR)
    with start_sandbox(world, ca_path=tmp_path / "ca" / "ca.pem", usage_style=request.param) as sb:
        yield sb


def pull_usage(ctx: Any) -> Any:
    [report] = [r for r in pull_all(ctx, as_of=ctx.clock(), only=lambda n: n.startswith("usage."))]
    return report


def stored_usage(ctx: Any) -> dict[tuple[str, str], tuple[Any, ...]]:
    return {
        (r["workspace_id"], r["day"].isoformat()): (r["seats_used"], r["active_users"], r["feature_events"])
        for r in ctx.store.rows("usage_daily")
    }


def world_usage(sb: Sandbox) -> dict[tuple[str, str], tuple[Any, ...]]:
    return {
        (r["workspace_id"], r["date"]): (r["seats_used"], r["active_users"], r.get("feature_events"))
        for r in sb.world.usage.rows
    }


STYLES = [
    pytest.param(UsageStyle(pagination="cursor", page_size=97), "", id="cursor"),
    pytest.param(UsageStyle(pagination="next_link", page_size=97), 'pagination = "next_link"', id="next-link"),
    pytest.param(UsageStyle(pagination="link_header", page_size=97), 'pagination = "link_header"', id="link-header"),
    pytest.param(
        UsageStyle(pagination="page", page_size=97),
        'pagination = "page"\nlimit_param = "per_page"',
        id="page",
    ),
    pytest.param(UsageStyle(pagination="offset", page_size=97), 'pagination = "offset"', id="offset"),
]


@pytest.mark.parametrize(("styled", "section"), STYLES, indirect=["styled"])
def test_every_pagination_style_reads_every_row_exactly_once(tmp_path: Path, styled: Sandbox, section: str) -> None:
    ctx = make_context(tmp_path, styled, "hubspot", usage=f"{section}\npage_size = 97")
    report = pull_usage(ctx)
    assert report.error is None, report.error
    assert report.records == len(list(styled.world.usage.rows))  # none twice: no overlap on a first read
    assert stored_usage(ctx) == world_usage(styled)
    ctx.close()


@pytest.mark.parametrize("styled", [UsageStyle(auth="api_key", api_key_header="X-Usage-Key")], indirect=True)
def test_an_api_key_header(tmp_path: Path, styled: Sandbox) -> None:
    ctx = make_context(tmp_path, styled, "hubspot", usage='auth = "api_key"\napi_key_header = "X-Usage-Key"')
    assert pull_usage(ctx).error is None
    assert stored_usage(ctx) == world_usage(styled)
    ctx.close()


@pytest.mark.parametrize("styled", [UsageStyle(auth="oauth2", token_expires_in=3600)], indirect=True)
def test_oauth2_client_credentials_fetches_a_token_and_refreshes_it_after_a_401(
    tmp_path: Path, styled: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = styled.world.auth["usage"]
    monkeypatch.setenv("USAGE_CLIENT_ID", auth.client_id)
    monkeypatch.setenv("USAGE_CLIENT_SECRET", auth.client_secret)
    section = (
        'auth = "oauth2"\n[usage.oauth]\ngrant = "client_credentials"\n'
        'client_id_env = "USAGE_CLIENT_ID"\nclient_secret_env = "USAGE_CLIENT_SECRET"'
    )
    ctx = make_context(tmp_path, styled, "hubspot", usage=section)
    assert pull_usage(ctx).error is None
    assert styled.usage.calls("POST", r"/oauth/token") == 1
    auth.expire()  # the token dies between runs: a 401, one new token, the request again
    styled.world.usage.rows  # noqa: B018  (the world is unchanged: the next run re-reads its lookback)
    assert pull_usage(ctx).error is None
    assert styled.usage.calls("POST", r"/oauth/token") == 2
    assert stored_usage(ctx) == world_usage(styled)
    ctx.close()


@pytest.mark.parametrize("styled", [UsageStyle(shape="nested", pagination="next_link")], indirect=True)
def test_a_nested_vendor_shape_is_read_through_the_field_mapping(tmp_path: Path, styled: Sandbox) -> None:
    mapping = "\n".join(f'{"day" if name == "date" else name} = "{path}"' for name, path in NESTED_PATHS.items())
    section = f'pagination = "next_link"\nitems_field = "items"\n[usage.fields]\n{mapping}'
    ctx = make_context(tmp_path, styled, "hubspot", usage=section)
    assert pull_usage(ctx).error is None
    assert stored_usage(ctx) == world_usage(styled)
    row = ctx.store.rows("usage_daily")[0]
    assert row["storage_limit_gb"] is not None and row["users_by_department"]
    ctx.close()


@pytest.mark.parametrize("styled", [UsageStyle(rate_limit_per_second=4)], indirect=True)
def test_the_usage_apis_own_rate_limit_is_honoured_through_retry_after(tmp_path: Path, styled: Sandbox) -> None:
    ctx = make_context(tmp_path, styled, "hubspot", usage="page_size = 97")
    report = pull_usage(ctx)
    assert report.error is None
    assert stored_usage(ctx) == world_usage(styled)
    ctx.close()


def test_a_malformed_row_is_named_and_the_rest_is_kept(tmp_path: Path, sandbox: Sandbox) -> None:
    rows = sandbox.world.usage.rows
    first = next(iter(rows))
    sandbox.usage.faults.add(
        Fault(
            path=r"/v1/usage/daily",
            status=200,
            body={
                "data": [
                    {**first, "seats_used": -3},
                    {**first, "workspace_id": "ws-extra", "date": "2026-05-30"},
                ],
                "next_cursor": None,
            },
        )
    )
    ctx = make_context(tmp_path, sandbox, "hubspot")
    report = pull_usage(ctx)
    assert report.records == 1
    where = f"{first['workspace_id']}/{first['date']}"
    assert report.problems == [f"usage.daily record {where}: ValueError: seats_used must not be negative, got -3"]
    ctx.close()


def test_non_finite_numbers_in_a_page_are_problems_naming_the_record(tmp_path: Path, sandbox: Sandbox) -> None:
    good = {"workspace_id": "ws-good", "date": "2026-05-30", "updated_at": "2026-05-31T00:00:00Z", "seats_used": 4}
    page = {
        "data": [good]
        + [
            {**good, "workspace_id": f"ws-{i}", "seats_used": value}
            for i, value in enumerate((float("inf"), float("nan"), float("-inf")))
        ],
        "next_cursor": None,
    }  # json.dumps writes these bare (Infinity, NaN), as some APIs do; json.loads reads them back
    sandbox.usage.faults.add(Fault(path=r"/v1/usage/daily", method="GET", status=200, body=page))
    ctx = make_context(tmp_path, sandbox, "salesforce")
    report = pull_usage(ctx)
    assert report.error is None
    assert len(report.problems) == 3, report.problems
    for i in range(3):
        assert any(f"ws-{i}/2026-05-30" in p and "finite" in p for p in report.problems), report.problems
    assert ("ws-good", "2026-05-30") in stored_usage(ctx)
    ctx.close()
