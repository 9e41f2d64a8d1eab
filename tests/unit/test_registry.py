"""The actor registry: store contract, YAML import, service and CLI, on a real SQLite file.

``TestActorStore`` is the store contract. It only asks for an ``engine`` fixture (a fresh,
migrated database per test): here SQLite, and ``tests/integration/test_registry_postgres.py``
collects the same class with a PostgreSQL ``engine``. The geography is a small fake with the
three methods of ``hub.domain.geo.Geography`` that the registry uses.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import Engine, inspect

from hub.core.db import make_engine, migrate
from hub.core.errors import ConfigError, InputError, NotFoundError, TransientError
from hub.domain.actors import Actor, ActorFilters
from hub.migrations.tables import metadata as all_tables
from hub.stores.registry.importer import load_actors_yaml
from hub.stores.registry.service import ActorService
from hub.stores.registry.store import ActorStore


class FakeGeography:
    communes = frozenset({"76540", "76451", "76217", "27229"})
    epcis = frozenset({"200023414"})
    departements = frozenset({"76", "27"})

    def has_commune(self, code: str) -> bool:
        return code in self.communes

    def epci_exists(self, siren: str) -> bool:
        return siren in self.epcis

    def departement_exists(self, code: str) -> bool:
        return code in self.departements

    def successions(self, code: str) -> tuple[object, ...]:
        return ()  # no former codes in this fake


class RecordingPublisher:
    def __init__(self) -> None:
        self.sent: list[tuple[str, int, bool]] = []
        self.fail = False

    def publish(self, actor: Actor, *, deleted: bool) -> None:
        if self.fail:
            raise RuntimeError("broker down\nsecond line")
        self.sent.append((actor.id, actor.version, deleted))


def rouen(**changes: object) -> Actor:
    base = Actor(
        id="rouen-habitat",
        name="Rouen Habitat",
        kind="bailleur",
        profile="consultant_demande",
        filters=ActorFilters(communes=["76540"]),
    )
    return base.model_copy(update=changes)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    # a parent folder that does not exist yet: make_engine creates it
    eng = make_engine(f"sqlite:///{tmp_path / 'state' / 'hub.db'}")
    migrate(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def store(engine: Engine) -> ActorStore:
    return ActorStore(engine)


def test_sqlite_engine_settings(engine: Engine) -> None:
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_postgresql_urls_use_psycopg() -> None:
    eng = make_engine("postgresql://hub:hub@127.0.0.1:1/hub")  # nothing connects yet
    assert eng.url.drivername == "postgresql+psycopg"


def test_migrate_accepts_a_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a' / 'b' / 'hub.db'}"
    migrate(url)
    migrate(url)
    assert (tmp_path / "a" / "b" / "hub.db").exists()


class TestActorStore:
    """The store contract, run once per database backend (each provides ``engine``)."""

    @pytest.fixture
    def store(self, engine: Engine) -> ActorStore:
        return ActorStore(engine)

    def test_models_match_migrations(self, engine: Engine) -> None:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(ctx, all_tables) == []

    def test_migrate_is_idempotent(self, engine: Engine) -> None:
        migrate(engine)
        assert {"actors", "actor_changes"} <= set(inspect(engine).get_table_names())

    def test_add_assigns_version_and_timestamp(self, store: ActorStore) -> None:
        stored = store.upsert(rouen(version=42, updated_at_ms=7))  # caller's values ignored
        assert stored.version == 1
        assert stored.updated_at_ms > 1_600_000_000_000
        assert store.get("rouen-habitat") == stored

    def test_update_bumps_version(self, store: ActorStore) -> None:
        store.upsert(rouen())
        updated = store.upsert(rouen(name="Rouen Habitat OPH"))
        assert updated.version == 2
        assert store.get("rouen-habitat").name == "Rouen Habitat OPH"

    def test_same_content_is_a_noop(self, store: ActorStore) -> None:
        first = store.upsert(rouen())
        # never acknowledged by Kafka: the same content asks for that version again
        assert store.save(rouen()) == (first, "resend")
        store.mark_published([first])
        again = store.save(rouen())
        assert again.change is None
        assert again.actor == first
        assert [c.version for c in store.history("rouen-habitat")] == [1]
        assert store.unpublished() == []

    def test_remove_is_a_soft_delete(self, store: ActorStore) -> None:
        store.upsert(rouen())
        removed = store.remove("rouen-habitat")
        assert removed.version == 2
        assert store.list() == []
        with pytest.raises(NotFoundError, match="no actor 'rouen-habitat'"):
            store.get("rouen-habitat")
        assert store.get("rouen-habitat", include_deleted=True).version == 2
        assert [a.id for a in store.list(include_deleted=True)] == ["rouen-habitat"]
        with pytest.raises(NotFoundError):
            store.remove("rouen-habitat")

    def test_remove_unknown(self, store: ActorStore) -> None:
        with pytest.raises(NotFoundError, match="no actor 'nobody'"):
            store.remove("nobody")

    def test_readd_continues_the_version_sequence(self, store: ActorStore) -> None:
        store.upsert(rouen())
        store.remove("rouen-habitat")
        readded = store.save(rouen())  # same content as before removal: still a change
        assert (readded.change, readded.actor.version) == ("add", 3)
        assert store.get("rouen-habitat") == readded.actor

    def test_history_is_the_audit_trail(self, store: ActorStore) -> None:
        store.upsert(rouen())
        store.upsert(rouen(name="Rouen Habitat OPH"))
        store.remove("rouen-habitat")
        history = store.history("rouen-habitat")
        assert [(c.version, c.change, c.deleted) for c in history] == [
            (1, "add", False),
            (2, "update", False),
            (3, "remove", True),
        ]
        assert history[0].actor.name == "Rouen Habitat"
        assert history[1].actor.name == "Rouen Habitat OPH"
        assert history[0].seq < history[1].seq < history[2].seq
        assert history[0].at.tzinfo is not None
        with pytest.raises(NotFoundError):
            store.history("nobody")

    def test_list_is_ordered_by_id(self, store: ActorStore) -> None:
        for actor_id in ("b-actor", "a-actor", "c-actor"):
            store.upsert(rouen(id=actor_id))
        assert [a.id for a in store.list()] == ["a-actor", "b-actor", "c-actor"]

    def test_concurrent_updates_get_distinct_versions(self, store: ActorStore) -> None:
        store.upsert(rouen())
        errors: list[BaseException] = []

        def writer(n: int) -> None:
            try:
                for i in range(5):
                    store.upsert(rouen(name=f"writer {n} step {i}"))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert store.get("rouen-habitat").version == 31
        assert [c.version for c in store.history("rouen-habitat")] == list(range(1, 32))


# ---------------------------------------------------------------- YAML import

YAML_OK = """\
actors:
  - id: rouen-habitat
    name: Rouen Habitat
    kind: bailleur
    profile: consultant_demande
    filters: {communes: ["76540"], epcis: [], departements: [], typologies: [],
              premier_choix_seulement: false}
    delivery: {channel: kafka}
  - id: metropole-rouen
    name: Métropole Rouen Normandie
    kind: epci
    filters: {epcis: ["200023414"], typologies: [t2, T3]}
"""


def write(tmp_path: Path, text: str, name: str = "actors.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_load_actors_yaml(tmp_path: Path) -> None:
    actors = load_actors_yaml(write(tmp_path, YAML_OK))
    assert [a.id for a in actors] == ["rouen-habitat", "metropole-rouen"]
    assert actors[1].filters.typologies == ["T2", "T3"]
    assert actors[1].profile == "consultant_simple"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            YAML_OK.replace("kind: epci", "kind: mairie"),
            "actor #2 ('metropole-rouen'): kind: Input should be",
        ),
        (
            YAML_OK.replace('["76540"]', '["7654"]'),
            "actor #1 ('rouen-habitat'): filters.communes: Value error, malformed INSEE",
        ),
        (YAML_OK.replace("metropole-rouen", "rouen-habitat"), "actor #2 ('rouen-habitat'): dup"),
        (YAML_OK.replace("id: metropole-rouen", "version: 3\n    id: m"), "version is set by"),
        ("actors:\n  - id: Bad Id\n    name: x\n    kind: etat\n", "actor #1 ('Bad Id'): id:"),
        ("actors:\n  - [1, 2]\n", "actor #1: expected a mapping"),
        ("actor: []\n", "expected a mapping with an 'actors' list"),
        ("actors: [\n  {id: x\n", "invalid YAML at line"),
    ],
)
def test_yaml_errors_are_one_line(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InputError) as info:
        load_actors_yaml(path)
    message = info.value.message
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert "\n" not in message
    assert info.value.__cause__ is None  # no chained pydantic or yaml traceback


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        load_actors_yaml(tmp_path / "absent.yaml")


# ---------------------------------------------------------------- service


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def service(store: ActorStore, publisher: RecordingPublisher) -> ActorService:
    return ActorService(store, FakeGeography(), publisher)  # type: ignore[arg-type]


def test_import_is_idempotent(
    tmp_path: Path, service: ActorService, publisher: RecordingPublisher
) -> None:
    path = write(tmp_path, YAML_OK)
    report = service.import_file(path)
    assert (report.added, report.updated, report.unchanged) == (
        ["rouen-habitat", "metropole-rouen"],
        [],
        [],
    )
    assert str(report) == "2 added, 0 updated, 0 unchanged"
    again = service.import_file(path)
    assert str(again) == "0 added, 0 updated, 2 unchanged"
    assert publisher.sent == [("rouen-habitat", 1, False), ("metropole-rouen", 1, False)]
    report = service.import_file(write(tmp_path, YAML_OK.replace("T3", "T4")))
    assert (report.updated, report.unchanged) == (["metropole-rouen"], ["rouen-habitat"])
    assert publisher.sent[-1] == ("metropole-rouen", 2, False)


def test_unknown_territory_is_rejected_and_nothing_saved(
    tmp_path: Path, service: ActorService, publisher: RecordingPublisher
) -> None:
    bad = YAML_OK.replace('["200023414"]', '["200000000"]')
    with pytest.raises(InputError, match=r"'metropole-rouen'.*EPCI 200000000"):
        service.import_file(write(tmp_path, bad))
    with pytest.raises(InputError, match=r"unknown code.*commune 76999") as info:
        service.add_or_update(rouen(filters=ActorFilters(communes=["76540", "76999"])))
    assert info.value.code == "unknown_territory"
    assert service.store.list() == []
    assert publisher.sent == []


def test_publish_only_changes(service: ActorService, publisher: RecordingPublisher) -> None:
    assert service.add_or_update(rouen()).change == "add"
    assert service.add_or_update(rouen()).change is None
    service.remove("rouen-habitat")
    assert publisher.sent == [("rouen-habitat", 1, False), ("rouen-habitat", 2, True)]


def test_failed_publication_keeps_the_registry(
    service: ActorService, publisher: RecordingPublisher
) -> None:
    service.add_or_update(rouen(id="gone"))
    service.remove("gone")
    publisher.fail = True
    with pytest.raises(TransientError) as info:
        service.add_or_update(rouen())
    message = info.value.message
    assert "saved but not yet published" in message
    assert "hub actors publish" in message
    assert "broker down" in message and "\n" not in message
    assert service.store.get("rouen-habitat").version == 1
    publisher.fail, publisher.sent = False, []
    assert service.republish_all() == 2
    assert publisher.sent == [("gone", 2, True), ("rouen-habitat", 1, False)]


def test_what_kafka_never_got_is_sent_again_by_the_same_command(
    tmp_path: Path, service: ActorService, publisher: RecordingPublisher
) -> None:
    """Kafka down while an actor is saved: registering it again used to answer
    "unchanged" and publish nothing, so the workers never learnt of it. The registry
    knows what Kafka acknowledged: the same command re-sends what it lacks, once."""
    publisher.fail = True
    with pytest.raises(TransientError):
        service.add_or_update(rouen())
    assert [a.id for a, _ in service.store.unpublished()] == ["rouen-habitat"]
    publisher.fail = False
    again = service.add_or_update(rouen())
    assert again.change == "resend" and again.actor.version == 1
    assert publisher.sent == [("rouen-habitat", 1, False)]
    assert service.add_or_update(rouen()).change is None  # now on Kafka: nothing sent
    assert publisher.sent == [("rouen-habitat", 1, False)] and not service.store.unpublished()

    # a removal that did not reach Kafka: removing again sends it (and only then refuses)
    publisher.fail = True
    with pytest.raises(TransientError):
        service.remove("rouen-habitat")
    publisher.fail = False
    assert service.remove("rouen-habitat").version == 2
    assert publisher.sent[-1] == ("rouen-habitat", 2, True)
    with pytest.raises(NotFoundError):
        service.remove("rouen-habitat")

    # an import: what Kafka lacks is re-sent, and said so
    publisher.fail = True
    with pytest.raises(TransientError):
        service.import_file(write(tmp_path, YAML_OK))
    publisher.fail, publisher.sent = False, []
    report = service.import_file(write(tmp_path, YAML_OK))
    assert sorted(report.resent) == ["metropole-rouen", "rouen-habitat"]
    assert str(report).endswith("2 re-sent to Kafka")
    assert sorted(a for a, _, _ in publisher.sent) == ["metropole-rouen", "rouen-habitat"]
    assert service.import_file(write(tmp_path, YAML_OK)).resent == []


def test_an_import_interrupted_by_kafka_records_what_was_acknowledged(
    tmp_path: Path, service: ActorService, publisher: RecordingPublisher
) -> None:
    """The first actor of an import reached Kafka, the second did not: only the second is
    sent again, and `hub actors publish` marks everything acknowledged."""
    real = publisher.publish
    calls: list[str] = []

    def second_fails(actor: Actor, *, deleted: bool) -> None:
        calls.append(actor.id)
        if len(calls) == 2:
            raise RuntimeError("broker down")
        real(actor, deleted=deleted)

    publisher.publish = second_fails  # type: ignore[method-assign]
    with pytest.raises(TransientError):
        service.import_file(write(tmp_path, YAML_OK))
    assert [a.id for a, _ in service.store.unpublished()] == [calls[1]]
    publisher.publish = real  # type: ignore[method-assign]
    assert service.import_file(write(tmp_path, YAML_OK)).resent == [calls[1]]
    publisher.fail = True
    with pytest.raises(TransientError):
        service.add_or_update(rouen(name="Rouen Habitat SA"))
    publisher.fail = False
    assert service.republish_all() == 2 and not service.store.unpublished()


def test_republish_without_publisher(store: ActorStore) -> None:
    service = ActorService(store, FakeGeography(), None)  # type: ignore[arg-type]
    assert service.add_or_update(rouen()).actor.version == 1  # stores without publishing
    with pytest.raises(ConfigError):
        service.republish_all()


def test_real_geography_when_available(store: ActorStore) -> None:
    geo = pytest.importorskip("hub.domain.geo", reason="hub.domain.geo not written yet")
    service = ActorService(store, geo.get_geography(), None)
    assert service.add_or_update(rouen()).change == "add"  # 76540 is Rouen
    with pytest.raises(InputError, match="commune 76999"):
        service.add_or_update(rouen(filters=ActorFilters(communes=["76999"])))


def test_former_commune_in_filters_is_refused_naming_its_successor(
    store: ActorStore, tmp_path: Path
) -> None:
    """05141 was absorbed by the commune nouvelle Aubessagne (05039) on 2018-01-01: an actor
    registering it is told which code to register, and nothing is saved (issue 17)."""
    from hub.domain.geo import get_geography

    service = ActorService(store, get_geography(), None)
    with pytest.raises(InputError, match=r"'05141' left the INSEE list on 2018-01-01 "
                       r"\(today '05039' Aubessagne\): register '05039'") as exc:
        service.add_or_update(rouen(filters=ActorFilters(communes=["76540", "05141"])))
    assert exc.value.code == "former_commune"
    yaml_file = tmp_path / "actors.yaml"
    yaml_file.write_text("actors:\n  - id: b\n    name: B\n    kind: bailleur\n"
                         "    filters: {communes: ['05141']}\n")
    with pytest.raises(InputError, match="register '05039'"):
        service.import_file(yaml_file)
    assert store.list() == []  # nothing saved
    assert service.add_or_update(rouen(filters=ActorFilters(communes=["05039"]))).change == "add"


# ---------------------------------------------------------------- CLI


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, service: ActorService) -> Iterator[CliRunner]:
    import hub.cli.context

    monkeypatch.setattr(hub.cli.context, "build_actor_service", lambda settings: service)
    yield CliRunner()


def test_cli_round_trip(tmp_path: Path, cli: CliRunner) -> None:
    from hub.cli.actors import actors

    result = cli.invoke(actors, ["import", str(write(tmp_path, YAML_OK))])
    assert result.exit_code == 0, result.output
    assert "2 added" in result.output

    args = ["add", "--id", "eure-habitat", "--name", "Eure Habitat", "--kind", "bailleur"]
    result = cli.invoke(actors, [*args, "--commune", "27229", "--typologie", "t2"])
    assert (result.exit_code, result.output) == (0, "added eure-habitat (version 1)\n")

    result = cli.invoke(actors, ["list", "--format", "json"])
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [a["id"] for a in lines] == ["eure-habitat", "metropole-rouen", "rouen-habitat"]

    result = cli.invoke(actors, ["list"])
    assert result.exit_code == 0 and "rouen-habitat" in result.output

    result = cli.invoke(actors, ["show", "eure-habitat"])
    assert json.loads(result.output)["filters"]["typologies"] == ["T2"]

    result = cli.invoke(actors, ["remove", "eure-habitat"])
    assert result.output == "removed eure-habitat (version 2); its API keys are revoked\n"
    result = cli.invoke(actors, ["show", "eure-habitat", "--history"])
    assert [json.loads(line)["change"] for line in result.output.splitlines()] == [
        "add",
        "remove",
    ]

    result = cli.invoke(actors, ["publish"])
    assert result.output == "published 3 actor(s)\n"


@pytest.mark.parametrize(
    "args",
    [
        ["show", "nobody"],
        ["remove", "nobody"],
        ["add", "--id", "x", "--name", "X", "--kind", "etat", "--commune", "99999"],
        ["add", "--id", "X Y", "--name", "X", "--kind", "etat"],
    ],
)
def test_cli_errors_are_one_line(cli: CliRunner, args: list[str]) -> None:
    from hub.cli.actors import actors

    result = cli.invoke(actors, args)
    assert result.exit_code == 1
    assert result.output.startswith("Error: ")
    assert result.output.count("\n") == 1
    assert "Traceback" not in result.output
