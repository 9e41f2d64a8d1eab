"""Audit K F1, the claim the API keeps, end to end (the real broker, the real worker, the
real API): an actor "creates" (``CRE``) the numéro of another territory's live demand. The
API cannot tell, answers 202 and records the submitter as a holder of the numéro
(``Holders.claim``): its ``GET /demandes/{num}/timeline`` (the demand's gestion partagée
events, free texts included) answers 200. The worker refuses the creation
(``demande_existante``) and tells the submitter: a ``RETRAIT`` on its feed, reason
``ecriture_refusee``, no personal data. The API's fold of that feed drops the claim at the
submitter's next call: the timeline answers 403. The holder's feed is untouched (no
``RETRAIT``, no new version) and the holder still reads the timeline.

The request body is written by hand, as the audit's reproduction, not built by the hub's
helpers."""

from __future__ import annotations

import asyncio
import time
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
HOLDER_COMMUNE, SENDER_COMMUNE = "76009", "76021"


def test_the_refused_creator_loses_the_timeline(
    api: TestClient, worker: Any, actor_service: Any, settings: HubSettings
) -> None:
    holder, sender = two_landlords("refused", HOLDER_COMMUNE, SENDER_COMMUNE)
    holder_key = register(actor_service, settings, holder)
    key = register(actor_service, settings, sender)
    num = new_num_unique()
    asyncio.run(publish_events(settings, [prepare_event(demande_event(num, [HOLDER_COMMUNE]))]))
    held = collect_feed(settings, holder.id, worker=worker, timeout=120,
                        until=lambda rs: records_of(rs, num) == [("DEMANDE", "CRE", None)])
    assert records_of(held, num) == [("DEMANDE", "CRE", None)]
    (original,) = [r for r in held if r["numUnique"] == num]
    timeline = f"/demandes/{num}/timeline"
    # (the holder makes no per-demand call yet: the API would know the numéro as its own
    # and refuse the creation itself, the case the worker's refusal is for being a demand
    # none of whose holders ever called the API)
    assert api.get(timeline, headers=key).status_code == 403  # not a holder yet

    body = [{"numUnique": num, "operation": "CRE",
             "demande": {"demandeLogement": {
                 "numUnique": num, "precision": "takeover",
                 "logementRecherche": {"listeLocalisationSouhaite": [
                     {"commune": SENDER_COMMUNE}]}}}}]  # fmt: skip
    answer = api.post("/demandes/evenements", json=body, headers=key)
    assert answer.status_code == 202, answer.text  # the API cannot tell: the worker does
    (event_id,) = answer.json()["eventIds"]
    # the API made the sender a holder: until the worker's answer, it reads the timeline
    # (no record on its feed yet: the worker has not decided, or has and sent nothing)

    (letter,) = letters_of(settings, num, 1, timeout=120)
    assert letter.reason == "demande_existante"
    assert letter.body["payload"] and event_id.encode() in letter.body["payload"]

    # after the worker: the sender's next call folds its feed and loses the claim
    deadline = time.monotonic() + 30
    status = api.get(timeline, headers=key).status_code
    while status != 403 and time.monotonic() < deadline:
        time.sleep(0.5)
        status = api.get(timeline, headers=key).status_code
    assert status == 403  # it answered 200 before the fix, for good

    told = collect_feed(settings, sender.id, until=lambda rs: records_of(rs, num) != [], timeout=10)
    assert records_of(told, num) == [("RETRAIT", "CRE", "ecriture_refusee")]
    (retrait,) = [r for r in told if r["numUnique"] == num]
    assert retrait["demande"] is None and retrait["demandeVersion"] == original["demandeVersion"]
    assert retrait["eventId"] != event_id

    after = collect_feed(settings, holder.id, until=lambda rs: False, timeout=3)
    assert records_of(after, num) == [("DEMANDE", "CRE", None)]  # no RETRAIT, no new version
    (still,) = [r for r in after if r["numUnique"] == num]
    assert still["demande"] == original["demande"]
    assert api.get(timeline, headers=holder_key).status_code == 200  # the holder keeps it
