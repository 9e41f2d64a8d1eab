"""The write right on demands travels with the actor (independent audit K, F3):
``enregistreur`` (null = the default of its kind: bailleur and guichet write, the other
kinds do not) through the model, the YAML import, ``hub actors add``/``list``/``show``,
the registry's database and history, and the ``ActorRegistration`` record.

The REST and SOAP rules built on it: tests/integration/test_authz_matrix.py and
tests/integration/test_soap_authz.py; the migration:
tests/integration/test_actor_enregistreur_migration.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import get_args

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from hub.core.db import make_engine, migrate
from hub.core.errors import ForbiddenError, InputError
from hub.domain.actors import ENREGISTREUR_KINDS, Actor, ActorFilters, ActorKind
from hub.domain.rights import CAL_ACTS, require_cal_author, require_demand_writer
from hub.stores.registry.importer import load_actors_yaml
from hub.stores.registry.service import ActorService
from hub.stores.registry.store import ActorStore
from schemas import get_codec
from tests.unit.test_registry import FakeGeography


def _actor(kind: str, enregistreur: bool | None = None) -> Actor:
    return Actor(id=f"a-{kind}", name=kind, kind=kind,  # type: ignore[arg-type]
                 enregistreur=enregistreur, filters=ActorFilters(communes=["76540"]))  # fmt: skip


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


def test_the_default_is_the_kinds_and_a_registration_overrides_it() -> None:
    assert {"bailleur", "guichet"} == ENREGISTREUR_KINDS
    for kind in get_args(ActorKind):
        assert _actor(kind).writes_demands is (kind in ENREGISTREUR_KINDS), kind
        assert _actor(kind, True).writes_demands and not _actor(kind, False).writes_demands
    with pytest.raises(ValueError, match="enregistreur"):
        Actor(id="x", name="x", kind="commune", enregistreur="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="enregistreur"):
        Actor(id="x", name="x", kind="commune", enregistreur=1)  # type: ignore[arg-type]


def test_the_rules_refuse_with_a_message_naming_the_rule() -> None:
    commune, landlord = _actor("commune"), _actor("bailleur")
    require_demand_writer(landlord)
    require_demand_writer(_actor("commune", True))
    with pytest.raises(ForbiddenError, match="kind commune is not a registering office") as e:
        require_demand_writer(commune)
    assert e.value.code == "forbidden"  # a 403 as every refusal (docs/api.md)
    with pytest.raises(ForbiddenError, match="registered enregistreur: false"):
        require_demand_writer(_actor("bailleur", False))
    assert {"ORDREJCAL", "EXAMCAL", "DECISCAL"} == CAL_ACTS
    require_cal_author(landlord, CAL_ACTS)
    require_cal_author(commune, ["DESIGCAL", "PRIORITE", "VISPROP"])
    with pytest.raises(ForbiddenError, match="DECISCAL") as e:
        require_cal_author(_actor("commune", True), ["VISPROP", "DECISCAL"])
    assert e.value.code == "forbidden"


def test_yaml_import_store_history_and_avro_keep_it(tmp_path: Path, engine: Engine) -> None:
    path = tmp_path / "actors.yaml"
    path.write_text(
        "actors:\n"
        "  - {id: ccas, name: CCAS, kind: commune, enregistreur: true,"
        " filters: {communes: ['76540']}}\n"
        "  - {id: ville, name: Ville, kind: commune, filters: {communes: ['76540']}}\n"
        "  - {id: bail, name: Bail, kind: bailleur, enregistreur: false,"
        " filters: {communes: ['76540']}}\n"
    )
    service = ActorService(ActorStore(engine), FakeGeography(), None)  # type: ignore[arg-type]
    assert str(service.import_file(path)) == "3 added, 0 updated, 0 unchanged"
    store = service.store
    got = {a.id: (a.enregistreur, a.writes_demands) for a in store.list()}
    assert got == {"ccas": (True, True), "ville": (None, False), "bail": (False, False)}
    again = service.import_file(path)  # the same file: nothing changes
    assert (again.added, again.updated) == ([], [])
    # a change of the right alone is a change (a new version, published)
    saved = service.add_or_update(store.get("ville").model_copy(update={"enregistreur": True}))
    assert saved.change == "update" and store.get("ville").writes_demands
    history = store.history("ville")
    assert [h.actor.enregistreur for h in history] == [None, True]
    codec = get_codec()
    for actor in store.list():
        back = Actor.from_avro(codec.decode_as(codec.encode("ActorRegistration",
                                                            actor.to_avro()), "ActorRegistration"))
        assert back == actor
    # a history row written before the field: read as the kind's default
    old = {k: v for k, v in store.get("ccas").to_avro().items() if k != "enregistreur"}
    assert Actor.from_avro(old).enregistreur is None
    bad = tmp_path / "bad.yaml"
    bad.write_text("actors:\n  - {id: x, name: X, kind: etat, enregistreur: 'oui'}\n")
    with pytest.raises(InputError, match=r"actor #1 \('x'\): enregistreur"):
        load_actors_yaml(bad)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, engine: Engine) -> CliRunner:
    import hub.cli.context

    service = ActorService(ActorStore(engine), FakeGeography(), None)  # type: ignore[arg-type]
    monkeypatch.setattr(hub.cli.context, "build_actor_service", lambda settings: service)
    return CliRunner()


def test_cli_add_list_and_show(cli: CliRunner) -> None:
    from hub.cli.actors import actors

    base = ["add", "--name", "X", "--commune", "76540"]
    for args in (["--id", "ccas", "--kind", "commune", "--enregistreur"],
                 ["--id", "ville", "--kind", "commune"],
                 ["--id", "bail", "--kind", "bailleur", "--no-enregistreur"],
                 ["--id", "guich", "--kind", "guichet"]):  # fmt: skip
        result = cli.invoke(actors, [*base, *args])
        assert result.exit_code == 0, result.output
    result = cli.invoke(actors, ["list", "--format", "json"])
    listed = {a["id"]: a["enregistreur"] for a in map(json.loads, result.output.splitlines())}
    assert listed == {"bail": False, "ccas": True, "guich": None, "ville": None}
    result = cli.invoke(actors, ["list"], terminal_width=200, env={"COLUMNS": "200"})
    rows = {line.split("│")[1].strip(): line for line in result.output.splitlines()
            if line.startswith("│") and "│ id " not in line}  # fmt: skip
    writes = {i: rows[i].split("│")[5].strip() for i in listed}
    assert writes == {"bail": "no", "ccas": "yes", "guich": "yes (kind)", "ville": "no (kind)"}
    assert json.loads(cli.invoke(actors, ["show", "ccas"]).output)["enregistreur"] is True
    assert "--enregistreur / --no-enregistreur" in cli.invoke(actors, ["add", "--help"]).output
