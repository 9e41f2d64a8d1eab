"""The one shape of a connector (issue 18 point 2; docs/connectors.md).

Every inbound and outbound connector — the SNE poller, the SOAP gateway, the file inbox,
the DIS file outbox, the push channels (webhook, SOAP) and the REST ingress — has the same
surface, :class:`Connector`:

* ``name``: its name in logs and in the ``connector`` label of its metrics;
* ``section``: the settings section it reads (``HUB_<SECTION>__…``: ``sne``, ``files``,
  ``api``);
* ``async run(stop)``: serves until the :class:`asyncio.Event` ``stop`` is set, then
  returns having finished or abandoned cleanly what was in progress (nothing is lost: every
  connector is at least once). Transient failures (a broker, a database or a partner
  down) are retried inside ``run`` after a :class:`hub.core.backoff.Backoff` delay; only
  a configuration error ends it early;
* ``stats``: one :class:`ConnectorStats`, the running totals of the connector.

Metrics go through :func:`monitoring.recorder.connector_call` (one call per request or
per file), the audit of deliveries of personal data through :func:`audit_rows` (the rows,
written by the channel in the same transaction as its own progress).

The CLI runs one with :func:`run_until_signal`: SIGTERM and SIGINT set ``stop``.
:class:`ServedApp` is the shape of a connector that is an HTTP application (the SOAP
gateway, the REST ingress): ``run(stop)`` serves it until ``stop``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from hub.core.errors import HubError
from hub.stores.audit.recorder import audit_row
from hub.stores.audit.store import delivery_rows

log = logging.getLogger(__name__)

__all__ = [
    "Connector",
    "ConnectorStats",
    "ServedApp",
    "audit_rows",
    "describe",
    "run_until_signal",
    "wait_or_stop",
]


@dataclass(slots=True)
class ConnectorStats:
    """The running totals of one connector since it started.

    ``counts`` holds what the connector handled, by kind (``published``, ``rejected``,
    ``files``, ``records``, ``delivered``…: each connector documents its kinds);
    ``passes`` counts the rounds done (a scan of the inboxes, a poll of the SNE, a
    refresh of the registry), ``failures`` those that failed and ``failing`` the failures
    in a row (0 once a round succeeds: the attempt number of the back-off)."""

    counts: Counter[str] = field(default_factory=Counter)
    passes: int = 0
    failures: int = 0
    failing: int = 0
    last_success: float | None = None
    last_error: str | None = None

    def succeeded(self, **counts: int) -> None:
        """One round done, adding ``counts``."""
        self.passes += 1
        self.failing = 0
        self.last_success = time.time()
        self.add(**counts)

    def failed(self, exc: BaseException) -> int:
        """One round failed with ``exc``; return the failures in a row before this one
        (the ``attempt`` of :meth:`hub.core.backoff.Backoff.delay`)."""
        self.failures += 1
        self.failing += 1
        self.last_error = describe(exc)
        return self.failing - 1

    def add(self, **counts: int) -> None:
        for kind, n in counts.items():
            if n:
                self.counts[kind] += n

    def __str__(self) -> str:
        done = ", ".join(f"{n} {kind}" for kind, n in sorted(self.counts.items()))
        return f"{self.passes} pass(es), {self.failures} failed" + (f"; {done}" if done else "")


@runtime_checkable
class Connector(Protocol):
    """What every connector exposes (see the module doc)."""

    name: str
    section: str
    stats: ConnectorStats

    async def run(self, stop: asyncio.Event) -> None: ...


def describe(exc: BaseException | None) -> str:
    """A failure in one line without the data it may carry: a :class:`HubError`'s message
    (written never to quote personal data), else the exception's type."""
    return exc.message if isinstance(exc, HubError) else type(exc).__name__


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` or until ``stop`` is set; True when stopped."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=max(0.0, seconds))
    return stop.is_set()


def audit_rows(
    actor_id: str,
    channel: str,
    records: Iterable[dict[str, Any]],
    at: datetime,
    *,
    replayable: bool = False,
) -> list[dict[str, Any]]:
    """The one audit call of the channels: the audit rows (``audit_deliveries``) of the
    feed ``records`` delivered to ``actor_id`` by ``channel`` at ``at``, in order (the
    records without personal data — no ``demande`` — give none). The channel writes them
    with its own progress (the push outbox's settling, before the DIS file), so a delivery
    is never done without its audit. ``replayable``: the rows carry the record's event id,
    so that writing the same delivery again adds none (a DIS file rewritten after a
    crash)."""
    if not replayable:
        return delivery_rows(actor_id, channel, records, at)
    rows = (audit_row(actor_id, r, channel=channel, at=at) for r in records)
    return [row for row in rows if row is not None]


def run_until_signal(connector: Connector) -> None:
    """Run ``connector`` until SIGTERM or SIGINT (Ctrl-C) sets its stop event; its log
    keeps every Kafka connection it could not make (a person's command hides them)."""
    from hub.core.kafka.client import ConnectionNoise

    ConnectionNoise.lift()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await connector.run(stop)

    asyncio.run(main())


class ServedApp:
    """A connector that is an ASGI application (the SOAP gateway, the REST ingress):
    ``run(stop)`` serves it on ``host:port`` until ``stop`` is set, then lets the requests
    in flight end (uvicorn's graceful shutdown). ``stats.passes`` counts the starts."""

    def __init__(
        self, name: str, section: str, app: Any, host: str, port: int, *, log_level: str = "warning"
    ) -> None:
        self.name, self.section = name, section
        self.app, self.host, self.port, self.log_level = app, host, port, log_level
        self.stats = ConnectorStats()

    async def run(self, stop: asyncio.Event) -> None:
        import uvicorn

        config = uvicorn.Config(self.app, host=self.host, port=self.port, log_level=self.log_level)
        server = uvicorn.Server(config)
        # the stop event is the one way out: uvicorn's own handlers would take the signals
        # run_until_signal listens to
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
        serving = asyncio.create_task(server.serve())
        self.stats.succeeded()
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            server.should_exit = True
            stopping.cancel()
            await serving
