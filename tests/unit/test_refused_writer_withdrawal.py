"""The refused writer is withdrawn (audit K F1, the claim the API keeps): when the worker
refuses an event ``demande_existante`` or ``auteur_non_detenteur`` and its source names a
registered actor that does not hold the demand, it also sends that actor a ``RETRAIT``
(reason ``ecriture_refusee``, no personal data, the demand's current version, an event id
derived from the refused event's), so the API's fold of its feed drops the claim the
API recorded when it accepted the creation. Nothing to a holder, nothing to the real
holders, no state change; the letter is written as before.

Through the processor (tests.unit.test_change_authorship's rig); every test here but the
guards (a holder's or the registering actor's refused creation, no registered actor
named, another refusal: the letter alone) fails on the code before the rule (no such
RETRAIT)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from hub.core import topics
from tests.support.demandes import new_num_unique
from tests.unit.test_change_authorship import Rig, _ev
from tests.unit.test_clock import LE_HAVRE, ROUEN

#: the reasons, written out: these tests run on the code before the rule too
EXISTING, NOT_HOLDER, REFUSED_WRITE = (
    "demande_existante",
    "auteur_non_detenteur",
    "ecriture_refusee",
)


def _records(rig: Rig, actor: str, num: str) -> list[dict[str, Any]]:
    recs = [rig.codec.decode_as(v, "FeedRecord")
            for _, v in rig.sender.sent.get(topics.feed_topic(actor), [])]  # fmt: skip
    return [r for r in recs if r["numUnique"] == num]


def _feed_topics(rig: Rig) -> set[str]:
    return {t for t in rig.sender.sent if t != topics.DLQ}


def _holders_topics(rig: Rig, num: str) -> set[str]:
    """The feeds of the demand's holders (rouen, and dep: all of the département)."""
    return {topics.feed_topic(a) for a in rig.state(num).recipients}


def _live(rig: Rig, num: str) -> None:
    """A demand of Rouen, created by the SNE: rouen (and dep) hold it, havre does not."""
    rig.run(_ev(num, ROUEN, "CRE", "sne"))
    assert rig.feed("rouen", num) == [("DEMANDE", None)]


def test_a_strangers_refused_creation_withdraws_it_and_tells_no_holder(
    codec: Any, geography: Any
) -> None:
    rig = Rig(codec, geography)
    num = new_num_unique()
    _live(rig, num)
    before = rig.state(num)
    takeover = _ev(num, LE_HAVRE, "CRE", "api:havre")
    rig.run(takeover)

    (letter,) = rig.letters()
    assert letter["reason"] == EXISTING  # the letter, as before: replayable
    assert codec.decode(letter["payload"])[1]["eventId"] == takeover["eventId"]
    (told,) = _records(rig, "havre", num)
    assert (told["kind"], told["reason"]) == ("RETRAIT", REFUSED_WRITE)
    assert told["demande"] is None and told["cotations"] == [] and told["evenement"] is None
    assert told["delaiAnormalementLong"] is None and told["changedFields"] == []
    assert told["demandeVersion"] == before.version and told["operation"] == "CRE"
    assert told["eventId"] != takeover["eventId"]
    assert str(uuid.UUID(told["eventId"])) == told["eventId"]
    assert "DUPONT" not in str(told)
    assert rig.feed("rouen", num) == [("DEMANDE", None)]  # nothing to the holder
    after = rig.state(num)
    assert after == before and after.demande == before.demande  # no state change
    assert rig.proc._consecutive_dead == 0


def test_the_withdrawals_id_is_derived_from_the_refused_events(codec: Any, geography: Any) -> None:
    """The same refusal decided again (a replay of the batch after a crash: the state of a
    refusal is the demand's own, so it is decided again) sends the same event id; another
    refused event of the same actor, another one."""
    from hub.domain.authorship import refused_write_event_id

    rig = Rig(codec, geography)
    num = new_num_unique()
    _live(rig, num)
    takeover = _ev(num, LE_HAVRE, "CRE", "api:havre")
    rig.run(takeover)
    rig.run(takeover)  # the same record read again (e.g. a replay)
    other = _ev(num, LE_HAVRE, "CRE", "api:havre")
    rig.run(other)
    ids = [r["eventId"] for r in _records(rig, "havre", num)]
    assert ids[0] == ids[1] != ids[2]
    assert ids[0] == refused_write_event_id(takeover["eventId"], "havre")
    assert ids[2] == refused_write_event_id(other["eventId"], "havre")
    other_rig = Rig(codec, geography)  # another worker deciding it: the same id
    _live(other_rig, num)
    other_rig.run(takeover)
    assert [r["eventId"] for r in _records(other_rig, "havre", num)] == ids[:1]


def test_a_holders_refused_creation_is_only_dead_lettered(codec: Any, geography: Any) -> None:
    """A holder sending a (differing) creation of its own demand again is refused, and must
    not be told to delete the demand it holds."""
    rig = Rig(codec, geography)
    num = new_num_unique()
    _live(rig, num)
    rig.run(_ev(num, ROUEN, "CRE", "api:rouen"))
    assert [x["reason"] for x in rig.letters()] == [EXISTING]
    assert rig.feed("rouen", num) == [("DEMANDE", None)]
    assert _feed_topics(rig) == _holders_topics(rig, num)


def test_the_registering_actors_refused_creation_is_only_dead_lettered(
    codec: Any, geography: Any
) -> None:
    """havre registered a demand wishing Rouen only (not among its recipients): it still
    holds it (registeredBy), so a refused creation of it tells havre nothing."""
    rig = Rig(codec, geography)
    num = new_num_unique()
    rig.run(_ev(num, ROUEN, "CRE", "api:havre"))
    assert rig.state(num).registered_by == "havre"
    rig.run(_ev(num, ROUEN, "CRE", "api:havre"))
    assert [x["reason"] for x in rig.letters()] == [EXISTING]
    assert _records(rig, "havre", num) == []


@pytest.mark.parametrize("op", ["MOD", "REN", "RAD", "SUP"])
def test_a_strangers_refused_change_withdraws_it(codec: Any, geography: Any, op: str) -> None:
    rig = Rig(codec, geography)
    num = new_num_unique()
    _live(rig, num)
    before = rig.state(num)
    change = _ev(num, LE_HAVRE, op, "api:havre")
    rig.run(change)
    assert [x["reason"] for x in rig.letters()] == [NOT_HOLDER]
    (told,) = _records(rig, "havre", num)
    assert (told["kind"], told["reason"], told["demande"]) == ("RETRAIT", REFUSED_WRITE, None)
    assert told["demandeVersion"] == before.version and told["operation"] == op
    assert rig.feed("rouen", num) == [("DEMANDE", None)]
    assert rig.state(num) == before


def test_the_two_step_takeover_withdraws_the_stranger_at_each_step(
    codec: Any, geography: Any
) -> None:
    rig = Rig(codec, geography)
    num = new_num_unique()
    _live(rig, num)
    rig.run(_ev(num, LE_HAVRE, "CRE", "api:havre"), _ev(num, LE_HAVRE, "MOD", "api:havre"))
    assert [x["reason"] for x in rig.letters()] == [EXISTING, NOT_HOLDER]
    assert rig.feed("havre", num) == [("RETRAIT", REFUSED_WRITE)] * 2
    assert rig.feed("rouen", num) == [("DEMANDE", None)]


def test_an_actors_own_inbox_names_it(codec: Any, geography: Any) -> None:
    rig = Rig(codec, geography)
    num = new_num_unique()
    _live(rig, num)
    rig.run({**_ev(num, LE_HAVRE, "MOD", "files:havre"), "profile": "consultant_demande"})
    assert rig.feed("havre", num) == [("RETRAIT", REFUSED_WRITE)]


def test_a_refused_write_naming_no_registered_actor_sends_no_record(
    codec: Any, geography: Any
) -> None:
    """An unregistered actor (no feed), an inbox of no actor's name, the SNE: the letter
    alone. (Passes on the old code too: nothing was sent then.)"""
    rig = Rig(codec, geography)
    num = new_num_unique()
    _live(rig, num)
    rig.run(
        _ev(num, LE_HAVRE, "CRE", "api:ghost"),
        _ev(num, LE_HAVRE, "MOD", "api:ghost"),
        _ev(num, LE_HAVRE, "CRE", "files:havre"),  # no profile: names no actor
        _ev(num, LE_HAVRE, "CRE", "sne"),
    )
    assert [x["reason"] for x in rig.letters()] == [EXISTING, NOT_HOLDER, EXISTING, EXISTING]
    assert _feed_topics(rig) == _holders_topics(rig, num)


def test_other_refusals_send_no_withdrawal(codec: Any, geography: Any) -> None:
    """A refusal for another reason (here a profile that is none) is no refused takeover:
    the letter alone. (Passes on the old code too.)"""
    rig = Rig(codec, geography)
    num = new_num_unique()
    _live(rig, num)
    rig.run({**_ev(num, LE_HAVRE, "MOD", "api:havre"), "profile": "no_such_profile"})
    assert [x["reason"] for x in rig.letters()] == ["invalid_input"]
    assert _records(rig, "havre", num) == []
