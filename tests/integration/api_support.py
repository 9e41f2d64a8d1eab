"""Helpers of the API tests: a migrated database, registered actors with API keys."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from hub.domain.actors import Actor, ActorFilters
from hub.stores.access.keys import KeyStore
from hub.stores.registry.store import ActorStore


@dataclass
class Caller:
    actor: Actor
    headers: dict[str, str]


def register(engine: Engine, kind: str = "bailleur", profile: str = "consultant_demande",
             communes: tuple[str, ...] = ("76540",), channel: str = "kafka",
             options: dict[str, str] | None = None,
             enregistreur: bool | None = None) -> Caller:
    actor = Actor(id=f"t-{kind[:4]}-{uuid.uuid4().hex[:10]}", name="Test", kind=kind,  # type: ignore[arg-type]
                  profile=profile, enregistreur=enregistreur,  # type: ignore[arg-type]
                  filters=ActorFilters(communes=list(communes)),
                  delivery={"channel": channel, "options": options or {}})  # type: ignore[arg-type]
    saved = ActorStore(engine).save(actor).actor
    key = KeyStore(engine).create(saved.id).key
    return Caller(saved, {"Authorization": f"Bearer {key}"})


def gp_event(client: TestClient, who: Caller, num: str, code: str, fields: dict[str, str],
             on: date = date(2025, 6, 1), expect: int = 201) -> dict[str, Any]:
    r = client.post(f"/demandes/{num}/evenements-gp", headers=who.headers,
                    json={"codeTypeEvenement": code, "dateSurvenance": on.isoformat(),
                          "caracteristiques": fields})
    assert r.status_code == expect, r.text
    return dict(r.json())


@contextmanager
def serve(app: Any) -> Iterator[tuple[str, int]]:
    """Serve ``app`` with uvicorn on a free local port (a real HTTP server, for what the
    test client cannot show: bodies not sent whole, chunked bodies); yields (host, port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the API did not start"
    try:
        yield "127.0.0.1", port
    finally:
        server.should_exit = True
        thread.join(timeout=10)
