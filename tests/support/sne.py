"""Running the SNE simulator / SOAP gateway for tests: real uvicorn servers on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

ROUEN = "76540"
DATA = Path(__file__).resolve().parent.parent / "data" / "interfacenuu"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve ``app`` on a free loopback port; yields its base URL (http://127.0.0.1:port)."""
    with serve_at(lambda _base: app) as base:
        yield base


def start_server(app: Any, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    """``app`` served by uvicorn on 127.0.0.1:``port`` in a daemon thread, once started."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    return server, thread


@contextmanager
def serve_at(factory: Callable[[str], Any]) -> Iterator[str]:
    """Serve ``factory(base URL)`` on a free loopback port; yields the base URL. For apps
    that must know where they are served (the WSDL address comes from their settings)."""
    port = free_port()
    server, thread = start_server(factory(f"http://127.0.0.1:{port}"), port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def new_demande_xml(
    guichet: str,
    communes: list[str],
    *,
    operation: str = "CRE",
    num_unique: str | None = None,
    nom: str = "MARTIN",
    forcer_doublon: bool = False,
) -> bytes:
    """A minimal valid InterfaceNuu 02.01 demand document (fictitious person)."""
    from connectors.interfacenuu.mapping import render_demande_xml
    from tests.support.demandes import demande_event

    event = demande_event(num_unique or "", communes, operation=operation)
    dl = event["demande"]["demandeLogement"]
    dl["numGuichet"] = guichet
    dl["numUnique"] = num_unique
    dl["forcerDoublon"] = forcer_doublon or None
    dl["personnePhysique"] = _personne(nom)
    if operation == "RAD":
        dl["radiation"] = {"dateRadiation": "2026-11-20", "motifRadiation": "RADATT"}
    return render_demande_xml(event)


def _personne(nom: str) -> dict[str, Any]:
    from connectors.interfacenuu.mapping import parse_demande_xml

    sample = parse_demande_xml(
        (DATA / "demande_renouvellement.xml").read_bytes())
    pp = sample["demande"]["demandeLogement"]["personnePhysique"]
    pp["demandeur"] = {**pp["demandeur"], "nom": nom}
    return dict(pp)


def dalo_xml(
    guichet: str, num_unique: str, *, statut: str = "ACTIF", decided: str | None = "2026-10-01",
    nom: str = "MARTIN",
) -> bytes:
    """A ``getDeclarationNouveauDalo`` document: demand ``num_unique`` with its
    ``informationDalo`` (``decided``: ``dateDecisionDalo``, None to leave it out)."""
    from connectors.interfacenuu.mapping import parse_demande_xml, render_demande_xml

    event = parse_demande_xml(
        new_demande_xml(guichet, [ROUEN], operation="MOD", num_unique=num_unique, nom=nom)
    )
    event["demande"]["informationDalo"] = {"statutDalo": statut, "dateDecisionDalo": decided}
    return render_demande_xml(event)
