"""A demand the SNE numbers through the SOAP gateway while Kafka is down (the audit's
suspicion "SOAP gateway and Kafka"): the ERP still gets the SNE's answer, the gateway logs
the operation *and the numéro* at ERROR (it logged no numéro before), and ``hub sne-poll``
publishes the demand at its next pass, on the real broker, since it wishes a polled
commune. The gateway's producer points at a port where no broker listens: a real
connection failure, not a stub; the SNE is the simulator over HTTP."""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import uuid
from datetime import date
from pathlib import Path

import pytest

from connectors.ingress.publishing import PreparedEvent, publish_events
from connectors.sne.client import SneClient
from connectors.sne.gateway import Gateway
from connectors.sne.poller import SnePoller
from connectors.sne.soap import parse_request
from hub.core.db import make_engine, migrate
from hub.core.kafka.publisher import KafkaPublisher
from hub.core.settings import HubSettings
from hub.dev.sne_simulator import create_app
from tests.integration.api_support import register
from tests.support.sne import ROUEN, free_port, new_demande_xml, serve

pytestmark = pytest.mark.kafka
WS = "http://ws.metier.nuu.application.i2/"


def _inline_request(document: bytes) -> bytes:
    """A SOAP 1.2 getNumUnique with ``fluxXml`` inline (docs/connectors-soap.md)."""
    return (
        '<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body>'
        f'<ws:getNumUnique xmlns:ws="{WS}"><fluxXml>{base64.b64encode(document).decode()}'
        "</fluxXml></ws:getNumUnique></soap:Body></soap:Envelope>"
    ).encode()


def test_a_demand_numbered_while_kafka_is_down_is_logged_and_caught_up(
    settings: HubSettings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    migrate(engine)
    caller = register(engine, kind="guichet")
    with serve(create_app(f"sqlite:///{tmp_path / 'sim.db'}")) as base:
        sne = settings.sne.model_copy(
            update={"url": f"{base}/sne", "retries": 0, "poll_communes": (ROUEN,),
                    "poll_since": "2025-01-01"}
        )  # fmt: skip
        down = settings.model_copy(
            update={
                "sne": sne,
                "kafka": settings.kafka.model_copy(
                    update={"bootstrap_servers": f"127.0.0.1:{free_port()}"}
                ),
            }
        )
        gateway = Gateway(down, engine=engine)
        gateway.publisher = KafkaPublisher(down, timeout_s=2.0)  # fail fast, for real
        g = "K" + uuid.uuid4().hex[:4].upper()
        req = parse_request(
            "DemandeLogementImplService",
            _inline_request(new_demande_xml(g, [ROUEN], nom=f"K{g}")),
            "application/soap+xml; charset=utf-8",
        )
        req.http_headers = {"authorization": caller.headers["Authorization"]}

        async def call() -> dict[str, object]:
            try:
                return await gateway.handle(req)
            finally:
                await gateway.stop()

        with caplog.at_level(logging.ERROR, logger="connectors.sne.gateway"):
            parts = asyncio.run(call())
        answer = parts["return"]
        assert isinstance(answer, bytes)
        found = re.search(rb"numUnique>([0-9A-Z]{18})<", answer)
        assert found is not None  # the ERP has its numéro: the SNE acted
        num = found[1].decode()
        logged = [r.getMessage() for r in caplog.records if "not published" in r.getMessage()]
        assert len(logged) == 1 and num in logged[0] and "hub sne-poll" in logged[0], logged

        published: list[PreparedEvent] = []

        def publish(events: list[PreparedEvent]) -> int:
            published.extend(events)
            return asyncio.run(publish_events(settings, events))  # the real broker, up

        poller = SnePoller(sne, SneClient(sne), engine, publish)
        report = poller.poll_once(date(2026, 11, 23))
        assert {e["numUnique"]: e["operation"] for e in report.published} == {num: "CRE"}
        assert [p.key.decode() for p in published] == [num]
