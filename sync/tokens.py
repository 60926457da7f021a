"""A token upsync obtained through OAuth, kept in the state store for the next runs.

Without it every run after a session expiry would start with the environment's token, meet a 401
and ask the token endpoint again. The kept token is tied to the environment's token it replaced
(by a one-way fingerprint): when an operator sets a new token, that one is used again. Replicas
on one PostgreSQL state share it. It is an access token, short-lived, beside CRM data the state
already holds: protect the state as the environment is protected.
"""

from __future__ import annotations

import hashlib
import json

from sync.store import Store

__all__ = ["StoreTokenCache"]


def _fingerprint(configured: str) -> str:
    return hashlib.sha256(f"upsync-token:{configured}".encode()).hexdigest()[:16]


class StoreTokenCache:
    """:class:`connectors.oauth.TokenCache` in the store's ``meta`` table, one token per CRM."""

    def __init__(self, store: Store, system: str) -> None:
        self._store = store
        self._key = f"oauth_token:{system}"

    def load(self, configured: str) -> str | None:
        raw = self._store.meta(self._key)
        if not raw:
            return None
        try:
            kept = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(kept, dict) or kept.get("replaces") != _fingerprint(configured):
            return None
        token = kept.get("token")
        return token if isinstance(token, str) and token else None

    def save(self, token: str, configured: str) -> None:
        self._store.set_meta(self._key, json.dumps({"token": token, "replaces": _fingerprint(configured)}))
