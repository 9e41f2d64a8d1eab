"""Whether each worker of the group answers on the web address it joined with.

Why: Kafka keeps a member in the group until its session times out (45 s by default), so
a worker killed with ``kill -9`` is still listed, reading its partitions, for that long;
the operator looking at ``hub status`` then would take a dead worker for a live one. Its
``/health`` address, printed on the same line, tells them apart at once.

Contract: :func:`probe` sets :attr:`~hub.services.status_model.Member.health` of every
member that has a ``worker_url``: ``"ok"`` (HTTP 200), ``"unhealthy <status>"`` (it
answered, not 200: ``/health`` says why), ``"refused"`` (nothing listens there: the
process is gone, or the address is not reachable from here), ``"no answer"`` (no reply
within ``timeout_s``: a worker blocked in a long batch, or a network in between). It never
raises; the probes run concurrently, so the whole costs at most ``timeout_s``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import httpx

from hub.services.status_model import Member


async def probe(members: Sequence[Member], timeout_s: float = 2.0) -> None:
    targets = [m for m in members if m.worker_url]
    if not targets:
        return
    async with httpx.AsyncClient(timeout=timeout_s, trust_env=False) as client:
        verdicts = await asyncio.gather(*(_one(client, m.worker_url or "") for m in targets))
    for member, verdict in zip(targets, verdicts, strict=True):
        member.health = verdict


async def _one(client: httpx.AsyncClient, url: str) -> str:
    try:
        r = await client.get(url.rstrip("/") + "/health")
    except httpx.ConnectError:
        return "refused"
    except httpx.TimeoutException:
        return "no answer"
    except httpx.HTTPError as exc:  # an address that is no URL, a protocol error
        return f"unreadable ({type(exc).__name__})"
    return "ok" if r.status_code == 200 else f"unhealthy {r.status_code}"
