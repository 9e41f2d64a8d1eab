"""The CAL rules in the gestion partagée service, on SQLite and PostgreSQL: every caller of
``GPService.record_all`` meets them, and concurrent batches are checked one after the
other (two answers to one decision cannot both be recorded)."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from hub.domain.actors import Actor
from hub.domain.cal_rules import CALRuleError
from hub.domain.gp.validation import GPInput
from hub.domain.rights import NotCalAuthor, NotDecisionAuthor
from hub.stores.gp.service import GPService
from hub.stores.gp.store import GPStore
from tests.support.demandes import new_num_unique

DAY = date(2025, 6, 10)

#: the landlord every record of this module is prepared by (``auteur``)
AUTHOR = Actor(id="bailleur-x", name="B", kind="bailleur")


class Outbox:
    """Stands for the broker: what the service published (not the store under test)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    async def publish(self, topic: str, key: bytes, value: bytes) -> None:
        self.sent.append((topic, key))


class SlowReads(GPStore):
    """The real store, whose history reads take a while: two concurrent checks overlap."""

    def timeline(self, num_unique: str, *, published_only: bool = False,
                 codes: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        found = super().timeline(num_unique, published_only=published_only, codes=codes)
        time.sleep(0.3)
        return found


def _record(service: GPService, num: str, code: str, fields: dict[str, str],
            on: date = DAY, event_id: str | None = None, by: Actor = AUTHOR) -> dict[str, Any]:
    data = GPInput(num_unique=num, code=code, date_survenance=on, caracteristiques=fields,
                   event_id=event_id)
    return service.prepare(data, by.id)


@pytest.fixture
def service(migrated_db: tuple[str, Engine]) -> GPService:
    return GPService(SlowReads(migrated_db[1]), Outbox())


def _decided(service: GPService) -> str:
    """A demand with a valid single-candidate (prefect-designated) attribution d-<num>."""
    num = new_num_unique()
    for code, fields in (("DESIGCAL", {"CODECAL": "C", "LOGEMENT": "L", "DESIGPREF": "true"}),
                         ("EXAMCAL", {"CODECAL": "C", "DATECAL": DAY.isoformat()}),
                         ("DECISCAL", {"CODECAL": "C", "LOGEMENT": "L", "DECISIONID": f"d-{num}",
                                       "DECISION": "ATTR", "RANG": "1",
                                       "DATEDEC": DAY.isoformat()})):
        asyncio.run(service.record_all([_record(service, num, code, fields)], AUTHOR))
    return num


def test_two_concurrent_answers_to_one_decision_are_not_both_recorded(
        service: GPService) -> None:
    num = _decided(service)
    answers = [_record(service, num, code, {"DECISIONID": f"d-{num}", **extra},
                       date(2025, 6, 12), event_id=f"answer-{i}-{num}")
               for i, (code, extra) in enumerate((("ACCEPTDEM", {}),
                                                  ("REFUSDEM", {"MOTIF": "trop loin"})))]
    outcomes: list[str] = []

    def answer(record: dict[str, Any]) -> None:
        try:
            asyncio.run(service.record_all([record], AUTHOR))
            outcomes.append("recorded")
        except CALRuleError as exc:
            outcomes.append(exc.rule)

    threads = [threading.Thread(target=answer, args=(a,)) for a in answers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["R441-3/reponse-unique", "recorded"]
    stored = [e["codeTypeEvenement"] for e in service.store.timeline(num)]
    assert sum(code in ("ACCEPTDEM", "REFUSDEM") for code in stored) == 1


def test_every_caller_of_the_service_meets_the_cal_rules(service: GPService) -> None:
    num = new_num_unique()
    forged = _record(service, num, "DECISCAL", {
        "CODECAL": "C", "LOGEMENT": "L", "DECISIONID": "forged", "DECISION": "IRREC",
        "MOTIF": "IRRSEJ", "DATEDEC": DAY.isoformat()})
    with pytest.raises(CALRuleError) as info:
        asyncio.run(service.record_all([forged], AUTHOR))
    assert info.value.rule == "R441-3/designation"
    assert service.store.timeline(num) == [] and service.publisher.sent == []  # type: ignore[attr-defined]


def test_every_caller_of_the_service_meets_the_author_rules(service: GPService) -> None:
    """Independent audit K, F4, below every route: a CAL's acts by a non-``bailleur``, and
    an answer to a decision by another actor than its author, are refused by the service
    itself; nothing stored nor published."""
    commune = Actor(id="commune-x", name="C", kind="commune")
    other_landlord = Actor(id="bailleur-y", name="Y", kind="bailleur")
    num = new_num_unique()
    acts = {"ORDREJCAL": {"CODECAL": "C", "DATECAL": DAY.isoformat()},
            "EXAMCAL": {"CODECAL": "C", "DATECAL": DAY.isoformat()},
            "DECISCAL": {"CODECAL": "C", "LOGEMENT": "L", "DECISIONID": "c-1",
                         "DECISION": "IRREC", "MOTIF": "IRRRES", "DATEDEC": DAY.isoformat()}}
    for code, fields in acts.items():
        with pytest.raises(NotCalAuthor, match=code):
            asyncio.run(service.record_all([_record(service, num, code, fields, by=commune)],
                                           commune))
    # a designation stays open to every holder (réservataires designate candidates)
    designation = _record(service, num, "DESIGCAL", {"CODECAL": "C", "LOGEMENT": "L"}, by=commune)
    ((stored, _),) = asyncio.run(service.record_all([designation], commune))
    assert stored["auteur"] == "commune-x"
    with pytest.raises(ValueError, match="another author"):  # records name their author
        asyncio.run(service.record_all([designation], AUTHOR))

    decided = _decided(service)
    before = len(service.publisher.sent)  # type: ignore[attr-defined]
    for by in (commune, other_landlord):
        refusal = _record(service, decided, "REFUSDEM", {"DECISIONID": f"d-{decided}",
                                                         "MOTIF": "loin"}, by=by)  # fmt: skip
        with pytest.raises(NotDecisionAuthor):
            asyncio.run(service.record_all([refusal], by))
    assert len(service.publisher.sent) == before  # type: ignore[attr-defined]
    answer = _record(service, decided, "ACCEPTDEM", {"DECISIONID": f"d-{decided}"})
    ((stored, created),) = asyncio.run(service.record_all([answer], AUTHOR))
    assert created and stored["auteur"] == AUTHOR.id
    assert [e["codeTypeEvenement"] for e in service.store.timeline(num)] == ["DESIGCAL"]


def test_ranked_candidates_answer_in_rang_order_from_the_day_the_dwelling_passes(
        service: GPService) -> None:
    """Audit N, N7, below every route (the guard reads the decision's other candidates and
    their answers from the store): X rang 1, Y rang 2 of a decision of DAY. Y may not
    accept while X has not answered; X refuses on day 9; Y accepts on day 14 (its 10 days
    run from X's refusal)."""
    x, y, z = new_num_unique(), new_num_unique(), new_num_unique()
    for num in (x, y, z):
        for code, fields in (("DESIGCAL", {"CODECAL": "C", "LOGEMENT": "L"}),
                             ("EXAMCAL", {"CODECAL": "C", "DATECAL": DAY.isoformat()})):
            asyncio.run(service.record_all([_record(service, num, code, fields)], AUTHOR))
    decision = f"r-{x}"
    common = {"CODECAL": "C", "LOGEMENT": "L", "DECISIONID": decision,
              "DATEDEC": DAY.isoformat()}
    outcomes = (("ATTR", {"RANG": "1"}), ("ATTRRANG", {"RANG": "2"}),
                ("NONATTR", {"MOTIF": "ressources"}))
    asyncio.run(service.record_all([
        _record(service, num, "DECISCAL", {**common, "DECISION": d, **extra},
                event_id=f"dec-{num}")
        for num, (d, extra) in zip((x, y, z), outcomes, strict=True)], AUTHOR))

    def answer(num: str, code: str, day: int) -> str:
        extra = {"MOTIF": "trop loin"} if code == "REFUSDEM" else {}
        record = _record(service, num, code, {"DECISIONID": decision, **extra},
                         DAY + timedelta(days=day))
        try:
            asyncio.run(service.record_all([record], AUTHOR))
        except CALRuleError as exc:
            return exc.rule
        return "recorded"

    assert answer(y, "ACCEPTDEM", 2) == "R441-3/reponse-rang"
    assert answer(x, "REFUSDEM", 9) == "recorded"
    assert answer(y, "ACCEPTDEM", 14) == "recorded"  # 5 days after the refusal
    assert answer(z, "ACCEPTDEM", 15) == "R441-3/reponse-decision"  # not an attribution
    stored = [e for n in (x, y) for e in service.store.timeline(n)
              if e["codeTypeEvenement"] in ("ACCEPTDEM", "REFUSDEM")]
    assert sorted((e["numUnique"], e["codeTypeEvenement"]) for e in stored) == sorted(
        [(x, "REFUSDEM"), (y, "ACCEPTDEM")])
