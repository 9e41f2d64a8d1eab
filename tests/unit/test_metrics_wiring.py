"""Connector metrics fed by the real code paths, read from the hub's registry before and
after a known workload (exact deltas): SNE client calls against the real simulator and
against servers that fail; webhook POSTs, retries and outbox depth against a real
receiver and a SQLite outbox. No broker needed (the Kafka-bound paths, poller and file
connector, are in tests/integration/test_metrics_wiring_kafka.py)."""

from __future__ import annotations

import asyncio
import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.outbound.webhook import WebhookDelivery
from connectors.sne import documents
from connectors.sne.client import CONNECTOR, SneClient
from connectors.sne.errors import SneProtocolError, SneUnavailable, SneUnknownDemande
from hub.core.db import make_engine, migrate
from hub.core.errors import InputError
from hub.core.settings import ApiSettings, HubSettings, SneSettings
from hub.dev.sne_simulator import create_app
from hub.domain.actors import Actor, ActorFilters, Delivery
from hub.stores.audit.store import AuditStore
from hub.stores.delivery.outbox import Outbox
from monitoring.metrics import REGISTRY
from tests.support.connector_metrics import calls, delta, sample
from tests.support.sne import ROUEN, free_port, new_demande_xml, serve

# SNE client ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("sim") / "sim.db"
    with serve(create_app(f"sqlite:///{db}")) as base:
        yield f"{base}/sne"


def test_sne_calls_counted_once_per_operation_with_outcome(simulator: str) -> None:
    client = SneClient(SneSettings(url=simulator, retries=0))
    g = "M" + uuid.uuid4().hex[:4].upper()
    reg0, get0 = calls(CONNECTOR, "getNumUnique"), calls(CONNECTOR, "getDemandeLogement")

    num, answer = client.register_demande(new_demande_xml(g, [ROUEN], nom=f"N{g}"))
    assert num is not None and answer.ok
    refused, answer = client.register_demande(new_demande_xml(g, ["99999"]))
    assert refused is None and answer.anomalies  # an anomaly list: answered, not an error
    assert num.encode() in client.get_demande(num)
    # the raw call the SOAP gateway relays through: counted once too (not twice)
    parts = client.call("getDemandeLogement", codeGuichet=client.cfg.guichet, numUnique=num)
    assert num.encode() in parts["return"]
    with pytest.raises(SneUnknownDemande):
        client.get_demande("076112599999900000")  # a SOAP Fault: business answer

    assert delta(reg0, calls(CONNECTOR, "getNumUnique")) == {
        "ok": 1, "anomalies": 1, "duration": 2}
    assert delta(get0, calls(CONNECTOR, "getDemandeLogement")) == {
        "ok": 2, "business_error": 1, "duration": 3}


def test_sne_transport_failures_count_one_call_after_the_retries() -> None:
    cfg = SneSettings(url=f"http://127.0.0.1:{free_port()}/sne", retries=2, timeout_s=2)
    client = SneClient(cfg, sleep=lambda _s: None)
    before = calls(CONNECTOR, "getDemandeLogement")
    with pytest.raises(SneUnavailable):
        client.get_demande("076112500000100000")  # 3 attempts, refused each time
    assert delta(before, calls(CONNECTOR, "getDemandeLogement")) == {
        "transport_error": 1, "duration": 1}


def test_sne_read_timeout_counts_as_timeout() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    held: list[socket.socket] = []

    def accept() -> None:
        try:
            while True:
                conn, _ = listener.accept()
                held.append(conn)  # read nothing, answer nothing: the client times out
        except OSError:
            return

    threading.Thread(target=accept, daemon=True).start()
    port = listener.getsockname()[1]
    client = SneClient(
        SneSettings(url=f"http://127.0.0.1:{port}/sne", retries=0, timeout_s=0.5),
        sleep=lambda _s: None,
    )
    before = calls(CONNECTOR, "rechercheDemandeMulticritere")
    try:
        with pytest.raises(SneUnavailable):
            client.search(communeSouhaitee=ROUEN)
    finally:
        listener.close()
        for conn in held:
            conn.close()
    assert delta(before, calls(CONNECTOR, "rechercheDemandeMulticritere")) == {
        "timeout": 1, "duration": 1}


def test_sne_answer_that_is_not_xml_is_a_transport_error() -> None:
    async def maintenance(_request: Request) -> Response:
        return Response(b"<html><body>maintenance</body></html>", media_type="text/html")

    app = Starlette(routes=[Route("/sne/{service}", maintenance, methods=["POST"])])
    with serve(app) as base:
        client = SneClient(SneSettings(url=f"{base}/sne", retries=0))
        before = calls(CONNECTOR, "getNouveauxDaloDepuisLe")
        with pytest.raises(SneProtocolError):
            client.new_dalo_since(date(2026, 1, 1))
    assert delta(before, calls(CONNECTOR, "getNouveauxDaloDepuisLe")) == {
        "transport_error": 1, "duration": 1}


# webhook delivery ----------------------------------------------------------------------


class Script:
    """A receiver answering from a script: a status code, or 'slow' (longer than the
    client's timeout, then 204)."""

    def __init__(self, steps: list[int | str]) -> None:
        self.steps = steps
        self.offsets: list[int] = []

        async def hook(request: Request) -> Response:
            self.offsets.append(int(request.headers["x-passerelle-offset"]))
            step = self.steps.pop(0)
            if step == "slow":
                await asyncio.sleep(1.5)
                return Response(status_code=204)
            return Response(status_code=int(step))

        self.app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])


def webhook_actor(url: str) -> Actor:
    return Actor(id=f"whm-{uuid.uuid4().hex[:10]}", name="ERP", kind="bailleur",
                 filters=ActorFilters(communes=[ROUEN]),
                 delivery=Delivery(channel="webhook", options={"url": url}))


def retries(actor: Actor) -> float:
    return sample("passerelle_webhook_retries_total", actor=actor.id)


def depth(actor: Actor) -> float | None:
    return REGISTRY.get_sample_value("passerelle_outbox_depth", {"actor": actor.id})


def test_webhook_posts_retries_and_outbox_depth(tmp_path: Path) -> None:
    settings = HubSettings().model_copy(update={"api": ApiSettings(
        webhook_secret=SecretStr("metrics-master"), webhook_backoff_initial_s=0.01,
        webhook_backoff_max_s=0.02, webhook_timeout_s=0.5)})
    engine = make_engine(f"sqlite:///{tmp_path / 'delivery.db'}")
    migrate(engine)
    outbox = Outbox(engine)
    delivery = WebhookDelivery(settings, outbox, AuditStore(engine))
    script = Script([500, 404, 204, 204, "slow", 204])
    body = b'{"eventId": "e", "numUnique": "n", "operation": "CRE"}'
    dead = webhook_actor(f"http://127.0.0.1:{free_port()}/hook")  # nothing listens there
    outbox.add(dead.id, [(0, "n", body), (1, "n", body)])

    async def rounds(actor: Actor, n: int) -> list[tuple[int, float, float | None]]:
        """Run ``n`` delivery rounds; (sent, retries, depth) after each."""
        out = []
        async with httpx.AsyncClient() as client:
            for _ in range(n):
                sent = await delivery.send_due(actor, client)
                out.append((sent, retries(actor), depth(actor)))
                await asyncio.sleep(0.1)  # past the backoff
        return out

    with serve(script.app) as base:
        actor = webhook_actor(f"{base}/hook")
        outbox.add(actor.id, [(o, "n", body) for o in range(3)])
        before = calls("webhook", "post")
        assert depth(actor) is None
        seen = asyncio.run(rounds(actor, 4))
        posts = delta(before, calls("webhook", "post"))
        before_dead = calls("webhook", "post")
        seen_dead = asyncio.run(rounds(dead, 2))

    # round 1: 500 | round 2: retry, 404 | round 3: retry, 204, 204, too slow | round 4: retry
    assert script.offsets == [0, 0, 0, 1, 2, 2]
    assert seen == [(0, 0, 3), (0, 1, 3), (2, 2, 1), (1, 3, 0)]
    assert posts == {"ok": 3, "business_error": 1, "transport_error": 1, "timeout": 1,
                     "duration": 6}
    # refused connections: the head is retried, the depth stays at the two records waiting
    assert seen_dead == [(0, 0, 2), (0, 1, 2)]
    assert delta(before_dead, calls("webhook", "post")) == {
        "transport_error": 2, "duration": 2}
    assert outbox.undelivered(actor.id) == 0 and outbox.undelivered(dead.id) == 2


class WrongVersion:
    """ASGI wrapper rewriting the business document's version in the SNE's answers (MTOM
    attachments are raw bytes; same length, so Content-Length holds)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def rewrite(message: Any) -> None:
            if message["type"] == "http.response.body":
                body = message.get("body", b"").replace(
                    b'versionInterface="02.0', b'versionInterface="09.9')
                message = {**message, "body": body}
            await send(message)

        await self.app(scope, receive, rewrite)


def test_sne_unusable_document_is_a_transport_error_and_the_raw_call_relays_it(
        tmp_path: Path) -> None:
    with serve(WrongVersion(create_app(f"sqlite:///{tmp_path / 'sim.db'}"))) as base:
        client = SneClient(SneSettings(url=f"{base}/sne", retries=0), mtom=True)
        op = "rechercheDemandeMulticritere"  # a fluxXml request: MTOM both ways
        before = calls(CONNECTOR, op)
        with pytest.raises(InputError) as err:
            client.search(communeSouhaitee=ROUEN)
        assert err.value.code == "VERSION"
        doc = documents.document(
            "RECH", client.cfg.guichet,
            {"operation": {"demandeMulticritere": {"communeSouhaitee": ROUEN}}})
        parts = client.call(op, fluxXml=doc)
        assert b'versionInterface="09.9' in parts["return"]  # the gateway relays it as is
    assert delta(before, calls(CONNECTOR, op)) == {"transport_error": 2, "duration": 2}
