"""The shared OAuth token logic of the CRM clients, over a fake transport and clock."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from connectors.oauth import TokenClient, renew_delay
from connectors.settings import RetrySettings
from core.errors import AuthError, UpstreamError

FORM = {"token_url": "https://auth.example/token", "grant_type": "refresh_token", "client_id": "id", "x": ""}


class Unreachable(Exception):
    pass


class FakeClient(TokenClient):
    system = "fake"
    renew_margin = 300.0
    transport_errors = (Unreachable,)

    def __init__(self, token: str | None, oauth: Mapping[str, str] | None, answers: list[Any]) -> None:
        super().__init__(token, oauth, RetrySettings(attempts=1), sleep=lambda _: None)
        self.answers = answers
        self.posted: list[tuple[str, dict[str, str]]] = []
        self.used: list[str] = []
        self.now = 0.0
        self._clock = lambda: self.now
        self._token = self._token or self._fetch_token()

    def _post_token(self, url: str, form: Mapping[str, str]) -> tuple[int, Mapping[str, Any]]:
        self.posted.append((url, dict(form)))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[no-any-return]

    def _use_token(self, token: str) -> None:
        self.used.append(token)

    def call(self, outcomes: list[str]) -> str:
        def attempt() -> str:
            outcome = outcomes.pop(0)
            if outcome == "401":
                raise AuthError("401 expired", system="fake")
            return f"{outcome} with {self._token}"

        return self._authorized(attempt, idempotent=True)


def test_a_missing_token_is_fetched_with_the_form_and_renewed_before_it_expires() -> None:
    client = FakeClient(None, FORM, [(200, {"access_token": "t1", "expires_in": 1800}), (200, {"access_token": "t2"})])
    assert client.posted == [("https://auth.example/token", {"grant_type": "refresh_token", "client_id": "id"})]
    assert client.call(["ok"]) == "ok with t1"
    client.now = 1500.0  # under 300 s left: renewed before the call
    assert client.call(["ok"]) == "ok with t2" and client.used == ["t2"]


def test_a_401_refreshes_once_and_a_second_401_is_final() -> None:
    client = FakeClient("static", FORM, [(200, {"access_token": "t1"}), (200, {"access_token": "t2"})])
    assert client.call(["401", "ok"]) == "ok with t1"
    with pytest.raises(AuthError):
        client.call(["401", "401"])
    assert client.used == ["t1", "t2"]


def test_without_oauth_a_401_is_final_and_no_token_is_an_auth_error() -> None:
    client = FakeClient("static", None, [])
    with pytest.raises(AuthError):
        client.call(["401"])
    with pytest.raises(AuthError, match=r"no \[fake.oauth\]"):
        FakeClient(None, None, [])


def test_token_endpoint_failures_are_named() -> None:
    with pytest.raises(UpstreamError, match="unreachable"):
        FakeClient(None, FORM, [Unreachable()])
    with pytest.raises(AuthError, match=r"refused \(400 invalid_grant\)"):
        FakeClient(None, FORM, [(400, {"error": "invalid_grant"})])
    with pytest.raises(AuthError, match="without an access_token"):
        FakeClient(None, FORM, [(200, {})])


def test_renew_delay() -> None:
    assert renew_delay({"expires_in": 1800}, lifetime=None, margin=300) == 1500
    assert renew_delay({}, lifetime=900, margin=0) == 900
    assert renew_delay({}, lifetime=None, margin=300) is None
    assert renew_delay({"expires_in": 30}, lifetime=None, margin=60) == 0
