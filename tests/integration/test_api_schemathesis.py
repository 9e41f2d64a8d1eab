"""schemathesis against the served OpenAPI: generated requests never get a 5xx, and every
error answer is application/problem+json. A short run (a few examples per operation)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings

from hub.db import make_engine, migrate
from hub.settings import HubSettings
from tests.integration.api_support import register

pytestmark = pytest.mark.kafka


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(settings: HubSettings, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[str, dict[str, str]]]:
    from hub.api.app import create_app

    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('st') / 'api.db'}")
    migrate(engine)
    caller = register(engine)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, engine), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the API did not start"
    yield f"http://127.0.0.1:{port}", caller.headers
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


def test_no_5xx_and_errors_are_problems(served: tuple[str, dict[str, str]]) -> None:
    # schemathesis' pytest plugin does not load under this pytest; drive hypothesis directly
    base_url, headers = served
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    failures: list[str] = []
    statuses: list[int] = []
    for operation in operations:
        @given(case=operation.as_strategy())
        @hypothesis_settings(max_examples=12, deadline=None, derandomize=True, database=None,
                             suppress_health_check=list(HealthCheck))
        def run(case: Any) -> None:
            response = case.call(base_url=base_url, headers=headers)
            statuses.append(response.status_code)
            where = f"{case.method} {case.formatted_path}: {response.status_code}"
            if response.status_code >= 500:
                failures.append(f"{where} {response.text[:200]}")
            elif response.status_code >= 400:
                ctype = response.headers.get("content-type", [""])
                if not str(ctype[0] if isinstance(ctype, list) else ctype).startswith(
                        "application/problem+json"):
                    failures.append(f"{where} not problem+json")

        run()
    assert not failures, failures[:10]
    assert len(statuses) >= 5 * len(operations) and {200, 422} <= set(statuses)
