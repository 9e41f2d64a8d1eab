"""Audit K, F1 end to end (the real broker, the real worker, the API): an actor "creates"
(``CRE``) the numéro of a live demand of another territory that it never received. The
API cannot tell (no holder of the demand ever called it: its ``api_holders`` projection
is empty) and answers 202; the worker, which knows every numéro, refuses the creation:
the letter lands in ``hub.dlq`` with reason ``demande_existante``, the holder's feed gets
no ``RETRAIT`` (it used to be told to delete the demand, the snapshot replaced by the
sender's and the demand moved to its territory) and the sender's feed gets only a
``RETRAIT`` ``ecriture_refusee`` (no data: its write was refused).

The request body is written by hand, as the audit's reproduction
(``repro/hijack_cre.sh``), not built by the hub's helpers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi.testclient import TestClient

from connectors.ingress.publishing import prepare_event, publish_events
from hub.core.settings import HubSettings
from tests.integration.api_actors import records_of, register, two_landlords
from tests.integration.conftest import collect_feed
from tests.integration.test_dlq import letters_of
from tests.support.demandes import demande_event, new_num_unique

pytestmark = pytest.mark.kafka

#: the holder's territory and the sender's (communes no other integration test uses)
HOLDER_COMMUNE, SENDER_COMMUNE = "76305", "76474"


def test_a_creation_of_someone_elses_live_demand_is_dead_lettered(
    api: TestClient, worker: Any, actor_service: Any, settings: HubSettings
) -> None:
    holder, sender = two_landlords("takeover", HOLDER_COMMUNE, SENDER_COMMUNE)
    register(actor_service, settings, holder)
    key = register(actor_service, settings, sender)
    num = new_num_unique()
    asyncio.run(publish_events(settings, [prepare_event(demande_event(num, [HOLDER_COMMUNE]))]))
    held = collect_feed(settings, holder.id, worker=worker, timeout=120,
                        until=lambda rs: records_of(rs, num) == [("DEMANDE", "CRE", None)])
    assert records_of(held, num) == [("DEMANDE", "CRE", None)]

    body = [{"numUnique": num, "operation": "CRE",
             "demande": {"demandeLogement": {
                 "numUnique": num,
                 "logementRecherche": {"listeLocalisationSouhaite": [
                     {"commune": SENDER_COMMUNE}]}}}}]  # fmt: skip
    answer = api.post("/demandes/evenements", json=body, headers=key)
    assert answer.status_code == 202, answer.text  # the API cannot tell: the worker does
    (event_id,) = answer.json()["eventIds"]

    (letter,) = letters_of(settings, num, 1, timeout=120)
    assert letter.reason == "demande_existante"
    assert "DUPONT" not in letter.body["message"]
    assert letter.body["payload"] and event_id.encode() in letter.body["payload"]

    after = collect_feed(settings, holder.id, until=lambda rs: False, timeout=3)
    assert records_of(after, num) == [("DEMANDE", "CRE", None)]  # no RETRAIT: still held
    # the sender is only told its write was refused (no data): a RETRAIT ecriture_refusee
    told = collect_feed(settings, sender.id, until=lambda rs: records_of(rs, num) != [], timeout=10)
    assert records_of(told, num) == [("RETRAIT", "CRE", "ecriture_refusee")]
    assert all(r["demande"] is None for r in told if r["numUnique"] == num)
