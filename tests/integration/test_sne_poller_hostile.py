"""The SNE poller against hostile answers, written by hand in tests/support/sne_faults.py
from the SOAP 1.2 and HTTP specifications (a proxy's HTML page, plain text, a cut
envelope, an empty ``return``, an empty ``Body``, a ``return`` that is not XML, a
``multipart/related`` or gzip body that is not one, a Fault without detail, an HTML 503),
served in place of the simulator's answer to one demand's read, to the searches, or to
the radiation listing; events to the real broker.

No such answer ends the pass, ``run`` or loses a demand: a demand's read → that demand
refused (or unanswered, for the 503) and left unread, read at the next pass once the
answer is sane; a search → its commune given up for the pass (the 503: the SNE down, the
pass fails, retriable); the radiation listing → not listed, the watermark kept."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from connectors.sne.errors import SneUnavailable
from connectors.sne.poll_calls import SneUnusable
from connectors.sne.poller import PollReport
from hub.core.settings import HubSettings
from tests.support.sne import new_demande_xml
from tests.support.sne_faults import HOSTILE, TRANSPORT, hostile
from tests.support.sne_poll_rig import COMMUNE, Rig, rig_of

pytestmark = pytest.mark.kafka
DAY1, DAY2 = date(2026, 11, 23), date(2026, 11, 24)
READ, SEARCH, RADIATIONS = (
    "getDemandeLogement", "rechercheDemandeMulticritere", "getDemandesRadieesDepuisLe")  # fmt: skip


@pytest.fixture()
def rig(settings: HubSettings, tmp_path: Path) -> Iterator[Rig]:
    with rig_of(settings, tmp_path, "H", retries=0, poll_communes=(COMMUNE,),
                poll_since="2025-01-01") as r:  # fmt: skip
        yield r


def ops(report: PollReport) -> dict[str, str]:
    return {str(e["numUnique"]): str(e["operation"]) for e in report.published}


@pytest.mark.parametrize("answer", HOSTILE)
def test_a_hostile_answer_to_one_read_costs_that_demand_only(rig: Rig, answer: str) -> None:
    a, b, c = (rig.register(t) for t in "ABC")
    rig.sne.answers[b] = hostile(answer, READ)
    poller = rig.poller()

    first = poller.poll_once(DAY1)  # empty_body, not_multipart, not_gzip: raised before
    assert ops(first) == {a: "CRE", c: "CRE"}
    if answer in TRANSPORT:
        assert first.unanswered == [b] and first.refused == 0 and len(first.incomplete) == 1
    else:
        assert first.refused == 1 and first.unanswered == [] and first.incomplete == []
    assert set(poller.memory.unread()) == {b}  # not lost: read at the next pass
    assert poller.watermark("radiations") == DAY1.isoformat()

    del rig.sne.answers[b]
    second = poller.poll_once(DAY2)
    assert ops(second) == {b: "CRE"} and second.incomplete == [] and second.refused == 0
    assert poller.memory.unread() == {}


@pytest.mark.parametrize("answer", HOSTILE)
def test_a_hostile_answer_to_the_searches_costs_the_commune_only(rig: Rig, answer: str) -> None:
    a = rig.register("A")
    rig.poller().poll_once(DAY1)
    assert rig.client.register_demande(
        new_demande_xml(rig.g, [COMMUNE, "76540"], operation="MOD", num_unique=a, nom=f"A{rig.g}")
    )[1].ok
    rig.sne.answers[SEARCH] = hostile(answer, SEARCH)
    poller = rig.poller()

    if answer in TRANSPORT:  # an HTTP error without SOAP answer: the SNE down, as before
        with pytest.raises(SneUnavailable):
            poller.poll_once(DAY2)
        return
    report = poller.poll_once(DAY2)  # raised (SneProtocolError, InputError...) before
    assert ops(report) == {a: "MOD"}  # published before: still read
    [line] = report.incomplete
    assert line.startswith(f"commune {COMMUNE}: search ")
    assert poller.watermark("radiations") == DAY2.isoformat()


@pytest.mark.parametrize("answer", HOSTILE)
def test_a_hostile_answer_to_the_radiation_listing_keeps_the_watermark(
    rig: Rig, answer: str
) -> None:
    rig.poller().poll_once(DAY1)
    b = rig.register("B")
    rig.sne.answers[RADIATIONS] = hostile(answer, RADIATIONS)
    poller = rig.poller()

    if answer in TRANSPORT:
        with pytest.raises(SneUnavailable):
            poller.poll_once(DAY2)
        return
    report = poller.poll_once(DAY2)  # raised before
    assert ops(report) == {b: "CRE"}  # the searches answered: the pass went on
    [line] = report.incomplete
    assert line.startswith("radiations since 2026-11-23 not listed")
    assert poller.watermark("radiations") == DAY1.isoformat()  # listed again next time


def test_run_goes_on_when_every_answer_is_hostile(rig: Rig) -> None:
    """An SNE answering garbage to everything is unusable: each pass fails (retriable),
    ``run`` backs off and goes on; once it answers again, the demand is captured."""
    a = rig.register("A")
    for op in (SEARCH, RADIATIONS, READ):
        rig.sne.answers[op] = hostile("empty_body", op)
    poller = rig.poller(interval=0.05)
    with pytest.raises(SneUnusable):
        poller.poll_once(DAY1)

    async def until(done: object) -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(poller.run(stop))
        for _ in range(400):
            if task.done() or done():  # type: ignore[operator]
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 30)  # re-raises what ended run

    asyncio.run(until(lambda: poller.stats.failures >= 2))
    assert poller.stats.failures >= 2 and poller.stats.passes == 0
    rig.sne.answers.clear()
    asyncio.run(until(lambda: poller.stats.passes >= 1))
    assert [e.key.decode() for e in rig.sent] == [a]


def test_the_document_of_another_demand_is_not_published_as_this_one(rig: Rig) -> None:
    """A read answered with another demand's document (a proxy's cache mixing answers):
    trusting it would publish one demand's content under another's numéro."""
    a, b = rig.register("A"), rig.register("B")
    rig.sne.aliases[b] = a
    poller = rig.poller()
    report = poller.poll_once(DAY1)  # published a's content twice, once as b, before
    assert ops(report) == {a: "CRE"} and report.refused == 1
    assert set(poller.memory.unread()) == {b}
    del rig.sne.aliases[b]
    assert ops(poller.poll_once(DAY2)) == {b: "CRE"}
