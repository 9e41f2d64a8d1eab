"""Independent audit F1 on the real broker, a real `hub worker`, `hub deliver`'s
long-running service (shared feed pump, one task per actor) and `hub files outbox --once`,
with the registry, outbox and audit on SQLite and on PostgreSQL.

The audit's scenario: a webhook actor and a SOAP actor, registered
``consultant_sensible``, receive demands carrying every sensitive part (``listeHandicap``,
the motive's free texts, a MOTIF document beside an IDD one, both with a reference) while
their receivers answer 503: the records wait in the outbox, cut for
``consultant_sensible``. A file actor, ``consultant_demande``, gets the same demands on its
feed, its outbox not run yet. The three are lowered to ``consultant_simple``; the receivers
come back; the file outbox runs. Then no record the receivers got and no record of the DIS
file is wider than ``consultant_simple`` — the records queued before the change included,
and the radiation of a demand radiated before it (never copied again) — each record
delivered once, in feed order, the webhook's signature over the bytes received, and every
audit row says ``consultant_simple``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.files import layout
from connectors.outbound.file import run_actor
from connectors.outbound.pump import FeedPump
from connectors.outbound.service import PushService
from connectors.outbound.soap import SoapDelivery
from connectors.outbound.webhook import WebhookDelivery, actor_key
from hub.core import xmlsafe
from hub.core.settings import ApiSettings, FilesSettings, HubSettings
from hub.domain.actors import Actor, ActorFilters, Delivery
from hub.domain.geo import get_geography
from hub.stores.audit.store import AuditStore
from hub.stores.delivery.outbox import Outbox
from hub.stores.registry.publisher import KafkaActorPublisher
from hub.stores.registry.service import ActorService
from hub.stores.registry.store import ActorStore
from tests.integration.conftest import collect_feed
from tests.integration.test_dispatch_kafka import publish
from tests.support.legacy_files import read_dis
from tests.unit.test_actor_changes import sensitive_event

pytestmark = pytest.mark.kafka

#: a commune no other test uses: only this test's demands reach its actors
HERE = "76705"
SECRET = "recut-kafka-master"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
ACK = (
    f'<env:Envelope xmlns:env="{SOAP12}"><env:Body><ok xmlns="urn:erp"/></env:Body></env:Envelope>'
).encode()
DIFFUSION = "{urn:passerelle:soap:1}diffusion"
#: what consultant_simple never receives of :func:`_event`'s demands: the disability's
#: need, the motive's free text and judgment date, the documents' references (all of
#: them), the MOTIF category
LEAKS = (b"besoin-secret-f1", b"motif libre", b"2024-01-02", b"ged.example", b"MOTIF")
SIMPLE = "consultant_simple"
N = 4  # demands; one of them radiated before the change
RADIATED = {"dateRadiation": "2026-01-02", "motifRadiation": "RADABA"}


class Receivers:
    """The webhook and SOAP receivers: 503 until :attr:`up`; keep every request accepted."""

    def __init__(self) -> None:
        self.up = False
        self.got: dict[str, list[tuple[dict[str, str], bytes]]] = {"hook": [], "erp": []}
        self.lock = threading.Lock()

    async def endpoint(self, request: Request) -> Response:
        name = request.url.path.strip("/")
        body = await request.body()
        if not self.up:
            return Response(b"down", 503)
        with self.lock:
            self.got[name].append((dict(request.headers), body))
        if name == "erp":
            return Response(ACK, 200, media_type="application/soap+xml")
        return Response(b"", 204)

    @property
    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/hook", self.endpoint, methods=["POST"]),
                Route("/erp", self.endpoint, methods=["POST"]),
            ]
        )


def _kinds(records: list[dict[str, Any]]) -> list[str]:
    return [r["kind"] for r in records]


def _event(num: str, **kw: Any) -> dict[str, Any]:
    """A demand on :data:`HERE` with every sensitive part (a disability need marked)."""
    ev = sensitive_event(num, [HERE], **kw)
    ev["demande"]["demandeLogement"]["listeHandicap"] = [
        {"handicapMoteur": True, "besoinParticulier": "besoin-secret-f1"}
    ]
    return ev


def _tried(outbox: Outbox, actor: Actor) -> bool:
    head = outbox.head(actor.id)
    return head is not None and head.attempts > 0


def test_push_and_file_channels_send_nothing_wider_than_the_lowered_profile(
    worker: Any, settings: HubSettings, migrated_db: tuple[str, Engine], tmp_path: Path
) -> None:
    _, engine = migrated_db
    s = settings.model_copy(
        update={
            "api": ApiSettings(
                webhook_secret=SecretStr(SECRET),
                webhook_backoff_initial_s=0.2,
                webhook_backoff_max_s=0.5,
                webhook_timeout_s=5,
            ),
            "files": FilesSettings(root=tmp_path / "files"),
        }
    )
    registry = ActorService(ActorStore(engine), get_geography(), publisher=KafkaActorPublisher(s))
    receivers = Receivers()
    tag = uuid.uuid4().hex[:8]
    with _serve(receivers.app) as base:
        actors = {
            "hook": Actor(
                id=f"f1-wh-{tag}",
                name="WH",
                kind="bailleur",
                profile="consultant_sensible",
                filters=ActorFilters(communes=[HERE]),
                delivery=Delivery(channel="webhook", options={"url": f"{base}/hook"}),
            ),
            "erp": Actor(
                id=f"f1-soap-{tag}",
                name="ERP",
                kind="bailleur",
                profile="consultant_sensible",
                filters=ActorFilters(communes=[HERE]),
                delivery=Delivery(channel="soap", options={"url": f"{base}/erp"}),
            ),
            "file": Actor(
                id=f"f1-file-{tag}",
                name="DIS",
                kind="bailleur",
                profile="consultant_demande",
                filters=ActorFilters(communes=[HERE]),
                delivery=Delivery(channel="file"),
            ),
        }
        for actor in actors.values():
            registry.add_or_update(actor)
        nums = [f"0761126{uuid.uuid4().int % 10**11:011d}" for _ in range(N)]  # month 11 of 2026
        try:
            total = _scenario(s, registry, receivers, engine, worker, actors, nums)
        finally:  # radiated: a later run's actors (same commune) get no copy of them
            publish(s, *[_event(n, operation="RAD", radiation=RADIATED) for n in nums[1:]])
    check_received(receivers, actors, total, set(nums))
    dis = read_dis(layout.outbox_dir(s, actors["file"]))
    assert [int(r["offset"]) for r in dis] == list(range(len(total["file"])))
    assert {r["profil"] for r in dis} == {SIMPLE}
    for path in layout.outbox_dir(s, actors["file"]).glob("DIS_*.xml"):
        raw = path.read_bytes()
        assert not any(leak in raw for leak in (*LEAKS, b"listeHandicap", b"reference=")), path
    mine = [r for r in dis if r["numUnique"] in nums]  # the positive side: documents sent
    assert {r["nature"] for r in mine if "document" in r} == {"DEMANDE", "RADIATION", "COPIE"}
    for actor in actors.values():
        audited = AuditStore(engine).query(actor_id=actor.id)
        assert len(audited) == sum(r["demande"] is not None for r in total[actor.id]), actor.id
        assert {a.profile for a in audited} == {SIMPLE}, actor.id


def _scenario(
    s: HubSettings,
    registry: ActorService,
    receivers: Receivers,
    engine: Engine,
    worker: Any,
    actors: dict[str, Actor],
    nums: list[str],
) -> dict[str, list[dict[str, Any]]]:
    """Publish, queue, lower, bring the receivers back, run the file outbox; return each
    actor's whole feed (by actor id and by channel name) once everything was sent."""
    publish(s, *[_event(n) for n in nums])
    publish(s, _event(nums[0], operation="RAD", radiation=RADIATED))
    for actor in actors.values():  # (a commune's earlier demands may be copied in too)
        feed = collect_feed(s, actor.id, worker=worker, until=lambda rs: _has(rs, nums, 0))
        assert _has(feed, nums, 0), _kinds(feed)
        assert {r["profile"] for r in feed} == {actor.profile}
    outbox = Outbox(engine)
    channels = [
        WebhookDelivery(s, outbox, AuditStore(engine)),
        SoapDelivery(s, outbox, AuditStore(engine)),
    ]
    service = PushService(
        s, channels, FeedPump(s, outbox), interval=0.2, list_actors=ActorStore(engine).list
    )
    push = [actors["hook"], actors["erp"]]
    with _running(service):
        _wait(lambda: all(_tried(outbox, a) for a in push), "records queued and tried")
        for a in push:  # what waits was cut for consultant_sensible
            head = outbox.head(a.id)
            assert head is not None and json.loads(head.body)["profile"] == "consultant_sensible"
        for actor in actors.values():  # lowered while the records wait
            registry.add_or_update(actor.model_copy(update={"profile": SIMPLE}))
        receivers.up = True
        total: dict[str, list[dict[str, Any]]] = {}
        while True:  # until every feed is sent whole (copies may still come meanwhile)
            for name, actor in actors.items():
                feed = collect_feed(s, actor.id, worker=worker, until=lambda rs: _has(rs, nums, 1))
                assert _has(feed, nums, 1), _kinds(feed)
                total[name] = total[actor.id] = feed
            _wait(lambda: _delivered(receivers, outbox, actors, total), "deliveries")
            if all(len(total[n]) == len(receivers.got[n]) for n in ("hook", "erp")):
                break
    stats = asyncio.run(run_actor(s, actors["file"], once=True, engine=engine))
    assert stats.counts["records"] == len(total["file"])
    return total


def _delivered(
    receivers: Receivers,
    outbox: Outbox,
    actors: dict[str, Actor],
    total: dict[str, list[dict[str, Any]]],
) -> bool:
    """Whether each push receiver got at least its feed as read (``total``), all settled."""
    return all(
        len(receivers.got[n]) >= len(total[n]) and not outbox.undelivered(actors[n].id)
        for n in ("hook", "erp")
    )


def check_received(
    receivers: Receivers,
    actors: dict[str, Actor],
    total: dict[str, list[dict[str, Any]]],
    mine: set[str],
) -> None:
    """Every record each receiver got: once, in feed order, cut to consultant_simple. The
    broker is shared: the commune may hold other tests' demands, cut by the same rule
    (docs/profiles.md: the list without references, no sensitive category); this test's
    own (``mine``) hold exactly their identity document."""
    key = actor_key(SECRET, actors["hook"].id)
    hooks = receivers.got["hook"]
    assert [int(h["x-passerelle-offset"]) for h, _ in hooks] == list(range(len(total["hook"])))
    for headers, body in hooks:
        signature = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        assert headers["x-passerelle-signature"] == signature  # over the bytes received
        record = json.loads(body)
        assert record["profile"] == SIMPLE, record["kind"]
        assert not any(leak in body for leak in LEAKS), (record["kind"], body[:300])
        if record["demande"] is not None:
            dl = record["demande"]["demandeLogement"]
            assert dl["listeHandicap"] is None
            assert dl["principauxMotifDemande"]["compAutreMotif"] is None
            pieces = record["demande"]["piecesJustificatives"] or []
            assert all(p["reference"] is None for p in pieces), record["numUnique"]
            assert not {p["categorie"] for p in pieces} & {"MOTIF", "HAND", "INT"}
            if record["numUnique"] in mine:
                assert [(p["categorie"], p["reference"]) for p in pieces] == [("IDD", None)]
    envelopes = [xmlsafe.parse(body) for _, body in receivers.got["erp"]]
    diffusions = [e.find(f"{{{SOAP12}}}Header/{DIFFUSION}") for e in envelopes]
    assert [int(d.get("offset")) for d in diffusions] == list(range(len(total["erp"])))
    assert {d.get("profil") for d in diffusions} == {SIMPLE}
    for _, body in receivers.got["erp"]:
        assert not any(leak in body for leak in (*LEAKS, b"listeHandicap")), body[:300]


def _has(records: list[dict[str, Any]], nums: list[str], copies: int) -> bool:
    """Whether ``records`` hold the DEMANDE of each of ``nums``, the radiation of the
    first one, and ``copies`` COPIE of each of the others."""
    kinds = [(r["numUnique"], r["kind"]) for r in records]
    return (
        all((n, "DEMANDE") in kinds for n in nums)
        and (nums[0], "RADIATION") in kinds
        and all(kinds.count((n, "COPIE")) >= copies for n in nums[1:])
    )


def _wait(predicate: Any, what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


class _running:
    """Run a :class:`PushService` (``hub deliver``) in a thread of its own until exit."""

    def __init__(self, service: PushService) -> None:
        self.service = service
        self.loop = asyncio.new_event_loop()
        self.stop = asyncio.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.loop.run_until_complete(self.service.run(self.stop))

    def __enter__(self) -> _running:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(30)
        self.loop.close()


def _serve(app: Any) -> Any:
    from tests.support.sne import serve

    return serve(app)
