"""Topic creation retries a retriable broker error instead of failing the registration
(CI: one metadata request failing on a loaded broker failed ``hub actors add``), and only
a retriable one, and not for ever. The single broker call is replaced here: what is under
test is the loop around it (the call itself runs on the real broker in every Kafka test)."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import (
    NodeNotReadyError,
    RequestTimedOutError,
    TopicAuthorizationFailedError,
)

from hub.core.errors import TransientError
from hub.core.kafka import admin
from hub.core.settings import HubSettings

SPECS = [admin.TopicSpec("feed.x", 1, {})]


def _calls(monkeypatch: pytest.MonkeyPatch, outcomes: list[object]) -> list[int]:
    seen: list[int] = []

    async def once(settings: HubSettings, specs: list[admin.TopicSpec]) -> list[str]:
        seen.append(len(seen))
        outcome = outcomes[min(len(seen) - 1, len(outcomes) - 1)]
        if isinstance(outcome, Exception):
            raise outcome
        assert isinstance(outcome, list)
        return outcome

    monkeypatch.setattr(admin, "_create_missing_once", once)
    monkeypatch.setattr(admin, "_CREATE_BACKOFF", admin.Backoff(0.01, 0.02))
    return seen


@pytest.mark.parametrize("error", [NodeNotReadyError("node 1"), RequestTimedOutError()])
def test_a_retriable_error_is_retried_until_the_broker_answers(
        monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:  # fmt: skip
    seen = _calls(monkeypatch, [error, error, ["feed.x"]])
    assert asyncio.run(admin._create_missing(HubSettings(), SPECS)) == ["feed.x"]
    assert len(seen) == 3


def test_a_refusal_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _calls(monkeypatch, [TopicAuthorizationFailedError(), ["feed.x"]])
    with pytest.raises(TopicAuthorizationFailedError):
        asyncio.run(admin._create_missing(HubSettings(), SPECS))
    assert len(seen) == 1


def test_a_broker_failing_for_ever_ends_in_a_transient_error_naming_it(
        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    seen = _calls(monkeypatch, [NodeNotReadyError("node 1")])
    monkeypatch.setattr(admin, "CREATE_RETRY_S", 0.2)
    with pytest.raises(TransientError, match=r"feed\.x.*NodeNotReadyError"):
        asyncio.run(admin._create_missing(HubSettings(), SPECS))
    assert 2 <= len(seen) <= 25
