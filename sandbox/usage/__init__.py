"""Product usage API stand-in: daily seat and activity rows per workspace, read incrementally by ``updated_at``.

This docstring is the API's reference: the sandbox serves exactly this contract over
``world.usage.rows``. Real customers' usage APIs differ in how they authenticate, page and
shape their JSON, so the stand-in speaks several *styles*, chosen when the app is built::

    create_usage_app(world)                                     # the default described first below
    create_usage_app(world, style=UsageStyle(auth="oauth2", pagination="link_header", shape="nested"))

Every style serves the same rows with the same filters and the same order; only the envelope
around them changes. An upsync ``[usage]`` section is configured to match the customer's style.

Styles (``UsageStyle`` fields; defaults in brackets)
----------------------------------------------------
``auth`` [``"bearer"``]
    ``"bearer"``, ``"api_key"`` or ``"oauth2"`` (see *Authentication*).
``api_key_header`` [``"X-API-Key"``]
    The header carrying the API key when ``auth="api_key"``.
``token_path`` [``"/oauth/token"``], ``token_expires_in`` [``3600``]
    The OAuth 2.0 token endpoint and the lifetime, in seconds, of the tokens it issues when
    ``auth="oauth2"``.
``pagination`` [``"cursor"``]
    ``"cursor"``, ``"next_link"``, ``"page"``, ``"offset"`` or ``"link_header"`` (see *Pagination*).
``page_size`` [``500``], ``max_page_size`` [``1000``]
    Rows per page when the client does not say, and the most it may ask for.
``shape`` [``"flat"``]
    ``"flat"`` or ``"nested"`` (see *Row shapes*).
``list_key`` [``None``: ``"data"`` for flat, ``"items"`` for nested]
    The top-level key holding the page's rows. ``""`` answers a bare JSON array (GitHub style),
    which only ``pagination="link_header"`` allows, as every other style pages through the body.
``rate_limit_per_second`` [``None``: unlimited]
    Requests per second the ``/v1`` endpoints accept (see *Rate limiting*).

Authentication
--------------
``auth="bearer"`` (default)
    Every request sends ``Authorization: Bearer <token>``. Valid tokens are the usage system's
    current access tokens (the sandbox token printed by ``upsync sandbox`` until a test expires it).
    A missing, wrong or expired token gets::

        401 {"error": {"code": "unauthorized", "message": "Missing or invalid bearer token."}}

``auth="api_key"``
    Every request sends the key in a header, by default ``X-API-Key: <key>`` (the sandbox token).
    Keys do not expire. A missing or wrong key gets ``401 {"error": {"code": "unauthorized",
    "message": "Missing or invalid API key (X-API-Key header)."}}``.

``auth="oauth2"`` (client credentials, RFC 6749 §4.4)
    The client first gets a token::

        POST /oauth/token
        Content-Type: application/x-www-form-urlencoded

        grant_type=client_credentials&client_id=<id>&client_secret=<secret>

    or sends the client credentials as ``Authorization: Basic base64(<id>:<secret>)`` instead of
    the two form fields (not both). The sandbox's client is ``sandbox-client-id`` with secret
    ``sandbox-client-secret`` (``world.auth["usage"]``). The answer, with ``Cache-Control: no-store``::

        200 {"access_token": "sandbox-access-3-…", "token_type": "Bearer", "expires_in": 3600}

    Errors follow RFC 6749 §5.2, ``{"error": "<code>", "error_description": "…"}``:
    ``400 invalid_request`` (not a form body, a parameter repeated, no ``grant_type``, two
    client authentication methods), ``401 invalid_client`` (no, unknown or malformed client
    credentials, or a wrong secret; with ``WWW-Authenticate: Basic realm="usage"``) and ``400
    unsupported_grant_type`` (anything but ``client_credentials``). The API endpoints then take
    ``Authorization: Bearer <access_token>`` as in bearer auth. Their ``401`` adds an RFC 6750
    challenge: ``WWW-Authenticate: Bearer realm="usage"`` without a token, and ``Bearer
    realm="usage", error="invalid_token"`` for a token past ``expires_in`` or revoked: fetch a
    new one.

``GET /v1/usage/daily``
-----------------------
One row per workspace and day. A row's ``updated_at`` changes whenever the row is (re)computed,
including late corrections of past days, so read it incrementally by ``updated_at``, not by
``date``.

Query parameters (all optional), in every style:

``updated_since``
    ISO-8601 instant, **inclusive** lower bound on ``updated_at`` (``2026-05-01T00:00:00Z``;
    a date alone means midnight UTC, an instant without an offset is read as UTC).
``updated_before``
    ISO-8601 instant, **exclusive** upper bound on ``updated_at``; must be later than
    ``updated_since``.
``workspace_id``
    Only this workspace's rows.

plus the paging parameters of the style. Rows are always sorted ascending by ``(updated_at,
workspace_id, date)``.

Pagination
----------
Page sizes run from 1 to ``max_page_size`` (1000) and default to ``page_size`` (500).

``pagination="cursor"`` (default)
    Parameters ``limit`` and ``cursor`` (the ``next_cursor`` of the previous page; send the
    same other parameters with it). Response ``200``::

        {
          "data": [
            {"workspace_id": "ws-00001", "date": "2026-05-31", "active_users": 41, "seats_used": 58,
             "seats_limit": 100, "updated_at": "2026-06-01T01:07:00Z"}
          ],
          "next_cursor": "eyJ2IjoxLCJr..." | null
        }

    (each row with every metric it has, see *Row shapes*); ``next_cursor`` is ``null`` on the
    last page.
``pagination="next_link"``
    The first request may send ``limit``; the body then carries the absolute URL of the next
    page, ``null`` on the last one: ``{"data": [...], "links": {"next": "https://…" | null}}``.
    Request that URL as it is (it keeps the filters and the page size).
``pagination="link_header"`` (GitHub style)
    The first request may send ``limit``; the next page's URL comes in an RFC 8288 header,
    ``Link: <https://…>; rel="next", <https://…>; rel="first"``. The last page has no
    ``rel="next"`` (a later page still has ``rel="first"``): stop when ``rel="next"`` is missing,
    not when the header is. The body is ``{"data": [...]}``, or the bare array with ``list_key=""``.
``pagination="page"``
    Parameters ``page`` (from 1, default 1) and ``per_page``. The body adds ``"page"``,
    ``"per_page"``, ``"total_pages"`` and ``"total"`` (matching rows); a page after the last is
    empty. Read pages 1 to ``total_pages``.
``pagination="offset"``
    Parameters ``offset`` (from 0, default 0) and ``limit``. The body adds ``"offset"``,
    ``"limit"`` and ``"total"``; read until ``offset >= total``.

The three link styles (cursor, next_link, link_header) are *position-based*: the cursor inside
them encodes the sort key of the last row returned, not an offset, so the next page starts
strictly after that row. Rows written while a client pages are therefore never skipped: a row
updated during the read gets a later ``updated_at`` and appears on a later page (or in the next
incremental run). ``page`` and ``offset`` are *offset-based* by nature: a row inserted or
re-stamped during the read shifts the later rows by one position, so a page can repeat the
previous page's last row or skip a row. That is why the connector prefers a cursor style when
an API offers one; with page/offset, re-read with an overlapping ``updated_since`` lookback.

Row shapes
----------
``shape="flat"`` (default)
    Each row as the usage system stores it: ``workspace_id``, ``date``, ``updated_at`` and every
    metric the row has (``active_users``, ``seats_used``, ``seats_limit`` and, when the world
    has them, ``weekly_active_users``, ``storage_used_gb``, ``storage_limit_gb``,
    ``api_calls_used``, ``api_calls_limit``, ``integrations``, ``premium_feature_views``,
    ``trials_started``, ``pricing_page_views``, ``feature_events`` (feature → count) and
    ``users_by_department`` (department → users)). Upsync's field mapping is the identity.
``shape="nested"``
    A different vendor's shape: the list key defaults to ``items`` and each row becomes::

        {
          "workspace": {"id": "ws-00001"},
          "day": "2026-05-31",
          "updated": "2026-06-01T01:07:00Z",
          "metrics": {
            "users": {"active": 41, "weekly_active": 52},
            "seats": {"used": 58, "limit": 100},
            "storage": {"used_gb": 12.5, "limit_gb": 50},
            "api": {"calls": 18000, "limit": 100000},
            "integrations": {"count": 4},
            "engagement": {"premium_views": 7, "pricing_page_views": 2, "trials_started": 0},
            "features": {"reports": 120, "exports": 9},
            "departments": {"Sales": 20, "Engineering": 21}
          }
        }

    The dotted path of each canonical metric (``NESTED_PATHS``, what ``[usage.fields]`` maps
    from): ``workspace.id``, ``day``, ``updated``, ``metrics.users.active``,
    ``metrics.users.weekly_active``, ``metrics.seats.used``, ``metrics.seats.limit``,
    ``metrics.storage.used_gb``, ``metrics.storage.limit_gb``, ``metrics.api.calls``,
    ``metrics.api.limit``, ``metrics.integrations.count``, ``metrics.engagement.premium_views``,
    ``metrics.engagement.trials_started``, ``metrics.engagement.pricing_page_views``,
    ``metrics.features`` and ``metrics.departments``. A metric the row lacks is absent (and an
    object left empty is omitted); any other key of the row is served under ``extra``.

``GET /v1/workspaces``
----------------------
The workspaces that have usage rows, sorted by ``id``, paged exactly like ``/v1/usage/daily`` in
the same style (and under the same list key), without its filters. An item is
``{"id", "name", "domain", "plan", "seats_limit"}``, each field besides ``id`` taken from the
workspace's latest row (greatest ``date``) and present **only when that row has it** (``name``,
``domain`` and ``plan`` may also be stored as ``workspace_name``, ``workspace_domain``,
``workspace_plan``). The sandbox world's rows carry no name, domain or plan, so today its items
are ``{"id": "ws-00001", "seats_limit": 100}``: nothing is invented, and matching accounts to
workspaces by email domain needs rows that carry ``domain``.

Two more shapes over the same rows
----------------------------------
Served in every style, beside ``/v1`` (same authentication and rate limit), for APIs that look
nothing like it. Neither has an update time to filter on in the first; both read
``world.usage.rows``.

``GET /v2/accounts`` (per-entity shape: list)
    The workspaces as *accounts*, sorted by id: ``{"accounts": [{"account_id": "ws-00001",
    "company_name": "Kaze Massive Systems", "website": "https://www.kaze-….example.com"}],
    "meta": {"next_page_token": "…" | null}}`` (``company_name`` and ``website`` only for a
    workspace a CRM account names). Parameters ``page_size`` (1–25, default 10) and
    ``page_token`` (the previous ``next_page_token``).
``GET /v2/accounts/{account_id}/metrics?from=YYYY-MM-DD&to=YYYY-MM-DD`` (per-entity shape: metrics)
    One account's days in ``[from, to]`` (both required, ``to`` inclusive), ascending by date,
    paged by ``page_size`` (1–31, default 7) and ``page_token``::

        {"account": {"id": "ws-00001"},
         "days": [{"date": "2026-05-31",
                   "users": {"active": 41, "weekly_active": 52}, "seats": {"used": 58, "limit": 100},
                   "storage_mb": {"used": 12500, "limit": 50000}, "api": {"calls": 18000, "limit": 100000},
                   "integrations": 4, "premium_feature_views": 7, "pricing_page_views": 2,
                   "trials": [{"trial": "ws-00001-2026-05-31-1"}],
                   "events": [{"name": "reports", "count": 120}],
                   "departments": [{"name": "Sales", "users": 20}]}],
         "meta": {"next_page_token": null}}

    The account id is in the envelope only; a day has no update time (a late correction is seen
    by reading its day again); storage is in MB (GB × 1000); ``trials`` lists the trials started
    that day. A missing or malformed ``from``/``to``/``page_size``/``page_token``, or ``to``
    before ``from``, gets ``422 {"error": {"code": "invalid_param", "detail": "…"}}``; an
    unknown account ``404 {"error": {"code": "not_found", "detail": "…"}}``.
``GET /api/v3/usage`` (page/offset shape: rows by page number)
    Parameters ``modified_since`` (inclusive) and ``modified_before`` (exclusive), ISO-8601
    instants; ``page`` (from 1) and ``page_size`` (1–200, default 50). Rows sorted as ``/v1``
    sorts them, renamed ``workspace``, ``day`` and ``modified_at`` (the other metrics as in the
    flat shape): ``{"count": <matching rows>, "num_pages": n, "page": p, "results": [...]}``; a
    page after the last is empty.
``GET /api/v3/workspaces`` (page/offset shape: workspaces by offset)
    Parameters ``offset`` (from 0) and ``limit`` (1–100, default 20): ``{"total": n, "offset":
    o, "results": [{"workspace": "ws-00001", "title": "…", "primary_domain": "kaze-….example.com"}]}``.

    Errors of ``/api/v3`` are ``{"errors": [{"message": "…", "field": "<parameter>"}]}`` (``400``
    for a malformed parameter); over the rate limit, ``429`` with ``Retry-After`` as an HTTP date
    (RFC 9110 §10.2.3), e.g. ``Retry-After: Mon, 01 Jun 2026 12:00:05 GMT``.

Rate limiting
-------------
With ``rate_limit_per_second`` set, the ``/v1`` endpoints accept that many requests per second
(a token bucket holding one second's worth, at least one request). A request over the limit
gets::

    429 {"error": {"code": "rate_limited", "message": "...", "retry_after": 2}}
    Retry-After: 2

``Retry-After`` is in whole seconds, at least 1. The token endpoint is not limited.

Errors
------
``400 {"error": {"code": "invalid_parameter", "message": "...", "parameter": "<name>"}}`` for a
malformed ``updated_since``/``updated_before``/``limit``/``cursor``/``page``/``per_page``/
``offset``, ``404 {"error": {"code": "not_found", ...}}`` for unknown paths and ``405
method_not_allowed``. Other outages (5xx, timeouts) are injected by the sandbox server's
``Fault`` middleware, not here.

Serving large worlds
--------------------
Rows are indexed once per store version: the three key columns in sort order plus each row's
position in ``world.usage.rows``, read through ``UsageRows.column`` where the store offers it,
so computed rows are never materialised (3M rows: about 1.7 s and 150 MB, done when the app is
built). A page is then a bisection plus reading that page's rows, O(log n + page size); the
first ``workspace_id`` filter and the first ``/v1/workspaces`` call of a version add a pass of
about a second at that size.

The index is rebuilt when ``world.usage.version`` moves (a ``UsageRows`` moves it on every write,
including a write to a row dict it handed out), or when ``rows`` is replaced or changes length.
A plain list has no version: rows appended to it are merged in without a sort, and on lists of
up to 50 000 rows an ``updated_at``/``workspace_id``/``date`` edited in place, or a row replaced at
the same position, is noticed on the next request; on bigger lists such an edit needs
``app.state.usage_index.invalidate()``.
"""

from sandbox.usage.app import create_usage_app
from sandbox.usage.index import UsageIndex
from sandbox.usage.shapes import NESTED_PATHS
from sandbox.usage.style import DEFAULT_LIMIT, MAX_LIMIT, Auth, Pagination, Shape, UsageStyle

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "NESTED_PATHS",
    "Auth",
    "Pagination",
    "Shape",
    "UsageIndex",
    "UsageStyle",
    "create_usage_app",
]
