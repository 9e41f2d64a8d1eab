"""Registering benchmark actors through the real registry path, controls sent together.

:func:`import_actors` writes the actors to a YAML file and imports it with
:meth:`hub.stores.registry.service.ActorService.import_file` (validation of shapes and
territories, one SQLite transaction, versions set by the registry), then publishes what
the service hands its publisher the way :class:`hub.stores.registry.publisher.KafkaActorPublisher`
does for one actor — the registration on ``hub.actors``, then one ``DispatchControl`` per
partition of ``hub.demandes`` — but for the whole import with one producer, so the
workers receive the controls of a bulk import together (back to back in each partition).
Feed topics are created beforehand by the harness (:func:`bench.broker.create_topics`),
outside the measured time.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import yaml

from bench.harness import PARTITIONS, producer
from hub.core import topics
from hub.domain.actors import Actor
from hub.stores.registry.service import ActorService
from schemas import get_codec


class BulkPublisher:
    """An ``ActorPublisher`` that holds the changes until :meth:`flush`."""

    def __init__(self, bootstrap: str, partitions: int = PARTITIONS) -> None:
        self.bootstrap = bootstrap
        self.partitions = partitions
        self.held: list[tuple[Actor, bool]] = []

    def publish(self, actor: Actor, *, deleted: bool) -> None:
        self.held.append((actor, deleted))

    async def flush(self) -> int:
        """Send the held registrations, then their controls; return the controls sent."""
        codec = get_codec()
        held, self.held = self.held, []
        prod = producer(self.bootstrap)
        await prod.start()
        try:
            futs = []
            for actor, deleted in held:
                reg = actor.to_avro(deleted=deleted)
                value = None if deleted else codec.encode("ActorRegistration", reg)
                futs.append(await prod.send(topics.ACTORS, value, key=actor.id.encode()))
            for actor, deleted in held:
                control = codec.encode("DispatchControl", {
                    "controlId": str(uuid.uuid4()), "issuedAt": int(time.time() * 1000),
                    "actor": actor.to_avro(deleted=deleted)})  # fmt: skip
                for p in range(self.partitions):
                    futs.append(
                        await prod.send(
                            topics.DEMANDES, control, key=actor.id.encode(), partition=p
                        )
                    )
            await asyncio.gather(*futs)
        finally:
            await prod.stop()
        return len(held) * self.partitions


class Registry:
    """A SQLite registry under ``home`` whose service publishes through :class:`BulkPublisher`."""

    def __init__(self, home: Path, bootstrap: str) -> None:
        from hub.core.db import make_engine, migrate
        from hub.domain.geo import get_geography
        from hub.stores.registry.store import ActorStore

        home.mkdir(parents=True, exist_ok=True)
        self.home = home
        engine = make_engine(f"sqlite:///{home / 'registry.db'}")
        migrate(engine)
        self.publisher = BulkPublisher(bootstrap)
        self.service = ActorService(ActorStore(engine), get_geography(), self.publisher)
        self._imports = 0

    def stage(self, actors: Sequence[Actor]) -> list[Actor]:
        """Import ``actors`` (a YAML file, one transaction); their changes are held until
        :meth:`publish`. Returns the actors as stored (with their versions)."""
        self._imports += 1
        path = self.home / f"import-{self._imports}.yaml"
        doc = {"actors": [a.model_dump(mode="json", exclude={"version", "updated_at_ms"})
                          for a in actors]}  # fmt: skip
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        report = self.service.import_file(path)
        assert not report.unchanged, f"actors already registered: {report.unchanged[:3]}"
        return [actor for actor, _ in self.publisher.held]

    async def publish(self) -> int:
        return await self.publisher.flush()
