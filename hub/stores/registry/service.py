"""The one place actors change: validate, store, then publish.

Order and guarantees of every change made through :class:`ActorService`:

1. shape validation (the :class:`~hub.domain.actors.Actor` model), territory validation
   (:func:`check_former_communes`, then :func:`~hub.domain.actors.check_territory`) and the
   push options (:func:`~hub.domain.actors.check_delivery`: a webhook or SOAP URL that is
   no absolute https URL with a host or whose host is a denied address — link-local,
   unspecified, or in the service's ``deny_networks``, ``api.push_deny_networks`` —, an
   unknown SOAP mapping): an unknown code or an unusable option is an ``InputError``,
   nothing is saved;
2. the database transaction commits (the registry is the source of truth);
3. only then, and only for actors whose version changed, the publisher is called.

If step 3 fails the registry is ahead of Kafka: the call raises ``TransientError`` saying so.
The registry records the version Kafka last acknowledged for each actor
(``actors.published_version``), so nothing is forgotten: registering the same actor again
(or removing a removed one, or importing the same file) re-sends what Kafka lacks
(``resend``, ``resend_remove``) instead of answering "unchanged", and
:meth:`ActorService.republish_all` (``hub actors publish``) re-sends every actor, removed
ones as deletions. Re-sending is harmless: consumers keep the highest version per actor,
and a worker applies a registration equal to the one it applied at no cost. ``hub actors
list`` names, on stderr, the actors Kafka has not acknowledged.

A filter naming a former commune code (one that left the INSEE list, e.g. merged into a
commune nouvelle) is refused with a message naming today's code to register instead: an
actor's filters are its own declaration, so the hub does not rewrite them silently (the
stored filter would differ from what the actor sent and reads back), and a filter on a code
that no demand resolves to would match nothing. Demands, on the other hand, may still wish
a former code: matching resolves it (``hub.domain.geo.Geography.resolve``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from hub.core.errors import ConfigError, HubError, InputError, TransientError
from hub.domain.actors import Actor, check_delivery, check_territory
from hub.stores.registry.importer import load_actors_yaml
from hub.stores.registry.store import ActorStore, Saved

if TYPE_CHECKING:
    from hub.core.addresses import Network
    from hub.domain.geo import Geography


def check_has_territory(actor: Actor) -> None:
    """Raise :class:`InputError` (code ``no_territory``) for an actor whose filters name no
    commune, EPCI nor département: it would be registered and receive nothing, silently
    (independent audit P, F5: ``hub actors add X --typologie T2`` was accepted)."""
    f = actor.filters
    if not (f.communes or f.epcis or f.departements):
        raise InputError(
            f"actor {actor.id!r}: filters: no territory (communes, epcis or departements): "
            "it would receive no demand",
            code="no_territory",
        )


def check_former_communes(actor: Actor, geography: Geography) -> None:
    """Raise :class:`InputError` (code ``former_commune``) naming every commune code of the
    filters that left the INSEE list and has a successor, with the code to use instead:
    ``actor 'b': filters/communes: '05141' left the INSEE list on 2018-01-01 (today '05039'
    Aubessagne): register '05039'`` (``by <date>`` when only the COG millésime is known)."""
    former = []
    for code in actor.filters.communes:
        steps = geography.successions(code)
        if steps:
            today = geography.resolve(code)
            name = geography.commune(today).name
            first = steps[0]
            when = (
                f" on {first.date}"
                if first.basis == "history" and first.date
                else f" by {first.date}"
                if first.date
                else ""
            )
            former.append(
                f"{code!r} left the INSEE list{when} (today {today!r} {name}): register {today!r}"
            )
    if former:
        raise InputError(
            f"actor {actor.id!r}: filters/communes: {'; '.join(former[:10])}",
            code="former_commune",
        )


class ActorPublisher(Protocol):
    """Makes a stored change known to the dispatch workers (``hub.stores.registry.publisher``)."""

    def publish(self, actor: Actor, *, deleted: bool) -> None: ...


@dataclass(frozen=True)
class ImportReport:
    """What :meth:`ActorService.import_file` did, as lists of actor ids."""

    added: list[str]
    updated: list[str]
    unchanged: list[str]
    #: unchanged, but never acknowledged by Kafka before: sent again
    resent: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = (
            f"{len(self.added)} added, {len(self.updated)} updated, {len(self.unchanged)} unchanged"
        )
        return text + (f", {len(self.resent)} re-sent to Kafka" if self.resent else "")


class ActorService:
    """Registry operations for the CLI and any other front end; see the module docstring."""

    def __init__(
        self,
        store: ActorStore,
        geography: Geography,
        publisher: ActorPublisher | None,
        *,
        deny_networks: Iterable[Network] = (),
    ) -> None:
        #: ``publisher=None`` stores without publishing (tests, offline preparation);
        #: ``deny_networks``: ``api.push_deny_networks`` (push URLs' hosts refused there)
        self.store = store
        self._geography = geography
        self._publisher = publisher
        self._deny = tuple(deny_networks)

    def add_or_update(self, actor: Actor) -> Saved:
        """Validate, store and publish ``actor``; ``Saved.change`` is None if it was unchanged."""
        check_has_territory(actor)
        check_former_communes(actor, self._geography)
        check_territory(actor, self._geography)
        check_delivery(actor, self._deny)
        saved = self.store.save(actor)
        self._publish([saved])
        return saved

    def remove(self, actor_id: str) -> Actor:
        """Soft-delete the actor and publish its removal; NotFoundError if absent (or
        removed already, unless that removal never reached Kafka: it is sent again). The
        workers then withdraw every active demand it holds (``RETRAIT`` on its feed:
        :func:`hub.domain.decisions.reevaluate`)."""
        saved = self.store.remove_or_resend(actor_id)
        self._publish([saved])
        return saved.actor

    def import_file(self, path: str | Path) -> ImportReport:
        """Import a YAML file (see :mod:`hub.stores.registry.importer`) atomically.

        The whole file is validated (shapes and territories) before anything is written, then
        saved in one transaction. Actors absent from the file are left as they are.
        """
        actors = load_actors_yaml(path)
        for actor in actors:
            check_has_territory(actor)
            check_former_communes(actor, self._geography)
            check_territory(actor, self._geography)
            check_delivery(actor, self._deny)
        results = self.store.save_all(actors)
        self._publish(results)
        return ImportReport(
            added=[s.actor.id for s in results if s.change == "add"],
            updated=[s.actor.id for s in results if s.change == "update"],
            unchanged=[s.actor.id for s in results if s.change is None],
            resent=[s.actor.id for s in results if s.change == "resend"],
        )

    def republish_all(self) -> int:
        """Publish every actor, removed ones as deletions; return how many were sent."""
        publisher = self._require_publisher()
        states = self.store.states()
        self._send(publisher, [(s.actor, s.deleted) for s in states],
                   lambda actor, reason: f"publishing actor {actor.id!r} failed ({reason}); "
                                         "run `hub actors publish` again")  # fmt: skip
        return len(states)

    def _require_publisher(self) -> ActorPublisher:
        if self._publisher is None:
            raise ConfigError("no actor publisher configured (Kafka settings missing?)")
        return self._publisher

    def _publish(self, results: Iterable[Saved]) -> None:
        if self._publisher is None:
            return
        # a change None: this version is on Kafka already, nothing to tell the workers
        todo = [(actor, change in ("remove", "resend_remove"))
                for actor, change in results if change is not None]  # fmt: skip
        self._send(self._publisher, todo,
                   lambda actor, reason: "actor registry saved but not yet published: actor "
                   f"{actor.id!r} v{actor.version}: {reason}; run the same command again, or "
                   "`hub actors publish` to re-send all actors")  # fmt: skip

    def _send(self, publisher: ActorPublisher, todo: list[tuple[Actor, bool]],
              failed: Callable[[Actor, str], str]) -> None:  # fmt: skip
        """Publish each (actor, deleted) in order; the first failure raises
        ``TransientError(failed(actor, reason))`` (publisher errors are not all HubErrors:
        any failure leaves the same state, saved in the registry and not yet on Kafka). What
        Kafka acknowledged before it is recorded as published all the same."""
        done: list[Actor] = []
        try:
            for actor, deleted in todo:
                try:
                    publisher.publish(actor, deleted=deleted)
                except Exception as exc:
                    raise TransientError(failed(actor, _reason(exc))) from exc
                done.append(actor)
        finally:
            self.store.mark_published(done)


def _reason(exc: Exception) -> str:
    text = exc.message if isinstance(exc, HubError) else str(exc)
    return (text.strip().splitlines() or [type(exc).__name__])[0]
