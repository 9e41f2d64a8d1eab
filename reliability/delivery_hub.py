"""The database side of a delivery fault run: a private PostgreSQL, the deliverer and the
audit recorder, next to a :class:`~reliability.cluster.PrivateHub` (broker + workers).

* PostgreSQL: :class:`hub.dev.stack.postgres.PostgresStack` on a free port under the run's
  home (never the shared development server); it holds the registry, the webhook outbox
  and the audit trail, as in production. :meth:`DeliveryHub.pg_down` / :meth:`pg_up`
  stop it (fast shutdown: open sessions are cut) and start it again.
* Processes: ``hub deliver`` (webhook outbox) and ``hub audit record`` (audit of the
  Kafka feeds, its own consumer group, only this run's feeds) as subprocesses whose
  environment points at the private broker and database. Only their pids are signalled;
  one that exits on its own is restarted, as a supervisor would, and counted: it must
  not happen (they must ride a database outage).
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from hub.core.db import make_engine, migrate
from hub.dev.stack.postgres import PostgresStack
from hub.domain.actors import Actor
from hub.stores.audit.tables import audit_deliveries
from hub.stores.delivery.outbox import Outbox
from reliability.cluster import REPO, PrivateHub, Worker, free_port

#: webhook backoff of the run: the first retry after 0.5 s, then doubling up to this cap
#: (production default 300 s); it bounds the recovery time after a receiver comes back
BACKOFF_MAX_S = 10.0


class Service(Worker):
    """A ``hub <args>`` subprocess with its own log (a :class:`Worker` by another name)."""

    def __init__(self, env: dict[str, str], log: Path, args: list[str]) -> None:
        super().__init__(env, log)
        self.args = args

    def start(self) -> None:
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", "from hub.cli import main; main()", *self.args],
                env=self.env, stdout=fh, stderr=subprocess.STDOUT, cwd=REPO)  # fmt: skip


class DeliveryHub:
    """See the module doc. ``prefix`` is the run's actor-id prefix (its feeds only)."""

    def __init__(self, hub: PrivateHub, name: str, prefix: str, secret: str) -> None:
        self.hub = hub
        self.prefix = prefix
        self.home = hub.home / name
        self.home.mkdir(parents=True, exist_ok=True)
        self.pg = PostgresStack(self.home, port=free_port())
        self.env = {**hub.env, "HUB_API__WEBHOOK_SECRET": secret,
                    "HUB_API__WEBHOOK_BACKOFF_INITIAL_S": "0.5",
                    "HUB_API__WEBHOOK_BACKOFF_MAX_S": str(BACKOFF_MAX_S),
                    "HUB_API__WEBHOOK_TIMEOUT_S": "5"}  # fmt: skip
        self.engine: Engine | None = None
        self.services: dict[str, Service] = {}
        #: exits of the deliverer / recorder that no fault asked for
        self.exits: dict[str, int] = {"deliver": 0, "audit": 0}

    # -- database ----------------------------------------------------------------------
    def up(self) -> None:
        url = self.pg.up(timeout=60)
        self.env["HUB_DATABASE__URL"] = url
        self.engine = make_engine(url)
        migrate(self.engine)

    def pg_down(self) -> None:
        self.pg.down()

    def pg_up(self) -> None:
        self.pg.up(timeout=60)

    def down(self) -> None:
        for svc in self.services.values():
            svc.signal(signal.SIGKILL)
        if self.engine is not None:
            self.engine.dispose()
        self.pg.wipe()

    def _engine(self) -> Engine:
        if self.engine is None:
            raise RuntimeError("DeliveryHub.up() first")
        return self.engine

    def register(self, actors: list[Actor]) -> None:
        """Register through the real registry service (in PostgreSQL) and publisher."""
        from hub.domain.geo import get_geography
        from hub.stores.registry.publisher import KafkaActorPublisher
        from hub.stores.registry.service import ActorService
        from hub.stores.registry.store import ActorStore

        service = ActorService(ActorStore(self._engine()), get_geography(),
                               publisher=KafkaActorPublisher(self.hub.settings))  # fmt: skip
        for actor in actors:
            service.add_or_update(actor)

    # -- processes ---------------------------------------------------------------------
    def start(self) -> None:
        feeds = rf"^hub\.feed\.{re.escape(self.prefix)}-.+$"
        args = {"deliver": ["deliver", "--interval", "0.2"],
                "audit": ["audit", "record", "--group", f"reliability-audit-{uuid.uuid4().hex[:6]}",
                          "--pattern", feeds]}  # fmt: skip
        for name, cmd in args.items():
            svc = Service(self.env, self.home / f"{name}-{len(self.services)}.log", cmd)
            svc.start()
            self.services[name] = svc

    def supervise(self) -> None:
        """Restart a deliverer or recorder that exited on its own, and count it."""
        for name, svc in self.services.items():
            if not svc.alive():
                self.exits[name] += 1
                svc.start()

    def stop(self) -> None:
        for svc in self.services.values():
            svc.signal(signal.SIGTERM, timeout=30)

    def logs(self) -> list[Path]:
        return sorted(self.home.glob("*.log"))

    def retries(self, name: str) -> int:
        """Outage retries the ``name`` service logged (evidence it met the fault)."""
        return sum(line.count("retrying") for log in self.home.glob(f"{name}-*.log")
                   for line in log.read_text(errors="replace").splitlines())  # fmt: skip

    # -- progress and figures ----------------------------------------------------------
    def outbox_settled(self, feed_ends: dict[str, int]) -> bool:
        """Every feed record copied into the outbox and delivered (2xx) — or not yet."""
        outbox = Outbox(self._engine())
        try:
            return all(outbox.next_offset(a) >= end and outbox.undelivered(a) == 0
                       for a, end in feed_ends.items())  # fmt: skip
        except Exception:  # database down during the fault: not settled
            return False

    def audit_missing(self, kafka_feeds: dict[str, list[dict[str, Any]]],
                      received: dict[str, list[dict[str, Any]]]) -> dict[str, int]:  # fmt: skip
        """Deliveries carrying personal data with no audit row: on the Kafka feeds (by
        event id, kind, actor) and by webhook (by actor, demand version, kind)."""
        t = audit_deliveries
        ids = list(kafka_feeds)
        with self._engine().connect() as conn:
            rows = conn.execute(select(t.c.actor_id, t.c.num_unique, t.c.demande_version,
                                       t.c.kind, t.c.event_id, t.c.channel)
                                .where(t.c.actor_id.in_(ids))).all()  # fmt: skip
        kafka_rows = {(r.event_id, r.kind, r.actor_id) for r in rows if r.channel == "kafka"}
        hook_rows = {(r.actor_id, r.num_unique, r.demande_version, r.kind) for r in rows
                     if r.channel == "webhook"}  # fmt: skip
        owed_kafka = {(r["eventId"], r["kind"], a) for a, recs in kafka_feeds.items()
                      for r in recs if r.get("demande") is not None}  # fmt: skip
        owed_hook = {(a, r["numUnique"], int(r["demandeVersion"]), r["kind"])
                     for a, recs in received.items() for r in recs
                     if r.get("demande") is not None}  # fmt: skip
        return {"kafka": len(owed_kafka - kafka_rows), "webhook": len(owed_hook - hook_rows)}
