"""The actor model: who receives what, and how.

An actor is validated in two steps: :class:`Actor` checks shapes (id pattern, known kind and
profile, code formats); :func:`check_territory` checks every code against the geography,
so that an unknown commune is an input error and never a silent miss, and
:func:`check_delivery` the options of a push channel (its URL, its SOAP mapping), so
that ``hub deliver`` is never handed an actor it cannot serve. Both are the registry's
(:class:`hub.stores.registry.service.ActorService`): an :class:`Actor` read back from an
older registry or from ``hub.actors`` is never refused, ``hub deliver`` logs and skips it.
``Actor.to_avro()`` / ``Actor.from_avro()`` convert to the ``ActorRegistration`` record that
travels on ``hub.actors``.

Rights: the profile says what an actor *reads* (docs/profiles.md); :attr:`Actor.enregistreur`
says whether it *writes* demands — registers (CRE/CRS), modifies, renews, radiates or
deletes them, through any route (docs/api.md, "Authorization model"). The SNE's profiles
are consultant (read) profiles: writing is the registering office's (*guichet
enregistreur*). ``None`` is the default of the actor's kind (:data:`ENREGISTREUR_KINDS`),
kept as given so that the registry stores what the operator declared.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from hub.core.errors import InputError
from hub.core.topics import ACTOR_ID_RE
from hub.core.urls import CREDENTIALS, push_url_problem

if TYPE_CHECKING:
    from collections.abc import Iterable

    from hub.core.addresses import Network
    from hub.domain.geo import Geography

ActorKind = Literal["bailleur", "guichet", "commune", "epci", "reservataire", "etat"]
Profile = Literal["consultant_simple", "consultant_demande", "consultant_sensible"]
Channel = Literal["kafka", "webhook", "soap", "file"]
TYPOLOGIES = frozenset({"C", "T1", "T2", "T3", "T4", "T5", "T6P"})
#: channels whose ``delivery.options.url`` is POSTed to by ``hub deliver``
PUSH_CHANNELS = ("webhook", "soap")
#: renderings of the SOAP push (``delivery.options.mapping``; the first is the default)
SOAP_MAPPINGS = ("interfacenuu-dis",)
#: kinds that are registering offices (guichets enregistreurs) unless registered otherwise:
#: landlords and guichets register demands in practice; a commune, an EPCI, the State or
#: a réservataire receiving demands for information does not, unless its registration
#: says ``enregistreur: true`` (a CCAS or a mairie registering demands)
ENREGISTREUR_KINDS = frozenset({"bailleur", "guichet"})

_COMMUNE_RE = re.compile(r"^(?:[0-9]{5}|2[AB][0-9]{3})$")
_SIREN_RE = re.compile(r"^[0-9]{9}$")
_DEP_RE = re.compile(r"^(?:0[1-9]|[1-8][0-9]|9[0-5]|2A|2B|97[1-8]|98[4-9])$")


def _check_codes(values: list[str], pattern: re.Pattern[str], what: str) -> list[str]:
    cleaned = [v.strip().upper() for v in values]
    bad = [v for v in cleaned if not pattern.match(v)]
    if bad:
        raise ValueError(f"malformed {what} code(s): {', '.join(bad[:5])}")
    return sorted(set(cleaned))


class ActorFilters(BaseModel):
    """Territorial filters. An empty territory matches nothing (explicit, never 'all')."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    communes: list[str] = Field(default_factory=list)
    epcis: list[str] = Field(default_factory=list)
    departements: list[str] = Field(default_factory=list)
    typologies: list[str] = Field(default_factory=list)
    premier_choix_seulement: bool = False

    @field_validator("communes")
    @classmethod
    def _communes(cls, v: list[str]) -> list[str]:
        return _check_codes(v, _COMMUNE_RE, "INSEE commune")

    @field_validator("epcis")
    @classmethod
    def _epcis(cls, v: list[str]) -> list[str]:
        return _check_codes(v, _SIREN_RE, "EPCI SIREN")

    @field_validator("departements")
    @classmethod
    def _deps(cls, v: list[str]) -> list[str]:
        return _check_codes([d.zfill(2) for d in v], _DEP_RE, "département")

    @field_validator("typologies")
    @classmethod
    def _typos(cls, v: list[str]) -> list[str]:
        cleaned = sorted({t.strip().upper() for t in v})
        bad = [t for t in cleaned if t not in TYPOLOGIES]
        if bad:
            raise ValueError(
                f"unknown typologie(s): {', '.join(bad)}; expected {sorted(TYPOLOGIES)}"
            )
        return cleaned


class Delivery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    channel: Channel = "kafka"
    #: channel options (URLs, mapping names, ``batch``); never secrets, they travel on
    #: hub.domain.actors. Plain YAML scalars are kept as text: ``batch: true`` is ``"true"``
    options: dict[str, str] = Field(default_factory=dict)

    @field_validator("options", mode="before")
    @classmethod
    def _scalars_as_text(cls, v: Any) -> Any:
        if not isinstance(v, dict):
            return v
        return {
            k: (
                "true"
                if x is True
                else "false"
                if x is False
                else str(x)
                if isinstance(x, int | float)
                else x
            )
            for k, x in v.items()
        }

    def flag(self, name: str) -> bool:
        """Whether option ``name`` is set to a true value (``true``, ``yes``, ``1``, ``on``)."""
        return self.options.get(name, "").strip().lower() in ("true", "yes", "1", "on")


class Actor(BaseModel):
    """A registered actor. ``version`` increases at every change (set by the registry)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str = Field(min_length=1, max_length=200)
    kind: ActorKind
    profile: Profile = "consultant_simple"
    filters: ActorFilters = Field(default_factory=ActorFilters)
    delivery: Delivery = Field(default_factory=Delivery)
    #: writes demands (a registering office); None: the default of its kind (module doc).
    #: A YAML/JSON boolean only: ``"no"`` or ``0`` must not grant or deny a right by accident
    enregistreur: StrictBool | None = None
    version: int = 0
    updated_at_ms: int = 0

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not ACTOR_ID_RE.match(v):
            raise ValueError(
                f"actor id {v!r} must be lowercase letters, digits, '-' or '_' (max 63)"
            )
        return v

    @property
    def writes_demands(self) -> bool:
        """Whether this actor may write demands: its ``enregistreur`` if given, else
        whether its kind is one of :data:`ENREGISTREUR_KINDS`."""
        if self.enregistreur is not None:
            return self.enregistreur
        return self.kind in ENREGISTREUR_KINDS

    def to_avro(self, *, deleted: bool = False) -> dict[str, Any]:
        """The ``ActorRegistration`` record."""
        f = self.filters
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "profile": self.profile,
            "filters": {
                "communes": list(f.communes),
                "epcis": list(f.epcis),
                "departements": list(f.departements),
                "typologies": list(f.typologies),
                "premierChoixSeulement": f.premier_choix_seulement,
            },
            "deliveryChannel": self.delivery.channel,
            "deliveryOptions": dict(self.delivery.options),
            "version": self.version,
            "updatedAt": self.updated_at_ms,
            "deleted": deleted,
            "enregistreur": self.enregistreur,
        }

    @classmethod
    def from_avro(cls, rec: dict[str, Any]) -> Actor:
        """The actor of an ``ActorRegistration`` record; a record of an older version
        (the registry's history keeps them as written) has no ``enregistreur``: the
        default of its kind."""
        f = rec["filters"]
        return cls(
            id=rec["id"],
            name=rec["name"],
            kind=rec["kind"],
            profile=rec["profile"],
            filters=ActorFilters(
                communes=f["communes"],
                epcis=f["epcis"],
                departements=f["departements"],
                typologies=f["typologies"],
                premier_choix_seulement=f["premierChoixSeulement"],
            ),
            delivery=Delivery(channel=rec["deliveryChannel"], options=rec["deliveryOptions"]),
            enregistreur=rec.get("enregistreur"),
            version=rec["version"],
            updated_at_ms=rec["updatedAt"],
        )


def check_territory(actor: Actor, geography: Geography) -> None:
    """Raise :class:`InputError` naming every code of the filters unknown to the geography."""
    f = actor.filters
    unknown = [f"commune {c}" for c in f.communes if not geography.has_commune(c)]
    unknown += [f"EPCI {e}" for e in f.epcis if not geography.epci_exists(e)]
    unknown += [f"département {d}" for d in f.departements if not geography.departement_exists(d)]
    if unknown:
        raise InputError(
            f"actor {actor.id!r}: unknown code(s) in filters: {', '.join(unknown[:10])}",
            code="unknown_territory",
        )


def check_delivery(actor: Actor, deny: Iterable[Network] = ()) -> None:
    """Raise :class:`InputError` naming the unusable delivery option of a push actor: a
    ``url`` that is no absolute https URL with a host, that carries credentials (then
    saying how the channel authenticates instead) or whose host is a denied address
    (link-local, unspecified, or in ``deny``: ``api.push_deny_networks``;
    :mod:`hub.core.urls`), an unknown SOAP ``mapping``."""
    if actor.delivery.channel not in PUSH_CHANNELS:
        return
    options = actor.delivery.options
    problem = push_url_problem(options.get("url"), deny)
    if problem == CREDENTIALS:
        problem += "; give the URL without them: " + (
            "the receiver authenticates the hub by the X-Passerelle-Signature HMAC, keyed "
            f"by `hub actors webhook-key {actor.id}`"
            if actor.delivery.channel == "webhook"
            else "SOAP push sends no secret (docs/api.md: restrict the endpoint to the hub)"
        )
    if problem is not None:
        raise InputError(
            f"actor {actor.id!r}: delivery.options.url {problem}", code="bad_delivery_url"
        )
    mapping = options.get("mapping", SOAP_MAPPINGS[0])
    if actor.delivery.channel == "soap" and mapping not in SOAP_MAPPINGS:
        raise InputError(
            f"actor {actor.id!r}: delivery.options.mapping {mapping[:40]!r} is unknown "
            f"(known: {', '.join(SOAP_MAPPINGS)})",
            code="bad_delivery_option",
        )
