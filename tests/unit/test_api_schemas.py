"""``GET /schemas/{fingerprint}`` (independent audit F6): a consumer holding only an old
copy of ``FeedRecord`` meets a record written with a newer schema, fetches the writer
schema by the record's fingerprint and reads the record with its own old reader schema,
as Avro schema resolution allows; every fingerprint the hub knows is served, each one
fingerprinting back to itself (computed here with fastavro, not by the hub)."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fastavro import parse_schema, schemaless_reader
from fastavro.schema import fingerprint, to_parsing_canonical_form
from pydantic import SecretStr

from dispatch import cotation
from dispatch.cotation import Scoring
from dispatch.ports import InputRecord
from hub.core import topics
from hub.core.db import make_engine, migrate
from hub.core.settings import DatabaseSettings, HubSettings
from hub.domain.actors import Actor, ActorFilters
from hub.stores.access.keys import KeyStore
from hub.stores.registry.store import ActorStore
from tests.support.profile_scores import ROUEN, declared_codes, dispatcher, port, sent
from tests.unit.test_actor_changes import sensitive_event


@pytest.fixture()
def client(tmp_path: Path) -> Any:
    from hub.api.app import create_app

    url = f"sqlite:///{tmp_path / 'hub.db'}"
    engine = make_engine(url)
    migrate(engine)
    ActorStore(engine).save(Actor(id="erp", name="E", kind="bailleur",
                                  filters=ActorFilters(communes=[ROUEN])))  # fmt: skip
    key = KeyStore(engine).create("erp").key
    settings = HubSettings(home=tmp_path, database=DatabaseSettings(url=SecretStr(url)))
    with TestClient(create_app(settings, engine)) as c:
        c.headers["Authorization"] = f"Bearer {key}"
        yield c
    engine.dispose()


def _wire_record(codec: Any, geography: Any) -> bytes:
    """A FeedRecord as the worker writes it to a feed (single-object encoding)."""
    scoring = Scoring(declarations=port({c: True for c in declared_codes()}))
    cotation.install(scoring)
    try:
        proc, sender = dispatcher(codec, geography, scoring)
        ev = sensitive_event("076112500000004321", [ROUEN])
        rec = InputRecord(topics.DEMANDES, 0, 1, ev["numUnique"].encode(),
                          codec.encode("DemandeEvent", ev))  # fmt: skip
        asyncio.run(proc.process([rec]))
    finally:
        cotation.install(None)
    return bytes(sent(sender, "consultant_sensible")[0])


def test_an_old_consumer_reads_a_new_record_through_the_route(
        client: Any, codec: Any, geography: Any) -> None:  # fmt: skip
    data = _wire_record(codec, geography)
    assert data[:2] == b"\xc3\x01"
    fp = data[2:10].hex()
    old = codec.registry.version("FeedRecord", "v1")
    assert old.fingerprint.hex() != fp  # the old consumer does not know this writer
    r = client.get(f"/schemas/{fp}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "fr.passerelle.hub.FeedRecord"
    writer = body["schema"]
    assert fingerprint(to_parsing_canonical_form(writer), "CRC-64-AVRO") == fp
    got = schemaless_reader(io.BytesIO(data[10:]), parse_schema(writer), parse_schema(old.plain))
    assert isinstance(got, dict)
    assert got["numUnique"] == "076112500000004321" and got["kind"] == "DEMANDE"


def test_every_known_fingerprint_is_served_and_nothing_else(client: Any, codec: Any) -> None:
    fps = {ws.fingerprint.hex() for ws in codec.registry._by_fp.values()}
    assert len(fps) > 10
    for fp in fps:
        r = client.get(f"/schemas/{fp}")
        assert r.status_code == 200, (fp, r.text)
        assert fingerprint(to_parsing_canonical_form(r.json()["schema"]), "CRC-64-AVRO") == fp
    assert client.get("/schemas/0000000000000000").status_code == 404
    for bad in ("00", "C3010000000000000", "zzzzzzzzzzzzzzzz", "00000000000000000"):
        assert client.get(f"/schemas/{bad}").status_code in (404, 422), bad
    del client.headers["Authorization"]
    assert client.get(f"/schemas/{next(iter(fps))}").status_code == 401
