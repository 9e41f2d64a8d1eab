"""Minimal documents of the conformance corpus (required elements only, walked from the SNE
outline by :mod:`tests.support.outline_docs`) go through the real broker: one demand's CRE,
MOD, REN, RAD and SUP, published as ``hub publish`` does, are dispatched by ``hub worker``
to the actor of its wished commune (issue 17, "Done when").

CRE, MOD and REN carry a ``logementRecherche`` (the hub dispatches by wished commune: see
the xfail test in ``tests/unit/test_outline_corpus.py``); RAD and SUP carry nothing beyond
the outline's required elements.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from connectors.ingress.publishing import prepare_event, publish_events
from hub.domain.actors import Actor, ActorFilters
from tests.integration.conftest import collect_feed
from tests.support.demandes import new_num_unique
from tests.support.outline_docs import find, generate, numbered

pytestmark = pytest.mark.kafka
ROUEN = "76540"


def test_minimal_documents_of_each_operation_are_dispatched(  # type: ignore[no-untyped-def]
        settings, worker, actor_service) -> None:
    aid = f"minimal-{uuid.uuid4().hex[:8]}"
    actor_service.add_or_update(Actor(id=aid, name=aid, kind="bailleur",
                                      filters=ActorFilters(communes=[ROUEN])))
    num = new_num_unique("076")
    docs = []
    for i, op in enumerate(("CRE", "MOD", "REN", "RAD", "SUP")):
        doc = numbered(generate(4242 + i, "minimal", operation=op, live_search=True), num,
                       [ROUEN])
        assert not find(doc.root, "informationDalo") and not find(doc.root, "listeHandicap")
        docs.append(doc)
    events = [prepare_event(d.xml) for d in docs]
    assert [e.event["operation"] for e in events] == ["CRE", "MOD", "REN", "RAD", "SUP"]
    assert asyncio.run(publish_events(settings, events)) == 5

    def mine(records: list[dict[str, Any]]) -> list[tuple[str, str]]:
        """This demand's records, duplicates (same eventId and kind: at-least-once, e.g.
        after a rebalance of the shared test group) dropped."""
        seen: set[tuple[str, str]] = set()
        out = []
        for r in records:
            if r["numUnique"] == num and (r["eventId"], r["kind"]) not in seen:
                seen.add((r["eventId"], r["kind"]))
                out.append((r["kind"], r["operation"]))
        return out

    got = collect_feed(settings, aid, worker=worker, until=lambda rs: len(mine(rs)) >= 5)
    assert mine(got) == [("DEMANDE", "CRE"), ("DEMANDE", "MOD"), ("DEMANDE", "REN"),
                         ("RADIATION", "RAD"), ("RETRAIT", "SUP")]
