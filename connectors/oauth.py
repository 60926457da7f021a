"""The bearer token a CRM client sends: the configured one, or one fetched, renewed and refreshed through OAuth."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol, TypeVar

from connectors.http import call_with_retry
from connectors.settings import RetrySettings
from core.errors import AuthError, UpstreamError

__all__ = ["TokenCache", "TokenClient", "renew_delay"]

T = TypeVar("T")


def renew_delay(answer: Mapping[str, Any], *, lifetime: float | None, margin: float) -> float | None:
    """Seconds until a token from this token-endpoint ``answer`` is renewed: its ``expires_in``
    (else ``lifetime``) less ``margin``, so that a long run renews it before a call meets a 401.
    None when neither is known: the token is then refreshed only after a 401."""
    expires_in = answer.get("expires_in") or lifetime
    if expires_in is None:
        return None
    return max(0.0, float(expires_in) - margin)


class TokenCache(Protocol):
    """Where a token upsync obtained through OAuth is kept between runs (the state store), so the
    next run does not start with the environment's token the CRM already refused."""

    def load(self, configured: str) -> str | None:
        """The token kept in place of ``configured`` (the environment's), or None; a token kept in
        place of another one (the operator has set a new token since) is not returned."""

    def save(self, token: str, configured: str) -> None:
        """Keep ``token``, obtained in place of ``configured``."""


class TokenClient:
    """Base of the CRM clients: the bearer token every call carries, and its OAuth refresh.

    Without ``[<system>.oauth]`` the token is the one the environment holds, used as is. With it,
    a token is requested from the token endpoint (refresh-token or client-credentials grant) when
    none is set, renewed when its lifetime is nearly spent, and refreshed once when a call answers
    401 (a second 401 is final, not a loop). Each vendor's client supplies the transport
    (``_post_token``, with the errors it raises when the endpoint cannot be reached) and installs
    a new token in its SDK (``_use_token``): each vendor library stays inside its own client.
    """

    system: ClassVar[str]
    token_lifetime: ClassVar[float | None] = None
    """Assumed when the token answer has no ``expires_in``; None: renew only after a 401."""
    renew_margin: ClassVar[float] = 0.0
    """Renew this many seconds before the token expires."""
    transport_errors: ClassVar[tuple[type[BaseException], ...]] = ()
    """What ``_post_token`` raises when the token endpoint cannot be reached."""

    def __init__(
        self,
        token: str | None,
        oauth: Mapping[str, str] | None,
        retry: RetrySettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        cache: TokenCache | None = None,
    ) -> None:
        self.retry = retry
        self._configured = token or ""
        self._token = token or ""
        self._oauth = dict(oauth) if oauth else None
        self._cache = cache if self._oauth else None  # only a token upsync can renew is worth keeping
        kept = self._cache.load(self._configured) if self._cache is not None else None
        if kept:
            self._token = kept
        self._sleep = sleep
        self._clock: Callable[[], float] = time.monotonic
        self._refresh_at: float | None = None  # when a token upsync obtained itself is renewed

    def _post_token(self, url: str, form: Mapping[str, str]) -> tuple[int, Mapping[str, Any]]:
        """POST ``form`` to the token endpoint: (HTTP status, the JSON body, {} if it is not JSON)."""
        raise NotImplementedError

    def _use_token(self, token: str) -> None:
        """Make the SDK send ``token`` from now on."""
        raise NotImplementedError

    def _token_answered(self, answer: Mapping[str, Any]) -> None:
        """What else a client reads from a successful token answer (nothing by default)."""

    def _fetch_token(self) -> str:
        """A new access token from the OAuth token endpoint."""
        system = self.system
        if not self._oauth:
            raise AuthError(
                f"no access token and no [{system}.oauth] to get one",
                system=system,
                hint=f"set the variable named by {system}.token_env, or configure [{system}.oauth]",
            )
        form = {k: v for k, v in self._oauth.items() if k != "token_url" and v}
        try:
            status, answer = self._post_token(self._oauth["token_url"], form)
        except self.transport_errors as exc:
            raise UpstreamError(f"token endpoint unreachable ({type(exc).__name__})", system=system) from exc
        if status != 200:
            code = str(answer.get("error") or answer.get("status") or "")
            raise AuthError(
                f"token refresh refused ({status} {code})" if code else f"token refresh refused ({status})",
                system=system,
                hint=f"check the client id/secret and refresh token named in [{system}.oauth]",
            )
        token = answer.get("access_token")
        if not token:
            raise AuthError("token endpoint answered without an access_token", system=system)
        delay = renew_delay(answer, lifetime=self.token_lifetime, margin=self.renew_margin)
        self._refresh_at = None if delay is None else self._clock() + delay
        self._token_answered(answer)
        logging.getLogger(f"upsync.{system}").info("%s access token refreshed", system)
        return str(token)

    def _initial_token(self) -> str:
        """The token to start with: the environment's, one kept by an earlier run, else a new one
        (kept for the next runs)."""
        if not self._token:
            self._token = self._fetch_token()
            if self._cache is not None:
                self._cache.save(self._token, self._configured)
        return self._token

    def _refresh(self) -> None:
        refused_configured = bool(self._configured) and self._token == self._configured
        self._token = self._fetch_token()
        self._use_token(self._token)
        if refused_configured:
            logging.getLogger(f"upsync.{self.system}").warning(
                "%s refused the token from the environment (expired or revoked): a new one was obtained "
                "through [%s.oauth]%s; set the variable to a current token or unset it",
                self.system,
                self.system,
                " and is kept in the state for the next runs" if self._cache is not None else "",
            )
        if self._cache is not None:
            self._cache.save(self._token, self._configured)

    def _authorized(self, attempt: Callable[[], T], *, idempotent: bool, stream: str | None = None) -> T:
        """Run ``attempt`` under the retry policy with a live token: renewed first when its time
        has come, refreshed once after a 401 (when upsync can get a new one). Counted under
        ``stream`` (see :data:`connectors.http.METER`)."""
        if self._oauth and self._refresh_at is not None and self._clock() >= self._refresh_at:
            self._refresh()

        def retried() -> T:
            return call_with_retry(
                attempt, policy=self.retry, idempotent=idempotent, sleep=self._sleep, system=self.system, stream=stream
            )

        try:
            return retried()
        except AuthError as exc:
            if not self._oauth or "401" not in exc.message:
                raise
            self._refresh()
            return retried()
