"""A worker killed in the middle of a re-dispatch, after its records were acknowledged and
before its states were stored, is replayed by the next one from the older states. Its
demand events replay to the same records; a re-dispatch chunk did not (how far it went
depended on the batch's budget and time slice). Seen under load in
tests/faults/test_redispatch_kill9.py: a demand changed (v4) right after the actor
change, delivered to the new actor before the kill; the replayed change's first chunk
went further than the original and reached it before the replay of that change, and
copied the stored v3 after the v4 (the consumer, dropping the v4 sent again as a
duplicate, kept v3).

Here the same sequence in memory (the processor's real code, a memory store and
sender). Per demand, the versions an actor receives, duplicates dropped, must never go
back. They did (COPIE v3 after v4) until every chunk's extent was made a function of
its record alone (dispatch/redispatch.py, "Replay")."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from typing import Any

from dispatch.processor import InputRecord, Processor
from hub.core import topics
from hub.domain.actors import Actor, ActorFilters
from hub.domain.matching import TerritoryIndex
from tests.support.demandes import demande_event, new_num_unique
from tests.support.memory import MemorySender, MemoryStore

#: Seine-Maritime communes, in index key order: the changed demand wishes the last one
COMMUNES = ["76008", "76040", "76217", "76351", "76540", "76575", "76681"]
OLD_MS, NOW_S = 1_000_000, 2_000_000.0  # records written long before the second owner


def _control(codec: Any, offset: int, actor_id: str, filters: ActorFilters) -> InputRecord:
    reg = Actor(id=actor_id, name=actor_id, kind="etat", version=1,
                filters=filters).to_avro(deleted=False)  # fmt: skip
    value = codec.encode("DispatchControl", {"controlId": str(uuid.uuid4()), "issuedAt": 0,
                                             "actor": reg})  # fmt: skip
    return InputRecord(topics.DEMANDES, 0, offset, actor_id.encode(), value,
                       timestamp_ms=OLD_MS)  # fmt: skip


def _event(codec: Any, offset: int, ev: dict[str, Any]) -> InputRecord:
    return InputRecord(topics.DEMANDES, 0, offset, ev["numUnique"].encode(),
                       codec.encode("DemandeEvent", ev), timestamp_ms=OLD_MS)  # fmt: skip


async def _drain(proc: Processor, sender: MemorySender, pending: list[InputRecord],
                 offsets: Any) -> None:  # fmt: skip
    """Process ``pending`` then every DispatchResume the processor writes, one record per
    batch, each stored before the next (the resumes are new: no timestamp)."""
    queue = list(pending)
    while queue:
        seen = len(sender.sent.get(topics.DEMANDES, []))
        await proc.process([queue.pop(0)])
        for key, value in sender.sent.get(topics.DEMANDES, [])[seen:]:
            queue.append(InputRecord(topics.DEMANDES, 0, next(offsets), key, value))


def test_a_replayed_redispatch_never_sends_an_older_version_after_a_newer(
    geography: Any, codec: Any
) -> None:
    store, sender = MemoryStore(1), MemorySender()
    index = TerritoryIndex(geography)
    offsets = itertools.count()
    first = Processor(index, codec, store, sender, redispatch_chunk=2,
                      clock=lambda: OLD_MS / 1000 - 60)  # fmt: skip
    stock = [demande_event(new_num_unique(), [c]) for c in COMMUNES]
    changed = stock[-1]  # under the last commune key: the last chunk reaches it
    # an actor registered first (the partition's index is complete), then the stock
    # and a few versions of the demand that will change (v3 stored)
    setup = [_control(codec, next(offsets), "other", ActorFilters(communes=["27229"]))]
    setup += [_event(codec, next(offsets), ev) for ev in stock]
    for _ in range(2):
        setup.append(_event(codec, next(offsets), demande_event(
            changed["numUnique"], [COMMUNES[-1]], operation="MOD")))  # fmt: skip
    asyncio.run(_drain(first, sender, setup, offsets))

    late = ActorFilters(departements=["76"])
    control = _control(codec, next(offsets), "late", late)
    v4 = _event(codec, next(offsets),
                demande_event(changed["numUnique"], [COMMUNES[-1]], operation="MOD"))  # fmt: skip

    async def killed_after_sending() -> None:
        """The first owner decides the change (a 2-entry chunk) and v4, sends their
        records, and dies before storing their states."""
        await first.submit([control])
        await first.submit([v4])

    asyncio.run(killed_after_sending())
    assert any(r["numUnique"] == changed["numUnique"] for r in _feed(sender, codec))

    # the next owner: same store (the states before the change), no budget limit: left
    # to itself, its first chunk would reach the changed demand before v4's replay
    index2 = TerritoryIndex(
        geography,
        [Actor(id="other", name="other", kind="etat", filters=ActorFilters(communes=["27229"]))],
    )
    second = Processor(index2, codec, store, sender, redispatch_chunk=10_000,
                       clock=lambda: NOW_S)  # fmt: skip
    asyncio.run(_drain(second, sender, [control, v4], offsets))

    versions: dict[str, int] = {}
    seen: set[tuple[str, str]] = set()
    held: set[str] = set()
    for r in _feed(sender, codec):
        if (r["eventId"], r["kind"]) in seen:
            continue  # the consumer rule: a duplicate
        seen.add((r["eventId"], r["kind"]))
        num = r["numUnique"]
        before = versions.get(num, 0)
        assert r["demandeVersion"] >= before, (num, r["kind"], r["demandeVersion"], before)
        versions[num] = r["demandeVersion"]
        held.add(num)
    assert held == {ev["numUnique"] for ev in stock}  # every copy still made, once replayed
    assert versions[changed["numUnique"]] == 4


def _feed(sender: MemorySender, codec: Any) -> list[dict[str, Any]]:
    return [
        codec.decode_as(v, "FeedRecord") for _, v in sender.sent.get(topics.feed_topic("late"), [])
    ]
