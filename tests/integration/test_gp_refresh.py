"""Catalogue refresh from the SNE's event-type services: ``hub gp refresh-catalogue`` (a real
subprocess) against the real SNE simulator (SOAP over HTTP on 127.0.0.1) saves a new
catalogue version (SQLite and PostgreSQL); events are then validated against it; a second
refresh with nothing new saves nothing; an SNE that does not answer is a one-line error."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from hub.core.errors import ConflictError
from hub.dev.sne_simulator import create_app as simulator_app
from hub.domain.gp.catalogue import SEED, SEED_VERSION
from hub.domain.gp.validation import GPInput, InvalidGPEvent, validate_gp_event
from hub.stores.gp.store import GPStore
from hub.stores.gp.tables import gp_catalogues
from tests.support.demandes import new_num_unique
from tests.support.sne import free_port, serve


@pytest.fixture
def db(migrated_db: tuple[str, Engine]) -> tuple[str, Engine]:
    return migrated_db


@pytest.fixture(scope="module")
def sne(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("sim") / "sim.db"
    with serve(simulator_app(f"sqlite:///{db}")) as base:
        yield f"{base}/sne"


def _hub(db_url: str, sne_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(HUB_DATABASE__URL=db_url, HUB_SNE__URL=sne_url, HUB_SNE__RETRIES="1",
               HUB_SNE__TIMEOUT_S="5", HUB_SNE__BACKOFF_S="0.1")
    return subprocess.run([sys.executable, "-c", "from hub.cli import main; main()", *args],
                          env=env, capture_output=True, text=True, timeout=120, check=False)


def _versions(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(gp_catalogues)).scalar_one())


def _event(code: str, fields: dict[str, str], dep: str = "076") -> GPInput:
    return GPInput(num_unique=new_num_unique(dep), code=code, date_survenance=date(2025, 6, 1),
                   caracteristiques=fields)


def test_refresh_saves_a_new_version_and_events_follow_it(
        db: tuple[str, Engine], sne: str) -> None:
    url, engine = db
    store = GPStore(engine)
    assert store.catalogue().version == SEED_VERSION and _versions(engine) == 0
    # before: the SNE's codes are unknown to the hub
    with pytest.raises(InvalidGPEvent, match="unknown event type"):
        validate_gp_event(store.catalogue(), _event("LABELLOC", {}), auteur="a")

    out = _hub(url, sne, "gp", "refresh-catalogue", "--territoire", "076", "--version", "v2")
    assert out.returncode == 0, out.stderr
    assert "catalogue v2" in out.stdout and "saved" in out.stdout
    assert _versions(engine) == 1
    cat = store.catalogue()
    assert cat.version == "v2"
    codes = {(t.code, t.codeTerritoire) for t in cat.types}
    # the SNE's national and 076 types are in, the seed's own codes are kept
    assert {("INSCCAL", None), ("VISITEPROP", None), ("LABELLOC", "076")} <= codes
    assert {(t.code, None) for t in SEED.types} <= codes

    # events are validated against the refreshed version
    rec = validate_gp_event(cat, _event("INSCCAL", {"DATECAL": "2025-06-10"}), auteur="a")
    assert rec["catalogueVersion"] == "v2" and rec["codeTypeEvenement"] == "INSCCAL"
    with pytest.raises(InvalidGPEvent, match="mandatory field DATECAL"):
        validate_gp_event(cat, _event("INSCCAL", {}), auteur="a")
    with pytest.raises(InvalidGPEvent, match="field DATECAL: expected DAT"):
        validate_gp_event(cat, _event("INSCCAL", {"DATECAL": "demain"}), auteur="a")
    assert validate_gp_event(cat, _event("LABELLOC", {}), auteur="a")["reglementaire"] is False
    with pytest.raises(InvalidGPEvent, match="territory 075"):
        validate_gp_event(cat, _event("LABELLOC", {}, dep="075"), auteur="a")
    # DECISCAL: the SNE's labels and fields, the hub's enumeration and CAL fields kept
    decis = next(t for t in cat.get("DECISCAL") if t.codeTerritoire is None)
    assert decis.libelle == "Décision de la CAL"
    decision = decis.field("DECISION")
    assert decision is not None and "IRREC" in decision.valeurs
    assert decis.field("CODECAL") is not None
    with pytest.raises(InvalidGPEvent, match="field DECISION: expected one of ATTR"):
        validate_gp_event(cat, _event("DECISCAL", {
            "CODECAL": "C", "LOGEMENT": "L", "DECISIONID": "D", "DECISION": "PEUTETRE",
            "DATEDEC": "2025-06-01"}), auteur="a")

    # nothing new at the SNE: no new version
    again = _hub(url, sne, "gp", "refresh-catalogue", "--territoire", "076")
    assert again.returncode == 0, again.stderr
    assert "catalogue v2" in again.stdout and "unchanged" in again.stdout
    assert _versions(engine) == 1


def test_save_catalogue_versions_are_new_and_latest_wins(db: tuple[str, Engine]) -> None:
    _, engine = db
    store = GPStore(engine)
    v2 = SEED.model_copy(update={"version": "2025.2", "types": SEED.types[:3]})
    store.save_catalogue(v2, "test")
    assert store.catalogue() == v2
    with pytest.raises(ConflictError, match="already exists"):
        store.save_catalogue(SEED.model_copy(update={"version": "2025.2"}), "test")
    assert store.catalogue() == v2
    v3 = SEED.model_copy(update={"version": "2025.3"})
    store.save_catalogue(v3, "test")
    assert store.catalogue() == v3 and _versions(engine) == 2


def test_sne_down_is_a_one_line_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gp.db'}"
    out = _hub(url, f"http://127.0.0.1:{free_port()}/sne", "gp", "refresh-catalogue")
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    # retry warnings, then one line naming the call and the transport error
    assert out.stderr.splitlines()[-1].startswith("Error: SNE listerTypesEvenementsNationaux")
