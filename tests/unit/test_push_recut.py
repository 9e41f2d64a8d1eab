"""Independent audit F1 on the push channels (webhook, webhook with batches, SOAP push):
records queued in the outbox while the receiver is down, cut for the profile the actor
had then, are sent, once the receiver is back, cut to the profile the registry holds *at
that time* — never wider than the record's own cut.

Records are drawn from the Avro schemas and what each profile may receive is read from
docs/profiles.md (tests/support/recut_cases.py). The channels run as ``hub deliver`` runs
them (``send_due`` over the real outbox and registry on SQLite); only the receiver is
replaced (an ``httpx.MockTransport``). Checked on the bytes each receiver got: the
snapshot and changed fields exactly as the page cuts them for the narrower of the two
profiles, the score's criteria and total, no marker nor reference the profile may not
have (and, positive control, those it may), the order, the webhook's signature over the
bytes received, and the audit rows (the profile applied)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy import Engine

from connectors.outbound.push import PushChannel
from connectors.outbound.soap import SoapDelivery
from connectors.outbound.webhook import WebhookDelivery, actor_key
from hub.core import xmlsafe
from hub.core.db import make_engine, migrate
from hub.core.settings import ApiSettings, DatabaseSettings, HubSettings
from hub.domain.actors import Actor, ActorFilters, Delivery
from hub.stores.audit.store import AuditStore
from hub.stores.delivery.outbox import Outbox
from hub.stores.registry.store import ActorStore
from tests.support.profile_scores import allowed_criteria
from tests.support.recut_cases import (
    SENSIBLE,
    as_cut,
    feed_records,
    forbidden,
    full_record,
    narrower,
    outbox_body,
    present,
    profiles,
)

SECRET = "recut-test-master"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
PIECES_NS = "urn:passerelle:pieces:1"
DIFFUSION = "{urn:passerelle:soap:1}diffusion"
ACK = (
    f'<env:Envelope xmlns:env="{SOAP12}"><env:Body><ok xmlns="urn:erp"/></env:Body></env:Envelope>'
).encode()
CHANNELS = ("webhook", "webhook-batch", "soap")


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HubSettings, Engine]]:
    """One migrated SQLite database (registry, outbox, audit) for the module."""
    folder = tmp_path_factory.mktemp("push-recut")
    url = f"sqlite:///{folder / 'hub.db'}"
    engine = make_engine(url)
    migrate(engine)
    s = HubSettings(home=folder, database=DatabaseSettings(url=SecretStr(url)))
    s = s.model_copy(
        update={
            "api": ApiSettings(
                webhook_secret=SecretStr(SECRET),
                webhook_backoff_initial_s=0.01,
                webhook_backoff_max_s=0.02,
                webhook_timeout_s=5,
            )
        }
    )
    yield s, engine
    engine.dispose()


class Receiver:
    """The actor's receiver: down (503) until :attr:`up`; keeps what it accepted."""

    def __init__(self, soap: bool) -> None:
        self.soap, self.up = soap, False
        self.got: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        # answers as a network would: a body not read yet (``stream``), whether the
        # channel reads it whole or streams it
        if not self.up:
            return httpx.Response(503, stream=httpx.ByteStream(b"down"))
        self.got.append(request)
        return httpx.Response(200, stream=httpx.ByteStream(ACK if self.soap else b""))


def _actor(channel: str, profile: str) -> Actor:
    kind = "soap" if channel == "soap" else "webhook"
    options = {"url": "http://127.0.0.1:9/hook"}
    if channel == "webhook-batch":
        options["batch"] = "true"
    return Actor(
        id=f"f1-{kind}-{uuid.uuid4().hex[:10]}",
        name="F1",
        kind="bailleur",
        profile=profile,  # type: ignore[arg-type]
        filters=ActorFilters(communes=["76540"]),
        delivery=Delivery(channel=kind, options=options),
    )


def deliver_after_downgrade(
    db: tuple[HubSettings, Engine],
    channel: str,
    written: list[dict[str, Any]],
    at_dispatch: str,
    now: str,
) -> tuple[Actor, Receiver]:
    """The audit's scenario: ``written`` (records cut for ``at_dispatch``) queued for an
    actor whose receiver is down, its profile changed to ``now`` in the registry, the
    receiver back. Returns the actor and what its receiver got."""
    s, engine = db
    actor = _actor(channel, at_dispatch)
    registry = ActorStore(engine)
    registry.save(actor)
    outbox = Outbox(engine)
    outbox.add(actor.id, [(i, r["numUnique"], outbox_body(r)) for i, r in enumerate(written)])
    sender: PushChannel = (SoapDelivery if channel == "soap" else WebhookDelivery)(
        s, outbox, AuditStore(engine)
    )
    receiver = Receiver(channel == "soap")

    async def rounds() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(receiver)) as client:
            assert await sender.send_due(actor, client) == 0  # down: nothing delivered
            registry.save(actor.model_copy(update={"profile": now}))
            receiver.up = True
            for _ in range(50):  # past the (short) backoff
                await asyncio.sleep(0.02)
                await sender.send_due(actor, client)
                if not outbox.undelivered(actor.id):
                    return

    asyncio.run(rounds())
    assert outbox.undelivered(actor.id) == 0
    return actor, receiver


def _received(actor: Actor, channel: str, receiver: Receiver) -> list[tuple[int, bytes, Any]]:
    """(offset, raw bytes, the record as carried) of each record the receiver got, in
    order: a JSON record (webhook), or the SOAP envelope's root element."""
    out: list[tuple[int, bytes, Any]] = []
    key = actor_key(SECRET, actor.id)
    for request in receiver.got:
        raw = request.content
        if channel == "soap":
            root = xmlsafe.parse(raw)
            offset = int(root.find(f"{{{SOAP12}}}Header/{DIFFUSION}").get("offset"))
            out.append((offset, raw, root))
            continue
        signature = "sha256=" + hmac.new(key, raw, hashlib.sha256).hexdigest()
        assert request.headers["x-passerelle-signature"] == signature  # over what was sent
        body = json.loads(raw)
        if channel == "webhook":
            out.append((int(request.headers["x-passerelle-offset"]), raw, body))
        else:
            out += [(r.pop("offset"), json.dumps(r, ensure_ascii=False).encode(), r) for r in body]
    return out


def check_json(record: dict[str, Any], full: dict[str, Any], profile: str) -> None:
    want = as_cut(full, profile)
    assert record["profile"] == profile
    assert record["demande"] == want["demande"]
    assert record["changedFields"] == want["changedFields"]
    if profile == SENSIBLE:  # the whole score, as it was written
        assert record["cotations"] == full["cotations"]
        return
    allowed = allowed_criteria(profile)
    for cot in record["cotations"]:
        assert {c["code"] for c in cot["criteres"]} <= allowed
        if not cot["horsCotation"]:
            assert cot["total"] == sum(c["points"] for c in cot["criteres"])


def check_soap(root: Any, full: dict[str, Any], profile: str) -> None:
    header = root.find(f"{{{SOAP12}}}Header")
    assert header.find(DIFFUSION).get("profil") == profile
    index = header.find(f"{{{PIECES_NS}}}piecesJustificatives")
    want = as_cut(full, profile)["demande"]
    pieces = None if want is None else want.get("piecesJustificatives")
    if not pieces:
        assert index is None or len(index) == 0
        return
    assert index is not None
    got = [
        (p.get("categorie"), p.get("type"), p.get("dateDepot"), p.get("reference")) for p in index
    ]
    assert got == [(p["categorie"], p["type"], p["dateDepot"], p["reference"]) for p in pieces]


def check_channel(
    channel: str,
    fulls: list[dict[str, Any]],
    at_dispatch: str,
    now: str,
    db: tuple[HubSettings, Engine],
) -> None:
    applied = narrower(at_dispatch, now)
    written = [as_cut(r, at_dispatch) for r in fulls]
    actor, receiver = deliver_after_downgrade(db, channel, written, at_dispatch, now)
    got = _received(actor, channel, receiver)
    assert [offset for offset, _, _ in got] == list(range(len(fulls)))  # feed order, once
    for (offset, raw, carried), full in zip(got, fulls, strict=True):
        where = (channel, at_dispatch, now, offset, full["kind"])
        for text in forbidden(full, applied):
            assert text.encode() not in raw, (*where, "forbidden", text)
        for text in present(full, applied):
            assert text.encode() in raw, (*where, "missing", text)
        if channel == "soap":
            check_soap(carried, full, applied)
        else:
            check_json(carried, full, applied)
        if channel == "webhook" and applied == at_dispatch:  # nothing to cut: the same bytes
            assert raw == outbox_body(written[offset]), where
    audited = AuditStore(db[1]).query(actor_id=actor.id)
    assert len(audited) == sum(r["demande"] is not None for r in fulls)
    assert {a.profile for a in audited} <= {applied}  # what was sent, not what was queued


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    fulls=st.lists(feed_records(), min_size=1, max_size=4),
    at_dispatch=st.sampled_from(profiles()),
    now=st.sampled_from(profiles()),
    channel=st.sampled_from(CHANNELS),
)
def test_push_channels_send_what_the_current_profile_may_receive(
    db: tuple[HubSettings, Engine],
    fulls: list[dict[str, Any]],
    at_dispatch: str,
    now: str,
    channel: str,
) -> None:
    check_channel(channel, fulls, at_dispatch, now, db)


@pytest.mark.parametrize("channel", CHANNELS)
def test_downgrade_while_the_receiver_is_down(db: tuple[HubSettings, Engine], channel: str) -> None:
    """The audit's case, every part present: consultant_sensible at dispatch,
    consultant_simple when the receiver is back; and the positive control (no change:
    everything the records held is sent)."""
    full = full_record()
    check_channel(
        channel, [full, full_record("COPIE")], "consultant_sensible", "consultant_simple", db
    )
    check_channel(channel, [full], "consultant_sensible", "consultant_sensible", db)
    check_channel(channel, [full], "consultant_simple", "consultant_sensible", db)  # no widening


def test_an_actor_removed_meanwhile_is_sent_nothing(db: tuple[HubSettings, Engine]) -> None:
    s, engine = db
    actor = _actor("webhook", "consultant_sensible")
    ActorStore(engine).save(actor)
    outbox = Outbox(engine)
    outbox.add(actor.id, [(0, "n", outbox_body(as_cut(full_record(), "consultant_sensible")))])
    ActorStore(engine).remove(actor.id)
    receiver = Receiver(soap=False)
    receiver.up = True

    async def send() -> int:
        async with httpx.AsyncClient(transport=httpx.MockTransport(receiver)) as client:
            return await WebhookDelivery(s, outbox, AuditStore(engine)).send_due(actor, client)

    assert asyncio.run(send()) == 0 and receiver.got == []
    assert outbox.undelivered(actor.id) == 1  # closed by the removed-actor sweep, not here


def test_the_checks_catch_a_leak(
    db: tuple[HubSettings, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checks are not vacuous: a channel sending the record as queued fails them."""
    from connectors.outbound import recut

    monkeypatch.setattr(recut, "recut", lambda record, profile: record)
    with pytest.raises(AssertionError):
        check_channel("webhook", [full_record()], "consultant_sensible", "consultant_simple", db)


def test_profiles_come_from_the_page() -> None:
    assert profiles() == ("consultant_simple", "consultant_demande", "consultant_sensible")
