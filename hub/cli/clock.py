"""``hub clock tick``: move the demand's clock (issue 20, dispatch/deadlines.py).

Writes one ``DispatchTick`` to every partition of hub.demandes. The worker writes its own
ticks with wall time every ``clock.tick_interval_s``; this command is how tests and
operators move the clock: ``--now`` sets the time the renewal notices and délai crossings
are due against (default: now). Ticks are idempotent: a notice is sent once per threshold
whatever the number of ticks.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import click

from hub.core.errors import TransientError
from hub.core.settings import HubSettings, get_settings


async def write_ticks(settings: HubSettings, now_ms: int) -> int:
    """One tick per partition of hub.demandes (acks=all, awaited); the partitions ticked."""
    from dispatch.ticks import tick_value
    from hub.core import topics
    from hub.core.kafka.client import new_producer, start_client
    from schemas import get_codec

    codec = get_codec()
    producer = new_producer(settings)
    # before the try: no broker is a KafkaUnavailableError, not wrapped as below
    await start_client(producer, settings)
    try:
        parts = sorted(await producer.partitions_for(topics.DEMANDES))
        for p in parts:
            await producer.send(topics.DEMANDES, tick_value(codec, p, now_ms), key=b"clock",
                                partition=p)  # fmt: skip
        await producer.flush()
    except Exception as exc:
        raise TransientError(f"clock: cannot write ticks: {type(exc).__name__}: {exc}") from exc
    finally:
        await producer.stop()
    return len(parts)


def parse_now(value: str | None) -> int:
    """Epoch ms of an ISO date or date-time (a naive one is Europe/Paris), or of now."""
    if value is None:
        return int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"not an ISO date or date-time: {value!r}") from None
    if moment.tzinfo is None:
        from zoneinfo import ZoneInfo

        moment = moment.replace(tzinfo=ZoneInfo("Europe/Paris"))
    return int(moment.timestamp() * 1000)


@click.group()
def clock() -> None:
    """The demand's clock: renewal notices and délai anormalement long (docs/lifecycle.md)."""


@clock.command()
@click.option("--now", "now", default=None, metavar="ISO",
              help="The clock's time, e.g. 2026-09-02 or 2026-09-02T08:00+02:00 "
                   "(a naive time is Europe/Paris; default: now).")  # fmt: skip
def tick(now: str | None) -> None:
    """Write a tick to every partition of hub.demandes: what is due at NOW is sent."""
    now_ms = parse_now(now)
    n = asyncio.run(write_ticks(get_settings(), now_ms))
    stamp = dt.datetime.fromtimestamp(now_ms / 1000, dt.UTC).isoformat()
    click.echo(f"ticked {n} partitions of hub.demandes at {stamp}")
