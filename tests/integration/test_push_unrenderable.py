"""A feed record XML cannot hold never blocks its actor (audit finding 5): records written
to a feed before the hub refused such characters at the door (here produced straight to
``hub.feed.<actor>`` on the real broker, as such a record lies there) holding U+FFFE, a
control character or an out-of-range date.

* SOAP push (real SOAP 1.2 receiver, real outbox on SQLite and PostgreSQL): the record is
  closed unsent with its reason (``last_error``, one error line, an audit row saying
  ``unsent``/``unrenderable``, one count of ``passerelle_records_closed_undelivered_total``),
  and the records after it are delivered in order;
* webhook (real receiver): JSON carries every one of them, as they are;
* DIS files (``hub files outbox``'s ``run_actor``): the file is written, well-formed, the
  record without its document and with ``nonRendu``; its audit row says ``unsent``
  (counted once: a replay of the same file adds no row and no count).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.files import layout
from connectors.outbound.file import run_actor
from connectors.outbound.soap import SoapDelivery
from connectors.outbound.soap_envelope import NS, SOAP12
from connectors.outbound.webhook import WebhookDelivery
from hub.core import topics, xmlsafe
from hub.core.kafka.admin import ensure_topics, feed_spec
from hub.core.kafka.client import new_producer
from hub.core.settings import ApiSettings, FilesSettings, HubSettings
from hub.domain.actors import Actor, ActorFilters, Delivery
from hub.stores.audit.store import AuditStore
from hub.stores.delivery.outbox import Outbox
from hub.stores.delivery.tables import webhook_outbox
from schemas import get_codec
from tests.support.connector_metrics import sample
from tests.support.demandes import demande_event, new_num_unique
from tests.support.sne import serve

pytestmark = pytest.mark.kafka
CLOSED = "passerelle_records_closed_undelivered_total"
NUU = "http://nuu.application.i2/"
ACK = (f'<env:Envelope xmlns:env="{SOAP12}"><env:Body><ok xmlns="urn:erp"/></env:Body>'
       "</env:Envelope>").encode()  # fmt: skip
#: what each record of the feed holds in its applicant association's name, in feed order
NAMES = ["Association A", "Asso\ufffeciation", "Asso\x01ciation", "Association D"]
BAD = {1: "U+FFFE", 2: "U+0001"}


def _records() -> list[dict[str, Any]]:
    now = int(time.time() * 1000)
    out = []
    for name in NAMES:
        num = new_num_unique()
        demande = demande_event(num, ["76540"])["demande"]
        demande["demandeLogement"]["association"] = {"nom": name}
        out.append({
            "kind": "DEMANDE", "eventId": str(uuid.uuid4()), "numUnique": num,
            "operation": "CRE", "demandeVersion": 1, "occurredAt": now, "dispatchedAt": now,
            "profile": "consultant_demande", "reason": None, "changedFields": [],
            "demande": demande, "evenement": None,
        })  # fmt: skip
    return out


async def _produce(settings: HubSettings, actor_id: str, records: list[dict[str, Any]]) -> None:
    await ensure_topics(settings, [feed_spec(actor_id)])
    codec = get_codec()
    producer = new_producer(settings)
    await producer.start()
    try:
        for rec in records:
            await producer.send(topics.feed_topic(actor_id), codec.encode("FeedRecord", rec),
                                key=rec["numUnique"].encode())  # fmt: skip
        await producer.flush()
    finally:
        await producer.stop()


def _actor(channel: str, options: dict[str, str]) -> Actor:
    return Actor(id=f"unr-{channel}-{uuid.uuid4().hex[:8]}", name="ERP", kind="bailleur",
                 profile="consultant_demande", filters=ActorFilters(communes=["76540"]),
                 delivery=Delivery(channel=channel, options=options))  # fmt: skip


def _fast(settings: HubSettings) -> HubSettings:
    return settings.model_copy(update={"api": ApiSettings(
        webhook_secret=SecretStr("unrenderable-test"), webhook_backoff_initial_s=0.2,
        webhook_backoff_max_s=0.5, webhook_timeout_s=5)})  # fmt: skip


def test_soap_push_closes_a_record_xml_cannot_hold_and_delivers_the_next_ones(
        settings: HubSettings, migrated_db: tuple[str, Engine],
        caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    s, engine = _fast(settings), migrated_db[1]
    got: list[dict[str, str]] = []

    async def endpoint(request: Request) -> Response:
        root = xmlsafe.parse(await request.body())
        diffusion = root.find(f"{{{SOAP12}}}Header/{{{NS}}}diffusion")
        assert diffusion is not None
        nom = root.findtext(f".//{{{NUU}}}association/{{{NUU}}}nom") or ""
        got.append({**diffusion.attrib, "nom": nom})
        return Response(ACK, 200, media_type="application/soap+xml")

    records = _records()
    with serve(Starlette(routes=[Route("/erp", endpoint, methods=["POST"])])) as base:
        actor = _actor("soap", {"url": f"{base}/erp"})
        asyncio.run(_produce(s, actor.id, records))
        delivery = SoapDelivery(s, Outbox(engine), AuditStore(engine))
        with caplog.at_level(logging.ERROR, logger="connectors.outbound.push"):
            delivered = asyncio.run(delivery.run_once([actor]))  # `hub deliver --once`
    # every record settled in one round: the two bad ones did not stop the others
    assert delivered == 2 and Outbox(engine).undelivered(actor.id) == 0
    assert [(int(g["offset"]), g["nom"]) for g in got] == [(0, NAMES[0]), (3, NAMES[3])]
    t = webhook_outbox
    with engine.connect() as conn:
        rows = conn.execute(select(t.c.feed_offset, t.c.last_error, t.c.delivered_at)
                            .where(t.c.actor_id == actor.id).order_by(t.c.feed_offset)).all()
    for offset, error, closed in rows:
        assert closed is not None
        if offset in BAD:
            assert error == (f"not sent: demande.demandeLogement.association.nom: character "
                             f"{BAD[offset]} is not allowed (XML 1.0 cannot carry it)")
        else:
            assert error is None
    audited = [(a.num_unique, a.outcome, a.reason) for a in AuditStore(engine).query(
        actor_id=actor.id)]  # fmt: skip
    assert audited == [(records[0]["numUnique"], None, None),
                       (records[1]["numUnique"], "unsent", "unrenderable"),
                       (records[2]["numUnique"], "unsent", "unrenderable"),
                       (records[3]["numUnique"], None, None)]  # fmt: skip
    assert sample(CLOSED, channel="soap", reason="unrenderable", actor=actor.id) == 2
    lines = [r.getMessage() for r in caplog.records if "closed unsent" in r.getMessage()]
    assert len(lines) == 2 and all("\n" not in ln and actor.id in ln for ln in lines), lines
    assert all(name not in " ".join(lines) for name in NAMES)  # no personal data logged


def test_the_webhook_carries_them_all_as_they_are(
        settings: HubSettings, tmp_path: Path) -> None:  # fmt: skip
    from hub.core.db import make_engine, migrate

    s = _fast(settings)
    engine = make_engine(f"sqlite:///{tmp_path / 'wh.db'}")
    migrate(engine)
    bodies: list[bytes] = []

    async def hook(request: Request) -> Response:
        bodies.append(await request.body())
        return Response(status_code=204)

    with serve(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as base:
        actor = _actor("webhook", {"url": f"{base}/hook"})
        asyncio.run(_produce(s, actor.id, _records()))
        delivered = asyncio.run(WebhookDelivery(s, Outbox(engine), AuditStore(engine))
                                .run_once([actor]))  # fmt: skip
    assert delivered == 4
    names = [json.loads(b)["demande"]["demandeLogement"]["association"]["nom"] for b in bodies]
    assert names == NAMES


def test_a_dis_file_holds_the_record_without_its_document_and_the_outbox_goes_on(
        settings: HubSettings, migrated_db: tuple[str, Engine], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    s = settings.model_copy(update={"files": FilesSettings(root=tmp_path / "files")})
    engine = migrated_db[1]
    actor = _actor("file", {})
    records = _records()
    asyncio.run(_produce(s, actor.id, records))
    with caplog.at_level(logging.ERROR, logger="connectors.outbound.file"):
        stats = asyncio.run(run_actor(s, actor, once=True, engine=engine))
    assert stats.counts.get("records") == 4
    [written] = sorted(layout.outbox_dir(s, actor).glob("DIS_*.xml"))
    root = xmlsafe.parse(written.read_bytes())
    found = root.findall("{urn:passerelle:fichiers:1}enregistrement")
    assert [int(e.get("offset") or -1) for e in found] == [0, 1, 2, 3]
    for offset, el in enumerate(found):
        if offset in BAD:
            assert len(el) == 0 and el.get("nonRendu") == (
                "demande.demandeLogement.association.nom: character "
                f"{BAD[offset]} is not allowed (XML 1.0 cannot carry it)")
        else:
            assert el.get("nonRendu") is None
            assert el.findtext(f".//{{{NUU}}}association/{{{NUU}}}nom") == NAMES[offset]
    def audited() -> list[tuple[str, str | None]]:
        return [(a.num_unique, a.outcome) for a in AuditStore(engine).query(actor_id=actor.id)]

    delivered = {records[0]["numUnique"], records[3]["numUnique"]}
    assert {n for n, outcome in audited() if outcome is None} == delivered
    assert sorted(n for n, outcome in audited() if outcome == "unsent") == sorted(
        [records[1]["numUnique"], records[2]["numUnique"]])
    assert sample(CLOSED, channel="file", reason="unrenderable", actor=actor.id) == 2
    lines = [r.getMessage() for r in caplog.records if "without its document" in r.getMessage()]
    assert len(lines) == 2, lines
    # the same rows again (a DIS file rewritten after a crash): no row, no count added
    from connectors.outbound.file import _audit, _unrendered

    decoded = [(i, r) for i, r in enumerate(records)]
    before = audited()
    _audit(engine, actor.id, decoded, _unrendered(decoded))
    assert audited() == before
    assert sample(CLOSED, channel="file", reason="unrenderable", actor=actor.id) == 2
