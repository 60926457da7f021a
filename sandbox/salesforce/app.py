"""The Salesforce stand-in app: one Starlette route into ``SalesforceApi``, run in the thread pool."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.salesforce.api import SalesforceApi
from sandbox.salesforce.bulk import BulkSettings
from sandbox.salesforce.settings import (
    DEFAULT_BATCH_SIZE,
    MAX_OPEN_CURSORS,
    MIN_BATCH_SIZE,
    OrgSettings,
    api_usage,
)
from sandbox.world import World


def create_salesforce_app(
    world: World,
    *,
    daily_api_requests: int | None = None,
    bulk_daily_jobs: int | None = None,
    max_batch_size: int = DEFAULT_BATCH_SIZE,
    min_batch_size: int = MIN_BATCH_SIZE,
    max_open_cursors: int = MAX_OPEN_CURSORS,
    bulk_job_polls: int = 1,
    bulk_max_records: int = 50_000,
    bulk_zulu_datetimes: bool = False,
    settings: OrgSettings | None = None,
) -> Starlette:
    """The Salesforce stand-in over ``world``; ``app.state.salesforce`` is its ``SalesforceApi``.

    Per-org allocations (shared by every app over ``world``, see ``api_usage``):
    ``daily_api_requests`` (default ``DAILY_API_REQUESTS``; once spent every call gets 403
    ``REQUEST_LIMIT_EXCEEDED``) and ``bulk_daily_jobs`` (default ``BULK_DAILY_QUERY_JOBS``).
    Per-app sizes, kept in ``app.state.salesforce.settings`` where a test may change them
    later: REST page sizes ``max_batch_size``/``min_batch_size``, ``max_open_cursors``, and
    for Bulk API 2.0 ``bulk_job_polls`` (job-info reads answered ``InProgress`` before
    ``JobComplete``), ``bulk_max_records`` (largest result chunk) and ``bulk_zulu_datetimes``.
    A whole ``settings`` object, when given, wins over those keywords.
    """
    usage = api_usage(world)
    if daily_api_requests is not None:
        usage.daily_max = daily_api_requests
    if bulk_daily_jobs is not None:
        usage.bulk_jobs_max = bulk_daily_jobs
    if settings is None:
        settings = OrgSettings(
            max_batch_size=max_batch_size,
            min_batch_size=min_batch_size,
            max_open_cursors=max_open_cursors,
            bulk=BulkSettings(
                job_polls=bulk_job_polls, max_records=bulk_max_records, zulu_datetimes=bulk_zulu_datetimes
            ),
        )
    api = SalesforceApi(world, usage, settings)

    async def endpoint(request: Request) -> Response:
        body = await request.body()
        raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
        query = request.scope.get("query_string", b"").decode("latin-1")
        headers = {k.lower(): v for k, v in request.headers.items()}
        return await run_in_threadpool(api.handle, request.method, raw_path.decode("latin-1"), query, headers, body)

    methods = ["GET", "POST", "PATCH", "PUT", "DELETE"]
    app = Starlette(routes=[Route("/{path:path}", endpoint, methods=methods)])
    app.state.salesforce = api
    return app
