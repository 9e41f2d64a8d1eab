"""A deleted demand's event published again (same ``eventId``) on the real broker (audit D,
F4): the running ``hub worker`` sends no second DEMANDE (its ``SUP`` left a deletion
marker), and the statistics fold (SQLite and PostgreSQL) keeps the demand out of the stock;
a creation with a new ``eventId`` still brings the numéro back, in both."""

from __future__ import annotations

import asyncio
import copy
import time
import uuid
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import Engine

from hub.core.settings import HubSettings
from hub.stores.statistics.store import StatisticsStore
from schemas import get_codec
from tests.integration.conftest import collect_feed
from tests.integration.test_dispatch_kafka import publish, register, uid
from tests.integration.test_statistics_fold_kafka import _fold_until, _publish, _topic
from tests.support.demandes import demande_event, new_num_unique

pytestmark = pytest.mark.kafka

ROUEN = "76540"


def _again(event: dict[str, Any]) -> dict[str, Any]:
    """The same event published again later (same eventId)."""
    return copy.deepcopy(event)


def test_the_worker_drops_a_deleted_demands_event_published_again(  # type: ignore[no-untyped-def]
    settings, worker, actor_service
) -> None:
    aid = uid("deleted")
    register(actor_service, aid, communes=[ROUEN])
    num = new_num_unique()
    cre, sup = demande_event(num, [ROUEN]), demande_event(num, [ROUEN], operation="SUP")
    publish(settings, cre, sup)

    def kinds(rs: list[dict[str, Any]]) -> list[tuple[str, str]]:
        """This demand's records, a redelivery (same eventId and kind: a rebalance of the
        shared test group) dropped, as consumers do."""
        seen: set[tuple[str, str]] = set()
        out = []
        for r in rs:
            if r["numUnique"] == num and (r["eventId"], r["kind"]) not in seen:
                seen.add((r["eventId"], r["kind"]))
                out.append((r["kind"], r["eventId"]))
        return out

    first = collect_feed(settings, aid, worker=worker, until=lambda rs: len(kinds(rs)) >= 2)
    assert kinds(first) == [("DEMANDE", cre["eventId"]), ("RETRAIT", sup["eventId"])]
    time.sleep(1.0)  # the SUP's state stored and its offset committed
    later = demande_event(num, [ROUEN])  # a genuinely new creation: new eventId
    publish(settings, _again(cre), _again(sup), later)
    got = collect_feed(settings, aid, worker=worker,
                       until=lambda rs: ("DEMANDE", later["eventId"]) in kinds(rs))  # fmt: skip
    mine = [r for r in got if r["numUnique"] == num]
    after_withdrawal = mine[[r["kind"] for r in mine].index("RETRAIT") :]
    # no DEMANDE of the deleted creation after its deletion: the copy was dropped
    assert not [r for r in after_withdrawal if r["eventId"] == cre["eventId"]], mine
    assert kinds(got) == [("DEMANDE", cre["eventId"]), ("RETRAIT", sup["eventId"]),
                          ("DEMANDE", later["eventId"])]  # fmt: skip
    assert next(r for r in mine if r["eventId"] == later["eventId"])["demandeVersion"] == 2


def test_the_fold_keeps_a_deleted_demand_out_of_the_stock(
    settings: HubSettings, migrated_db: tuple[str, Engine]
) -> None:
    _url, engine = migrated_db
    codec = get_codec()
    nums = [new_num_unique() for _ in range(12)]
    cres = [demande_event(n, [ROUEN]) for n in nums]
    sup = demande_event(nums[0], [ROUEN], operation="SUP")

    def rec(e: dict[str, Any]) -> tuple[bytes, bytes]:
        return e["numUnique"].encode(), codec.encode("DemandeEvent", e)

    async def scenario() -> None:
        topic = await _topic(settings)
        group = f"test-stats-del-{uuid.uuid4().hex[:8]}"
        store = StatisticsStore(engine)
        await _publish(settings, topic, [rec(e) for e in cres] + [rec(sup)])
        counts = await _fold_until(settings, engine, topic, group, lambda c: c["folded"] >= 13)
        assert counts == Counter(folded=13), counts
        stock = store.stock_actif(["76"])["76"]
        # the deleted demand's creation and deletion published again (a connector's crash)
        await _publish(settings, topic, [rec(_again(cres[0])), rec(_again(sup))])
        counts = await _fold_until(settings, engine, topic, group,
                                   lambda c: c["duplicate"] >= 2)  # fmt: skip
        assert counts == Counter(duplicate=2), counts
        assert store.stock_actif(["76"])["76"] == stock
        assert nums[0] not in {f.num_unique for f in store.faits("commune", ROUEN)}
        # a new creation of the numéro (new eventId) is folded: in the stock again
        await _publish(settings, topic, [rec(demande_event(nums[0], [ROUEN]))])
        counts = await _fold_until(settings, engine, topic, group, lambda c: c["folded"] >= 1)
        assert counts == Counter(folded=1), counts
        assert store.stock_actif(["76"])["76"] == stock + 1
        assert nums[0] in {f.num_unique for f in store.faits("commune", ROUEN)}

    asyncio.run(scenario())
