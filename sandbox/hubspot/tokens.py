"""Access tokens (developers.hubspot.com/docs/api/oauth/tokens): which are valid, expired or unknown."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from sandbox.world import AuthState


@dataclass
class Tokens:
    """What the stand-in remembers about access tokens, beyond ``AuthState``'s set of valid ones.

    HubSpot tells an expired token (401 ``EXPIRED_AUTHENTICATION``, "expired N minute(s) ago")
    from one it never issued (401 ``INVALID_AUTHENTICATION``), so every token ever valid is
    remembered, with when it stopped working.
    """

    known: set[str] = field(default_factory=set)
    expires_at: dict[str, datetime] = field(default_factory=dict)
    expired_at: dict[str, datetime] = field(default_factory=dict)

    def check(self, auth: AuthState, token: str, now: datetime) -> Literal["valid", "expired", "invalid"]:
        with auth.lock:
            self.known.update(auth.access_tokens)
            if token in auth.access_tokens:
                deadline = self.expires_at.get(token)
                if deadline is None or now < deadline:
                    return "valid"
                auth.access_tokens.discard(token)  # its expires_in ran out
                self.expired_at[token] = deadline
                return "expired"
            if token in self.known:
                self.expired_at.setdefault(token, now)  # AuthState.expire() took it: first noticed now
                return "expired"
            return "invalid"

    def issue(self, auth: AuthState, now: datetime, lifetime: int | None) -> str:
        with auth.lock:
            token = auth.issue()
            self.known.add(token)
            if lifetime is not None:
                self.expires_at[token] = now + timedelta(seconds=lifetime)
            return token


def ago(seconds: float) -> str:
    """HubSpot's "expired 5 minute(s) ago" wording."""
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}(s)"
    return f"{int(max(0.0, seconds))} second(s)"
