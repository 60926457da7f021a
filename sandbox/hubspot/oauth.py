"""The OAuth token endpoint (developers.hubspot.com/docs/api/oauth/tokens)."""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.hubspot.base import HandlerBase
from sandbox.hubspot.errors import correlation_id
from sandbox.hubspot.sizes import TOKEN_EXPIRES_IN


class OAuthHandlers(HandlerBase):
    """POST /oauth/v1/token: a refresh token traded for a new access token."""

    async def oauth_token(self, request: Request) -> Response:
        # POST /oauth/v1/token (developers.hubspot.com/docs/api/oauth/tokens, "Refresh an access token"):
        # form-encoded grant_type=refresh_token, client_id, client_secret, refresh_token. Errors are
        # 400 {"status": "BAD_REFRESH_TOKEN" | "BAD_CLIENT_ID" | ..., "message": ...}, not the CRM error shape.
        form = {k: v[-1] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        auth = self.world.auth["hubspot"]
        grant = form.get("grant_type", "")

        def refuse(status: str, message: str) -> Response:
            body = {"status": status, "message": message, "correlationId": correlation_id()}
            if status == "BAD_REFRESH_TOKEN":
                body |= {"error": "invalid_grant", "error_description": message}
            return JSONResponse(body, status_code=400)

        if grant != "refresh_token":
            return refuse("BAD_GRANT_TYPE", f"grant_type {grant!r} is not supported here; use refresh_token")
        with auth.lock:
            if form.get("client_id") != auth.client_id:
                return refuse("BAD_CLIENT_ID", "missing or unknown client id")
            if form.get("client_secret") != auth.client_secret:
                return refuse("BAD_CLIENT_SECRET", "missing or invalid client secret")
            refresh_token = form.get("refresh_token", "")
            if refresh_token not in auth.refresh_tokens:
                return refuse("BAD_REFRESH_TOKEN", "missing or unknown refresh token")
            lifetime: int | None = getattr(self.state, "token_expires_in", None)
            token = self.backend.tokens.issue(auth, self.world.now(), lifetime)
        body = {
            "token_type": "bearer",
            "refresh_token": refresh_token,  # HubSpot refresh tokens do not rotate
            "access_token": token,
            "expires_in": lifetime if lifetime is not None else TOKEN_EXPIRES_IN,
        }
        return JSONResponse(body)
