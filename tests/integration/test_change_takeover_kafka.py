"""Audit K, F1, the two-step takeover, end to end (the real broker, the real worker, the
API): an actor "creates" (``CRE``) the numéro of another territory's live demand — the
API cannot tell and answers 202, recording the submitter as a holder of the numéro
(``Holders.claim``); the worker refuses the creation (``demande_existante``) — then sends
a ``MOD`` of it, which the API lets through (it now "holds" it). The worker knows the
actor holds nothing of the demand (not a recipient, not its registering actor) and
refuses the change too (``auteur_non_detenteur``): both letters land in ``hub.dlq``, the
holder's feed gets no ``RETRAIT``, its snapshot stays, and the sender's feed gets only a
``RETRAIT`` ``ecriture_refusee`` per refused write (no data).
It used to replace the snapshot, move the demand to the sender's territory and tell every
holder to delete it.

The request bodies are written by hand, as the audit's reproduction, not built by the
hub's helpers."""

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
HOLDER_COMMUNE, SENDER_COMMUNE = "76536", "76497"


def _body(num: str, operation: str, precision: str) -> list[dict[str, Any]]:
    return [{"numUnique": num, "operation": operation,
             "demande": {"demandeLogement": {
                 "numUnique": num, "precision": precision,
                 "logementRecherche": {"listeLocalisationSouhaite": [
                     {"commune": SENDER_COMMUNE}]}}}}]  # fmt: skip


def test_a_create_then_modify_takeover_is_dead_lettered_twice(
    api: TestClient, worker: Any, actor_service: Any, settings: HubSettings
) -> None:
    holder, sender = two_landlords("change", HOLDER_COMMUNE, SENDER_COMMUNE)
    register(actor_service, settings, holder)
    key = register(actor_service, settings, sender)
    num = new_num_unique()
    asyncio.run(publish_events(settings, [prepare_event(demande_event(num, [HOLDER_COMMUNE]))]))
    held = collect_feed(settings, holder.id, worker=worker, timeout=120,
                        until=lambda rs: records_of(rs, num) == [("DEMANDE", "CRE", None)])
    assert records_of(held, num) == [("DEMANDE", "CRE", None)]
    (original,) = [r for r in held if r["numUnique"] == num]

    cre = api.post("/demandes/evenements", json=_body(num, "CRE", "takeover"), headers=key)
    assert cre.status_code == 202, cre.text  # the API cannot tell: the worker does
    mod = api.post("/demandes/evenements", json=_body(num, "MOD", "takeover 2"), headers=key)
    # the creation made the sender a "holder" for the API (202) until the API folds the
    # worker's answer to it, a RETRAIT ecriture_refusee: from then on a 403 (a race with
    # the worker; both end the takeover)
    assert mod.status_code in (202, 403), mod.text
    (cre_id,) = cre.json()["eventIds"]
    mod_id = mod.json()["eventIds"][0] if mod.status_code == 202 else None
    refused = {cre_id: "demande_existante"}
    if mod_id is not None:
        refused[mod_id] = "auteur_non_detenteur"

    letters = letters_of(settings, num, len(refused), timeout=120)
    by_event = {
        ev_id: x.reason
        for x in letters
        for ev_id in refused
        if x.body["payload"] and ev_id.encode() in x.body["payload"]
    }
    assert by_event == refused
    assert all("DUPONT" not in x.body["message"] for x in letters)

    after = collect_feed(settings, holder.id, until=lambda rs: False, timeout=3)
    assert records_of(after, num) == [("DEMANDE", "CRE", None)]  # no RETRAIT, no new version
    (still,) = [r for r in after if r["numUnique"] == num]
    assert still["demande"] == original["demande"]  # the snapshot the holder has stays
    # the sender is only told each write was refused (no data): RETRAIT ecriture_refusee
    ops = ["CRE", "MOD"] if mod_id is not None else ["CRE"]
    told = collect_feed(settings, sender.id, timeout=10,
                        until=lambda rs: len(records_of(rs, num)) >= len(ops))  # fmt: skip
    assert records_of(told, num) == [("RETRAIT", op, "ecriture_refusee") for op in ops]
    assert all(r["demande"] is None for r in told if r["numUnique"] == num)
