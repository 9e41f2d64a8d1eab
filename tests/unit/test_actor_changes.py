"""What an actor change owes (independent audit E: E2, E3), through the processor's real
code in memory: a removal withdraws what the actor holds and a re-registration settles
against that; a profile change copies every demand held again, cut to the new profile;
each such record carries an event id a consumer applying the (eventId, kind) rule does not
drop (docs/reliability.md)."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Iterator
from typing import Any

from dispatch import moves
from dispatch.processor import InputRecord, Processor
from hub.core import topics
from hub.domain.actors import Actor, ActorFilters
from hub.domain.matching import TerritoryIndex
from tests.support.demandes import demande_event, new_num_unique
from tests.support.memory import MemorySender, MemoryStore

DARNETAL, ROUEN = "76212", "76540"
SIMPLE, SENSIBLE = "consultant_simple", "consultant_sensible"
HOLDING = ("DEMANDE", "COPIE", "RADIATION")


def sensitive_event(num: str, communes: list[str], **kw: Any) -> dict[str, Any]:
    """A demand event carrying every sensitive part of docs/profiles.md: ``listeHandicap``,
    the motive's free texts, a document of a sensitive category (MOTIF) beside a public
    one (IDD), both with a reference."""
    ev = demande_event(num, communes, handicap=True, **kw)
    if ev["demande"] is not None:
        ev["demande"]["demandeLogement"]["principauxMotifDemande"] = {
            "compDateJugement": "2024-01-02", "compAutreMotif": "motif libre",
            "motifDemande": ["06"]}  # fmt: skip
        ev["demande"]["piecesJustificatives"] = [
            {"categorie": c, "type": t, "dateDepot": "2026-03-02",
             "reference": f"https://ged.example/pieces/{c}-{num}"}
            for c, t in (("IDD", "CID"), ("MOTIF", "JUGT"))]  # fmt: skip
    return ev


class Hub:
    """One processor in memory, one partition; every record is its own batch and the
    ``DispatchResume`` records it writes come back behind what is queued (as on the
    topic)."""

    def __init__(self, codec: Any, geography: Any) -> None:
        self.codec = codec
        self.sender = MemorySender()
        self.proc = Processor(TerritoryIndex(geography), codec, MemoryStore(1), self.sender)
        self.offsets: Iterator[int] = itertools.count()
        self.versions: dict[str, int] = {}

    def control(self, aid: str, filters: ActorFilters | None, profile: str = SIMPLE,
                ) -> InputRecord:  # fmt: skip
        """The control of ``aid``'s next registration (``filters`` None: its removal)."""
        version = self.versions[aid] = self.versions.get(aid, 0) + 1
        reg = Actor(id=aid, name=aid, kind="bailleur", version=version, profile=profile,  # type: ignore[arg-type]
                    filters=filters or ActorFilters()).to_avro(deleted=filters is None)  # fmt: skip
        value = self.codec.encode("DispatchControl", {
            "controlId": str(uuid.uuid4()), "issuedAt": 0, "actor": reg})  # fmt: skip
        return InputRecord(topics.DEMANDES, 0, next(self.offsets), aid.encode(), value)

    def event(self, ev: dict[str, Any]) -> InputRecord:
        return InputRecord(topics.DEMANDES, 0, next(self.offsets), ev["numUnique"].encode(),
                           self.codec.encode("DemandeEvent", ev))  # fmt: skip

    def run(self, *records: InputRecord) -> None:
        """``records`` in order, then every re-dispatch record they led to."""
        queue = list(records)

        async def go() -> None:
            while queue:
                seen = len(self.sender.sent.get(topics.DEMANDES, []))
                await self.proc.process([queue.pop(0)])
                for k, v in self.sender.sent.get(topics.DEMANDES, [])[seen:]:
                    queue.append(InputRecord(topics.DEMANDES, 0, next(self.offsets), k, v))

        asyncio.run(go())

    def feed(self, aid: str, num: str | None = None) -> list[dict[str, Any]]:
        records = [self.codec.decode_as(v, "FeedRecord")
                   for _, v in self.sender.sent.get(topics.feed_topic(aid), [])]  # fmt: skip
        return [r for r in records if num is None or r["numUnique"] == num]


def consumer_holds(records: list[dict[str, Any]]) -> set[str]:
    """What a consumer following docs/consumers.md holds: records whose (eventId, kind) it
    already applied are dropped; DEMANDE, COPIE and RADIATION hold the demand, RETRAIT
    releases it, a RADIATION to a former recipient changes nothing."""
    applied: set[tuple[str, str, str]] = set()
    held: set[str] = set()
    for r in records:
        key = (r["numUnique"], r["eventId"], r["kind"])
        if key in applied:
            continue
        applied.add(key)
        if r["kind"] == "RETRAIT":
            held.discard(r["numUnique"])
        elif r["kind"] in HOLDING and r["reason"] != "ancien_destinataire":
            held.add(r["numUnique"])
    return held


def test_remove_then_readd_smaller_withdraws_and_keeps_it_withdrawn(
        codec: Any, geography: Any) -> None:  # fmt: skip
    """The audit's E3 repro: removed, then registered again on Rouen only, the actor no
    longer holds its Darnétal demand: withdrawn at the removal; nothing at the
    re-registration, the MOD or the radiation but the outcome told to a former recipient."""
    hub = Hub(codec, geography)
    num = new_num_unique()
    hub.run(hub.control("x", ActorFilters(communes=[DARNETAL])),
            hub.event(demande_event(num, [DARNETAL])))  # fmt: skip
    hub.run(hub.control("x", None))
    hub.run(hub.control("x", ActorFilters(communes=[ROUEN])))
    hub.run(hub.event(demande_event(num, [DARNETAL], operation="MOD")))
    hub.run(hub.event(demande_event(num, [DARNETAL], operation="RAD", radiation={
        "dateRadiation": "2026-01-02", "motifRadiation": "RADABA"})))  # fmt: skip
    kinds = [(r["kind"], r["reason"]) for r in hub.feed("x", num)]
    assert kinds == [("DEMANDE", None), ("RETRAIT", "filtres_modifies"),
                     ("RADIATION", "ancien_destinataire")]  # fmt: skip
    assert hub.feed("x", num)[2]["demande"] is None  # the outcome, not the data
    assert consumer_holds(hub.feed("x")) == set()


def test_readd_copies_what_it_matches_again_under_a_new_event_id(
        codec: Any, geography: Any) -> None:  # fmt: skip
    """Copied (a demand there before it), removed, registered again on the same territory:
    the second copy of the same demand version has an event id of its own, so a consumer
    that dropped nothing wrongly holds the demand again; the removal's withdrawal too."""
    hub = Hub(codec, geography)
    num, other = new_num_unique(), new_num_unique()
    hub.run(hub.event(demande_event(num, [ROUEN])), hub.event(demande_event(other, [DARNETAL])))
    hub.run(hub.control("x", ActorFilters(communes=[ROUEN])))
    hub.run(hub.control("x", None))
    hub.run(hub.control("x", ActorFilters(communes=[ROUEN])))
    feed = hub.feed("x", num)
    assert [(r["kind"], r["reason"]) for r in feed] == [
        ("COPIE", None), ("RETRAIT", "filtres_modifies"), ("COPIE", None)]  # fmt: skip
    assert feed[0]["eventId"] != feed[2]["eventId"]
    assert {r["demandeVersion"] for r in feed} == {1}
    assert consumer_holds(hub.feed("x")) == {num}
    # a re-registration equal to the one applied owes nothing
    hub.versions["x"] -= 1
    hub.run(hub.control("x", ActorFilters(communes=[ROUEN])))
    assert len(hub.feed("x")) == 3


def test_a_radiation_between_a_removal_and_its_redispatch_withdraws(
        codec: Any, geography: Any) -> None:  # fmt: skip
    """The removal's re-dispatch has not reached the demand when it is radiated: the
    removed actor (still a recipient in the state) is withdrawn, not sent the radiation's
    snapshot; the re-dispatch then finds nothing owed."""
    hub = Hub(codec, geography)
    num = new_num_unique()
    hub.run(hub.control("x", ActorFilters(communes=[ROUEN])),
            hub.event(demande_event(num, [ROUEN])))  # fmt: skip
    hub.run(hub.control("x", None), hub.event(demande_event(num, [ROUEN], operation="RAD",
            radiation={"dateRadiation": "2026-01-02", "motifRadiation": "RADABA"})))  # fmt: skip
    assert [(r["kind"], r["reason"], r["demande"]) for r in hub.feed("x", num)][1:] == [
        ("RETRAIT", "filtres_modifies", None)]  # fmt: skip


def _sensitive_parts(demande: dict[str, Any]) -> dict[str, Any]:
    dl, pieces = demande["demandeLogement"], demande["piecesJustificatives"]
    return {"handicap": dl.get("listeHandicap") is not None,
            "motive_texts": (dl.get("principauxMotifDemande") or {}).get("compAutreMotif"),
            "categories": sorted(p["categorie"] for p in pieces),
            "references": [p["reference"] is not None for p in pieces]}  # fmt: skip


def test_a_profile_downgrade_copies_every_held_demand_cut_to_the_new_profile(
        codec: Any, geography: Any) -> None:  # fmt: skip
    """sensible → simple: each demand it holds gets a COPIE (profil_modifie) without the
    sensitive fields, the MOTIF document or references; a demand it does not hold gets
    nothing; the same profile sent again owes nothing."""
    hub = Hub(codec, geography)
    num, elsewhere = new_num_unique(), new_num_unique()
    hub.run(hub.control("x", ActorFilters(communes=[ROUEN]), SENSIBLE),
            hub.event(sensitive_event(num, [ROUEN])),
            hub.event(sensitive_event(elsewhere, [DARNETAL])))  # fmt: skip
    before = hub.feed("x", num)[-1]
    assert _sensitive_parts(before["demande"]) == {
        "handicap": True, "motive_texts": "motif libre", "categories": ["IDD", "MOTIF"],
        "references": [True, True]}  # fmt: skip
    hub.run(hub.control("x", ActorFilters(communes=[ROUEN]), SIMPLE))
    latest = hub.feed("x", num)[-1]
    assert (latest["kind"], latest["reason"], latest["profile"]) == (
        "COPIE", "profil_modifie", SIMPLE)  # fmt: skip
    assert _sensitive_parts(latest["demande"]) == {
        "handicap": False, "motive_texts": None, "categories": ["IDD"], "references": [False]}
    assert latest["demandeVersion"] == before["demandeVersion"]
    assert latest["eventId"] != before["eventId"]
    assert hub.feed("x", elsewhere) == []
    count = len(hub.feed("x"))
    hub.versions["x"] -= 1  # the same registration sent again (hub actors publish)
    hub.run(hub.control("x", ActorFilters(communes=[ROUEN]), SIMPLE))
    assert len(hub.feed("x")) == count


def test_a_profile_upgrade_copies_what_the_new_profile_is_entitled_to(
        codec: Any, geography: Any) -> None:  # fmt: skip
    """simple → sensible, with the territory grown in the same registration: the demand
    held is copied again whole; the one gained is copied once, whole too."""
    hub = Hub(codec, geography)
    num, gained = new_num_unique(), new_num_unique()
    hub.run(hub.control("x", ActorFilters(communes=[ROUEN]), SIMPLE),
            hub.event(sensitive_event(num, [ROUEN])),
            hub.event(sensitive_event(gained, [DARNETAL])))  # fmt: skip
    hub.run(hub.control("x", ActorFilters(communes=[ROUEN, DARNETAL]), SENSIBLE))
    assert [(r["kind"], r["reason"]) for r in hub.feed("x", num)] == [
        ("DEMANDE", None), ("COPIE", "profil_modifie")]  # fmt: skip
    assert [(r["kind"], r["reason"]) for r in hub.feed("x", gained)] == [("COPIE", None)]
    for n in (num, gained):
        latest = hub.feed("x", n)[-1]
        assert latest["profile"] == SENSIBLE
        assert _sensitive_parts(latest["demande"]) == {
            "handicap": True, "motive_texts": "motif libre", "categories": ["IDD", "MOTIF"],
            "references": [True, True]}  # fmt: skip
    assert consumer_holds(hub.feed("x")) == {num, gained}


def test_moves_of_an_older_writer_are_still_read() -> None:
    """A DispatchResume written before moves carried the registration's version and the
    profile flag (three elements) still decodes: version unknown, no profile change; a
    fourth element alone is malformed."""
    f = ActorFilters(communes=[ROUEN])
    old = moves.decode_moves('[["x", null, {"communes": ["76540"]}]]')
    assert old == [("x", None, f, None, False)]
    new = moves.encode_moves([("x", f, f, 4, True)])
    assert moves.decode_moves(new) == [("x", f, f, 4, True)]
    for bad in ('[["x", null, null, 4]]', '[["x", null, null, "4", true]]'):
        try:
            moves.decode_moves(bad)
        except Exception as exc:
            assert getattr(exc, "code", None) == "bad_resume"
        else:
            raise AssertionError(f"{bad} accepted")


def test_filters_applied_before_profiles_were_kept_count_as_the_same_profile() -> None:
    """An applied record without a profile (an older version's) never makes a profile
    change of a mere re-registration: re-sending every actor after the upgrade costs
    nothing. A removal or an addition is no profile change either."""
    f = ActorFilters(communes=[ROUEN])
    assert moves.is_move(f, f, None, SIMPLE) == (False, False)
    assert moves.is_move(f, f, SENSIBLE, SIMPLE) == (True, True)
    assert moves.is_move(None, f, None, SIMPLE) == (True, False)
    assert moves.is_move(f, None, SIMPLE, None) == (True, False)
