"""The dispatch worker (real ``hub worker``, real broker) dead-letters a demand event that
an upstream producer wrote to ``hub.demandes`` past ``hub publish`` and the API, when it
holds what XML 1.0 cannot carry: the letter names the field; no actor gets the demand
(so no SOAP or DIS actor can be blocked by it), while the same demand without that
character is dispatched."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hub.core import topics
from schemas import get_codec
from tests.integration.conftest import collect_feed
from tests.integration.test_dlq import _produce, letters_of
from tests.support.demandes import demande_event, new_num_unique

pytestmark = pytest.mark.kafka
#: a commune no other test uses
HERE = "76217"


@pytest.mark.parametrize("bad", ["\ufffe", "\x01"], ids=["U+FFFE", "U+0001"])
def test_an_event_holding_what_xml_cannot_carry_is_dead_lettered_naming_the_field(
        settings: Any, worker: Any, actor_service: Any, bad: str) -> None:  # fmt: skip
    from hub.domain.actors import Actor, ActorFilters

    actor = Actor(id=f"door-{new_num_unique()[-8:]}", name="Door", kind="bailleur",
                  filters=ActorFilters(communes=[HERE]))  # fmt: skip
    actor_service.add_or_update(actor)
    refused, fine = new_num_unique(), new_num_unique()
    codec = get_codec()
    for num, name in ((refused, f"Asso{bad}ciation"), (fine, "Association")):
        event = demande_event(num, [HERE])
        event["demande"]["demandeLogement"]["association"] = {"nom": name}
        # written as a foreign producer would: Avro-encoded, no check of the hub's
        asyncio.run(_produce(settings, topics.DEMANDES, num.encode(),
                             codec.encode("DemandeEvent", event)))  # fmt: skip
    # a session's first worker restores the shared state changelog first: minutes
    (letter,) = letters_of(settings, refused, 1, timeout=200)
    assert letter.reason == "invalid_character"
    assert letter.body["message"] == (
        f"demande.demandeLogement.association.nom: character U+{ord(bad):04X} is not "
        "allowed (XML 1.0 cannot carry it)")
    feed = collect_feed(settings, actor.id, worker=worker, timeout=60,
                        until=lambda rs: any(r["numUnique"] == fine for r in rs))  # fmt: skip
    assert any(r["numUnique"] == fine for r in feed)
    assert not any(r["numUnique"] == refused for r in feed)
