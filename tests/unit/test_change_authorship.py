"""Audit K, F1 (the two-step takeover): an actor posts a CRE of another actor's live demand
— refused by the worker (``demande_existante``), but the API recorded the submitter as a
holder — then a MOD, which the worker applied: the snapshot replaced, the demand moved to
the submitter's territory, every real holder told RETRAIT.

The worker's rule (``hub.domain.authorship``): an event in the name of an actor
(``source`` ``api:<id>``) that changes an existing demand is applied only when that actor
holds it — among its current recipients, or its registering actor (``registeredBy`` in
the state) — else refused, ``auteur_non_detenteur``. The decision, the state's new field
(and a state written before it), the processor (letter, feeds, state, the consecutive
letters stop), and a property over interleavings against an independent ledger."""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from fastavro import schemaless_writer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.core import topics
from hub.core.errors import InputError
from hub.domain.actors import Actor, ActorFilters
from hub.domain.decisions import DEMANDE, RETRAIT, decide, reevaluate
from hub.domain.matching import TerritoryIndex
from hub.domain.state import DemandeState
from schemas.codec import MARKER
from tests.support.demandes import demande_event, new_num_unique
from tests.support.memory import MemorySender, MemoryStore
from tests.unit.test_clock import LE_HAVRE, ROUEN, N, _ev_rec, _processor

#: the reason (hub.domain.authorship.NOT_HOLDER), written out: these tests run on the
#: code before the rule too, where each fails on its own
NOT_HOLDER = "auteur_non_detenteur"
RADIATION = {"dateRadiation": "2026-01-02", "motifRadiation": "RADABA"}
OTHER = "76305"  # a third commune, for the property


def _actor(aid: str, communes: list[str], version: int = 1) -> Actor:
    return Actor(id=aid, name=aid, kind="bailleur", version=version,
                 filters=ActorFilters(communes=communes))  # fmt: skip


@pytest.fixture()
def index(geography: Any) -> TerritoryIndex:
    return TerritoryIndex(geography, [_actor("rouen", [ROUEN]), _actor("havre", [LE_HAVRE])])


def _ev(num: str, commune: str, op: str, source: str, tag: str = "") -> dict[str, Any]:
    ev = demande_event(num, [commune], operation=op,
                       radiation=RADIATION if op == "RAD" else None)  # fmt: skip
    ev["source"] = source
    if ev.get("demande") is not None:  # a snapshot of its own: never identical to another
        ev["demande"]["demandeLogement"]["precision"] = tag or ev["eventId"][:8]
    return ev


def _created(index: TerritoryIndex, num: str, commune: str, source: str) -> DemandeState:
    d = decide(_ev(num, commune, "CRE", source), None, index, partition=0, offset=1)
    assert d.state is not None
    return d.state


# -- the decision ----------------------------------------------------------------------


def test_the_source_names_an_actor_only_for_the_api() -> None:
    from hub.domain.authorship import source_actor

    assert source_actor({"source": "api:rouen"}) == "rouen"
    for other in ("sne", "soap-gateway", "files:erp-habitat76", "cli", "cal", "test", "api:",
                  "sne-simulator", None):  # fmt: skip
        assert source_actor({"source": other}) is None


def test_a_change_by_a_recipient_is_applied(index: TerritoryIndex) -> None:
    num = new_num_unique()
    state = _created(index, num, ROUEN, "sne")  # rouen received it
    assert state.recipients == {"rouen"} and state.registered_by is None
    d = decide(_ev(num, ROUEN, "MOD", "api:rouen"), state, index, partition=0, offset=2)
    assert d.state is not None and d.state.version == 2
    assert [x.kind for x in d.deliveries] == [DEMANDE]


def test_the_registering_actor_changes_its_demand_outside_its_territory(
    index: TerritoryIndex,
) -> None:
    """havre (a registering office) records a demand wishing Rouen only: not a recipient,
    it still changes the demand it registered — and stays its registering actor."""
    num = new_num_unique()
    state = _created(index, num, ROUEN, "api:havre")
    assert state.recipients == {"rouen"} and state.registered_by == "havre"
    for i, op in enumerate(["MOD", "REN", "RAD", "MOD"]):
        d = decide(_ev(num, ROUEN, op, "api:havre"), state, index, partition=0, offset=2 + i)
        assert d.state is not None and d.state.version == state.version + 1
        assert d.state.registered_by == "havre"
        state = d.state
    d = decide(_ev(num, ROUEN, "SUP", "api:havre"), state, index, partition=0, offset=9)
    assert d.delete and d.state is not None and d.state.registered_by is None


@pytest.mark.parametrize("op", ["MOD", "REN", "RAD", "SUP", "REACTIVATION"])
def test_a_change_by_a_stranger_is_refused(index: TerritoryIndex, op: str) -> None:
    """havre holds nothing of rouen's demand: every non-creating operation is refused,
    the reactivation (a RAD with an empty motive, taken as a MOD) too."""
    num = new_num_unique()
    state = _created(index, num, ROUEN, "api:rouen")
    if op == "REACTIVATION":
        ev = _ev(num, LE_HAVRE, "RAD", "api:havre")
        ev["demande"]["demandeLogement"]["radiation"] = {"dateRadiation": "2026-01-02",
                                                         "motifRadiation": ""}  # fmt: skip
        from hub.domain.decisions import as_received

        ev = as_received(ev)
    else:
        ev = _ev(num, LE_HAVRE, op, "api:havre")
    with pytest.raises(InputError) as refused:
        decide(ev, state, index, partition=0, offset=2)
    assert refused.value.code == NOT_HOLDER
    assert "havre" in refused.value.message and "DUPONT" not in refused.value.message


def test_an_actors_own_file_inbox_follows_the_rule(index: TerritoryIndex) -> None:
    """``inbox/<actor id>`` (connectors.files.owner) publishes ``files:<actor id>`` with
    the actor's profile: it names that actor. An inbox of no actor's name (no profile)
    names none."""
    from hub.domain.authorship import source_actor

    assert source_actor({"source": "files:havre", "profile": "consultant_demande"}) == "havre"
    assert source_actor({"source": "files:havre", "profile": None}) is None
    num = new_num_unique()
    state = _created(index, num, ROUEN, "sne")
    ev = {**_ev(num, LE_HAVRE, "MOD", "files:havre"), "profile": "consultant_demande"}
    with pytest.raises(InputError) as refused:
        decide(ev, state, index, partition=0, offset=2)
    assert refused.value.code == NOT_HOLDER
    ev = {**_ev(num, ROUEN, "MOD", "files:rouen"), "profile": "consultant_demande"}
    assert decide(ev, state, index, partition=0, offset=2).state is not None


def test_a_radiated_demand_is_changed_by_its_holders_only(index: TerritoryIndex) -> None:
    num = new_num_unique()
    state = _created(index, num, ROUEN, "sne")
    state = decide(_ev(num, ROUEN, "RAD", "sne"), state, index, partition=0, offset=2).state
    assert state is not None and not state.active
    with pytest.raises(InputError, match="does not hold"):
        decide(_ev(num, LE_HAVRE, "MOD", "api:havre"), state, index, partition=0, offset=3)
    again = decide(_ev(num, ROUEN, "MOD", "api:rouen"), state, index, partition=0, offset=3)
    assert again.state is not None and again.state.active


@pytest.mark.parametrize(
    "source", ["sne", "soap-gateway", "files:erp-habitat76", "cli", "sne-simulator", "test"]
)
def test_events_naming_no_actor_are_unaffected(index: TerritoryIndex, source: str) -> None:
    """The SNE poller, the SOAP gateway (the SNE accepted it first), file inboxes and
    producers change any demand, as before: their source names no actor."""
    num = new_num_unique()
    state = _created(index, num, ROUEN, "api:rouen")
    d = decide(_ev(num, LE_HAVRE, "MOD", source), state, index, partition=0, offset=2)
    assert d.state is not None and d.state.recipients == {"havre"}
    assert d.state.registered_by == "rouen"  # kept across changes
    assert sorted((x.actor_id, x.kind) for x in d.deliveries) == [("havre", DEMANDE),
                                                                 ("rouen", RETRAIT)]  # fmt: skip


def test_a_numero_the_hub_holds_no_demand_of_is_no_existing_demand(
    index: TerritoryIndex,
) -> None:
    """Never seen, or deleted (a deletion marker): an actor's event on it is decided as
    before, and its actor registers the demand it starts."""
    num = new_num_unique()
    d = decide(_ev(num, ROUEN, "MOD", "api:havre"), None, index, partition=0, offset=1)
    assert d.state is not None and d.state.registered_by == "havre"
    gone = decide(_ev(num, ROUEN, "SUP", "sne"), d.state, index, partition=0, offset=2)
    assert gone.state is not None and gone.state.deleted
    again = decide(_ev(num, ROUEN, "CRE", "api:rouen"), gone.state, index, partition=0,
                   offset=3)  # fmt: skip
    assert again.state is not None and again.state.registered_by == "rouen"
    with pytest.raises(InputError, match="does not hold"):  # havre's registration ended
        decide(_ev(num, ROUEN, "MOD", "api:havre"), again.state, index, partition=0, offset=4)


def test_the_two_step_takeover_is_refused_at_each_step(index: TerritoryIndex) -> None:
    """The audit's scenario in the decision: havre's CRE of rouen's demand, then its MOD."""
    num = new_num_unique()
    state = _created(index, num, ROUEN, "sne")
    with pytest.raises(InputError) as cre:
        decide(_ev(num, LE_HAVRE, "CRE", "api:havre"), state, index, partition=0, offset=2)
    assert cre.value.code == "demande_existante"
    with pytest.raises(InputError) as mod:
        decide(_ev(num, LE_HAVRE, "MOD", "api:havre"), state, index, partition=0, offset=3)
    assert mod.value.code == NOT_HOLDER


def test_the_registering_actor_survives_a_redispatch(index: TerritoryIndex) -> None:
    num = new_num_unique()
    state = _created(index, num, ROUEN, "api:havre")
    index.upsert(_actor("havre", [LE_HAVRE, ROUEN], version=2))
    d = reevaluate(state, "havre", index)
    assert d is not None and d.state is not None and d.state.registered_by == "havre"


# -- the state's new field -------------------------------------------------------------


def test_the_registering_actor_round_trips_through_every_encoding(
    codec: Any, index: TerritoryIndex
) -> None:
    """Full encode, and the snapshot-bytes splice (dispatch.snapshotbytes) the worker
    writes states with."""
    from dispatch.snapshotbytes import snapshot_bytes

    num = new_num_unique()
    ev = _ev(num, ROUEN, "CRE", "api:havre")
    raw_event = codec.encode("DemandeEvent", ev)
    sb = snapshot_bytes(codec)
    _, read, span = sb.event_span(raw_event)
    assert span is not None
    state = decide(read, None, index, partition=0, offset=1, demande_bytes=span).state
    assert state is not None and state.demande_bytes is not None
    for data in (sb.encode_state(state), codec.encode("DemandeState", state.to_avro())):
        back = sb.decode_state(data)
        assert back == state and back.registered_by == "havre"
        assert back.demande == state.demande


def test_a_state_written_before_the_field_has_no_registering_actor(
    codec: Any, index: TerritoryIndex
) -> None:
    """A state of DemandeState v6 (before ``registeredBy``) reads with None: only the
    recipients rule applies — its creator, not a recipient, may no longer change it."""
    num = new_num_unique()
    made = _created(index, num, ROUEN, "api:havre")
    ws = codec.registry.version("DemandeState", "v6")
    old = {k: v for k, v in made.to_avro().items() if k != "registeredBy"}
    body = io.BytesIO()
    schemaless_writer(body, ws.parsed, old)
    state = DemandeState.from_avro(codec.decode_as(MARKER + ws.fingerprint + body.getvalue(),
                                                   "DemandeState"))  # fmt: skip
    assert state.registered_by is None and state.recipients == {"rouen"}
    with pytest.raises(InputError) as refused:
        decide(_ev(num, ROUEN, "MOD", "api:havre"), state, index, partition=0, offset=2)
    assert refused.value.code == NOT_HOLDER
    ok = decide(_ev(num, ROUEN, "MOD", "api:rouen"), state, index, partition=0, offset=2)
    assert ok.state is not None and ok.state.registered_by is None  # not made up later


# -- through the processor -------------------------------------------------------------


class Rig:
    def __init__(self, codec: Any, geography: Any, **kw: Any) -> None:
        self.codec, self.store, self.sender = codec, MemoryStore(N), MemorySender()
        self.proc = _processor(codec, geography, self.store, self.sender, **kw)

    def run(self, *events: dict[str, Any]) -> None:
        asyncio.run(self.proc.process([_ev_rec(self.codec, e) for e in events]))

    def feed(self, actor: str, num: str) -> list[tuple[str, str | None]]:
        recs = [self.codec.decode_as(v, "FeedRecord")
                for _, v in self.sender.sent.get(topics.feed_topic(actor), [])]  # fmt: skip
        return [(r["kind"], r["reason"]) for r in recs if r["numUnique"] == num]

    def letters(self) -> list[dict[str, Any]]:
        return [self.codec.decode_as(v, "DeadLetter")
                for _, v in self.sender.sent.get(topics.DLQ, [])]  # fmt: skip

    def state(self, num: str) -> DemandeState:
        raw = self.store.get(num.encode())
        assert raw is not None
        return self.proc._snapshots.decode_state(raw)


def test_a_strangers_change_leaves_the_holders_alone_and_goes_to_the_dlq(
    codec: Any, geography: Any
) -> None:
    rig = Rig(codec, geography)
    num = new_num_unique()
    rig.run(_ev(num, ROUEN, "CRE", "sne"))
    before = rig.state(num)
    takeover = _ev(num, LE_HAVRE, "MOD", "api:havre")
    rig.run(takeover)
    assert rig.feed("rouen", num) == [("DEMANDE", None)]  # no RETRAIT
    # the stranger is told its write was refused (tests/unit/test_refused_writer_withdrawal.py)
    assert rig.feed("havre", num) == [("RETRAIT", "ecriture_refusee")]
    after = rig.state(num)
    assert after == before and after.demande == before.demande
    (letter,) = rig.letters()
    assert letter["reason"] == NOT_HOLDER and letter["key"] == num.encode()
    assert codec.decode(letter["payload"])[1]["eventId"] == takeover["eventId"]  # replayable
    assert rig.proc._consecutive_dead == 0


def test_a_run_of_strangers_changes_does_not_stop_the_worker(codec: Any, geography: Any) -> None:
    rig = Rig(codec, geography, max_consecutive_dead_letters=3)
    nums = [new_num_unique() for _ in range(5)]
    rig.run(*(_ev(n, ROUEN, "CRE", "sne") for n in nums))
    rig.run(*(_ev(n, LE_HAVRE, "MOD", "api:havre") for n in nums))
    assert [x["reason"] for x in rig.letters()] == [NOT_HOLDER] * 5
    late = new_num_unique()
    rig.run(_ev(late, ROUEN, "CRE", "sne"))
    assert rig.feed("rouen", late) == [("DEMANDE", None)]


def test_the_reason_is_a_domain_refusal_exported_at_zero() -> None:
    from dispatch.letters import DOMAIN_REFUSALS
    from monitoring.recorder import DEAD_LETTER_REASONS

    assert NOT_HOLDER in DOMAIN_REFUSALS and NOT_HOLDER in DEAD_LETTER_REASONS


# -- the property: interleavings against an independent ledger -------------------------

ACTORS = ("a", "b", "c")
COMMUNES = (ROUEN, LE_HAVRE, OTHER)
SOURCES = (*(f"api:{a}" for a in ACTORS), "sne", "files:erp")
NUMS = 2


@dataclass
class Ledger:
    """Who may write each numéro, kept apart from the worker's state: each actor's
    communes, and per numéro whether a demand exists (active or radiated), its wished
    commune, who holds it and who registered it."""

    territory: dict[str, set[str]]
    exists: dict[int, str] = field(default_factory=dict)  # numéro -> "active"/"radiated"
    commune: dict[int, str] = field(default_factory=dict)
    holders: dict[int, set[str]] = field(default_factory=dict)
    registrant: dict[int, str | None] = field(default_factory=dict)

    def matching(self, commune: str) -> set[str]:
        return {a for a, cs in self.territory.items() if commune in cs}

    def expect(self, n: int, op: str, source: str, commune: str) -> str | None:
        """The refusal code the event gets, or None (applied); applied: the ledger moves."""
        actor = source[4:] if source.startswith("api:") else None
        if n in self.exists:
            if op in ("CRE", "CRS"):
                return "demande_existante"
            if actor is not None and actor not in self.holders[n] | {self.registrant[n]}:
                return NOT_HOLDER
        if op == "SUP":
            for d in (self.exists, self.commune, self.holders, self.registrant):
                d.pop(n, None)
            return None
        if n not in self.exists:
            self.registrant[n] = actor
            self.holders[n] = set()
        if op == "RAD":
            self.holders[n] = self.holders[n] | self.matching(commune)
            self.exists[n] = "radiated"
        else:
            self.holders[n] = self.matching(commune)
            self.exists[n] = "active"
        self.commune[n] = commune
        return None

    def refilter(self, actor: str, communes: set[str]) -> None:
        self.territory[actor] = communes
        for n, how in self.exists.items():
            if how == "active":  # a radiated demand is never re-dispatched
                if self.commune[n] in communes:
                    self.holders[n].add(actor)
                else:
                    self.holders[n].discard(actor)


_commune_sets = st.sets(st.sampled_from(COMMUNES), max_size=2)
_step = st.one_of(
    st.tuples(
        st.just("event"),
        st.integers(0, NUMS - 1),
        st.sampled_from(["CRE", "CRE", "MOD", "MOD", "REN", "RAD", "SUP"]),
        st.sampled_from(SOURCES),
        st.sampled_from(COMMUNES),
    ),
    st.tuples(st.just("filters"), st.sampled_from(ACTORS), _commune_sets),
)


_UNHEALTHY = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]


@settings(max_examples=150, deadline=None, suppress_health_check=_UNHEALTHY)
@given(start=st.tuples(_commune_sets, _commune_sets, _commune_sets),
       steps=st.lists(_step, min_size=1, max_size=30))  # fmt: skip
def test_only_holders_change_existing_demands(
    geography: Any, start: tuple[set[str], set[str], set[str]], steps: list[Any]
) -> None:
    territory = {a: set(cs) for a, cs in zip(ACTORS, start, strict=True)}
    versions = dict.fromkeys(ACTORS, 1)
    index = TerritoryIndex(geography, [_actor(a, sorted(cs)) for a, cs in territory.items()])
    ledger = Ledger({a: set(cs) for a, cs in territory.items()})
    nums = [new_num_unique() for _ in range(NUMS)]
    states: dict[int, DemandeState | None] = dict.fromkeys(range(NUMS))
    offset = 0
    for i, step in enumerate(steps):
        if step[0] == "filters":
            _, actor, communes = step
            versions[actor] += 1
            assert index.upsert(_actor(actor, sorted(communes), versions[actor]))
            ledger.refilter(actor, set(communes))
            for n, s in states.items():
                if s is not None:
                    d = reevaluate(s, actor, index)
                    if d is not None and d.state is not None:
                        states[n] = d.state
            continue
        _, n, op, source, commune = step
        offset += 1
        ev = _ev(nums[n], commune, op, source, tag=f"step {i}")
        expected = ledger.expect(n, op, source, commune)
        try:
            d = decide(ev, states[n], index, partition=0, offset=offset)
        except InputError as exc:
            assert exc.code == expected, (i, step)
            continue
        assert expected is None, (i, step, expected)
        assert not d.skipped
        states[n] = d.state
    for n, s in states.items():  # the worker's holders are the ledger's
        exists = s is not None and not s.deleted
        assert exists == (n in ledger.exists)
        if exists:
            assert s is not None
            assert set(s.recipients) == ledger.holders[n]
            assert s.registered_by == ledger.registrant[n]
            assert s.active == (ledger.exists[n] == "active")


def test_check_author_is_the_hook_decide_uses(index: TerritoryIndex) -> None:
    """The rule is one function, also usable alone."""
    from hub.domain.authorship import check_author

    num = new_num_unique()
    state = _created(index, num, ROUEN, "sne")
    check_author(_ev(num, ROUEN, "MOD", "api:rouen"), state)
    check_author(_ev(num, ROUEN, "MOD", "sne"), state)
    with pytest.raises(InputError):
        check_author(_ev(num, ROUEN, "MOD", "api:havre"), state)
    check_author(_ev(num, ROUEN, "MOD", "api:havre"), replace(state, registered_by="havre"))
