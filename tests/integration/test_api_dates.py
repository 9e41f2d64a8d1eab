"""Audit finding 1 through the REST API (real SQLite, real broker for the holdings): a
date outside 1900-2199 in a gestion partagée event, a CAL decision (its date, a
candidate's deadline) or an answer is a 422 ``bad_date``, as ``/cotation``'s date is;
and the audit's scene, an answer to a decision dated 9999-12-30 stored before dates were
bounded, is a 422 of the rules, never a 500."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from sqlalchemy import Engine

from hub.core.db import make_engine, migrate
from hub.core.settings import HubSettings
from hub.stores.gp.store import GPStore
from tests.integration.api_support import Caller, register
from tests.support.demandes import demande_event, new_num_unique

pytestmark = pytest.mark.kafka
OUTSIDE = st.one_of(st.dates(max_value=date(1899, 12, 31)), st.dates(min_value=date(2200, 1, 1)))
FEW = examples(max_examples=25, deadline=None,
               suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def scene(settings: HubSettings, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[TestClient, Engine, Caller, list[str]]]:  # fmt: skip
    from hub.api.app import create_app

    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('dates') / 'api.db'}")
    migrate(engine)
    with TestClient(create_app(settings, engine)) as client:
        landlord = register(engine)
        nums = [new_num_unique() for _ in range(3)]
        r = client.post("/demandes/evenements", headers=landlord.headers,
                        json=[demande_event(n, ["76540"]) for n in nums])
        assert r.status_code == 202, r.text
        yield client, engine, landlord, nums
    engine.dispose()


def _bad_date(r: Any, field: str) -> None:
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["type"] == "urn:passerelle:problem:bad_date" and field in body["detail"], body


def _decision(nums: list[str], on: str, limit: str | None = None) -> dict[str, Any]:
    first: dict[str, Any] = {"numUnique": nums[0], "decision": "ATTR"}
    if limit is not None:
        first = {**first, "decision": "ATTRCOND", "pieceManquante": "IDENTITE",
                 "dateLimite": limit}  # fmt: skip
    return {"codeCal": "CAL-D", "logement": "LGT-D", "dateDecision": on,
            "candidats": [first, {"numUnique": nums[1], "decision": "ATTRRANG", "rang": 2},
                          {"numUnique": nums[2], "decision": "NONATTR", "motif": "x"}]}


@FEW
@given(day=OUTSIDE)
def test_a_gp_event_dated_outside_is_bad_date(scene: Any, day: date) -> None:
    client, _engine, who, nums = scene
    url = f"/demandes/{nums[0]}/evenements-gp"
    _bad_date(client.post(url, headers=who.headers, json={
        "codeTypeEvenement": "VISPROP", "dateSurvenance": day.isoformat(),
        "caracteristiques": {"DATEVIS": "2025-06-05"}}), "dateSurvenance")  # fmt: skip
    _bad_date(client.post(url, headers=who.headers, json={
        "codeTypeEvenement": "VISPROP", "dateSurvenance": "2025-06-01",
        "caracteristiques": {"DATEVIS": day.isoformat()}}), "DATEVIS")  # fmt: skip


@FEW
@given(day=OUTSIDE)
def test_a_cal_decision_or_answer_dated_outside_is_bad_date(scene: Any, day: date) -> None:
    client, _engine, who, nums = scene
    _bad_date(client.post("/cal/decisions", headers=who.headers,
                          json=_decision(nums, day.isoformat())), "dateDecision")  # fmt: skip
    _bad_date(client.post("/cal/decisions", headers=who.headers,
                          json=_decision(nums, "2025-06-10", day.isoformat())), "dateLimite")
    _bad_date(client.post("/cal/decisions/dec-x/reponses", headers=who.headers,
                          json={"numUnique": nums[0], "accepte": True,
                                "dateReponse": day.isoformat()}), "dateReponse")  # fmt: skip


def test_the_audit_s_decision_of_9999_12_30_is_refused_and_one_stored_before_is_no_500(
        scene: Any) -> None:  # fmt: skip
    client, engine, who, nums = scene
    _bad_date(client.post("/cal/decisions", headers=who.headers,
                          json=_decision(nums, "9999-12-30")), "dateDecision")  # fmt: skip
    decision_id = f"dec-big-{uuid.uuid4().hex[:6]}"
    # as the code before the fix stored it (the store itself checks no date)
    GPStore(engine).append({
        "eventId": str(uuid.uuid4()), "numUnique": nums[0], "operation": "AJO",
        "idEvenement": None, "codeTypeEvenement": "DECISCAL", "catalogueVersion": "2025.1",
        "dateSurvenance": "9999-12-30", "auteur": who.actor.id, "commentaire": None,
        "reglementaire": True, "aPublierSurPGP": True, "occurredAt": 0, "source": "api",
        "caracteristiques": {"CODECAL": "CAL-D", "LOGEMENT": "LGT-D", "DECISION": "ATTR",
                             "DECISIONID": decision_id, "RANG": "1",
                             "DATEDEC": "9999-12-30"}})  # fmt: skip
    url = f"/cal/decisions/{decision_id}/reponses"
    _bad_date(client.post(url, headers=who.headers, json={
        "numUnique": nums[0], "accepte": True, "dateReponse": "9999-12-31"}), "dateReponse")
    late = client.post(url, headers=who.headers, json={
        "numUnique": nums[0], "accepte": True, "dateReponse": "2025-06-15"})  # fmt: skip
    assert late.status_code == 422 and late.json()["rule"] == "R441-3/reponse-delai", late.text


def test_cotation_keeps_the_same_bounds(scene: Any) -> None:
    client, _engine, who, nums = scene
    _bad_date(client.get(f"/demandes/{nums[0]}/cotation?date=2200-01-01",
                         headers=who.headers), "date")  # fmt: skip
