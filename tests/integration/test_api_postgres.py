"""The API tests of ``test_api`` on PostgreSQL (a fresh schema per test), so the GP store,
holders, keys and audit are proven on both backends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from tests.integration.test_api import (
    client,
    test_another_actor_can_neither_read_nor_act_on_a_demand_it_does_not_hold,
    test_cal_decision_answer_and_applicant_view_hold_no_other_applicant_data,
    test_cal_decision_breaking_a_rule_is_refused_with_the_rule_named,
    test_every_call_is_authenticated,
    test_gp_events_are_append_only_and_idempotent_by_event_id,
    test_timeline_applicant_view_shows_only_published_events_in_order,
)
from tests.support.postgres import schema_engine

__all__ = [
    "client",
    "test_another_actor_can_neither_read_nor_act_on_a_demand_it_does_not_hold",
    "test_cal_decision_answer_and_applicant_view_hold_no_other_applicant_data",
    "test_cal_decision_breaking_a_rule_is_refused_with_the_rule_named",
    "test_every_call_is_authenticated",
    "test_gp_events_are_append_only_and_idempotent_by_event_id",
    "test_timeline_applicant_view_shows_only_published_events_in_order",
]

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    with schema_engine(postgres_url, "test_api") as eng:
        yield eng
