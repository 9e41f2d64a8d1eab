"""The SNE client against hostile answers (hand-written in tests/support/sne_faults.py
from the SOAP 1.2 and HTTP specifications): every caller — the SOAP gateway, numbering,
the poller — gets one of the hub's errors, never a third-party parser's exception (an
empty ``Body`` raised zeep's ``IndexError``, a ``multipart/related`` or gzip body that is
not one raised requests' own errors, straight through the gateway)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.sne.client import SneClient
from connectors.sne.errors import SneUnavailable
from hub.core.errors import HubError
from hub.core.settings import HubSettings
from hub.dev.sne_simulator import create_app
from tests.support.sne import new_demande_xml
from tests.support.sne_faults import HOSTILE, TRANSPORT, FaultySne, hostile, served


@pytest.fixture()
def sne(settings: HubSettings, tmp_path: Path) -> Iterator[tuple[FaultySne, SneClient]]:
    faulty = FaultySne(create_app(f"sqlite:///{tmp_path / 'sim.db'}"))
    with served(faulty) as server:
        cfg = settings.sne.model_copy(update={"url": f"{server.base}/sne", "retries": 0})
        yield faulty, SneClient(cfg)


@pytest.mark.parametrize("answer", HOSTILE)
@pytest.mark.parametrize("operation", ["getDemandeLogement", "getNumUnique"])
def test_a_hostile_answer_is_a_hub_error(
    sne: tuple[FaultySne, SneClient], answer: str, operation: str
) -> None:
    faulty, client = sne
    faulty.answers[operation] = hostile(answer, operation)
    with pytest.raises(HubError) as caught:
        if operation == "getNumUnique":
            client.register_demande(new_demande_xml("HX01", ["76451"], nom="Hostile"))
        else:
            client.get_demande("076112500000110691")
    assert isinstance(caught.value, SneUnavailable) == (answer in TRANSPORT), caught.value
    assert caught.value.retriable == (answer in TRANSPORT)
