"""Audit K, F2: a write made from a copy cut to the writer's profile keeps what that profile
does not see — in the worker's decision, through the processor to every profile's feed,
and at each entrance that takes an actor's write (the REST API's body model, the file
inbox of an actor, the SOAP gateway), which sets the event's ``profile``.

The audit's scenario: a ``consultant_simple`` holder takes the snapshot of its feed (no
sensitive field, no sensitive document, no document ``reference``), changes one field and
sends it back as a ``MOD``; it used to replace the demand's snapshot for everyone."""

from __future__ import annotations

import asyncio
import copy
import uuid
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from dispatch.processor import Processor
from hub.core import topics
from hub.core.db import make_engine, migrate
from hub.core.errors import InputError
from hub.core.settings import DatabaseSettings, HubSettings, SneSettings
from hub.domain.actors import Actor, ActorFilters
from hub.domain.decisions import decide
from hub.domain.matching import TerritoryIndex
from hub.domain.profiles import cut_for_profile
from hub.stores.registry.store import ActorStore
from schemas import get_codec
from tests.support.demandes import demande_event, new_num_unique
from tests.support.memory import MemorySender, MemoryStore
from tests.unit.test_clock import ROUEN, N, _ev_rec

SECRET = "motif-secret-4e1"
PIECES = [
    {"categorie": "IDD", "type": "CID", "dateDepot": "2026-03-01",
     "reference": "urn:ged:idd-1"},
    {"categorie": "MOTIF", "type": "JUGT", "dateDepot": "2026-03-02",
     "reference": "urn:ged:jugement"},
    {"categorie": "RESS", "type": "BSAL", "dateDepot": "2026-03-03",
     "reference": "urn:ged:bulletin"},
    {"categorie": "INT", "type": "NOTE", "dateDepot": "2026-03-04",
     "reference": "urn:ged:note-entretien"},
]  # fmt: skip


def _full(num: str) -> dict[str, Any]:
    """A CRE whose snapshot has every sensitive part: fields, documents, references."""
    ev = demande_event(num, [ROUEN], handicap=True)
    dl = ev["demande"]["demandeLogement"]
    dl["principauxMotifDemande"] = {"motifDemande": ["06"], "compAutreMotif": SECRET,
                                    "compDateJugement": "2025-02-03"}  # fmt: skip
    ev["demande"]["piecesJustificatives"] = copy.deepcopy(PIECES)
    return _read(ev)


def _read(ev: dict[str, Any]) -> dict[str, Any]:
    """``ev`` as the worker reads it (every field present)."""
    codec = get_codec()
    read: dict[str, Any] = codec.decode_as(codec.encode("DemandeEvent", ev), "DemandeEvent")
    return read


def _write_back(cre: dict[str, Any], profile: str | None, **extra: Any) -> dict[str, Any]:
    """The holder's MOD: its cut copy, ``precision`` changed."""
    demande = copy.deepcopy(cut_for_profile(cre["demande"], profile or "consultant_simple"))
    demande["demandeLogement"]["precision"] = "changement de téléphone"
    mod = {**demande_event(cre["numUnique"], [ROUEN], operation="MOD"), "demande": demande,
           "profile": profile, **extra}  # fmt: skip
    return _read(mod)


def _expected(cre: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(cre["demande"])
    out["demandeLogement"]["precision"] = "changement de téléphone"
    return out


@pytest.fixture()
def index(geography: Any) -> TerritoryIndex:
    return TerritoryIndex(geography, [
        Actor(id="ddets", name="ddets", kind="etat", profile="consultant_sensible", version=1,
              filters=ActorFilters(communes=[ROUEN])),
        Actor(id="ccas", name="ccas", kind="guichet", profile="consultant_simple", version=1,
              filters=ActorFilters(communes=[ROUEN])),
    ])  # fmt: skip


# -- the decision ----------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["consultant_simple", "consultant_demande"])
def test_a_write_from_a_cut_copy_keeps_what_its_profile_does_not_see(
    index: TerritoryIndex, profile: str
) -> None:
    cre = _full(new_num_unique())
    state = decide(cre, None, index, partition=0, offset=1).state
    mod = _write_back(cre, profile)
    after = decide(mod, state, index, partition=0, offset=2, demande_bytes=b"event's own")
    assert after.state is not None and after.state.demande == _expected(cre)
    assert after.state.demande_bytes is None  # not the event's snapshot: encoded anew


def test_a_write_without_profile_replaces_the_snapshot_as_before(index: TerritoryIndex) -> None:
    """The SNE, a producer, an older record: a whole snapshot."""
    cre = _full(new_num_unique())
    state = decide(cre, None, index, partition=0, offset=1).state
    mod = _write_back(cre, None)
    after = decide(mod, state, index, partition=0, offset=2, demande_bytes=b"raw")
    assert after.state is not None and after.state.demande == mod["demande"]
    assert after.state.demande_bytes == b"raw"


def test_a_sensible_write_is_taken_whole(index: TerritoryIndex) -> None:
    cre = _full(new_num_unique())
    state = decide(cre, None, index, partition=0, offset=1).state
    mod = _read({**demande_event(cre["numUnique"], [ROUEN], operation="MOD"),
                 "profile": "consultant_sensible"})  # fmt: skip
    after = decide(mod, state, index, partition=0, offset=2)
    assert mod["demande"]["piecesJustificatives"] is None  # not carried: the stored one kept
    expected = {**mod["demande"], "piecesJustificatives": cre["demande"]["piecesJustificatives"]}
    assert after.state is not None and after.state.demande == expected


def test_an_unknown_profile_is_refused(index: TerritoryIndex) -> None:
    cre = _full(new_num_unique())
    mod = {**_write_back(cre, "consultant_simple"), "profile": "administrateur"}
    with pytest.raises(InputError) as refused:
        decide(mod, decide(cre, None, index).state, index)
    assert refused.value.code == "invalid_input"


# -- through the processor: what each profile's feed gets ------------------------------


def test_every_profile_s_feed_after_the_audit_s_write(index: TerritoryIndex) -> None:
    codec, sender = get_codec(), MemorySender()
    proc = Processor(index, codec, MemoryStore(N), sender)
    cre = _full(new_num_unique())
    mod = _write_back(cre, "consultant_simple", changedFields=[
        "demandeLogement.precision", "demandeLogement.listeHandicap[0]",
        "demandeLogement.principauxMotifDemande.compAutreMotif"])  # fmt: skip
    asyncio.run(proc.process([_ev_rec(codec, cre)]))
    asyncio.run(proc.process([_ev_rec(codec, mod)]))

    def last(actor: str) -> dict[str, Any]:
        records = [codec.decode_as(v, "FeedRecord")
                   for _, v in sender.sent[topics.feed_topic(actor)]]  # fmt: skip
        assert [r["operation"] for r in records] == ["CRE", "MOD"]
        return records[-1]

    sensible = last("ddets")
    assert sensible["demande"] == _expected(cre)  # every document, reference, field kept
    assert [p["reference"] for p in sensible["demande"]["piecesJustificatives"]] == [
        p["reference"] for p in PIECES]  # fmt: skip
    # what the writer could not see did not change: no flag says it did
    assert sensible["changedFields"] == ["demandeLogement.precision"]
    simple = last("ccas")
    assert simple["demande"] == cut_for_profile(_expected(cre), "consultant_simple")


# -- the entrances -----------------------------------------------------------------------


def test_an_actor_s_inbox_carries_its_profile(tmp_path: Path) -> None:
    from connectors.files.inbox import PUBLISHED, Candidate, examine
    from connectors.files.owner import source_profile
    from tests.support.sne import new_demande_xml

    url = f"sqlite:///{tmp_path / 'hub.db'}"
    settings = HubSettings(home=tmp_path, database=DatabaseSettings(url=SecretStr(url)))
    engine = make_engine(url)
    migrate(engine)
    aid = f"erp-{uuid.uuid4().hex[:6]}"
    ActorStore(engine).save(Actor(id=aid, name=aid, kind="bailleur", profile="consultant_demande",
                                  filters=ActorFilters(communes=[ROUEN])))  # fmt: skip
    assert source_profile(settings, aid) == "consultant_demande"
    assert source_profile(settings, "an-export-of-no-actor") is None
    path = tmp_path / "mod.xml"
    path.write_bytes(new_demande_xml("10691", [ROUEN], operation="MOD",
                                     num_unique=new_num_unique()))  # fmt: skip
    st = path.stat()
    candidate = Candidate(path, st.st_size, st.st_mtime_ns)
    for profile in ("consultant_demande", None):
        outcome = examine(candidate, aid, profile=profile)
        assert outcome is not None and outcome.status == PUBLISHED and outcome.checked
        assert outcome.checked.event["profile"] == profile
        assert get_codec().decode_as(outcome.checked.value, "DemandeEvent")["profile"] == profile


def test_the_soap_gateway_sets_the_caller_s_profile(tmp_path: Path) -> None:
    from connectors.sne.client import SneClient
    from connectors.sne.gateway import Gateway
    from connectors.sne.soap import Request
    from hub.dev.sne_simulator import create_app
    from hub.stores.access.keys import KeyStore
    from tests.support.sne import new_demande_xml, serve

    url = f"sqlite:///{tmp_path / 'hub.db'}"
    engine = make_engine(url)
    migrate(engine)
    aid = f"erp-{uuid.uuid4().hex[:6]}"
    ActorStore(engine).save(Actor(id=aid, name=aid, kind="guichet", profile="consultant_simple",
                                  filters=ActorFilters(communes=[ROUEN])))  # fmt: skip
    key = KeyStore(engine).create(aid).key
    sent: list[bytes] = []

    class Publisher:
        async def publish(self, topic: str, key: bytes, value: bytes) -> None:
            if topic == topics.DEMANDES:
                sent.append(value)

    with serve(create_app(f"sqlite:///{tmp_path / 'sim.db'}")) as sim:
        settings = HubSettings(home=tmp_path, database=DatabaseSettings(url=SecretStr(url)),
                               sne=SneSettings(url=f"{sim}/sne", retries=0))  # fmt: skip
        gateway = Gateway(settings, SneClient(settings.sne), engine)
        gateway.publisher = Publisher()  # type: ignore[assignment]
        g = "K" + uuid.uuid4().hex[:4].upper()
        req = Request("DemandeLogementImplService", "getNumUnique",
                      {"fluxXml": new_demande_xml(g, [ROUEN], nom=f"K{g}")}, mtom=False,
                      http_headers={"authorization": f"Bearer {key}"})  # fmt: skip
        asyncio.run(gateway.handle(req))
    (value,) = sent
    assert get_codec().decode_as(value, "DemandeEvent")["profile"] == "consultant_simple"
