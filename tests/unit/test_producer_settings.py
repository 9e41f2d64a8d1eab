"""The producers' settings (hub.kafka.client.producer_options), chosen on purpose."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hub.kafka.client import producer_options
from hub.settings import HubSettings


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
