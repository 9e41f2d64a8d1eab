"""schemathesis against the served OpenAPI, with all its checks, on PostgreSQL: generated
requests (valid and invalid, with a key) never get a 5xx, every answer's status, content
type, headers and body are the ones the document declares, invalid data is refused and
valid data is not refused for its shape (issue 19 point 11). A short run (a few dozen
examples per operation and generation mode, about half a minute).

One setting differs from schemathesis' defaults: ``positive_data_acceptance`` also expects
422 (and not 5xx). A request that fits the schema may still break a business rule the
schema cannot hold — the event-type catalogue, the reference tables, the known communes,
the CAL rules — and the API answers that with a 422 problem, as docs/api.md says.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode

from hub.core.settings import HubSettings
from tests.integration.api_support import register, serve
from tests.support.postgres import schema_engine

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "403", "404", "409", "422"]
"""
EXAMPLES = 40


@pytest.fixture(scope="module")
def served(settings: HubSettings, postgres_url: str) -> Iterator[tuple[str, dict[str, str]]]:
    from hub.api.app import create_app

    with schema_engine(postgres_url, "schemathesis") as engine:
        caller = register(engine)
        with serve(create_app(settings, engine)) as (host, port):
            yield f"http://{host}:{port}", caller.headers


def test_every_check_passes_against_the_served_openapi(
        served: tuple[str, dict[str, str]]) -> None:
    # schemathesis' pytest plugin does not load under this pytest; drive hypothesis directly
    base_url, headers = served
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json",
                                           config=SchemathesisConfig.from_str(CONFIG))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    failures: list[str] = []
    statuses: list[int] = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @given(case=operation.as_strategy(generation_mode=mode))
            @hypothesis_settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                                 database=None, suppress_health_check=list(HealthCheck))
            def run(case: Any) -> None:  # called in this iteration: binding is right
                response = case.call(base_url=base_url, headers=headers)
                statuses.append(response.status_code)
                try:  # every check schemathesis has (none excluded)
                    case.validate_response(response, headers=headers,
                                           transport_kwargs={"base_url": base_url,
                                                             "headers": headers})
                except (AssertionError, BaseExceptionGroup) as exc:  # no shrinking
                    failures.append(f"{case.method} {case.formatted_path} "
                                    f"({mode.value}): "  # noqa: B023
                                    f"{response.status_code} {str(exc)[:600]}")

            try:
                run()
            except Unsatisfiable:  # nothing to make invalid (no parameter, no body)
                assert mode is GenerationMode.NEGATIVE, operation.label
    assert not failures, "\n\n".join(failures[:8])
    assert len(statuses) >= 5 * len(operations) and {200, 403, 422} <= set(statuses)
