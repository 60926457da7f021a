"""The middleware every CRM request passes: bearer-token check, rate limiting, rate-limit headers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

from starlette.datastructures import Headers, State
from starlette.responses import JSONResponse

from sandbox.asgi import ASGIApp, Message, Receive, Scope, Send
from sandbox.hubspot.errors import correlation_id
from sandbox.hubspot.rate_limits import RATE_MESSAGES, HubSpotLimits, RateCounters, retry_after_header
from sandbox.hubspot.sizes import API_SOURCE_ID
from sandbox.hubspot.tokens import Tokens, ago
from sandbox.world import World, hs_time

_AUTH_MESSAGE: Final = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more "
    "details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


def _seconds_to_midnight(now: datetime) -> float:
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
    return (midnight - now).total_seconds()


class Gate:
    """ASGI middleware: bearer-token check, rate limiting, and rate-limit headers on every response.

    The OAuth token endpoint is outside it: it takes no bearer token and no API quota.
    """

    def __init__(self, app: ASGIApp, *, world: World, state: State, tokens: Tokens) -> None:
        self.app = app
        self.world = world
        self.state = state
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/oauth/"):
            await self.app(scope, receive, send)
            return
        search = scope["method"] == "POST" and scope["path"].rstrip("/").endswith("/search")
        rate: RateCounters = self.state.rate
        limits: HubSpotLimits | None = self.state.limits
        now = self.world.now()
        header = Headers(scope=scope).get("authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else ""
        verdict = self.tokens.check(self.world.auth["hubspot"], token, now) if token else "invalid"
        if verdict != "valid":
            headers = rate.admit(limits, search=search, today=now.date(), count=False).headers
            if verdict == "expired":
                expired = self.tokens.expired_at.get(token, now)
                body = {
                    "status": "error",
                    "message": f"The OAuth token used to make this call expired {ago((now - expired).total_seconds())}"
                    " ago.",
                    "correlationId": correlation_id(),
                    "category": "EXPIRED_AUTHENTICATION",
                    "context": {"expire time": [hs_time(expired)]},
                }
            else:
                body = {
                    "status": "error",
                    "message": _AUTH_MESSAGE,
                    "correlationId": correlation_id(),
                    "category": "INVALID_AUTHENTICATION",
                }
            await JSONResponse(body, status_code=401, headers=headers)(scope, receive, send)
            return
        admission = rate.admit(limits, search=search, today=now.date(), seconds_to_midnight=_seconds_to_midnight(now))
        if admission.refused is not None:
            assert limits is not None
            body = {
                "status": "error",
                "message": RATE_MESSAGES[admission.refused],
                "errorType": "RATE_LIMIT",
                "correlationId": correlation_id(),
                "policyName": admission.refused,
                "groupName": f"private-app:{API_SOURCE_ID}",
            }
            headers = dict(admission.headers)
            retry_after = retry_after_header(limits, admission.refused, admission.wait)
            if retry_after is not None:
                headers["Retry-After"] = retry_after
            await JSONResponse(body, status_code=429, headers=headers)(scope, receive, send)
            return
        raw_headers = [(k.lower().encode(), v.encode()) for k, v in admission.headers.items()]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *raw_headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)
