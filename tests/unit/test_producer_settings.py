"""The producers' settings (hub.core.kafka.client.producer_options), chosen on purpose."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from hub.core.kafka.client import producer_options
from hub.core.settings import HubSettings


def test_no_loss_settings_and_no_compression_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HUB_KAFKA__COMPRESSION_TYPE", raising=False)
    opts = producer_options(HubSettings())
    assert (opts["acks"], opts["enable_idempotence"]) == ("all", True)
    # one-record feed batches: lz4 costs more CPU than the bytes it saves
    assert opts["compression_type"] is None


def test_compression_can_be_chosen_and_a_bad_one_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HUB_KAFKA__COMPRESSION_TYPE", "lz4")
    assert producer_options(HubSettings())["compression_type"] == "lz4"
    monkeypatch.setenv("HUB_KAFKA__COMPRESSION_TYPE", "brotli")
    with pytest.raises(ValidationError, match="compression_type"):
        HubSettings()


@pytest.mark.asyncio
async def test_bench_clients_follow_the_same_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Baselines and the generator use the worker's producer settings (fair ratios)."""
    from bench.harness import producer

    monkeypatch.setenv("HUB_KAFKA__COMPRESSION_TYPE", "lz4")
    assert producer("127.0.0.1:1")._compression_type == "lz4"  # never started
    monkeypatch.setenv("HUB_KAFKA__COMPRESSION_TYPE", "none")
    assert producer("127.0.0.1:1")._compression_type is None


@pytest.mark.asyncio
@pytest.mark.parametrize("wait_ms", [None, "40"])
async def test_the_input_fetch_wait_is_ours_not_fausts(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, wait_ms: str | None
) -> None:
    """faust builds its worker consumer with fetch_max_wait_ms=1500: the end of a burst
    then waited ~0.7 s for a held fetch (docs/performance.md)."""
    from dispatch.runtime.app import create_app

    monkeypatch.setenv("HUB_HOME", str(tmp_path))
    if wait_ms is not None:
        monkeypatch.setenv("HUB_WORKER__FETCH_MAX_WAIT_MS", wait_ms)
    app = create_app(HubSettings())
    thread = app.consumer._new_consumer_thread()  # built, never started: no broker
    client = thread._create_worker_consumer(app.transport)
    assert client._fetch_max_wait_ms == int(wait_ms or 100)
    monkeypatch.setenv("HUB_WORKER__FETCH_MAX_WAIT_MS", "0")
    with pytest.raises(ValidationError, match="fetch_max_wait_ms"):
        HubSettings()
