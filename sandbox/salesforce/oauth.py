"""The OAuth 2.0 token endpoint: refresh-token and client-credentials grants."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import parse_qsl

from starlette.responses import Response

from sandbox.salesforce.base import HandlerBase
from sandbox.salesforce.http import json_response, oauth_error, same_secret
from sandbox.salesforce.settings import ORG_ID
from sandbox.world import sf_id


class OAuthHandlers(HandlerBase):
    """The token endpoint."""

    def token(self, method: str, headers: Mapping[str, str], body: bytes) -> Response:
        """The token endpoint: refresh-token and client-credentials grants against ``world.auth``.

        Salesforce Help › OAuth 2.0 Refresh Token Flow for Renewed Sessions
        (remoteaccess_oauth_refresh_token_flow.htm) and OAuth 2.0 Client Credentials Flow for
        Server-to-Server Integration (remoteaccess_oauth_client_credentials_flow.htm); errors as
        in OAuth 2.0 Authorization Errors (remoteaccess_oauth_flow_errors.htm). Token calls are
        not API requests: no allocation is spent and no ``Sforce-Limit-Info`` is sent.
        """
        if method != "POST":
            return oauth_error(400, "invalid_request", "must use HTTP POST")
        form: dict[str, str] = {}
        for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
            form.setdefault(key, value)
        auth = self.world.auth["salesforce"]
        grant = form.get("grant_type", "")
        if grant not in ("refresh_token", "client_credentials"):
            return oauth_error(400, "unsupported_grant_type", "grant type not supported")
        if not same_secret(form.get("client_id", ""), auth.client_id):
            return oauth_error(400, "invalid_client_id", "client identifier invalid")
        secret = form.get("client_secret")
        if grant == "client_credentials" and secret is None:
            return oauth_error(400, "invalid_client", "invalid client credentials")
        if secret is not None and not same_secret(secret, auth.client_secret):
            return oauth_error(400, "invalid_client", "invalid client credentials")
        if grant == "refresh_token":
            with auth.lock:
                known = form.get("refresh_token", "") in auth.refresh_tokens
            if not known:
                return oauth_error(400, "invalid_grant", "expired access/refresh token")
        access_token = auth.issue()
        host = headers.get("host", "localhost")
        instance_url = f"https://{host}"
        identity = f"{instance_url}/id/{ORG_ID}/{self.world.salesforce.integration_user_id or sf_id('005', 1)}"
        issued_at = str(int(self.world.now().timestamp() * 1000))
        # The signature is HMAC-SHA256 over id + issued_at, keyed with the client secret.
        digest = hmac.new(auth.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()
        payload = {
            "access_token": access_token,
            "signature": base64.b64encode(digest).decode(),
            "scope": "api refresh_token" if grant == "refresh_token" else "api",
            "instance_url": instance_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
        }
        return json_response(200, payload, {"Cache-Control": "no-cache,must-revalidate,max-age=0,no-store,private"})
