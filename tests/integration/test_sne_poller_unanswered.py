"""The SNE poller when the SNE does not answer for one demand, and when it is down: against
the simulator over HTTP (behind tests/support/sne_faults.py, which delays a numéro's
``getDemandeLogement`` beyond the client's timeout or stops the server mid-pass), events
to the real broker.

One demand whose read keeps timing out costs that demand only: the pass goes on for the
others, the demand is left unread (remembered across restarts), the pass is incomplete,
and it is read at a later pass; several in a row cost one failed pass at most. An SNE
down — from the start, or going down mid-pass — still fails the pass (retriable), and
``run`` backs off and goes on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from connectors.sne.client import SneClient
from connectors.sne.errors import SneUnavailable
from connectors.sne.poll_reads import SNE_DOWN_AFTER
from connectors.sne.poller import POLLER, PollReport, SnePoller
from hub.core.settings import HubSettings
from monitoring.metrics import REGISTRY
from tests.support.sne import free_port
from tests.support.sne_poll_rig import COMMUNE, Rig, rig_of

pytestmark = pytest.mark.kafka
DAY1, DAY2, DAY3, DAY4 = (date(2026, 11, d) for d in (23, 24, 25, 26))
TIMEOUT = 1.0  # the poller's client's; registrations go through a patient one
SLOW = 2.5  # beyond it


@pytest.fixture()
def rig(settings: HubSettings, tmp_path: Path) -> Iterator[Rig]:
    with rig_of(settings, tmp_path, "U", registrar={"timeout_s": 30.0, "retries": 0},
                retries=1, backoff_s=0.01, timeout_s=TIMEOUT, poll_communes=(COMMUNE,),
                poll_since="2025-01-01") as r:  # fmt: skip
        yield r


def ops(report: PollReport) -> dict[str, str]:
    return {str(e["numUnique"]): str(e["operation"]) for e in report.published}


def skipped(what: str) -> float:
    value = REGISTRY.get_sample_value(
        "passerelle_sne_poller_skipped_total", {"poller": POLLER, "what": what}
    )
    return value or 0.0


def unread_gauge() -> float | None:
    return REGISTRY.get_sample_value("passerelle_sne_poller_unread_demands", {"poller": POLLER})


def reads_of(rig: Rig, num: str) -> int:
    return sum(1 for op, n in rig.sne.calls if op == "getDemandeLogement" and n == num)


def test_a_demand_the_sne_does_not_answer_for_costs_that_demand_only(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    a, b, c = (rig.register(t) for t in "ABC")
    rig.sne.delays[b] = SLOW
    before = skipped("demand_unanswered")
    poller = rig.poller()

    first = poller.poll_once(DAY1)  # raised SneUnavailable before the fix: nothing published
    assert ops(first) == {a: "CRE", c: "CRE"}
    assert first.unanswered == [b]
    assert len(first.incomplete) == 1 and b in first.incomplete[0]
    assert "not read, the SNE not answering" in first.incomplete[0]
    assert poller.watermark("radiations") == DAY1.isoformat()
    assert reads_of(rig, b) == 1 + rig.cfg.retries  # bounded: the client's retries, no more
    assert skipped("demand_unanswered") - before == 1
    assert unread_gauge() == 1
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(b in m and "unread since 2026-11-23 (1 pass(es))" in m for m in logged), logged

    # a restart: the unread demand is remembered, read again (last), still not answered
    restarted = rig.poller()
    assert set(restarted.memory.unread()) == {b}
    d = rig.register("D")
    second = restarted.poll_once(DAY2)
    assert ops(second) == {d: "CRE"} and second.unanswered == [b]
    assert second.unchanged == 2  # a and c read again: the others progress
    assert restarted.memory.unread()[b].passes == 2
    assert restarted.memory.unread()[b].since == DAY1.isoformat()

    # the SNE answers for it again: published, no longer unread, the pass complete
    del rig.sne.delays[b]
    third = restarted.poll_once(DAY3)
    assert ops(third) == {b: "CRE"} and third.incomplete == [] and third.unanswered == []
    assert restarted.memory.unread() == {}
    assert unread_gauge() == 0


def test_run_goes_on_past_a_demand_the_sne_does_not_answer_for(rig: Rig) -> None:
    a, b = rig.register("A"), rig.register("B")
    rig.sne.delays[a] = SLOW
    poller = rig.poller(interval=0.1)

    async def passes(n: int) -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(poller.run(stop))
        for _ in range(600):
            if task.done() or poller.stats.passes >= n:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 30)  # re-raises what ended run

    asyncio.run(passes(2))
    assert poller.stats.passes >= 2 and poller.stats.failures == 0
    assert poller.stats.counts["unanswered"] >= 2 and poller.stats.counts["incomplete"] >= 2
    assert [e.key.decode() for e in rig.sent] == [b]


def test_several_unanswered_demands_in_a_row_cost_one_failed_pass_at_most(rig: Rig) -> None:
    a = rig.register("A")
    slow = [rig.register(f"S{i}") for i in range(SNE_DOWN_AFTER)]
    for num in slow:
        rig.sne.delays[num] = SLOW
    poller = rig.poller()

    # in a row, they look like the SNE going down: the pass fails, they are left unread
    with pytest.raises(SneUnavailable, match="SNE down"):
        poller.poll_once(DAY1)
    assert set(poller.memory.unread()) == set(slow)
    assert poller.watermark("radiations") is None  # the failed pass moved no watermark
    assert [e.key.decode() for e in rig.sent] == [a]  # what came before was done

    # read last now and not counted in a row: the pass goes on for the others
    d = rig.register("D")
    second = poller.poll_once(DAY2)
    assert ops(second) == {d: "CRE"} and second.unanswered == slow and second.unchanged == 1
    assert poller.watermark("radiations") == DAY2.isoformat()

    for num in slow:
        del rig.sne.delays[num]
    third = poller.poll_once(DAY3)
    assert ops(third) == dict.fromkeys(slow, "CRE") and third.incomplete == []


def test_an_sne_down_from_the_start_fails_the_pass_and_run_backs_off(
    rig: Rig, settings: HubSettings
) -> None:
    a = rig.register("A")
    rig.poller().poll_once(DAY1)
    dead = rig.cfg.model_copy(update={"url": f"http://127.0.0.1:{free_port()}/sne"})
    poller = SnePoller(dead, SneClient(dead), rig.engine, rig.publish, interval=0.2)
    with pytest.raises(SneUnavailable):  # connection refused: the search fails the pass
        poller.poll_once(DAY2)
    assert poller.watermark("radiations") == DAY1.isoformat()
    assert poller.memory.unread() == {}  # nobody's fault but the SNE's: nothing unread

    async def a_while() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(poller.run(stop))
        for _ in range(100):
            if task.done() or poller.stats.failures >= 2:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 30)

    asyncio.run(a_while())
    assert poller.stats.failures >= 2 and poller.stats.passes == 0
    assert poller.stats.failing == poller.stats.failures  # failures in a row: backing off
    assert [e.key.decode() for e in rig.sent] == [a]


def test_an_sne_going_down_mid_pass_fails_the_pass(rig: Rig) -> None:
    """Searches and the radiation listing answered, then the server stops at the first
    read (which it may still answer), the next connections refused: the reads fail in a
    row, the SNE is blamed — the pass fails, retriable, and moves no watermark."""
    nums = [rig.register(t) for t in "ABCDE"]
    rig.sne.hooks["getDemandeLogement"] = rig.served.stop
    # that read held until the server is shutting down (uvicorn looks every 0.1 s): its
    # connection is not kept alive for the next ones
    rig.sne.delays["getDemandeLogement"] = 0.5
    poller = rig.poller()
    with pytest.raises(SneUnavailable, match=f"reads of {SNE_DOWN_AFTER} demands in a row"):
        poller.poll_once(DAY1)
    assert poller.watermark("radiations") is None
    unread = list(poller.memory.unread())
    published = [e.key.decode() for e in rig.sent]
    assert len(published) <= 1  # the first read, if the server answered it on its way out
    assert sorted(unread) == nums[len(published) : len(published) + SNE_DOWN_AFTER]
